/**
 * FHIR ServiceRequest ↔ the workflow's order / exam (OrderInput / Exam). The mapping is documented in
 * docs/conformance-statement.md (FHIR R4); the URIs are in systems.ts.
 */
import type { Annotation, CodeableConcept, Extension, Identifier, ServiceRequest } from '@medplum/fhirtypes';
import type {
  Exam,
  ExamItem,
  ExamStatus,
  OrderInput,
  PatientClass,
  Priority,
  RisPatientInput,
} from '../ris/model.ts';
import { namesOfPn, patientInputOf, patientIdentifier } from './patient.ts';
import {
  BODY_PARTS,
  CS_BODY_PART,
  CS_EXAM_STATUS,
  CS_NOTE_KIND,
  CS_PATIENT_CLASS,
  DCM,
  DICOM_UID_SYSTEM,
  EXAM_STATUS_DISPLAY,
  EXT_COMPLEX,
  EXT_EXAM_PURPOSE,
  EXT_EXAM_STATUS,
  EXT_HOSPITAL,
  EXT_MODALITY,
  EXT_NOTE_KIND,
  EXT_PATIENT_CLASS,
  EXT_REPORT_DUE,
  EXT_REQUESTING_DEPARTMENT,
  EXT_STUDY_UID,
  HOSPITAL_SYSTEM,
  MODALITIES,
  PATIENT_CLASS_DISPLAY,
  SNOMED,
  V2_0203,
  V3_ACT_CODE,
  V3_CLASS,
  hospitalSystem,
  parseHospitalSystem,
} from './systems.ts';
import { Checker, isObject, parseDateTime, type Json } from './validate.ts';

export const SR_STATUSES = [
  'draft',
  'active',
  'on-hold',
  'revoked',
  'completed',
  'entered-in-error',
  'unknown',
] as const;
export type SrStatus = (typeof SR_STATUSES)[number];
const INTENTS = [
  'proposal',
  'plan',
  'directive',
  'order',
  'original-order',
  'reflex-order',
  'filler-order',
  'instance-order',
  'option',
];
/** intents that are orders (the others are not accepted) */
export const ORDER_INTENTS = ['order', 'original-order', 'reflex-order', 'filler-order', 'instance-order'];

/** Exam state → ServiceRequest.status */
export function srStatusOf(s: ExamStatus): SrStatus {
  switch (s) {
    case 'registered':
    case 'examined':
    case 'matched':
      return 'active';
    case 'reported':
    case 'reviewed':
      return 'completed';
    case 'cancelled':
      return 'revoked';
    case 'returned':
      return 'on-hold';
  }
}

/** ServiceRequest.status search values → exam states */
export const EXAM_STATES_OF: Record<string, ExamStatus[]> = {
  active: ['registered', 'examined', 'matched'],
  completed: ['reported', 'reviewed'],
  revoked: ['cancelled'],
  'on-hold': ['returned'],
  draft: [],
  'entered-in-error': [],
  unknown: [],
};

export type SubjectRef =
  | { kind: 'contained'; patient: RisPatientInput; hospitalCode?: string }
  | { kind: 'reference'; id: number }
  | { kind: 'identifier'; patientId: string; issuer?: string; hospitalCode?: string };

/** What a ServiceRequest says, before the subject is resolved. */
export interface ParsedServiceRequest {
  id?: string;
  status: SrStatus;
  intent: string;
  accessionNumber: string;
  /** the hospital code its accession system names (urn:huiying:hospital:<CODE>:accession) */
  hospitalCode?: string;
  placerOrderNumber?: string;
  subject: SubjectRef;
  examItems: ExamItem[];
  modality: string;
  bodyPart?: string;
  priority: Priority;
  patientClass?: PatientClass;
  complex?: boolean;
  clinicalHistory?: string;
  symptoms?: string;
  clinicalDiagnosis?: string;
  examPurpose?: string;
  requestingDepartment?: string;
  requestingPhysician?: string;
  scheduledAt?: string;
}

const PATH = 'ServiceRequest';

