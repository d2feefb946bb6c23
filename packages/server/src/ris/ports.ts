/**
 * What the workflow's protocol adapters (HL7 v2, FHIR, REST, the web app) call, and what the workflow
 * needs from outside (the event bus). Errors are HuiyingError: invalid-input (bad order content),
 * not-found (unknown order/exam/patient), conflict (illegal transition, stale version, claimed by
 * someone else, accession already used with different content), forbidden (out of scope).
 */
import type {
  Actor,
  Exam,
  ExamChangeEvent,
  ExamEvent,
  ExamStatus,
  HospitalPolicy,
  MatchSuggestion,
  OrderChange,
  OrderInput,
  RisPatient,
  RisPatientInput,
  UnmatchedStudy,
  WorklistPage,
  WorklistQuery,
} from './model.ts';
import type { AccessScope } from '../archive/ports.ts';

export interface OrderResult {
  exam: Exam;
  /** false when the same order was already registered (an idempotent repeat, e.g. a resent HL7 message) */
  created: boolean;
}

export interface RisService {
  // ------------------------------------------------------------------ orders (HL7, FHIR, form)
  /** New order. A repeat with the same hospital + accession and the same content is idempotent
   *  (created=false); the same accession with different content is a conflict (use changeOrder). */
  placeOrder(input: OrderInput, actor: Actor): Promise<OrderResult>;
  /** Change an order's content (ORM/OMI XO, FHIR update, form edit). `version` (optional) = optimistic lock. */
  changeOrder(
    hospitalId: number,
    accessionNumber: string,
    change: OrderChange,
    actor: Actor,
    version?: number,
  ): Promise<Exam>;
  /** Cancel (ORM/OMI CA, FHIR status=revoked): not-found for an unknown order; conflict once reported. */
  cancelOrder(hospitalId: number, accessionNumber: string, reason: string, actor: Actor): Promise<Exam>;
  /** Create or update a patient's demographics (ADT^A08, FHIR Patient). */
  upsertPatient(hospitalId: number, patient: RisPatientInput, actor: Actor): Promise<RisPatient>;
  /** ADT^A40: move every order of `prior` to `survivor` within one hospital's ID domain (audited);
   *  the prior record is kept, marked merged. not-found when prior is unknown. */
  mergePatients(
    hospitalId: number,
    survivor: RisPatientInput,
    prior: { patientId: string; issuer?: string },
    actor: Actor,
  ): Promise<RisPatient>;

  // ------------------------------------------------------------------ reading
  getExam(examId: number, scope: AccessScope): Promise<Exam>;
  findExamByAccession(hospitalId: number, accessionNumber: string): Promise<Exam | undefined>;
  getPatient(patientDbId: number, scope: AccessScope): Promise<RisPatient>;
  findPatient(hospitalId: number, patientId: string, issuer?: string): Promise<RisPatient | undefined>;
  worklist(q: WorklistQuery, scope: AccessScope): Promise<WorklistPage>;
  /** live counts per status for the tabs (same filters, status ignored) */
  counts(q: WorklistQuery, scope: AccessScope): Promise<Record<ExamStatus, number>>;
  history(examId: number, scope: AccessScope): Promise<ExamEvent[]>;
  /** the patient's other exams (same hospital patient; merged ones included) */
  patientExams(examId: number, scope: AccessScope): Promise<Exam[]>;

  // ------------------------------------------------------------------ workflow
  transition(
    examId: number,
    to: ExamStatus,
    actor: Actor,
    opts: { scope: AccessScope; reason?: string; version?: number },
  ): Promise<Exam>;
  claim(examId: number, actor: Actor & { type: 'user'; id: string }, scope: AccessScope): Promise<Exam>;
  release(examId: number, actor: Actor, scope: AccessScope): Promise<Exam>;
  assign(examId: number, userId: number, actor: Actor, scope: AccessScope): Promise<Exam>;

  // ------------------------------------------------------------------ matching
  unmatchedStudies(scope: AccessScope, opts?: { limit?: number }): Promise<UnmatchedStudy[]>;
  suggestions(examId: number, scope: AccessScope): Promise<MatchSuggestion[]>;
  link(examId: number, studyId: number, actor: Actor, scope: AccessScope): Promise<Exam>;
  unlink(examId: number, actor: Actor, scope: AccessScope, reason?: string): Promise<Exam>;
  /** the ingest pipeline calls this after instances were committed (cheap; never throws) */
  studyReceived(hospitalId: number, studyInstanceUid: string): void;

  // ------------------------------------------------------------------ policy
  policy(hospitalId: number): Promise<HospitalPolicy>;
  setPolicy(policy: Omit<HospitalPolicy, 'updatedAt'>, actor: Actor): Promise<HospitalPolicy>;
}

/** Live exam changes: published by the workflow, fanned out to every node's subscribers. */
export interface EventBus {
  publish(event: ExamChangeEvent): void;
  /** returns the unsubscribe function */
  subscribe(listener: (event: ExamChangeEvent) => void): () => void;
  close(): Promise<void>;
}
