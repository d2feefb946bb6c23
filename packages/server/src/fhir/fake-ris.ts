/**
 * Test double: an in-memory RisService with the order, patient and worklist behaviour the FHIR adapter
 * relies on (idempotent placeOrder, optimistic lock on changeOrder, cancel refused once reported, legal
 * transitions only, scope on every read). Not used outside tests.
 */
import type { AccessScope, Hospital } from '../archive/ports.ts';
import { HuiyingError } from '../errors.ts';
import {
  canTransition,
  type Actor,
  type Exam,
  type ExamStatus,
  type OrderChange,
  type OrderInput,
  type RisPatient,
  type RisPatientInput,
  type WorklistQuery,
} from '../ris/model.ts';
import type { OrderResult, RisService } from '../ris/ports.ts';

const inScope = (s: AccessScope, h: number): boolean => s.kind === 'all' || s.hospitalIds.includes(h);

export class FakeRis implements Pick<
  RisService,
  | 'placeOrder'
  | 'changeOrder'
  | 'cancelOrder'
  | 'upsertPatient'
  | 'getExam'
  | 'findExamByAccession'
  | 'getPatient'
  | 'findPatient'
  | 'worklist'
  | 'transition'
> {
  readonly exams: Exam[] = [];
  readonly patients: RisPatient[] = [];
  readonly actors: Actor[] = [];
  readonly #hospitals: Hospital[];
  #clock = Date.parse('2026-11-26T08:00:00Z');

  constructor(hospitals: Hospital[]) {
    this.#hospitals = hospitals;
  }

  #now(): string {
    this.#clock += 1000;
    return new Date(this.#clock).toISOString();
  }

  #hospital(id: number): Hospital {
    const h = this.#hospitals.find((x) => x.id === id);
    if (h === undefined) throw new HuiyingError('invalid-input', `no hospital ${id}`);
    return h;
  }

  async upsertPatient(hospitalId: number, p: RisPatientInput, actor: Actor): Promise<RisPatient> {
    this.actors.push(actor);
    const issuer = p.issuer ?? this.#hospital(hospitalId).code;
    const now = this.#now();
    const found = this.patients.find(
      (x) => x.hospitalId === hospitalId && x.patientId === p.patientId && x.issuer === issuer,
    );
    if (found !== undefined) {
      found.name = p.name;
      found.sex = p.sex ?? found.sex;
      found.birthDate = p.birthDate ?? found.birthDate;
      found.phone = p.phone ?? found.phone;
      found.updatedAt = now;
      return Promise.resolve({ ...found });
    }
    const rec: RisPatient = {
      id: this.patients.length + 1,
      hospitalId,
      patientId: p.patientId,
      issuer,
      name: p.name,
      sex: p.sex ?? null,
      birthDate: p.birthDate ?? null,
      phone: p.phone ?? null,
      mergedInto: null,
      createdAt: now,
      updatedAt: now,
    };
    this.patients.push(rec);
    return Promise.resolve({ ...rec });
  }

  async placeOrder(input: OrderInput, actor: Actor): Promise<OrderResult> {
    const acc = input.accessionNumber;
    if (acc === undefined) throw new HuiyingError('invalid-input', 'accession number required');
    const existing = this.exams.find((e) => e.hospitalId === input.hospitalId && e.accessionNumber === acc);
    if (existing !== undefined) {
      if (JSON.stringify(existing.examItems) === JSON.stringify(input.examItems))
        return { exam: { ...existing }, created: false };
      throw new HuiyingError('conflict', `accession ${acc} already used with different content`);
    }
    const patient = await this.upsertPatient(input.hospitalId, input.patient, actor);
    const now = this.#now();
    const exam: Exam = {
      id: this.exams.length + 1,
      hospitalId: input.hospitalId,
      hospitalName: this.#hospital(input.hospitalId).name,
      patient,
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
      reviewRequired: false,
      limitMinutes: 240,
      dueAt: null,
      assignedTo: null,
      assignedAt: null,
      identityConflict: null,
      version: 1,
      createdAt: now,
      updatedAt: now,
    };
    this.exams.push(exam);
    return { exam: { ...exam }, created: true };
  }

  #byAcc(hospitalId: number, acc: string): Exam {
    const e = this.exams.find((x) => x.hospitalId === hospitalId && x.accessionNumber === acc);
    if (e === undefined) throw new HuiyingError('not-found', `no order ${acc}`);
    return e;
  }

  async changeOrder(
    hospitalId: number,
    acc: string,
    change: OrderChange,
    actor: Actor,
    version?: number,
  ): Promise<Exam> {
    this.actors.push(actor);
    const e = this.#byAcc(hospitalId, acc);
    if (version !== undefined && version !== e.version)
      throw new HuiyingError('conflict', `stale version ${version} (current ${e.version})`);
    if (change.patient !== undefined) e.patient = await this.upsertPatient(hospitalId, change.patient, actor);
    const { patient: _p, ...rest } = change;
    for (const [k, v] of Object.entries(rest)) if (v !== undefined) Object.assign(e, { [k]: v });
    e.version++;
    e.updatedAt = this.#now();
    return { ...e };
  }

  async cancelOrder(hospitalId: number, acc: string, _reason: string, actor: Actor): Promise<Exam> {
    this.actors.push(actor);
    const e = this.#byAcc(hospitalId, acc);
    if (!canTransition(e.status, 'cancelled'))
      throw new HuiyingError('conflict', `cannot cancel an exam in state ${e.status}`);
    e.status = 'cancelled';
    e.version++;
    e.updatedAt = this.#now();
    return Promise.resolve({ ...e });
  }

  async transition(
    examId: number,
    to: ExamStatus,
    actor: Actor,
    opts: { scope: AccessScope; reason?: string; version?: number },
  ): Promise<Exam> {
    this.actors.push(actor);
    const e = this.exams.find((x) => x.id === examId && inScope(opts.scope, x.hospitalId));
    if (e === undefined) throw new HuiyingError('not-found', 'no exam');
    if (opts.version !== undefined && opts.version !== e.version)
      throw new HuiyingError('conflict', 'stale version');
    if (!canTransition(e.status, to))
      throw new HuiyingError('conflict', `${e.status} → ${to} is not allowed`);
    e.status = to;
    e.version++;
    e.updatedAt = this.#now();
    return Promise.resolve({ ...e });
  }

  /** test helper: force a state (as the reading workflow would) */
  setStatus(examId: number, status: ExamStatus): void {
    const e = this.exams.find((x) => x.id === examId);
    if (e === undefined) throw new Error('no exam');
    e.status = status;
    e.version++;
  }

  async getExam(examId: number, scope: AccessScope): Promise<Exam> {
    const e = this.exams.find((x) => x.id === examId);
    if (e === undefined || !inScope(scope, e.hospitalId)) throw new HuiyingError('not-found', 'no exam');
    return Promise.resolve({ ...e, patient: this.#patientOf(e) });
  }

  #patientOf(e: Exam): RisPatient {
    return { ...(this.patients.find((p) => p.id === e.patient.id) ?? e.patient) };
  }

  async findExamByAccession(hospitalId: number, acc: string): Promise<Exam | undefined> {
    const e = this.exams.find((x) => x.hospitalId === hospitalId && x.accessionNumber === acc);
    return Promise.resolve(e === undefined ? undefined : { ...e, patient: this.#patientOf(e) });
  }

  async getPatient(id: number, scope: AccessScope): Promise<RisPatient> {
    const p = this.patients.find((x) => x.id === id);
    if (p === undefined || !inScope(scope, p.hospitalId)) throw new HuiyingError('not-found', 'no patient');
    return Promise.resolve({ ...p });
  }

  async findPatient(hospitalId: number, patientId: string, issuer?: string): Promise<RisPatient | undefined> {
    const iss = issuer ?? this.#hospital(hospitalId).code;
    const p = this.patients.find(
      (x) => x.hospitalId === hospitalId && x.patientId === patientId && x.issuer === iss,
    );
    return Promise.resolve(p === undefined ? undefined : { ...p });
  }

  async worklist(q: WorklistQuery, scope: AccessScope): Promise<{ exams: Exam[]; total: number }> {
    const all = this.exams
      .filter((e) => inScope(scope, e.hospitalId))
      .filter((e) => q.status === undefined || q.status.includes(e.status))
      .filter((e) => q.hospitalIds === undefined || q.hospitalIds.includes(e.hospitalId))
      .filter((e) => q.modalities === undefined || q.modalities.includes(e.modality))
      .filter((e) => q.priority === undefined || q.priority === e.priority)
      .filter((e) => q.from === undefined || e.registeredAt.slice(0, 10) >= q.from)
      .filter((e) => q.to === undefined || e.registeredAt.slice(0, 10) <= q.to)
      .filter(
        (e) =>
          q.text === undefined ||
          e.accessionNumber.includes(q.text) ||
          e.patient.patientId.includes(q.text) ||
          e.patient.name.includes(q.text),
      )
      .map((e) => ({ ...e, patient: this.#patientOf(e) }));
    const offset = q.offset ?? 0;
    return Promise.resolve({ exams: all.slice(offset, offset + (q.limit ?? 50)), total: all.length });
  }
}

/** The FakeRis as the RisService the plugin takes (the methods it does not use throw). */
export function asRisService(fake: FakeRis): RisService {
  const unsupported = (): never => {
    throw new HuiyingError('unsupported', 'not implemented by the fake');
  };
  return {
    placeOrder: (i, a) => fake.placeOrder(i, a),
    changeOrder: (h, acc, c, a, v) => fake.changeOrder(h, acc, c, a, v),
    cancelOrder: (h, acc, r, a) => fake.cancelOrder(h, acc, r, a),
    upsertPatient: (h, p, a) => fake.upsertPatient(h, p, a),
    getExam: (id, s) => fake.getExam(id, s),
    findExamByAccession: (h, acc) => fake.findExamByAccession(h, acc),
    getPatient: (id, s) => fake.getPatient(id, s),
    findPatient: (h, p, i) => fake.findPatient(h, p, i),
    worklist: (q, s) => fake.worklist(q, s),
    transition: (id, to, a, o) => fake.transition(id, to, a, o),
    mergePatients: unsupported,
    counts: unsupported,
    history: unsupported,
    patientExams: unsupported,
    claim: unsupported,
    release: unsupported,
    assign: unsupported,
    unmatchedStudies: unsupported,
    suggestions: unsupported,
    link: unsupported,
    unlink: unsupported,
    studyReceived: () => undefined,
    policy: unsupported,
    setPolicy: unsupported,
  };
}