function codings(ck: Checker, cc: Json | undefined, path: string): { value: Json; path: string }[] {
  return cc === undefined ? [] : ck.array(cc, 'coding', path);
}

function hasTypeCode(id: Json, code: string): boolean {
  const t = isObject(id.type) ? id.type : undefined;
  const cs = t !== undefined && Array.isArray(t.coding) ? (t.coding as unknown[]) : [];
  return cs.some((c) => isObject(c) && c.code === code && (c.system === undefined || c.system === V2_0203));
}

const NOTE_PREFIXES: { kind: 'history' | 'symptoms'; re: RegExp }[] = [
  { kind: 'history', re: /^\s*(病史|History)\s*[:：]\s*/i },
  { kind: 'symptoms', re: /^\s*(症状|Symptoms)\s*[:：]\s*/i },
];

function patientClassOf(code: string | undefined, system: string | undefined): PatientClass | undefined {
  if (code === undefined) return undefined;
  if (system === undefined || system === CS_PATIENT_CLASS) {
    if (code in PATIENT_CLASS_DISPLAY) return code as PatientClass;
  }
  if (system === undefined || system === V3_ACT_CODE) return V3_CLASS[code];
  return undefined;
}

function bodyPartOf(ck: Checker, bs: { value: Json; path: string }): string | undefined {
  for (const c of codings(ck, bs.value, bs.path)) {
    const code = typeof c.value.code === 'string' ? c.value.code.trim() : undefined;
    if (code === undefined) continue;
    if (c.value.system === CS_BODY_PART) return code.toUpperCase();
    if (c.value.system === SNOMED) {
      const hit = Object.entries(BODY_PARTS).find(([, v]) => v.snomed === code);
      if (hit !== undefined) return hit[0];
    }
  }
  const text = ck.string(bs.value, 'text', bs.path, 64);
  if (text !== undefined) {
    if (/^[A-Za-z][A-Za-z0-9 _]{0,15}$/.test(text)) return text.toUpperCase().replace(/ /g, '');
    const hit = Object.entries(BODY_PARTS).find(([, v]) => v.zh === text);
    if (hit !== undefined) return hit[0];
  }
  return ck.fail(
    bs.path,
    `无法识别的检查部位；请使用 ${CS_BODY_PART} 编码（DICOM Body Part Examined，如 CHEST）或 SNOMED CT`,
    `unknown body site; code it in ${CS_BODY_PART} (DICOM Body Part Examined, e.g. CHEST) or SNOMED CT`,
    'code-invalid',
  );
}

/**
 * Parse and validate an incoming ServiceRequest. Throws FhirError 400 listing every structural problem
 * (element paths in `expression`). Business rules (status, intent, scope) are checked by the caller.
 */
