/**
 * An in-memory RisService for the HL7 intake tests and the bench fallback: orders, changes, cancels,
 * patients and merges with the contract's error semantics (not-found, conflict, idempotent repeats).
 * Everything the intake does not call throws `unsupported`.
 */
/* eslint-disable @typescript-eslint/require-await -- an in-memory implementation of an async port */
import type { AccessScope } from '../archive/ports.ts';
import { HuiyingError } from '../errors.ts';
import type {
  Actor,
  Exam,
  ExamStatus,
  OrderChange,
  OrderInput,
  RisPatient,
  RisPatientInput,
} from '../ris/model.ts';
import type { OrderResult, RisService } from '../ris/ports.ts';

export interface FakeCall {
  method: string;
  args: unknown[];
  actor: Actor;
}

export class FakeRisService implements RisService {
  readonly calls: FakeCall[] = [];
  readonly exams = new Map<string, Exam>();
  readonly patients = new Map<string, RisPatient>();
  private nextId = 1;

  private key(hospitalId: number, x: string): string {
    return `${hospitalId}|${x}`;
  }

  private patientOf(hospitalId: number, p: RisPatientInput, hospitalCode = String(hospitalId)): RisPatient {
    const issuer = p.issuer ?? hospitalCode;
    const k = this.key(hospitalId, `${issuer}|${p.patientId}`);
    const now = new Date().toISOString();
    const existing = this.patients.get(k);
    const next: RisPatient = {
      id: existing?.id ?? this.nextId++,
      hospitalId,
      patientId: p.patientId,
      issuer,
      name: p.name,
      sex: p.sex ?? existing?.sex ?? null,
      birthDate: p.birthDate ?? existing?.birthDate ?? null,
      phone: p.phone ?? existing?.phone ?? null,
      mergedInto: existing?.mergedInto ?? null,
      createdAt: existing?.createdAt ?? now,
      updatedAt: now,
    };
    this.patients.set(k, next);
    return next;
  }

  async placeOrder(input: OrderInput, actor: Actor): Promise<OrderResult> {
    this.calls.push({ method: 'placeOrder', args: [input], actor });
    const acc = input.accessionNumber;
    if (acc === undefined) throw new HuiyingError('invalid-input', 'accession number required');
    const k = this.key(input.hospitalId, acc);
    const existing = this.exams.get(k);
    if (existing !== undefined) {
      if (
        JSON.stringify(existing.examItems) === JSON.stringify(input.examItems) &&
        existing.modality === input.modality
      )
        return { exam: existing, created: false };
      throw new HuiyingError('conflict', `accession ${acc} is already used by another order`);
    }
    const now = new Date().toISOString();
    const exam: Exam = {
      id: this.nextId++,
      hospitalId: input.hospitalId,
      hospitalName: `H${input.hospitalId}`,
      patient: this.patientOf(input.hospitalId, input.patient),
      accessionNumber: acc,
      placerOrderNumber: input.placerOrderNumber ?? null,
      examItems: input.examItems,
      modality: input.modality,
      bodyPart: input.bodyPart ?? null,
      priority: input.priority,
      patientClass: input.patientClass ?? null,
      complex: input.complex ?? false,
      clinicalHistory: input.clinicalHistory ?? null,
      symptoms: input.symptoms ?? null,
      clinicalDiagnosis: input.clinicalDiagnosis ?? null,
      examPurpose: input.examPurpose ?? null,
      requestingDepartment: input.requestingDepartment ?? null,
      requestingPhysician: input.requestingPhysician ?? null,
      scheduledAt: input.scheduledAt ?? null,
      source: input.source,
      status: 'registered',
      statusAt: now,
      registeredAt: now,
      examinedAt: null,
      matchedAt: null,
      reportedAt: null,
      reviewedAt: null,
      studyId: null,
      studyInstanceUid: null,
      readAtCenter: true,
      reviewRequired: true,
      limitMinutes: 240,
      dueAt: null,
      assignedTo: null,
      assignedAt: null,
      identityConflict: null,
      version: 1,
      createdAt: now,
      updatedAt: now,
    };
    this.exams.set(k, exam);
    return { exam, created: true };
  }

