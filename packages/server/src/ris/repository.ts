/**
 * The workflow's tables over Kysely (SQLite and PostgreSQL): patients, exams, their history, study
 * arrivals, match suggestions, policies and accession counters. Row ↔ model mapping lives here; the
 * service (service.ts) owns the rules and the transactions.
 */
import { sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import type { AccessScope } from '../archive/ports.ts';
import type { Schema } from '../db/schema.ts';
import type { DialectName } from '../db/migrations.ts';
import type { ExamsTable, RisPatientsTable } from '../db/migrations-workflow.ts';
import type {
  Exam,
  ExamEvent,
  ExamItem,
  ExamStatus,
  MatchSuggestion,
  OrderSource,
  PatientClass,
  Priority,
  RisPatient,
  UnmatchedStudy,
  WorklistQuery,
} from './model.ts';

export type Db = Kysely<Schema> | Transaction<Schema>;

export type ExamRow = Selectable<ExamsTable> & {
  hospital_name: string;
  assignee_name: string | null;
  p_id: number;
  p_hospital_id: number;
  p_patient_id: string;
  p_issuer: string;
  p_name: string;
  p_sex: string | null;
  p_birth_date: string | null;
  p_phone: string | null;
  p_merged_into: number | null;
  p_created_at: string;
  p_updated_at: string;
};

export function patientOf(r: Selectable<RisPatientsTable>): RisPatient {
  return {
    id: r.id,
    hospitalId: r.hospital_id,
    patientId: r.patient_id,
    issuer: r.issuer,
    name: r.name,
    sex: r.sex,
    birthDate: r.birth_date,
    phone: r.phone,
    mergedInto: r.merged_into,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export function examOf(r: ExamRow): Exam {
  return {
    id: r.id,
    hospitalId: r.hospital_id,
    hospitalName: r.hospital_name,
    patient: {
      id: r.p_id,
      hospitalId: r.p_hospital_id,
      patientId: r.p_patient_id,
      issuer: r.p_issuer,
      name: r.p_name,
      sex: r.p_sex,
      birthDate: r.p_birth_date,
      phone: r.p_phone,
      mergedInto: r.p_merged_into,
      createdAt: r.p_created_at,
      updatedAt: r.p_updated_at,
    },
    accessionNumber: r.accession_number,
    placerOrderNumber: r.placer_order_number,
    examItems: JSON.parse(r.exam_items) as ExamItem[],
    modality: r.modality,
    bodyPart: r.body_part,
    priority: r.priority as Priority,
    patientClass: r.patient_class as PatientClass | null,
    complex: r.complex === 1,
    clinicalHistory: r.clinical_history,
    symptoms: r.symptoms,
    clinicalDiagnosis: r.clinical_diagnosis,
    examPurpose: r.exam_purpose,
    requestingDepartment: r.requesting_department,
    requestingPhysician: r.requesting_physician,
    scheduledAt: r.scheduled_at,
    source: r.source as OrderSource,
    status: r.status as ExamStatus,
    statusAt: r.status_at,
    registeredAt: r.registered_at,
    examinedAt: r.examined_at,
    matchedAt: r.matched_at,
    reportedAt: r.reported_at,
    reviewedAt: r.reviewed_at,
    studyId: r.study_id,
    studyInstanceUid: r.study_instance_uid,
    readAtCenter: r.read_at_center === 1,
    reviewRequired: r.review_required === 1,
    limitMinutes: r.limit_minutes,
    dueAt: r.due_at,
    assignedTo:
      r.assigned_to === null
        ? null
        : { userId: r.assigned_to, name: r.assignee_name ?? String(r.assigned_to) },
    assignedAt: r.assigned_at,
    identityConflict: r.identity_conflict,
    version: r.version,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

function examSelect(db: Db) {
  return db
    .selectFrom('exams as e')
    .innerJoin('ris_patients as p', 'p.id', 'e.ris_patient_id')
    .innerJoin('hospitals as h', 'h.id', 'e.hospital_id')
    .leftJoin('users as u', 'u.id', 'e.assigned_to')
    .selectAll('e')
    .select([
      'h.name as hospital_name',
      'u.display_name as assignee_name',
      'p.id as p_id',
      'p.hospital_id as p_hospital_id',
      'p.patient_id as p_patient_id',
      'p.issuer as p_issuer',
      'p.name as p_name',
      'p.sex as p_sex',
      'p.birth_date as p_birth_date',
      'p.phone as p_phone',
      'p.merged_into as p_merged_into',
      'p.created_at as p_created_at',
      'p.updated_at as p_updated_at',
    ]);
}

/** SQL LIKE pattern for "contains", escaping the wildcards of the user's text. */
function containsPattern(text: string): string {
  return `%${text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

export function searchTextOf(patientName: string, patientId: string, accession: string): string {
  return `${patientName.replace(/[\^=]/g, ' ')} ${patientId} ${accession}`.toLowerCase();
}

/** states whose tab lists the newest first (the urgency order is for work still to do) */
const CLOSED_STATES: readonly string[] = ['reviewed', 'cancelled', 'returned'];

export class RisRepository {
  readonly db: Kysely<Schema>;
  readonly #dialect: DialectName;
  constructor(db: Kysely<Schema>, dialect: DialectName = 'sqlite') {
    this.db = db;
    this.#dialect = dialect;
  }

  // ------------------------------------------------------------------------------------ patients
  async patientByIdentity(
    db: Db,
    hospitalId: number,
    issuer: string,
    patientId: string,
  ): Promise<RisPatient | undefined> {
    const r = await db
      .selectFrom('ris_patients')
      .selectAll()
      .where('hospital_id', '=', hospitalId)
      .where('issuer', '=', issuer)
      .where('patient_id', '=', patientId)
      .executeTakeFirst();
    return r === undefined ? undefined : patientOf(r);
  }

  async patientById(db: Db, id: number): Promise<RisPatient | undefined> {
    const r = await db.selectFrom('ris_patients').selectAll().where('id', '=', id).executeTakeFirst();
    return r === undefined ? undefined : patientOf(r);
  }

  async insertPatient(
    db: Db,
    p: Omit<RisPatient, 'id' | 'mergedInto' | 'createdAt' | 'updatedAt'>,
    now: string,
  ): Promise<RisPatient> {
    const r = await db
      .insertInto('ris_patients')
      .values({
        hospital_id: p.hospitalId,
        patient_id: p.patientId,
        issuer: p.issuer,
        name: p.name,
        sex: p.sex,
        birth_date: p.birthDate,
        phone: p.phone,
        merged_into: null,
        created_at: now,
        updated_at: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return patientOf(r);
  }

  async updatePatient(
    db: Db,
    id: number,
    change: { name?: string; sex?: string | null; birthDate?: string | null; phone?: string | null },
    now: string,
  ): Promise<void> {
    await db
      .updateTable('ris_patients')
      .set({
        ...(change.name !== undefined ? { name: change.name } : {}),
        ...(change.sex !== undefined ? { sex: change.sex } : {}),
        ...(change.birthDate !== undefined ? { birth_date: change.birthDate } : {}),
        ...(change.phone !== undefined ? { phone: change.phone } : {}),
        updated_at: now,
      })
      .where('id', '=', id)
      .execute();
  }

  async markMerged(db: Db, priorId: number, survivorId: number, now: string): Promise<number> {
    await db
      .updateTable('ris_patients')
      .set({ merged_into: survivorId, updated_at: now })
      .where((eb) => eb.or([eb('id', '=', priorId), eb('merged_into', '=', priorId)]))
      .execute();
    const moved = await db
      .updateTable('exams')
      .set({ ris_patient_id: survivorId, updated_at: now, version: sql`version + 1` })
      .where('ris_patient_id', '=', priorId)
      .executeTakeFirst();
    return Number(moved.numUpdatedRows);
  }

  async refreshSearchText(db: Db, patientDbId: number): Promise<void> {
    const p = await this.patientById(db, patientDbId);
    if (p === undefined) return;
    const exams = await db
      .selectFrom('exams')
      .select(['id', 'accession_number'])
      .where('ris_patient_id', '=', patientDbId)
      .execute();
    for (const e of exams) {
      await db
        .updateTable('exams')
        .set({ search_text: searchTextOf(p.name, p.patientId, e.accession_number) })
        .where('id', '=', e.id)
        .execute();
    }
  }

  // --------------------------------------------------------------------------------------- exams
  async examById(db: Db, id: number): Promise<Exam | undefined> {
    const r = await examSelect(db).where('e.id', '=', id).executeTakeFirst();
    return r === undefined ? undefined : examOf(r);
  }

  async examByAccession(db: Db, hospitalId: number, accession: string): Promise<Exam | undefined> {
    const r = await examSelect(db)
      .where('e.hospital_id', '=', hospitalId)
      .where('e.accession_number', '=', accession)
      .executeTakeFirst();
    return r === undefined ? undefined : examOf(r);
  }

  async examByStudy(db: Db, studyId: number): Promise<Exam | undefined> {
    const r = await examSelect(db).where('e.study_id', '=', studyId).executeTakeFirst();
    return r === undefined ? undefined : examOf(r);
  }

  async insertExam(db: Db, values: Omit<ExamsTable, 'id'>): Promise<number> {
    const r = await db.insertInto('exams').values(values).returning('id').executeTakeFirstOrThrow();
    return r.id;
  }

  /** Update with optimistic locking: the row must still be at `version`; false when it was not. */
  async updateExam(
    db: Db,
    id: number,
    version: number,
    set: Partial<Omit<ExamsTable, 'id' | 'version'>>,
  ): Promise<boolean> {
    const r = await db
      .updateTable('exams')
      .set({ ...set, version: version + 1 })
      .where('id', '=', id)
      .where('version', '=', version)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async addEvent(db: Db, e: Omit<ExamEvent, 'id'> & { actorType: string; actorId?: string }): Promise<void> {
    await db
      .insertInto('exam_events')
      .values({
        exam_id: e.examId,
        at: e.at,
        kind: e.kind,
        from_status: e.fromStatus,
        to_status: e.toStatus,
        actor_type: e.actorType,
        actor_id: e.actorId ?? null,
        actor_name: e.actor,
        detail: e.detail,
      })
      .execute();
  }

  async events(examId: number): Promise<ExamEvent[]> {
    const rows = await this.db
      .selectFrom('exam_events')
      .selectAll()
      .where('exam_id', '=', examId)
      .orderBy('id')
      .execute();
    return rows.map((r) => ({
      id: r.id,
      examId: r.exam_id,
      at: r.at,
      kind: r.kind,
      fromStatus: r.from_status as ExamStatus | null,
      toStatus: r.to_status as ExamStatus | null,
      actor: r.actor_name,
      detail: r.detail,
    }));
  }

  async examsOfPatients(patientDbIds: number[], exceptExam: number): Promise<Exam[]> {
    if (patientDbIds.length === 0) return [];
    const rows = await examSelect(this.db)
      .where('e.ris_patient_id', 'in', patientDbIds)
      .where('e.id', '!=', exceptExam)
      .orderBy('e.registered_at', 'desc')
      .limit(100)
      .execute();
    return rows.map(examOf);
  }

  async mergedPatientIds(survivorId: number): Promise<number[]> {
    const rows = await this.db
      .selectFrom('ris_patients')
      .select('id')
      .where('merged_into', '=', survivorId)
      .execute();
    return [survivorId, ...rows.map((r) => r.id)];
  }

  // ------------------------------------------------------------------------------------ worklist
  #filtered(q: WorklistQuery, scope: AccessScope, now: string, withStatus: boolean) {
    // every filter is on the exams row (search_text included): counts never join
    let s = this.db.selectFrom('exams as e');
    // one hospital as `=`: SQLite reads (hospital_id, urgency…) in order only for an equality
    if (scope.kind === 'hospitals')
      s =
        scope.hospitalIds.length === 1
          ? s.where('e.hospital_id', '=', scope.hospitalIds[0] ?? -1)
          : s.where('e.hospital_id', 'in', [...scope.hospitalIds, -1]);
    if (withStatus && q.status !== undefined && q.status.length > 0) s = s.where('e.status', 'in', q.status);
    if (q.hospitalIds !== undefined && q.hospitalIds.length > 0)
      s =
        q.hospitalIds.length === 1
          ? s.where('e.hospital_id', '=', q.hospitalIds[0] ?? -1)
          : s.where('e.hospital_id', 'in', q.hospitalIds);
    if (q.modalities !== undefined && q.modalities.length > 0) s = s.where('e.modality', 'in', q.modalities);
    if (q.priority !== undefined) s = s.where('e.priority', '=', q.priority);
    if (q.from !== undefined) s = s.where('e.registered_at', '>=', q.from);
    if (q.to !== undefined) s = s.where('e.registered_at', '<', nextDay(q.to));
    if (q.assignedTo !== undefined) s = s.where('e.assigned_to', '=', q.assignedTo);
    if (q.overdue === true)
      s = s.where('e.due_at', '<', now).where('e.status', 'in', ['examined', 'matched']);
    if (q.readAtCenter === true) s = s.where('e.read_at_center', '=', 1);
    if (q.text !== undefined && q.text.trim() !== '') {
      const text = q.text.trim().toLowerCase();
      // SQLite: the FTS5 trigram index for three characters or more (a quoted phrase = a substring)
      if (this.#dialect === 'sqlite' && [...text].length >= 3)
        s = s.where(
          sql<boolean>`e.id in (select rowid from exams_fts where exams_fts match ${`"${text.replaceAll('"', '""')}"`})`,
        );
      // PostgreSQL: LIKE uses the pg_trgm GIN index
      else s = s.where(sql<boolean>`e.search_text like ${containsPattern(text)} escape '\\'`);
    }
    return s;
  }

  async worklist(
    q: WorklistQuery,
    scope: AccessScope,
    now: string,
  ): Promise<{ exams: Exam[]; total: number }> {
    const base = this.#filtered(q, scope, now, true);
    const rows = await base
      .innerJoin('ris_patients as p', 'p.id', 'e.ris_patient_id')
      .innerJoin('hospitals as h', 'h.id', 'e.hospital_id')
      .leftJoin('users as u', 'u.id', 'e.assigned_to')
      .selectAll('e')
      .select([
        'h.name as hospital_name',
        'u.display_name as assignee_name',
        'p.id as p_id',
        'p.hospital_id as p_hospital_id',
        'p.patient_id as p_patient_id',
        'p.issuer as p_issuer',
        'p.name as p_name',
        'p.sex as p_sex',
        'p.birth_date as p_birth_date',
        'p.phone as p_phone',
        'p.merged_into as p_merged_into',
        'p.created_at as p_created_at',
        'p.updated_at as p_updated_at',
      ])
      .$call((qb) =>
        q.status !== undefined && q.status.length > 0 && q.status.every((st) => CLOSED_STATES.includes(st))
          ? // closed tabs: newest first (index (status, status_at))
            qb.orderBy('e.status_at', 'desc').orderBy('e.id', 'desc')
          : // the urgency order: exactly the terms of the exams_*urgency indexes (migrations-worklist.ts)
            qb
              .orderBy(sql`(case when e.due_at is null then 1 else 0 end)`)
              .orderBy('e.due_at')
              .orderBy(sql`(case when e.priority = 'emergency' then 0 else 1 end)`)
              .orderBy('e.registered_at')
              .orderBy('e.id'),
      )
      .limit(q.limit ?? 50)
      .offset(q.offset ?? 0)
      .execute();
    const total = await base.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return { exams: rows.map(examOf), total: Number(total.n) };
  }

  async counts(q: WorklistQuery, scope: AccessScope, now: string): Promise<Map<string, number>> {
    const rows = await this.#filtered(q, scope, now, false)
      .select(['e.status as status', (eb) => eb.fn.countAll<number>().as('n')])
      .groupBy('e.status')
      .execute();
    return new Map(rows.map((r) => [r.status, Number(r.n)]));
  }

  // -------------------------------------------------------------------------------------- studies
  async studyByUid(
    db: Db,
    hospitalId: number,
    uid: string,
  ): Promise<{ id: number; accession: string | null } | undefined> {
    const r = await db
      .selectFrom('studies')
      .select(['id', 'accession_number'])
      .where('hospital_id', '=', hospitalId)
      .where('study_instance_uid', '=', uid)
      .executeTakeFirst();
    return r === undefined ? undefined : { id: r.id, accession: r.accession_number };
  }

  async studyDetail(db: Db, studyId: number) {
    return db
      .selectFrom('studies as s')
      .innerJoin('patients as p', 'p.id', 's.patient_fk')
      .innerJoin('hospitals as h', 'h.id', 's.hospital_id')
      .select([
        's.id as studyId',
        's.hospital_id as hospitalId',
        'h.name as hospitalName',
        's.study_instance_uid as studyInstanceUid',
        's.accession_number as accessionNumber',
        's.study_date as studyDate',
        's.modalities as modalities',
        's.description as description',
        's.num_instances as numInstances',
        'p.patient_id as patientId',
        'p.issuer as issuer',
        'p.patient_name as patientName',
      ])
      .where('s.id', '=', studyId)
      .executeTakeFirst();
  }

  /** The archive's studies of a patient (same hospital and Patient ID), newest first. */
  async studiesOfPatient(hospitalId: number, patientId: string) {
    return this.db
      .selectFrom('studies as s')
      .innerJoin('patients as p', 'p.id', 's.patient_fk')
      .select([
        's.id as studyId',
        's.study_instance_uid as studyInstanceUid',
        's.study_date as studyDate',
        's.modalities as modalities',
        's.description as description',
        's.num_instances as numInstances',
        's.accession_number as accessionNumber',
      ])
      .where('p.hospital_id', '=', hospitalId)
      .where('p.patient_id', '=', patientId)
      .orderBy('s.study_date', 'desc')
      .limit(100)
      .execute();
  }

  // ------------------------------------------------------------------------------------- arrivals
  async touchArrival(db: Db, studyId: number, hospitalId: number, at: string): Promise<void> {
    await db
      .insertInto('study_arrivals')
      .values({
        study_id: studyId,
        hospital_id: hospitalId,
        first_at: at,
        last_at: at,
        state: 'receiving',
        exam_id: null,
      })
      .onConflict((oc) => oc.column('study_id').doUpdateSet({ last_at: at, state: 'receiving' }))
      .execute();
  }

  async receivingArrivals(limit: number) {
    return this.db
      .selectFrom('study_arrivals')
      .selectAll()
      .where('state', '=', 'receiving')
      .orderBy('last_at')
      .limit(limit)
      .execute();
  }

  /** Claim an arrival as stable (only if nothing arrived since `lastAt`): false when another node did. */
  async markStable(db: Db, studyId: number, lastAt: string): Promise<boolean> {
    const r = await db
      .updateTable('study_arrivals')
      .set({ state: 'stable' })
      .where('study_id', '=', studyId)
      .where('state', '=', 'receiving')
      .where('last_at', '=', lastAt)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async arrival(db: Db, studyId: number) {
    return db.selectFrom('study_arrivals').selectAll().where('study_id', '=', studyId).executeTakeFirst();
  }

  async setArrivalExam(db: Db, studyId: number, examId: number | null): Promise<void> {
    await db.updateTable('study_arrivals').set({ exam_id: examId }).where('study_id', '=', studyId).execute();
  }

  /** Stable or receiving arrivals of a hospital not linked to an exam, with the given accession. */
  async unlinkedArrivalByAccession(db: Db, hospitalId: number, accession: string) {
    return db
      .selectFrom('study_arrivals as a')
      .innerJoin('studies as s', 's.id', 'a.study_id')
      .select(['a.study_id as studyId', 'a.state as state'])
      .where('a.hospital_id', '=', hospitalId)
      .where('a.exam_id', 'is', null)
      .where('s.hospital_id', '=', hospitalId)
      .where('s.accession_number', '=', accession)
      .executeTakeFirst();
  }

  async unmatchedStudies(scope: AccessScope, limit: number): Promise<UnmatchedStudy[]> {
    let s = this.db
      .selectFrom('study_arrivals as a')
      .innerJoin('studies as s', 's.id', 'a.study_id')
      .innerJoin('patients as p', 'p.id', 's.patient_fk')
      .innerJoin('hospitals as h', 'h.id', 'a.hospital_id')
      .where('a.exam_id', 'is', null);
    if (scope.kind === 'hospitals') s = s.where('a.hospital_id', 'in', [...scope.hospitalIds, -1]);
    const rows = await s
      .select([
        's.id as studyId',
        'a.hospital_id as hospitalId',
        'h.name as hospitalName',
        's.study_instance_uid as studyInstanceUid',
        's.accession_number as accessionNumber',
        'p.patient_id as patientId',
        'p.issuer as issuer',
        'p.patient_name as patientName',
        's.study_date as studyDate',
        's.modalities as modalities',
        's.description as description',
        's.num_instances as numInstances',
        'a.state as arrival',
        'a.last_at as lastReceivedAt',
      ])
      .orderBy('a.last_at', 'desc')
      .limit(limit)
      .execute();
    return rows.map((r) => ({ ...r, arrival: r.arrival === 'stable' ? 'stable' : 'receiving' }));
  }

  async unmatchedOrders(scope: AccessScope, limit: number): Promise<Exam[]> {
    let s = examSelect(this.db)
      .where('e.study_id', 'is', null)
      .where('e.status', 'in', ['registered', 'examined']);
    if (scope.kind === 'hospitals') s = s.where('e.hospital_id', 'in', [...scope.hospitalIds, -1]);
    const rows = await s.orderBy('e.registered_at', 'desc').limit(limit).execute();
    return rows.map(examOf);
  }

  /** Open exams of a hospital without a study, registered within [from, to) (for suggestions). */
  async openExamsForSuggestion(db: Db, hospitalId: number, from: string, to: string) {
    return examSelect(db)
      .where('e.hospital_id', '=', hospitalId)
      .where('e.study_id', 'is', null)
      .where('e.status', 'in', ['registered', 'examined'])
      .where('e.registered_at', '>=', from)
      .where('e.registered_at', '<', to)
      .limit(500)
      .execute();
  }

  async unlinkedStudiesOfHospital(db: Db, hospitalId: number) {
    return db
      .selectFrom('study_arrivals as a')
      .innerJoin('studies as s', 's.id', 'a.study_id')
      .innerJoin('patients as p', 'p.id', 's.patient_fk')
      .select([
        's.id as studyId',
        's.study_date as studyDate',
        's.modalities as modalities',
        'p.patient_id as patientId',
        'p.patient_name as patientName',
      ])
      .where('a.hospital_id', '=', hospitalId)
      .where('a.exam_id', 'is', null)
      .where('a.state', '=', 'stable')
      .limit(500)
      .execute();
  }

  // ---------------------------------------------------------------------------------- suggestions
  async upsertSuggestion(
    db: Db,
    s: { examId: number; studyId: number; score: number; reasons: string[] },
    now: string,
  ): Promise<void> {
    await db
      .insertInto('match_suggestions')
      .values({
        exam_id: s.examId,
        study_id: s.studyId,
        score: s.score,
        reasons: JSON.stringify(s.reasons),
        status: 'open',
        created_at: now,
      })
      .onConflict((oc) =>
        oc
          .columns(['exam_id', 'study_id'])
          .doUpdateSet({ score: s.score, reasons: JSON.stringify(s.reasons) }),
      )
      .execute();
  }

  async suggestionsOf(examId: number): Promise<MatchSuggestion[]> {
    const rows = await this.db
      .selectFrom('match_suggestions')
      .selectAll()
      .where('exam_id', '=', examId)
      .orderBy('score', 'desc')
      .execute();
    return rows.map((r) => ({
      id: r.id,
      examId: r.exam_id,
      studyId: r.study_id,
      score: r.score,
      reasons: JSON.parse(r.reasons) as string[],
      status: r.status as MatchSuggestion['status'],
      createdAt: r.created_at,
    }));
  }

  async settleSuggestions(db: Db, examId: number, studyId: number): Promise<void> {
    await db
      .updateTable('match_suggestions')
      .set({ status: 'accepted' })
      .where('exam_id', '=', examId)
      .where('study_id', '=', studyId)
      .execute();
    await db
      .updateTable('match_suggestions')
      .set({ status: 'rejected' })
      .where('status', '=', 'open')
      .where((eb) => eb.or([eb('exam_id', '=', examId), eb('study_id', '=', studyId)]))
      .execute();
  }

  // ------------------------------------------------------------------------------------- policies
  async policyJson(db: Db, hospitalId: number): Promise<{ policy: string; updated_at: string } | undefined> {
    return db
      .selectFrom('hospital_policies')
      .select(['policy', 'updated_at'])
      .where('hospital_id', '=', hospitalId)
      .executeTakeFirst();
  }

  async savePolicy(hospitalId: number, json: string, now: string): Promise<void> {
    await this.db
      .insertInto('hospital_policies')
      .values({ hospital_id: hospitalId, policy: json, updated_at: now })
      .onConflict((oc) => oc.column('hospital_id').doUpdateSet({ policy: json, updated_at: now }))
      .execute();
  }

  // ------------------------------------------------------------------------------------ accession
  /** The next number of the hospital's day counter (atomic on both dialects). */
  async nextAccessionSeq(db: Db, hospitalId: number, day: string): Promise<number> {
    const r = await db
      .insertInto('accession_counters')
      .values({ hospital_id: hospitalId, day, next: 1 })
      .onConflict((oc) =>
        oc.columns(['hospital_id', 'day']).doUpdateSet({ next: sql`accession_counters.next + 1` }),
      )
      .returning('next')
      .executeTakeFirstOrThrow();
    return r.next;
  }
}

function nextDay(date: string): string {
  const d = new Date(`${date.slice(0, 10)}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + 1);
  return d.toISOString().slice(0, 10);
}