export function parseServiceRequest(body: unknown): ParsedServiceRequest {
  const ck = new Checker();
  if (!isObject(body)) {
    ck.fail(PATH, '请求体应为 JSON 对象', 'the body must be a JSON object', 'structure');
    ck.throwIfAny();
    throw new Error('unreachable');
  }
  if (body.resourceType !== 'ServiceRequest')
    ck.fail(`${PATH}.resourceType`, '应为 ServiceRequest', 'must be ServiceRequest', 'invalid');
  const id = ck.string(body, 'id', PATH, 64);
  if (Array.isArray(body.modifierExtension) && body.modifierExtension.length > 0)
    ck.fail(
      `${PATH}.modifierExtension`,
      '不支持修饰扩展',
      'modifier extensions are not understood',
      'not-supported',
    );

  // status, intent
  const status = ck.string(body, 'status', PATH, 32);
  if (status === undefined && body.status === undefined) ck.required(`${PATH}.status`);
  else if (status !== undefined && !(SR_STATUSES as readonly string[]).includes(status))
    ck.fail(`${PATH}.status`, `未知状态 ${status}`, `unknown status ${status}`, 'code-invalid');
  const intent = ck.string(body, 'intent', PATH, 32);
  if (intent === undefined && body.intent === undefined) ck.required(`${PATH}.intent`);
  else if (intent !== undefined && !INTENTS.includes(intent))
    ck.fail(`${PATH}.intent`, `未知意图 ${intent}`, `unknown intent ${intent}`, 'code-invalid');

  // identifiers
  let accession: string | undefined;
  let hospitalCode: string | undefined;
  let placer: string | undefined;
  for (const idf of ck.array(body, 'identifier', PATH)) {
    const system = ck.string(idf.value, 'system', idf.path, 256);
    const hs = system !== undefined ? parseHospitalSystem(system) : undefined;
    const isAcc = hasTypeCode(idf.value, 'ACSN') || hs?.kind === 'accession';
    const isPlacer = !isAcc && (hasTypeCode(idf.value, 'PLAC') || hs?.kind === 'placer');
    if (!isAcc && !isPlacer) continue;
    const value = ck.string(idf.value, 'value', idf.path, isAcc ? 16 : 64);
    if (value === undefined) {
      if (idf.value.value === undefined) ck.required(`${idf.path}.value`);
      continue;
    }
    if (isAcc && !/^[\x21-\x7e]{1,16}$/.test(value))
      ck.fail(
        `${idf.path}.value`,
        '检查号只能包含 ASCII 可见字符（最多 16 个）',
        'the accession number is at most 16 visible ASCII characters',
      );
    else if (/[\\]/.test(value)) ck.fail(`${idf.path}.value`, '不能包含 \\ 字符', 'must not contain \\');
    if (isAcc) {
      if (accession !== undefined && accession !== value)
        ck.fail(idf.path, '只能有一个检查号（ACSN）', 'only one accession number (ACSN) is allowed');
      accession = value;
      if (hs !== undefined) hospitalCode = hs.code;
    } else {
      placer ??= value;
    }
  }
  if (accession === undefined && ck.issues.every((i) => !i.expression?.startsWith(`${PATH}.identifier`)))
    ck.fail(
      `${PATH}.identifier`,
      '缺少检查号：需要一个 type 为 ACSN 的 identifier（system 例如 urn:huiying:hospital:<医院代码>:accession）',
      'an identifier with type ACSN (the accession number, system e.g. urn:huiying:hospital:<CODE>:accession) is required',
      'required',
    );

  // contained resources by local id
  const contained = new Map<string, { value: Json; path: string }>();
  for (const c of ck.array(body, 'contained', PATH))
    if (typeof c.value.id === 'string') contained.set(c.value.id, c);

  // subject
  let subject: SubjectRef | undefined;
  const subj = ck.object(body, 'subject', PATH);
  if (subj === undefined) {
    if (body.subject === undefined) ck.required(`${PATH}.subject`);
  } else {
    const ref = ck.string(subj, 'reference', `${PATH}.subject`, 512);
    if (ref !== undefined) {
      const m = /(?:^|\/)Patient\/([1-9][0-9]{0,15})$/.exec(ref);
      if (ref.startsWith('#')) {
        const c = contained.get(ref.slice(1));
        if (c === undefined)
          ck.fail(
            `${PATH}.subject.reference`,
            `找不到内含资源 ${ref}`,
            `no contained resource ${ref}`,
            'not-found',
          );
        else {
          const p = patientInputOf(ck, c.value, c.path);
          if (p !== undefined)
            subject = {
              kind: 'contained',
              patient: p.patient,
              ...(p.hospitalCode !== undefined ? { hospitalCode: p.hospitalCode } : {}),
            };
        }
      } else if (m !== null) subject = { kind: 'reference', id: Number(m[1]) };
      else
        ck.fail(
          `${PATH}.subject.reference`,
          '应为 Patient/<id> 或内含患者 #<id>',
          'must be Patient/<id> or a contained Patient #<id>',
        );
    } else {
      const idf = ck.object(subj, 'identifier', `${PATH}.subject`);
      if (idf !== undefined) {
        const value = ck.string(idf, 'value', `${PATH}.subject.identifier`, 64);
        const system = ck.string(idf, 'system', `${PATH}.subject.identifier`, 256);
        if (value === undefined) ck.required(`${PATH}.subject.identifier.value`);
        else {
          const hs = system !== undefined ? parseHospitalSystem(system) : undefined;
          const iss =
            system === undefined
              ? undefined
              : hs?.kind === 'patient-id'
                ? hs.code
                : system.startsWith('urn:oid:')
                  ? system.slice(8)
                  : system.startsWith('urn:huiying:issuer:')
                    ? decodeURIComponent(system.slice(19))
                    : system;
          subject = {
            kind: 'identifier',
            patientId: value,
            ...(iss !== undefined ? { issuer: iss } : {}),
            ...(hs?.kind === 'patient-id' ? { hospitalCode: hs.code } : {}),
          };
        }
      } else
        ck.fail(
          `${PATH}.subject`,
          '需要 reference（Patient/<id> 或 #内含患者）或 identifier',
          'needs a reference (Patient/<id> or #contained) or an identifier',
          'required',
        );
    }
  }

  // code → exam items; DCM codings → modality
  let modality: string | undefined;
  const modalityCandidates: { code: string; path: string }[] = [];
  const examItems: ExamItem[] = [];
  const code = ck.object(body, 'code', PATH);
  if (code === undefined) {
    if (body.code === undefined) ck.required(`${PATH}.code`);
  } else {
    const text = ck.string(code, 'text', `${PATH}.code`, 256);
    const cs = codings(ck, code, `${PATH}.code`);
    const itemCodings = cs.filter((c) => c.value.system !== DCM);
    for (const c of cs)
      if (c.value.system === DCM && typeof c.value.code === 'string')
        modalityCandidates.push({ code: c.value.code, path: `${c.path}.code` });
    for (const c of itemCodings) {
      const ic = ck.string(c.value, 'code', c.path, 32);
      let name = ck.string(c.value, 'display', c.path, 100);
      if (name === undefined && itemCodings.length === 1 && text !== undefined) name = text;
      if (name === undefined) {
        if (c.value.display === undefined)
          ck.fail(
            `${c.path}.display`,
            '缺少检查项目名称（如 胸部CT平扫）',
            'the exam item name is required (e.g. 胸部CT平扫)',
            'required',
          );
        continue;
      }
      examItems.push({ name, ...(ic !== undefined ? { code: ic } : {}) });
    }
    if (itemCodings.length === 0 && text !== undefined) examItems.push({ name: text });
    if (itemCodings.length === 0 && text === undefined)
      ck.fail(
        `${PATH}.code`,
        '至少需要一个检查项目（code.coding 的 display，或 code.text）',
        'at least one exam item is required (code.coding with display, or code.text)',
        'required',
      );
  }
  for (const cat of ck.array(body, 'category', PATH))
    for (const c of codings(ck, cat.value, cat.path))
      if (c.value.system === DCM && typeof c.value.code === 'string')
        modalityCandidates.unshift({ code: c.value.code, path: `${c.path}.code` });

  // extensions
  let examPurpose: string | undefined;
  let department: string | undefined;
  let patientClass: PatientClass | undefined;
  let complex: boolean | undefined;
  for (const e of ck.array(body, 'extension', PATH)) {
    switch (e.value.url) {
      case EXT_EXAM_PURPOSE:
        examPurpose = ck.string(e.value, 'valueString', e.path, 500);
        break;
      case EXT_REQUESTING_DEPARTMENT:
        department = ck.string(e.value, 'valueString', e.path, 100);
        break;
      case EXT_COMPLEX:
        complex = ck.boolean(e.value, 'valueBoolean', e.path);
        break;
      case EXT_MODALITY: {
        const v = ck.object(e.value, 'valueCoding', e.path);
        if (v !== undefined && typeof v.code === 'string')
          modalityCandidates.unshift({ code: v.code, path: `${e.path}.valueCoding.code` });
        break;
      }
      case EXT_PATIENT_CLASS: {
        const v = ck.object(e.value, 'valueCoding', e.path);
        const codeV = v !== undefined ? v.code : e.value.valueCode;
        const sys = v !== undefined && typeof v.system === 'string' ? v.system : undefined;
        patientClass = patientClassOf(typeof codeV === 'string' ? codeV : undefined, sys);
        if (patientClass === undefined)
          ck.fail(
            e.path,
            '患者类别应为 outpatient|inpatient|emergency|physical_exam（或 v3 ActCode AMB|IMP|EMER）',
            'patient class must be outpatient|inpatient|emergency|physical_exam (or v3 ActCode AMB|IMP|EMER)',
            'code-invalid',
          );
        break;
      }
      default:
        break;
    }
  }
  // encounter → a contained Encounter's class
  const enc = ck.object(body, 'encounter', PATH);
  if (
    enc !== undefined &&
    patientClass === undefined &&
    typeof enc.reference === 'string' &&
    enc.reference.startsWith('#')
  ) {
    const c = contained.get(enc.reference.slice(1));
    const cls = c !== undefined && isObject(c.value.class) ? c.value.class : undefined;
    if (cls !== undefined)
      patientClass = patientClassOf(
        typeof cls.code === 'string' ? cls.code : undefined,
        typeof cls.system === 'string' ? cls.system : undefined,
      );
  }

  const first = modalityCandidates[0];
  if (first !== undefined) {
    const m = first.code.trim().toUpperCase();
    if (!(m in MODALITIES))
      ck.fail(
        first.path,
        `未知设备类型 ${m}`,
        `unknown modality ${m} (DICOM DCM code, e.g. CT, MR, DX, US)`,
        'code-invalid',
      );
    else modality = m;
  } else
    ck.fail(
      `${PATH}.category`,
      `缺少设备类型：category 中需要 ${DCM} 编码（如 CT）`,
      `the modality is required: a category coding in ${DCM} (e.g. CT)`,
      'required',
    );

  // body site
  let bodyPart: string | undefined;
  const sites = ck.array(body, 'bodySite', PATH);
  if (sites[0] !== undefined) bodyPart = bodyPartOf(ck, sites[0]);

  // priority
  let priority: Priority = 'routine';
  const pr = ck.string(body, 'priority', PATH, 16);
  if (pr !== undefined) {
    if (pr === 'stat' || pr === 'asap' || pr === 'urgent') priority = 'emergency';
    else if (pr !== 'routine')
      ck.fail(
        `${PATH}.priority`,
        '应为 routine|urgent|asap|stat',
        'must be routine|urgent|asap|stat',
        'code-invalid',
      );
  }

  // reasonCode → 临床诊断
  const reasons: string[] = [];
  for (const rc of ck.array(body, 'reasonCode', PATH)) {
    const t = ck.string(rc.value, 'text', rc.path, 500);
    if (t !== undefined) reasons.push(t);
    else
      for (const c of codings(ck, rc.value, rc.path)) {
        const d = ck.string(c.value, 'display', c.path, 256);
        if (d !== undefined) reasons.push(d);
      }
  }

  // notes → 病史 / 症状
  const history: string[] = [];
  const symptoms: string[] = [];
  for (const n of ck.array(body, 'note', PATH)) {
    let text = ck.string(n.value, 'text', n.path, 2000);
    if (text === undefined) {
      if (n.value.text === undefined) ck.required(`${n.path}.text`);
      continue;
    }
    let kind: 'history' | 'symptoms' | undefined;
    for (const e of ck.array(n.value, 'extension', n.path))
      if (e.value.url === EXT_NOTE_KIND) {
        const v = isObject(e.value.valueCoding) ? e.value.valueCoding.code : e.value.valueCode;
        if (v === 'clinical-history') kind = 'history';
        else if (v === 'symptoms') kind = 'symptoms';
        else
          ck.fail(
            e.path,
            '应为 clinical-history 或 symptoms',
            'must be clinical-history or symptoms',
            'code-invalid',
          );
      }
    for (const p of NOTE_PREFIXES) {
      const m = p.re.exec(text);
      if (m !== null && (kind === undefined || kind === p.kind)) {
        kind = p.kind;
        text = text.slice(m[0].length);
        break;
      }
    }
    (kind === 'symptoms' ? symptoms : history).push(text);
  }

  // supportingInfo with a 检查目的 display (alternative to the extension)
  for (const s of ck.array(body, 'supportingInfo', PATH)) {
    const d = typeof s.value.display === 'string' ? s.value.display : undefined;
    const m = d !== undefined ? /^\s*(检查目的|Exam purpose)\s*[:：]\s*(.+)$/is.exec(d) : null;
    if (m !== null && examPurpose === undefined) examPurpose = m[2]!.trim();
  }

  // requester
  let physician: string | undefined;
  const req = ck.object(body, 'requester', PATH);
  if (req !== undefined) physician = ck.string(req, 'display', `${PATH}.requester`, 100);

  // occurrence
  let scheduledAt: string | undefined;
  const occ = ck.string(body, 'occurrenceDateTime', PATH, 40);
  if (occ !== undefined) {
    scheduledAt = parseDateTime(occ);
    if (scheduledAt === undefined)
      ck.fail(
        `${PATH}.occurrenceDateTime`,
        '应为带时区的日期时间（如 2026-11-26T09:30:00+08:00）或日期',
        'must be a dateTime with a time zone (e.g. 2026-11-26T09:30:00+08:00) or a date',
      );
  } else {
    const per = ck.object(body, 'occurrencePeriod', PATH);
    const start = per !== undefined ? ck.string(per, 'start', `${PATH}.occurrencePeriod`, 40) : undefined;
    if (start !== undefined) {
      scheduledAt = parseDateTime(start);
      if (scheduledAt === undefined)
        ck.fail(`${PATH}.occurrencePeriod.start`, '日期时间格式错误', 'malformed dateTime');
    }
  }

  const joined: [string, string[], string, number][] = [
    [`${PATH}.note`, history, '病史', 2000],
    [`${PATH}.note`, symptoms, '症状', 2000],
    [`${PATH}.reasonCode`, reasons, '临床诊断', 500],
  ];
  for (const [path, parts, zh, max] of joined)
    if (parts.join('\n').length > max)
      ck.fail(
        path,
        `${zh}合计不能超过 ${max} 字`,
        `${zh} longer than ${max} characters in total`,
        'too-long',
      );
  if (examItems.length > 20)
    ck.fail(`${PATH}.code`, '最多 20 个检查项目', 'at most 20 exam items', 'too-long');
  if (bodyPart !== undefined && !/^[A-Z0-9_]{1,16}$/.test(bodyPart))
    ck.fail(`${PATH}.bodySite`, '检查部位代码格式错误', 'malformed body part code', 'value');
  ck.throwIfAny();
  const r: ParsedServiceRequest = {
    status: status as SrStatus,
    intent: intent!,
    accessionNumber: accession!,
    subject: subject!,
    examItems,
    modality: modality!,
    priority,
  };
  if (id !== undefined) r.id = id;
  if (hospitalCode !== undefined) r.hospitalCode = hospitalCode;
  if (placer !== undefined) r.placerOrderNumber = placer;
  if (bodyPart !== undefined) r.bodyPart = bodyPart;
  if (patientClass !== undefined) r.patientClass = patientClass;
  if (complex !== undefined) r.complex = complex;
  if (history.length > 0) r.clinicalHistory = history.join('\n');
  if (symptoms.length > 0) r.symptoms = symptoms.join('\n');
  if (reasons.length > 0) r.clinicalDiagnosis = reasons.join('；');
  if (examPurpose !== undefined) r.examPurpose = examPurpose;
  if (department !== undefined) r.requestingDepartment = department;
  if (physician !== undefined) r.requestingPhysician = physician;
  if (scheduledAt !== undefined) r.scheduledAt = scheduledAt;
  return r;
}