  async changeOrder(
    hospitalId: number,
    accessionNumber: string,
    change: OrderChange,
    actor: Actor,
  ): Promise<Exam> {
    this.calls.push({ method: 'changeOrder', args: [hospitalId, accessionNumber, change], actor });
    const exam = this.exams.get(this.key(hospitalId, accessionNumber));
    if (exam === undefined) throw new HuiyingError('not-found', `no order ${accessionNumber}`);
    if (exam.status === 'cancelled')
      throw new HuiyingError('conflict', `order ${accessionNumber} is cancelled`);
    const { patient, ...rest } = change;
    Object.assign(exam, rest, { version: exam.version + 1 });
    if (patient !== undefined) exam.patient = this.patientOf(hospitalId, patient);
    return exam;
  }

  async cancelOrder(
    hospitalId: number,
    accessionNumber: string,
    reason: string,
    actor: Actor,
  ): Promise<Exam> {
    this.calls.push({ method: 'cancelOrder', args: [hospitalId, accessionNumber, reason], actor });
    const exam = this.exams.get(this.key(hospitalId, accessionNumber));
    if (exam === undefined) throw new HuiyingError('not-found', `no order ${accessionNumber}`);
    if (exam.status === 'reported' || exam.status === 'reviewed')
      throw new HuiyingError('conflict', `order ${accessionNumber} is already reported`);
    exam.status = 'cancelled';
    exam.version++;
    return exam;
  }

  async upsertPatient(hospitalId: number, patient: RisPatientInput, actor: Actor): Promise<RisPatient> {
    this.calls.push({ method: 'upsertPatient', args: [hospitalId, patient], actor });
    return this.patientOf(hospitalId, patient);
  }

  async mergePatients(
    hospitalId: number,
    survivor: RisPatientInput,
    prior: { patientId: string; issuer?: string },
    actor: Actor,
  ): Promise<RisPatient> {
    this.calls.push({ method: 'mergePatients', args: [hospitalId, survivor, prior], actor });
    const pk = this.key(hospitalId, `${prior.issuer ?? String(hospitalId)}|${prior.patientId}`);
    const p = this.patients.get(pk);
    if (p === undefined) throw new HuiyingError('not-found', `no patient ${prior.patientId}`);
    const s = this.patientOf(hospitalId, survivor);
    p.mergedInto = s.id;
    for (const e of this.exams.values()) if (e.patient.id === p.id) e.patient = s;
    return s;
  }

  async findExamByAccession(hospitalId: number, accessionNumber: string): Promise<Exam | undefined> {
    return this.exams.get(this.key(hospitalId, accessionNumber));
  }

  async findPatient(hospitalId: number, patientId: string, issuer?: string): Promise<RisPatient | undefined> {
    return this.patients.get(this.key(hospitalId, `${issuer ?? String(hospitalId)}|${patientId}`));
  }

  private no(): never {
    throw new HuiyingError('unsupported', 'not implemented by the fake RIS service');
  }
  getExam(_examId: number, _scope: AccessScope): Promise<Exam> {
    return this.no();
  }
  getPatient(): Promise<RisPatient> {
    return this.no();
  }
  worklist(): Promise<never> {
    return this.no();
  }
  counts(): Promise<Record<ExamStatus, number>> {
    return this.no();
  }
  history(): Promise<never> {
    return this.no();
  }
  patientExams(): Promise<Exam[]> {
    return this.no();
  }
  transition(): Promise<Exam> {
    return this.no();
  }
  claim(): Promise<Exam> {
    return this.no();
  }
  release(): Promise<Exam> {
    return this.no();
  }
  assign(): Promise<Exam> {
    return this.no();
  }
  unmatchedStudies(): Promise<never> {
    return this.no();
  }
  suggestions(): Promise<never> {
    return this.no();
  }
  link(): Promise<Exam> {
    return this.no();
  }
  unlink(): Promise<Exam> {
    return this.no();
  }
  studyReceived(): void {
    // nothing to do
  }
  policy(): Promise<never> {
    return this.no();
  }
  setPolicy(): Promise<never> {
    return this.no();
  }
}
