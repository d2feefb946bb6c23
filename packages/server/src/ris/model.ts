/**
 * The regional reading workflow's domain model (RIS): orders (申请单) from member hospitals, the exam each
 * order becomes, its states, matching of archived studies to orders, and the per-hospital policy (一院一策).
 *
 * One order = one accession number = one exam (the unit on the worklist). An order may list several exam
 * items (e.g. 胸部CT平扫 + 上腹部CT平扫) under one accession number.
 *
 * States: registered (已登记) → examined (已检查) → matched (已匹配) → reported (已报告) → reviewed (已审核),
 * plus cancelled (已取消) and returned (已退回). See EXAM_TRANSITIONS for the legal moves.
 */

export const EXAM_STATUSES = [
  'registered',
  'examined',
  'matched',
  'reported',
  'reviewed',
  'cancelled',
  'returned',
] as const;
export type ExamStatus = (typeof EXAM_STATUSES)[number];

export function isExamStatus(s: string): s is ExamStatus {
  return (EXAM_STATUSES as readonly string[]).includes(s);
}

/**
 * Legal transitions. `returned` = the center sends the exam back to the member hospital (bad images, wrong
 * order); the hospital can re-register it (returned → registered). A reported exam goes back to matched
 * when its preliminary report is returned by the reviewer (reporting, next issue); reviewed is final here
 * (corrections are new report versions, not state changes).
 */
export const EXAM_TRANSITIONS: Readonly<Record<ExamStatus, readonly ExamStatus[]>> = {
  registered: ['examined', 'cancelled', 'returned'],
  examined: ['matched', 'registered', 'cancelled', 'returned'],
  matched: ['reported', 'examined', 'cancelled', 'returned'],
  reported: ['reviewed', 'matched'],
  reviewed: [],
  cancelled: ['registered'],
  returned: ['registered', 'cancelled'],
};

export function canTransition(from: ExamStatus, to: ExamStatus): boolean {
  return EXAM_TRANSITIONS[from].includes(to);
}

export type Priority = 'emergency' | 'routine';
/** 门诊 outpatient, 住院 inpatient, 急诊 emergency, 体检 physical examination */
export type PatientClass = 'outpatient' | 'inpatient' | 'emergency' | 'physical_exam';
export type OrderSource = 'hl7' | 'fhir' | 'form';

export interface ExamItem {
  /** the hospital's item code, e.g. CT0012 */
  code?: string;
  /** e.g. 胸部CT平扫 */
  name: string;
}

/** A patient as a member hospital's HIS knows them: always qualified by hospital and issuer. */
export interface RisPatientInput {
  patientId: string;
  /** Issuer of Patient ID; defaults to the hospital's code */
  issuer?: string;
  /** DICOM PN style: family^given, ideographic after '=' allowed; or plain 张三 */
  name: string;
  /** M | F | O */
  sex?: string;
  /** YYYYMMDD */
  birthDate?: string;
  phone?: string;
}

export interface RisPatient extends Required<Pick<RisPatientInput, 'patientId' | 'issuer' | 'name'>> {
  id: number;
  hospitalId: number;
  sex: string | null;
  birthDate: string | null;
  phone: string | null;
  /** set when merged away (ADT^A40): the surviving patient's id */
  mergedInto: number | null;
  createdAt: string;
  updatedAt: string;
}

/** The content of an order, as HL7, FHIR and the registration form deliver it. */
export interface OrderInput {
  hospitalId: number;
  patient: RisPatientInput;
  /** generated (hospital code + date + sequence) when absent — registration form only */
  accessionNumber?: string;
  /** HL7 ORC-2 / FHIR identifier */
  placerOrderNumber?: string;
  examItems: ExamItem[];
  /** DICOM modality code: CT, MR, DX, CR, DR, US, MG, RF, XA, NM, PT, … */
  modality: string;
  /** e.g. HEAD, CHEST, ABDOMEN (DICOM Body Part Examined style, upper case) */
  bodyPart?: string;
  priority: Priority;
  patientClass?: PatientClass;
  /** complex exam (24 h limit by default) */
  complex?: boolean;
  clinicalHistory?: string; // 病史
  symptoms?: string; // 症状
  clinicalDiagnosis?: string; // 临床诊断
  examPurpose?: string; // 检查目的
  requestingDepartment?: string; // 申请科室
  requestingPhysician?: string; // 申请医生
  /** ISO time */
  scheduledAt?: string;
  source: OrderSource;
}

/** Fields an order update (ORM/OMI XO, FHIR PUT, form edit) may change. */
export type OrderChange = Partial<Omit<OrderInput, 'hospitalId' | 'source' | 'accessionNumber'>>;

export interface Exam {
  id: number;
  hospitalId: number;
  hospitalName: string;
  patient: RisPatient;
  accessionNumber: string;
  placerOrderNumber: string | null;
  examItems: ExamItem[];
  modality: string;
  bodyPart: string | null;
  priority: Priority;
  patientClass: PatientClass | null;
  complex: boolean;
  clinicalHistory: string | null;
  symptoms: string | null;
  clinicalDiagnosis: string | null;
  examPurpose: string | null;
  requestingDepartment: string | null;
  requestingPhysician: string | null;
  scheduledAt: string | null;
  source: OrderSource;
  status: ExamStatus;
  statusAt: string;
  registeredAt: string;
  examinedAt: string | null;
  matchedAt: string | null;
  reportedAt: string | null;
  reviewedAt: string | null;
  /** the linked study (archive `studies.id`) and its UID */
  studyId: number | null;
  studyInstanceUid: string | null;
  /** read by the center (policy at registration) */
  readAtCenter: boolean;
  /** center review required (policy) */
  reviewRequired: boolean;
  /** report time limit in minutes (policy at registration), counted from examinedAt */
  limitMinutes: number;
  /** examinedAt + limit; null until examined */
  dueAt: string | null;
  /** who is reading it (claimed or assigned) */
  assignedTo: { userId: number; name: string } | null;
  assignedAt: string | null;
  /** set when the linked study's patient identity differs from the order's */
  identityConflict: string | null;
  /** optimistic lock: every change increments it */
  version: number;
  createdAt: string;
  updatedAt: string;
}