/** The order content of a parsed ServiceRequest (the patient resolved by the caller). */
export function orderInputOf(
  p: ParsedServiceRequest,
  hospitalId: number,
  patient: RisPatientInput,
): OrderInput {
  const o: OrderInput = {
    hospitalId,
    patient,
    accessionNumber: p.accessionNumber,
    examItems: p.examItems,
    modality: p.modality,
    priority: p.priority,
    source: 'fhir',
  };
  const keys = [
    'placerOrderNumber',
    'bodyPart',
    'patientClass',
    'complex',
    'clinicalHistory',
    'symptoms',
    'clinicalDiagnosis',
    'examPurpose',
    'requestingDepartment',
    'requestingPhysician',
    'scheduledAt',
  ] as const;
  for (const k of keys) if (p[k] !== undefined) Object.assign(o, { [k]: p[k] });
  return o;
}

const norm = (v: unknown): unknown => (v === null || v === undefined || v === '' ? undefined : v);
const sameTime = (a: string | null | undefined, b: string | null | undefined): boolean => {
  if (norm(a) === undefined || norm(b) === undefined) return norm(a) === norm(b);
  const ta = Date.parse(a!);
  const tb = Date.parse(b!);
  return Number.isNaN(ta) || Number.isNaN(tb) ? a === b : ta === tb;
};

/**
 * The fields in which `o` differs from the registered `exam` (empty = the same order). The patient is
 * compared by identity (Patient ID + issuer): demographics may have been updated since (ADT, Patient PUT).
 */
export function orderDifferences(o: OrderInput, exam: Exam, hospitalCode: string): string[] {
  const d: string[] = [];
  if (
    o.patient.patientId !== exam.patient.patientId ||
    (o.patient.issuer ?? hospitalCode) !== exam.patient.issuer
  )
    d.push('subject');
  const items = (xs: ExamItem[]): string => JSON.stringify(xs.map((x) => [x.code ?? null, x.name]));
  if (items(o.examItems) !== items(exam.examItems)) d.push('code');
  if (o.modality !== exam.modality) d.push('category');
  if (o.priority !== exam.priority) d.push('priority');
  if (!sameTime(o.scheduledAt, exam.scheduledAt)) d.push('occurrenceDateTime');
  if ((o.complex ?? false) !== exam.complex) d.push('extension(complex-exam)');
  const simple: [keyof OrderInput & keyof Exam, string][] = [
    ['placerOrderNumber', 'identifier(PLAC)'],
    ['bodyPart', 'bodySite'],
    ['patientClass', 'extension(patient-class)'],
    ['clinicalHistory', 'note(clinical-history)'],
    ['symptoms', 'note(symptoms)'],
    ['clinicalDiagnosis', 'reasonCode'],
    ['examPurpose', 'extension(exam-purpose)'],
    ['requestingDepartment', 'extension(requesting-department)'],
    ['requestingPhysician', 'requester'],
  ];
  for (const [k, name] of simple) if (norm(o[k]) !== norm(exam[k])) d.push(name);
  return d;
}