/** One row of the exam's history (every transition and every workflow action). */
export interface ExamEvent {
  id: number;
  examId: number;
  at: string;
  /** transition | claim | release | assign | link | unlink | update | merge */
  kind: string;
  fromStatus: ExamStatus | null;
  toStatus: ExamStatus | null;
  actor: string;
  detail: string | null;
}

/** Who does something: a user, a system component (hl7 sender, the matcher), for attribution and audit. */
export interface Actor {
  type: 'user' | 'hl7' | 'fhir' | 'system';
  /** user id, sending facility, token id… */
  id?: string;
  /** shown in the history, e.g. 张医生 or CHENCUN/HIS */
  name: string;
  /** IP address or peer */
  source?: string;
}

// ------------------------------------------------------------------------------------------ policy

/** Which exams of a hospital the center reads; first matching rule wins; no match → read at center. */
export interface ReadingRule {
  modalities?: string[];
  bodyParts?: string[];
  priorities?: Priority[];
  readAtCenter: boolean;
}

/** Report time limit; first matching rule wins. */
export interface TimeLimitRule {
  modalities?: string[];
  bodyParts?: string[];
  priorities?: Priority[];
  patientClasses?: PatientClass[];
  complex?: boolean;
  minutes: number;
}

/** always: every report is reviewed; resident: reports of residents; never */
export type ReviewPolicy = 'always' | 'resident' | 'never';

export interface HospitalPolicy {
  hospitalId: number;
  readingRules: ReadingRule[];
  timeLimits: TimeLimitRule[];
  /** minutes when no rule matches */
  defaultLimitMinutes: number;
  review: ReviewPolicy;
  /** a study counts as examined after no new instance for this long */
  stableSeconds: number;
  /** days around the order's scheduled/registered date in which a study is suggested as a match */
  matchWindowDays: number;
  updatedAt: string | null;
}

const XRAY = ['CR', 'DX', 'DR', 'RF', 'MG'];
const HEAD = ['HEAD', 'BRAIN', 'SKULL'];

/** The defaults of the issue: emergency X-ray 30 min, emergency CT/MR 60 min, emergency head CT/MR 30 min,
 *  routine outpatient CT/MR 4 h, inpatient 6 h, complex 24 h. */
export function defaultPolicy(hospitalId: number): HospitalPolicy {
  return {
    hospitalId,
    readingRules: [],
    timeLimits: [
      { priorities: ['emergency'], modalities: ['CT', 'MR'], bodyParts: HEAD, minutes: 30 },
      { priorities: ['emergency'], modalities: XRAY, minutes: 30 },
      { priorities: ['emergency'], modalities: ['CT', 'MR'], minutes: 60 },
      { complex: true, minutes: 24 * 60 },
      { patientClasses: ['inpatient'], minutes: 6 * 60 },
      { patientClasses: ['outpatient'], modalities: ['CT', 'MR'], minutes: 4 * 60 },
    ],
    defaultLimitMinutes: 24 * 60,
    review: 'resident',
    stableSeconds: 60,
    matchWindowDays: 3,
    updatedAt: null,
  };
}

// ---------------------------------------------------------------------------------------- matching

/** A stored study not (yet) linked to an order. */
export interface UnmatchedStudy {
  studyId: number;
  hospitalId: number;
  hospitalName: string;
  studyInstanceUid: string;
  accessionNumber: string | null;
  patientId: string;
  issuer: string;
  patientName: string | null;
  studyDate: string | null;
  modalities: string;
  description: string | null;
  numInstances: number;
  /** receiving | stable */
  arrival: 'receiving' | 'stable';
  lastReceivedAt: string;
}

export interface MatchSuggestion {
  id: number;
  examId: number;
  studyId: number;
  /** 0..100 */
  score: number;
  /** e.g. ['same patient', 'modality CT', 'date within 1 day'] */
  reasons: string[];
  status: 'open' | 'accepted' | 'rejected';
  createdAt: string;
}

// ---------------------------------------------------------------------------------------- worklist

export interface WorklistQuery {
  status?: ExamStatus[];
  hospitalIds?: number[];
  modalities?: string[];
  priority?: Priority;
  /** registeredAt range, ISO dates (inclusive) */
  from?: string;
  to?: string;
  /** assigned to this user id */
  assignedTo?: number;
  /** dueAt < now and not reported */
  overdue?: boolean;
  /** only exams the center reads (center worklist) */
  readAtCenter?: boolean;
  /** patient name / id / accession contains */
  text?: string;
  limit?: number;
  offset?: number;
}

export interface WorklistPage {
  exams: Exam[];
  total: number;
}

/** An exam change as broadcast to live worklists (small: fits a PostgreSQL NOTIFY payload). */
export interface ExamChangeEvent {
  type: 'exam';
  examId: number;
  hospitalId: number;
  status: ExamStatus;
  /** what happened: created | transition | updated | claimed | released | assigned | linked | unlinked */
  change: string;
  version: number;
  at: string;
}