function note(kind: 'clinical-history' | 'symptoms', text: string): Annotation {
  return {
    extension: [
      {
        url: EXT_NOTE_KIND,
        valueCoding: {
          system: CS_NOTE_KIND,
          code: kind,
          display: kind === 'clinical-history' ? '病史' : '症状',
        },
      },
    ],
    text: `${kind === 'clinical-history' ? '病史' : '症状'}：${text}`,
  };
}

/** Exam → ServiceRequest */
export function serviceRequestOf(exam: Exam, hospitalCode: string): ServiceRequest {
  const ext: Extension[] = [
    {
      url: EXT_EXAM_STATUS,
      valueCoding: {
        system: CS_EXAM_STATUS,
        code: exam.status,
        display: EXAM_STATUS_DISPLAY[exam.status] ?? exam.status,
      },
    },
    {
      url: EXT_HOSPITAL,
      valueIdentifier: { system: HOSPITAL_SYSTEM, value: hospitalCode },
    },
  ];
  if (exam.examPurpose !== null) ext.push({ url: EXT_EXAM_PURPOSE, valueString: exam.examPurpose });
  if (exam.requestingDepartment !== null)
    ext.push({ url: EXT_REQUESTING_DEPARTMENT, valueString: exam.requestingDepartment });
  if (exam.patientClass !== null)
    ext.push({
      url: EXT_PATIENT_CLASS,
      valueCoding: {
        system: CS_PATIENT_CLASS,
        code: exam.patientClass,
        display: PATIENT_CLASS_DISPLAY[exam.patientClass],
      },
    });
  if (exam.complex) ext.push({ url: EXT_COMPLEX, valueBoolean: true });
  if (exam.studyInstanceUid !== null)
    ext.push({
      url: EXT_STUDY_UID,
      valueIdentifier: { system: DICOM_UID_SYSTEM, value: `urn:oid:${exam.studyInstanceUid}` },
    });
  if (exam.dueAt !== null) ext.push({ url: EXT_REPORT_DUE, valueDateTime: exam.dueAt });

  const identifier: Identifier[] = [
    {
      use: 'official',
      type: { coding: [{ system: V2_0203, code: 'ACSN', display: 'Accession ID' }], text: '检查号' },
      system: hospitalSystem(hospitalCode, 'accession'),
      value: exam.accessionNumber,
    },
  ];
  if (exam.placerOrderNumber !== null)
    identifier.push({
      use: 'usual',
      type: { coding: [{ system: V2_0203, code: 'PLAC', display: 'Placer Identifier' }], text: '申请单号' },
      system: hospitalSystem(hospitalCode, 'placer'),
      value: exam.placerOrderNumber,
    });

  const code: CodeableConcept = {
    coding: exam.examItems.map((i) => ({
      system: hospitalSystem(hospitalCode, 'exam-item'),
      ...(i.code !== undefined && i.code !== '' ? { code: i.code } : {}),
      display: i.name,
    })),
    text: exam.examItems.map((i) => i.name).join('、'),
  };
  const names = namesOfPn(exam.patient.name);
  const sr: ServiceRequest = {
    resourceType: 'ServiceRequest',
    id: String(exam.id),
    meta: { versionId: String(exam.version), lastUpdated: exam.updatedAt },
    extension: ext,
    identifier,
    status: srStatusOf(exam.status),
    intent: 'order',
    category: [
      { coding: [{ system: SNOMED, code: '363679005', display: 'Imaging' }], text: '影像检查' },
      {
        coding: [{ system: DCM, code: exam.modality, display: MODALITIES[exam.modality] ?? exam.modality }],
        text: exam.modality,
      },
    ],
    priority: exam.priority === 'emergency' ? 'stat' : 'routine',
    code,
    subject: {
      reference: `Patient/${exam.patient.id}`,
      identifier: patientIdentifier(exam.patient, hospitalCode),
      ...(names[0]?.text !== undefined ? { display: names[0].text } : {}),
    },
    authoredOn: exam.registeredAt,
  };
  if (exam.scheduledAt !== null) sr.occurrenceDateTime = exam.scheduledAt;
  if (exam.requestingPhysician !== null) sr.requester = { display: exam.requestingPhysician };
  if (exam.clinicalDiagnosis !== null) sr.reasonCode = [{ text: exam.clinicalDiagnosis }];
  if (exam.bodyPart !== null) {
    const bp = BODY_PARTS[exam.bodyPart];
    sr.bodySite = [
      {
        coding: [
          { system: CS_BODY_PART, code: exam.bodyPart, ...(bp !== undefined ? { display: bp.zh } : {}) },
          ...(bp !== undefined ? [{ system: SNOMED, code: bp.snomed, display: bp.display }] : []),
        ],
        text: bp?.zh ?? exam.bodyPart,
      },
    ];
  }
  const notes: Annotation[] = [];
  if (exam.clinicalHistory !== null) notes.push(note('clinical-history', exam.clinicalHistory));
  if (exam.symptoms !== null) notes.push(note('symptoms', exam.symptoms));
  if (notes.length > 0) sr.note = notes;
  return sr;
}
