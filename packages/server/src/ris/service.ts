/**
 * The reading workflow (RisService): orders in, exam states, matching of stored studies to orders, the
 * worklist, claims, and the per-hospital policy. Every change runs in one transaction, is written to the
 * exam history, audited, and broadcast on the event bus after commit.
 *
 * Study arrival: the ingest pipeline calls `studyReceived` after each stored instance; arrivals are
 * buffered in memory for ≤ 250 ms and written as `study_arrivals` rows (receiving). A ticker (every
 * `tickMs`) claims arrivals quiet for the hospital's `stableSeconds` with a conditional update (several
 * nodes never process one twice) and then: links the study to the order with the same hospital +
 * accession number (examined → matched), or records suggestions from weaker evidence (same patient,
 * modality, date window) and leaves the study in the matching queue.
 */
import type { AccessScope, HospitalRepository } from '../archive/ports.ts';
import { inScope } from '../access/scope.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import type { ActorType, AuditProtocol } from '../audit/types.ts';
import { HuiyingError, messageOf } from '../errors.ts';
import type { Log } from '../logger.ts';
import type { DialectName } from '../db/migrations.ts';
import type { ExamsTable } from '../db/migrations-workflow.ts';
import {
  canTransition,
  defaultPolicy,
  EXAM_STATUSES,
  type Actor,
  type Exam,
  type ExamChangeEvent,
  type ExamEvent,
  type ExamStatus,
  type HospitalPolicy,
  type MatchSuggestion,
  type OrderChange,
  type OrderInput,
  type RisPatient,
  type RisPatientInput,
  type UnmatchedStudy,
  type WorklistPage,
} from './model.ts';
import type { EventBus, OrderResult, RisService } from './ports.ts';
import { limitMinutesFor, readsAtCenter, reviewRequiredAtRegistration } from './policy.ts';
import { RisRepository, searchTextOf, type Db } from './repository.ts';
import { parseOrder, parseOrderChange, parsePatient } from './validate.ts';
import type { Kysely } from 'kysely';
import type { Schema } from '../db/schema.ts';

export interface RisServiceDeps {
  db: Kysely<Schema>;
  dialect: DialectName;
  hospitals: HospitalRepository;
  audit: AuditLog;
  bus: EventBus;
  log: Log;
  /** injectable clock (tests) */
  now?: () => Date;
  /** arrival ticker period (default 1000 ms; 0 = no ticker, call `tick()` yourself) */
  tickMs?: number;
}

export interface RisServiceHandle extends RisService {
  /** process stable arrivals now (the ticker calls this); `settleAll` treats every arrival as stable
   *  (demo seeding, imports of finished studies) */
  tick(opts?: { settleAll?: boolean }): Promise<void>;
  /** write buffered arrivals now */
  flushArrivals(): Promise<void>;
  close(): Promise<void>;
}

const CLOSED: readonly ExamStatus[] = ['reported', 'reviewed', 'cancelled'];
const POLICY_TTL_MS = 5000;

function auditActor(a: Actor): { actorType: ActorType; protocol: AuditProtocol } {
  switch (a.type) {
    case 'user':
      return { actorType: 'user', protocol: 'http' };
    case 'hl7':
      return { actorType: 'hl7', protocol: 'hl7' };
    case 'fhir':
      return { actorType: 'fhir', protocol: 'fhir' };
    case 'system':
      return { actorType: 'system', protocol: 'http' };
  }
}

/** Normalised name forms for identity comparison: '张三', 'zhang san' … */
function nameForms(name: string | null): string[] {
  if (name === null || name.trim() === '') return [];
  return name
    .split('=')
    .map((g) => g.replace(/[\^\s,]+/g, '').toLowerCase())
    .filter((g) => g !== '');
}

function sameName(a: string | null, b: string | null): boolean | undefined {
  const fa = nameForms(a);
  const fb = nameForms(b);
  if (fa.length === 0 || fb.length === 0) return undefined;
  return fa.some((x) => fb.includes(x));
}

function dicomDateToIso(d: string | null): string | undefined {
  if (d === null || !/^\d{8}$/.test(d)) return undefined;
  return `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}`;
}

function addMinutes(iso: string, minutes: number): string {
  return new Date(Date.parse(iso) + minutes * 60_000).toISOString();
}

function sameItems(a: Exam, b: OrderInput): boolean {
  const norm = (items: { code?: string; name: string }[]) =>
    JSON.stringify(items.map((i) => [i.code ?? '', i.name]));
  return (
    norm(a.examItems) === norm(b.examItems) &&
    a.modality === b.modality &&
    (a.bodyPart ?? undefined) === b.bodyPart &&
    a.priority === b.priority &&
    a.patient.patientId === b.patient.patientId
  );
}

export function createRisService(deps: RisServiceDeps): RisServiceHandle {
  const repo = new RisRepository(deps.db, deps.dialect);
  const now = deps.now ?? (() => new Date());
  const policyCache = new Map<number, { at: number; policy: HospitalPolicy }>();
  const pendingArrivals = new Map<string, { hospitalId: number; uid: string; at: string }>();
  let arrivalTimer: NodeJS.Timeout | undefined;
  let ticking: Promise<void> | undefined;
  let closed = false;

  // ------------------------------------------------------------------------------------ helpers
  async function hospitalOf(id: number) {
    const h = await deps.hospitals.byId(id);
    if (h === undefined) throw new HuiyingError('not-found', `hospital ${id} does not exist`);
    return h;
  }

  /** The hospital's policy (cached 5 s). Inside a transaction pass it as `db`: on SQLite a query on
   *  another handle would wait for the transaction's own connection forever. */
  async function policy(hospitalId: number, db: Db = deps.db): Promise<HospitalPolicy> {
    const cached = policyCache.get(hospitalId);
    if (cached !== undefined && Date.now() - cached.at < POLICY_TTL_MS) return cached.policy;
    const row = await repo.policyJson(db, hospitalId);
    const p: HospitalPolicy =
      row === undefined
        ? defaultPolicy(hospitalId)
        : {
            ...defaultPolicy(hospitalId),
            ...(JSON.parse(row.policy) as Partial<HospitalPolicy>),
            hospitalId,
            updatedAt: row.updated_at,
          };
    policyCache.set(hospitalId, { at: Date.now(), policy: p });
    return p;
  }

  function audit(
    actor: Actor,
    action: string,
    exam: Exam | undefined,
    detail: Record<string, unknown>,
    outcome: 'success' | 'failure' | 'denied' = 'success',
  ): void {
    const a = auditActor(actor);
    deps.audit.record({
      actorType: a.actorType,
      actorId: actor.id,
      actorName: actor.name,
      source: actor.source,
      protocol: a.protocol,
      action,
      outcome,
      ...(exam !== undefined
        ? {
            patientHospitalId: exam.hospitalId,
            patientId: exam.patient.patientId,
            ...(exam.studyInstanceUid !== null ? { studyUid: exam.studyInstanceUid } : {}),
            object: `exam ${exam.id} ${exam.accessionNumber}`,
          }
        : {}),
      detail,
    });
  }

  function publish(exam: Exam, change: string): void {
    const ev: ExamChangeEvent = {
      type: 'exam',
      examId: exam.id,
      hospitalId: exam.hospitalId,
      status: exam.status,
      change,
      version: exam.version,
      at: now().toISOString(),
    };
    try {
      deps.bus.publish(ev);
    } catch (err) {
      deps.log('warn', 'event publish failed', { error: messageOf(err) });
    }
  }

  async function mustExam(db: Db, id: number, scope?: AccessScope): Promise<Exam> {
    const e = await repo.examById(db, id);
    if (e === undefined || (scope !== undefined && !inScope(scope, e.hospitalId)))
      throw new HuiyingError('not-found', `exam ${id} not found`);
    return e;
  }

  /** Timestamps and due time that a move to `to` sets. */
  function transitionSet(exam: Exam, to: ExamStatus, at: string): Partial<ExamsTable> {
    const set: Partial<ExamsTable> = { status: to, status_at: at, updated_at: at };
    switch (to) {
      case 'examined':
        if (exam.examinedAt === null || exam.status === 'registered') {
          set.examined_at = at;
          set.due_at = addMinutes(at, exam.limitMinutes);
        }
        break;
      case 'matched':
        set.matched_at = at;
        break;
      case 'reported':
        set.reported_at = at;
        break;
      case 'reviewed':
        set.reviewed_at = at;
        break;
      case 'registered':
        set.examined_at = null;
        set.matched_at = null;
        set.due_at = null;
        break;
      case 'cancelled':
      case 'returned':
        set.assigned_to = null;
        set.assigned_at = null;
        break;
    }
    return set;
  }

  /** Apply one state move inside a transaction (legal-move check, optimistic lock, history). */
  async function move(
    db: Db,
    exam: Exam,
    to: ExamStatus,
    actor: Actor,
    at: string,
    extra: Partial<ExamsTable> = {},
    detail: string | null = null,
  ): Promise<Exam> {
    if (!canTransition(exam.status, to))
      throw new HuiyingError(
        'conflict',
        `exam ${exam.accessionNumber} cannot go from ${exam.status} to ${to} (非法状态变更)`,
      );
    if (to === 'matched' && exam.studyId === null && extra.study_id === undefined)
      throw new HuiyingError('conflict', `exam ${exam.accessionNumber} has no linked study to match`);
    const ok = await repo.updateExam(db, exam.id, exam.version, { ...transitionSet(exam, to, at), ...extra });
    if (!ok) throw new HuiyingError('conflict', `exam ${exam.accessionNumber} was changed by someone else`);
    await repo.addEvent(db, {
      examId: exam.id,
      at,
      kind: 'transition',
      fromStatus: exam.status,
      toStatus: to,
      actor: actor.name,
      actorType: actor.type,
      ...(actor.id !== undefined ? { actorId: actor.id } : {}),
      detail,
    });
    return mustExam(db, exam.id);
  }

  async function identityConflict(db: Db, exam: Exam, studyId: number): Promise<string | null> {
    const s = await repo.studyDetail(db, studyId);
    if (s === undefined) return null;
    const problems: string[] = [];
    if (s.patientId !== '' && s.patientId !== exam.patient.patientId)
      problems.push(`Patient ID ${s.patientId} ≠ order ${exam.patient.patientId}`);
    if (sameName(s.patientName, exam.patient.name) === false)
      problems.push(`name ${s.patientName ?? ''} ≠ order ${exam.patient.name}`);
    return problems.length === 0 ? null : problems.join('; ');
  }

  /** Link `studyId` to the exam; examined/matched follow when the study is stable (or untracked). */
  async function linkIn(db: Db, exam: Exam, studyId: number, actor: Actor, at: string): Promise<Exam> {
    const s = await repo.studyDetail(db, studyId);
    if (s === undefined) throw new HuiyingError('not-found', `study ${studyId} not found`);
    if (s.hospitalId !== exam.hospitalId)
      throw new HuiyingError('conflict', 'the study belongs to another hospital than the order');
    if (exam.studyId !== null)
      throw new HuiyingError('conflict', `exam ${exam.accessionNumber} is already linked to a study`);
    if (CLOSED.includes(exam.status) || exam.status === 'returned')
      throw new HuiyingError(
        'conflict',
        `exam ${exam.accessionNumber} is ${exam.status}; it cannot be linked`,
      );
    const other = await repo.examByStudy(db, studyId);
    if (other !== undefined)
      throw new HuiyingError('conflict', `the study is already linked to exam ${other.accessionNumber}`);
    const conflict = await identityConflict(db, exam, studyId);
    const ok = await repo.updateExam(db, exam.id, exam.version, {
      study_id: studyId,
      study_instance_uid: s.studyInstanceUid,
      identity_conflict: conflict,
      updated_at: at,
    });
    if (!ok) throw new HuiyingError('conflict', `exam ${exam.accessionNumber} was changed by someone else`);
    await repo.addEvent(db, {
      examId: exam.id,
      at,
      kind: 'link',
      fromStatus: exam.status,
      toStatus: exam.status,
      actor: actor.name,
      actorType: actor.type,
      ...(actor.id !== undefined ? { actorId: actor.id } : {}),
      detail: `study ${s.studyInstanceUid}${conflict !== null ? ` — identity conflict: ${conflict}` : ''}`,
    });
    await repo.settleSuggestions(db, exam.id, studyId);
    const arrival = await repo.arrival(db, studyId);
    if (arrival === undefined) {
      await repo.touchArrival(db, studyId, exam.hospitalId, at);
      await db
        .updateTable('study_arrivals')
        .set({ state: 'stable' })
        .where('study_id', '=', studyId)
        .execute();
    }
    await repo.setArrivalExam(db, studyId, exam.id);
    let e = await mustExam(db, exam.id);
    if (arrival === undefined || arrival.state === 'stable') e = await advanceOnStable(db, e, actor, at);
    return e;
  }

  /** A linked study is stable: registered → examined → matched. */
  async function advanceOnStable(db: Db, exam: Exam, actor: Actor, at: string): Promise<Exam> {
    let e = exam;
    if (e.status === 'registered') e = await move(db, e, 'examined', actor, at, {}, 'images received');
    if (e.status === 'examined' && e.studyId !== null)
      e = await move(db, e, 'matched', actor, at, {}, `study ${e.studyInstanceUid ?? ''}`);
    return e;
  }

  async function suggestForStudy(db: Db, studyId: number, hospitalId: number, at: string): Promise<number> {
    const s = await repo.studyDetail(db, studyId);
    if (s === undefined) return 0;
    const p = await policy(hospitalId, db);
    const day = dicomDateToIso(s.studyDate) ?? at.slice(0, 10);
    const from = new Date(
      Date.parse(`${day}T00:00:00Z`) - (p.matchWindowDays + 1) * 86_400_000,
    ).toISOString();
    const to = new Date(Date.parse(`${day}T00:00:00Z`) + (p.matchWindowDays + 1) * 86_400_000).toISOString();
    const exams = await repo.openExamsForSuggestion(db, hospitalId, from, to);
    let n = 0;
    for (const row of exams) {
      const score = scorePair(
        {
          patientId: row.p_patient_id,
          name: row.p_name,
          modality: row.modality,
          registeredAt: row.registered_at,
        },
        { patientId: s.patientId, name: s.patientName, modalities: s.modalities, studyDate: s.studyDate },
        p.matchWindowDays,
      );
      if (score === undefined) continue;
      await repo.upsertSuggestion(db, { examId: row.id, studyId, ...score }, at);
      n++;
    }
    return n;
  }

  async function suggestForExam(db: Db, exam: Exam, at: string): Promise<void> {
    const p = await policy(exam.hospitalId, db);
    const studies = await repo.unlinkedStudiesOfHospital(db, exam.hospitalId);
    for (const s of studies) {
      const score = scorePair(
        {
          patientId: exam.patient.patientId,
          name: exam.patient.name,
          modality: exam.modality,
          registeredAt: exam.registeredAt,
        },
        { patientId: s.patientId, name: s.patientName, modalities: s.modalities, studyDate: s.studyDate },
        p.matchWindowDays,
      );
      if (score !== undefined)
        await repo.upsertSuggestion(db, { examId: exam.id, studyId: s.studyId, ...score }, at);
    }
  }

  // -------------------------------------------------------------------------------- arrivals
  async function flushArrivals(): Promise<void> {
    if (arrivalTimer !== undefined) {
      clearTimeout(arrivalTimer);
      arrivalTimer = undefined;
    }
    if (pendingArrivals.size === 0) return;
    const batch = [...pendingArrivals.values()];
    pendingArrivals.clear();
    for (const a of batch) {
      try {
        const s = await repo.studyByUid(deps.db, a.hospitalId, a.uid);
        if (s !== undefined) await repo.touchArrival(deps.db, s.id, a.hospitalId, a.at);
      } catch (err) {
        deps.log('warn', 'study arrival not recorded', { study: a.uid, error: messageOf(err) });
      }
    }
  }

  async function processStable(settleAll: boolean): Promise<void> {
    await flushArrivals();
    const rows = await repo.receivingArrivals(500);
    const t = now();
    for (const r of rows) {
      const p = await policy(r.hospital_id);
      if (!settleAll && Date.parse(r.last_at) > t.getTime() - p.stableSeconds * 1000) continue;
      const changed: Exam[] = [];
      try {
        await deps.db.transaction().execute(async (trx) => {
          if (!(await repo.markStable(trx, r.study_id, r.last_at))) return;
          const at = now().toISOString();
          const system: Actor = { type: 'system', name: 'matcher 自动匹配' };
          if (r.exam_id !== null) {
            const e = await repo.examById(trx, r.exam_id);
            if (e !== undefined && (e.status === 'registered' || e.status === 'examined'))
              changed.push(await advanceOnStable(trx, e, system, at));
            return;
          }
          const s = await repo.studyDetail(trx, r.study_id);
          if (s === undefined) return;
          const byAccession =
            s.accessionNumber !== null && s.accessionNumber !== ''
              ? await repo.examByAccession(trx, r.hospital_id, s.accessionNumber)
              : undefined;
          if (
            byAccession !== undefined &&
            byAccession.studyId === null &&
            ['registered', 'examined'].includes(byAccession.status)
          ) {
            changed.push(await linkIn(trx, byAccession, r.study_id, system, at));
          } else {
            await suggestForStudy(trx, r.study_id, r.hospital_id, at);
          }
        });
      } catch (err) {
        deps.log('warn', 'arrival processing failed', { studyId: r.study_id, error: messageOf(err) });
        continue;
      }
      for (const e of changed) {
        audit({ type: 'system', name: 'matcher' }, 'exam_matched', e, {
          studyId: r.study_id,
          status: e.status,
        });
        publish(e, 'linked');
      }
    }
  }

  async function tick(opts: { settleAll?: boolean } = {}): Promise<void> {
    if (ticking !== undefined) await ticking;
    if (ticking !== undefined) return ticking;
    ticking = processStable(opts.settleAll === true).finally(() => {
      ticking = undefined;
    });
    return ticking;
  }

  const tickMs = deps.tickMs ?? 1000;
  const ticker =
    tickMs > 0
      ? setInterval(() => {
          void tick().catch((err: unknown) =>
            deps.log('warn', 'workflow tick failed', { error: messageOf(err) }),
          );
        }, tickMs)
      : undefined;
  ticker?.unref();

  // -------------------------------------------------------------------------------- patients
  async function upsertPatientIn(
    db: Db,
    hospitalId: number,
    issuerDefault: string,
    p: RisPatientInput,
    at: string,
  ): Promise<RisPatient> {
    const issuer = p.issuer ?? issuerDefault;
    let existing = await repo.patientByIdentity(db, hospitalId, issuer, p.patientId);
    if (existing !== undefined && existing.mergedInto !== null) {
      const survivor = await repo.patientById(db, existing.mergedInto);
      if (survivor !== undefined) existing = survivor;
    }
    if (existing === undefined)
      return repo.insertPatient(
        db,
        {
          hospitalId,
          patientId: p.patientId,
          issuer,
          name: p.name,
          sex: p.sex ?? null,
          birthDate: p.birthDate ?? null,
          phone: p.phone ?? null,
        },
        at,
      );
    const change = {
      ...(p.name !== existing.name ? { name: p.name } : {}),
      ...(p.sex !== undefined && p.sex !== existing.sex ? { sex: p.sex } : {}),
      ...(p.birthDate !== undefined && p.birthDate !== existing.birthDate ? { birthDate: p.birthDate } : {}),
      ...(p.phone !== undefined && p.phone !== existing.phone ? { phone: p.phone } : {}),
    };
    if (Object.keys(change).length > 0) {
      await repo.updatePatient(db, existing.id, change, at);
      if (change.name !== undefined) await repo.refreshSearchText(db, existing.id);
      return (await repo.patientById(db, existing.id)) ?? existing;
    }
    return existing;
  }

  // -------------------------------------------------------------------------------- service
  const service: RisServiceHandle = {
    async placeOrder(input, actor): Promise<OrderResult> {
      const order = parseOrder(input);
      const hospital = await hospitalOf(order.hospitalId);
      const p = await policy(order.hospitalId);
      const result = await deps.db.transaction().execute(async (trx): Promise<OrderResult> => {
        const at = now().toISOString();
        let accession = order.accessionNumber;
        if (accession !== undefined) {
          const existing = await repo.examByAccession(trx, order.hospitalId, accession);
          if (existing !== undefined) {
            if (existing.status !== 'cancelled' && sameItems(existing, order))
              return { exam: existing, created: false };
            throw new HuiyingError(
              'conflict',
              `accession number ${accession} is already used by another order of ${hospital.name}`,
            );
          }
        } else {
          const day = at.slice(2, 10).replaceAll('-', '');
          const seq = await repo.nextAccessionSeq(trx, order.hospitalId, day);
          accession = `${hospital.code.slice(0, 6).toUpperCase()}${day}${String(seq).padStart(4, '0')}`;
        }
        const patient = await upsertPatientIn(trx, order.hospitalId, hospital.code, order.patient, at);
        const subject = {
          modality: order.modality,
          bodyPart: order.bodyPart,
          priority: order.priority,
          patientClass: order.patientClass,
          complex: order.complex,
        };
        const id = await repo.insertExam(trx, {
          hospital_id: order.hospitalId,
          ris_patient_id: patient.id,
          accession_number: accession,
          placer_order_number: order.placerOrderNumber ?? null,
          exam_items: JSON.stringify(order.examItems),
          modality: order.modality,
          body_part: order.bodyPart ?? null,
          priority: order.priority,
          patient_class: order.patientClass ?? null,
          complex: order.complex === true ? 1 : 0,
          clinical_history: order.clinicalHistory ?? null,
          symptoms: order.symptoms ?? null,
          clinical_diagnosis: order.clinicalDiagnosis ?? null,
          exam_purpose: order.examPurpose ?? null,
          requesting_department: order.requestingDepartment ?? null,
          requesting_physician: order.requestingPhysician ?? null,
          scheduled_at: order.scheduledAt ?? null,
          source: order.source,
          status: 'registered',
          status_at: at,
          registered_at: at,
          examined_at: null,
          matched_at: null,
          reported_at: null,
          reviewed_at: null,
          study_id: null,
          study_instance_uid: null,
          read_at_center: readsAtCenter(p, subject) ? 1 : 0,
          review_required: reviewRequiredAtRegistration(p) ? 1 : 0,
          limit_minutes: limitMinutesFor(p, subject),
          due_at: null,
          assigned_to: null,
          assigned_at: null,
          identity_conflict: null,
          search_text: searchTextOf(patient.name, patient.patientId, accession),
          version: 1,
          created_at: at,
          updated_at: at,
        });
        await repo.addEvent(trx, {
          examId: id,
          at,
          kind: 'transition',
          fromStatus: null,
          toStatus: 'registered',
          actor: actor.name,
          actorType: actor.type,
          ...(actor.id !== undefined ? { actorId: actor.id } : {}),
          detail: `order from ${order.source}`,
        });
        let exam = await mustExam(trx, id);
        // the images may have come first
        const early = await repo.unlinkedArrivalByAccession(trx, order.hospitalId, accession);
        if (early !== undefined)
          exam = await linkIn(trx, exam, early.studyId, { type: 'system', name: 'matcher 自动匹配' }, at);
        else await suggestForExam(trx, exam, at);
        return { exam, created: true };
      });
      if (result.created) {
        audit(actor, 'order_placed', result.exam, {
          source: order.source,
          accession: result.exam.accessionNumber,
        });
        publish(result.exam, 'created');
      }
      return result;
    },

    async changeOrder(hospitalId, accessionNumber, change, actor, version): Promise<Exam> {
      const c: OrderChange = parseOrderChange(change);
      const hospital = await hospitalOf(hospitalId);
      const exam = await deps.db.transaction().execute(async (trx) => {
        const at = now().toISOString();
        const e = await repo.examByAccession(trx, hospitalId, accessionNumber);
        if (e === undefined) throw new HuiyingError('not-found', `order ${accessionNumber} not found`);
        if (version !== undefined && version !== e.version)
          throw new HuiyingError(
            'conflict',
            `order ${accessionNumber} was changed by someone else (version ${e.version})`,
          );
        if (CLOSED.includes(e.status))
          throw new HuiyingError(
            'conflict',
            `order ${accessionNumber} is ${e.status} and can no longer be changed`,
          );
        const set: Partial<ExamsTable> = { updated_at: at };
        if (c.patient !== undefined) {
          const patient = await upsertPatientIn(trx, hospitalId, hospital.code, c.patient, at);
          set.ris_patient_id = patient.id;
          set.search_text = searchTextOf(patient.name, patient.patientId, accessionNumber);
        }
        if (c.examItems !== undefined) set.exam_items = JSON.stringify(c.examItems);
        if (c.modality !== undefined) set.modality = c.modality;
        if (c.bodyPart !== undefined) set.body_part = c.bodyPart;
        if (c.priority !== undefined) set.priority = c.priority;
        if (c.patientClass !== undefined) set.patient_class = c.patientClass;
        if (c.complex !== undefined) set.complex = c.complex ? 1 : 0;
        if (c.clinicalHistory !== undefined) set.clinical_history = c.clinicalHistory;
        if (c.symptoms !== undefined) set.symptoms = c.symptoms;
        if (c.clinicalDiagnosis !== undefined) set.clinical_diagnosis = c.clinicalDiagnosis;
        if (c.examPurpose !== undefined) set.exam_purpose = c.examPurpose;
        if (c.requestingDepartment !== undefined) set.requesting_department = c.requestingDepartment;
        if (c.requestingPhysician !== undefined) set.requesting_physician = c.requestingPhysician;
        if (c.scheduledAt !== undefined) set.scheduled_at = c.scheduledAt;
        if (c.placerOrderNumber !== undefined) set.placer_order_number = c.placerOrderNumber;
        if (
          c.modality !== undefined ||
          c.priority !== undefined ||
          c.bodyPart !== undefined ||
          c.patientClass !== undefined ||
          c.complex !== undefined
        ) {
          const p = await policy(hospitalId, trx);
          const subject = {
            modality: c.modality ?? e.modality,
            bodyPart: c.bodyPart ?? e.bodyPart,
            priority: c.priority ?? e.priority,
            patientClass: c.patientClass ?? e.patientClass,
            complex: c.complex ?? e.complex,
          };
          set.limit_minutes = limitMinutesFor(p, subject);
          set.read_at_center = readsAtCenter(p, subject) ? 1 : 0;
          if (e.examinedAt !== null) set.due_at = addMinutes(e.examinedAt, set.limit_minutes);
        }
        if (!(await repo.updateExam(trx, e.id, e.version, set)))
          throw new HuiyingError('conflict', `order ${accessionNumber} was changed by someone else`);
        await repo.addEvent(trx, {
          examId: e.id,
          at,
          kind: 'update',
          fromStatus: e.status,
          toStatus: e.status,
          actor: actor.name,
          actorType: actor.type,
          ...(actor.id !== undefined ? { actorId: actor.id } : {}),
          detail: `changed: ${Object.keys(c).join(', ')}`,
        });
        return mustExam(trx, e.id);
      });
      audit(actor, 'order_changed', exam, { fields: Object.keys(c) });
      publish(exam, 'updated');
      return exam;
    },

    async cancelOrder(hospitalId, accessionNumber, reason, actor): Promise<Exam> {
      const exam = await deps.db.transaction().execute(async (trx) => {
        const e = await repo.examByAccession(trx, hospitalId, accessionNumber);
        if (e === undefined)
          throw new HuiyingError('not-found', `order ${accessionNumber} not found; nothing to cancel`);
        if (e.status === 'cancelled') return e;
        return move(trx, e, 'cancelled', actor, now().toISOString(), {}, reason === '' ? null : reason);
      });
      audit(actor, 'order_cancelled', exam, { reason });
      publish(exam, 'transition');
      return exam;
    },

    async upsertPatient(hospitalId, patient, actor): Promise<RisPatient> {
      const p = parsePatient(patient);
      const hospital = await hospitalOf(hospitalId);
      const result = await deps.db
        .transaction()
        .execute((trx) => upsertPatientIn(trx, hospitalId, hospital.code, p, now().toISOString()));
      audit(actor, 'patient_updated', undefined, {
        hospitalId,
        patientId: result.patientId,
        issuer: result.issuer,
      });
      return result;
    },

    async mergePatients(hospitalId, survivorIn, prior, actor): Promise<RisPatient> {
      const s = parsePatient(survivorIn, 'survivor');
      const hospital = await hospitalOf(hospitalId);
      const { survivor, moved, priorRecord } = await deps.db.transaction().execute(async (trx) => {
        const at = now().toISOString();
        const priorRecord = await repo.patientByIdentity(
          trx,
          hospitalId,
          prior.issuer ?? hospital.code,
          prior.patientId,
        );
        if (priorRecord === undefined)
          throw new HuiyingError(
            'not-found',
            `patient ${prior.patientId} to merge is not known at ${hospital.name}`,
          );
        const survivor = await upsertPatientIn(trx, hospitalId, hospital.code, s, at);
        if (survivor.id === priorRecord.id)
          throw new HuiyingError('invalid-input', 'a patient cannot be merged into itself');
        const moved = await repo.markMerged(trx, priorRecord.id, survivor.id, at);
        await repo.refreshSearchText(trx, survivor.id);
        return { survivor, moved, priorRecord };
      });
      deps.audit.record({
        ...(() => {
          const a = auditActor(actor);
          return { actorType: a.actorType, protocol: a.protocol };
        })(),
        actorId: actor.id,
        actorName: actor.name,
        source: actor.source,
        action: 'patient_merged',
        outcome: 'success',
        patientHospitalId: hospitalId,
        patientId: survivor.patientId,
        object: `${priorRecord.patientId} → ${survivor.patientId}`,
        detail: { prior: priorRecord.patientId, survivor: survivor.patientId, examsMoved: moved },
      });
      return survivor;
    },

    async getExam(examId, scope): Promise<Exam> {
      return mustExam(deps.db, examId, scope);
    },
    async findExamByAccession(hospitalId, accessionNumber) {
      return repo.examByAccession(deps.db, hospitalId, accessionNumber);
    },
    async getPatient(id, scope): Promise<RisPatient> {
      const p = await repo.patientById(deps.db, id);
      if (p === undefined || !inScope(scope, p.hospitalId))
        throw new HuiyingError('not-found', `patient ${id} not found`);
      return p;
    },
    async findPatient(hospitalId, patientId, issuer) {
      const h = await hospitalOf(hospitalId);
      return repo.patientByIdentity(deps.db, hospitalId, issuer ?? h.code, patientId);
    },
    async worklist(q, scope): Promise<WorklistPage> {
      return repo.worklist(
        { ...q, limit: Math.min(Math.max(q.limit ?? 50, 1), 200) },
        scope,
        now().toISOString(),
      );
    },
    async counts(q, scope) {
      const m = await repo.counts(q, scope, now().toISOString());
      const out = {} as Record<ExamStatus, number>;
      for (const s of EXAM_STATUSES) out[s] = m.get(s) ?? 0;
      return out;
    },
    async history(examId, scope): Promise<ExamEvent[]> {
      await mustExam(deps.db, examId, scope);
      return repo.events(examId);
    },
    async patientExams(examId, scope): Promise<Exam[]> {
      const e = await mustExam(deps.db, examId, scope);
      return repo.examsOfPatients(await repo.mergedPatientIds(e.patient.id), e.id);
    },

    async transition(examId, to, actor, opts): Promise<Exam> {
      const exam = await deps.db.transaction().execute(async (trx) => {
        const e = await mustExam(trx, examId, opts.scope);
        if (opts.version !== undefined && opts.version !== e.version)
          throw new HuiyingError(
            'conflict',
            `exam ${e.accessionNumber} was changed by someone else (version ${e.version})`,
          );
        if (to === 'returned' && (opts.reason === undefined || opts.reason.trim() === ''))
          throw new HuiyingError('invalid-input', 'a reason is required to return an exam (退回原因)');
        return move(trx, e, to, actor, now().toISOString(), {}, opts.reason ?? null);
      });
      audit(actor, 'exam_transition', exam, {
        to,
        ...(opts.reason !== undefined ? { reason: opts.reason } : {}),
      });
      publish(exam, 'transition');
      return exam;
    },

    async claim(examId, actor, scope): Promise<Exam> {
      const userId = Number(actor.id);
      const exam = await deps.db.transaction().execute(async (trx) => {
        const e = await mustExam(trx, examId, scope);
        if (e.assignedTo !== null && e.assignedTo.userId !== userId)
          throw new HuiyingError(
            'conflict',
            `exam ${e.accessionNumber} is being read by ${e.assignedTo.name} (已被领取)`,
          );
        if (e.assignedTo !== null) return e;
        if (['reviewed', 'cancelled', 'returned'].includes(e.status))
          throw new HuiyingError('conflict', `exam ${e.accessionNumber} is ${e.status}; nothing to read`);
        const at = now().toISOString();
        if (
          !(await repo.updateExam(trx, e.id, e.version, {
            assigned_to: userId,
            assigned_at: at,
            updated_at: at,
          }))
        )
          throw new HuiyingError(
            'conflict',
            `exam ${e.accessionNumber} was claimed by someone else just now`,
          );
        await repo.addEvent(trx, {
          examId: e.id,
          at,
          kind: 'claim',
          fromStatus: e.status,
          toStatus: e.status,
          actor: actor.name,
          actorType: actor.type,
          actorId: actor.id,
          detail: null,
        });
        return mustExam(trx, e.id);
      });
      audit(actor, 'exam_claimed', exam, {});
      publish(exam, 'claimed');
      return exam;
    },

    async release(examId, actor, scope): Promise<Exam> {
      const exam = await deps.db.transaction().execute(async (trx) => {
        const e = await mustExam(trx, examId, scope);
        if (e.assignedTo === null) return e;
        const at = now().toISOString();
        if (
          !(await repo.updateExam(trx, e.id, e.version, {
            assigned_to: null,
            assigned_at: null,
            updated_at: at,
          }))
        )
          throw new HuiyingError('conflict', `exam ${e.accessionNumber} was changed by someone else`);
        await repo.addEvent(trx, {
          examId: e.id,
          at,
          kind: 'release',
          fromStatus: e.status,
          toStatus: e.status,
          actor: actor.name,
          actorType: actor.type,
          ...(actor.id !== undefined ? { actorId: actor.id } : {}),
          detail: `released from ${e.assignedTo.name}`,
        });
        return mustExam(trx, e.id);
      });
      audit(actor, 'exam_released', exam, {});
      publish(exam, 'released');
      return exam;
    },

    async assign(examId, userId, actor, scope): Promise<Exam> {
      const exam = await deps.db.transaction().execute(async (trx) => {
        const e = await mustExam(trx, examId, scope);
        if (['reviewed', 'cancelled', 'returned'].includes(e.status))
          throw new HuiyingError('conflict', `exam ${e.accessionNumber} is ${e.status}; nothing to read`);
        const user = await trx
          .selectFrom('users')
          .select(['id', 'display_name', 'disabled'])
          .where('id', '=', userId)
          .executeTakeFirst();
        if (user === undefined || user.disabled === 1)
          throw new HuiyingError('invalid-input', `user ${userId} cannot be assigned`);
        const at = now().toISOString();
        if (
          !(await repo.updateExam(trx, e.id, e.version, {
            assigned_to: userId,
            assigned_at: at,
            updated_at: at,
          }))
        )
          throw new HuiyingError('conflict', `exam ${e.accessionNumber} was changed by someone else`);
        await repo.addEvent(trx, {
          examId: e.id,
          at,
          kind: 'assign',
          fromStatus: e.status,
          toStatus: e.status,
          actor: actor.name,
          actorType: actor.type,
          ...(actor.id !== undefined ? { actorId: actor.id } : {}),
          detail: `assigned to ${user.display_name}${e.assignedTo !== null ? ` (was ${e.assignedTo.name})` : ''}`,
        });
        return mustExam(trx, e.id);
      });
      audit(actor, 'exam_assigned', exam, { userId });
      publish(exam, 'assigned');
      return exam;
    },

    async unmatchedStudies(scope, opts): Promise<UnmatchedStudy[]> {
      return repo.unmatchedStudies(scope, Math.min(opts?.limit ?? 200, 500));
    },
    async suggestions(examId, scope): Promise<MatchSuggestion[]> {
      await mustExam(deps.db, examId, scope);
      return repo.suggestionsOf(examId);
    },
    async link(examId, studyId, actor, scope): Promise<Exam> {
      const exam = await deps.db.transaction().execute(async (trx) => {
        const e = await mustExam(trx, examId, scope);
        return linkIn(trx, e, studyId, actor, now().toISOString());
      });
      audit(actor, 'exam_linked', exam, { studyId });
      publish(exam, 'linked');
      return exam;
    },
    async unlink(examId, actor, scope, reason): Promise<Exam> {
      const exam = await deps.db.transaction().execute(async (trx) => {
        let e = await mustExam(trx, examId, scope);
        if (e.studyId === null)
          throw new HuiyingError('conflict', `exam ${e.accessionNumber} has no linked study`);
        if (!['registered', 'examined', 'matched'].includes(e.status))
          throw new HuiyingError(
            'conflict',
            `exam ${e.accessionNumber} is ${e.status}; its study can no longer be unlinked`,
          );
        const at = now().toISOString();
        const studyId = e.studyId;
        if (e.status === 'matched') e = await move(trx, e, 'examined', actor, at, {}, 'study unlinked');
        if (
          !(await repo.updateExam(trx, e.id, e.version, {
            study_id: null,
            study_instance_uid: null,
            identity_conflict: null,
            updated_at: at,
          }))
        )
          throw new HuiyingError('conflict', `exam ${e.accessionNumber} was changed by someone else`);
        await repo.setArrivalExam(trx, studyId, null);
        await repo.addEvent(trx, {
          examId: e.id,
          at,
          kind: 'unlink',
          fromStatus: e.status,
          toStatus: e.status,
          actor: actor.name,
          actorType: actor.type,
          ...(actor.id !== undefined ? { actorId: actor.id } : {}),
          detail: `study ${studyId} unlinked${reason !== undefined && reason !== '' ? `: ${reason}` : ''}`,
        });
        return mustExam(trx, e.id);
      });
      audit(actor, 'exam_unlinked', exam, { reason: reason ?? null });
      publish(exam, 'unlinked');
      return exam;
    },
    studyReceived(hospitalId, studyInstanceUid): void {
      if (closed) return;
      pendingArrivals.set(`${hospitalId}|${studyInstanceUid}`, {
        hospitalId,
        uid: studyInstanceUid,
        at: now().toISOString(),
      });
      arrivalTimer ??= setTimeout(() => {
        arrivalTimer = undefined;
        void flushArrivals();
      }, 250);
    },

    policy: (hospitalId: number) => policy(hospitalId),
    async setPolicy(p, actor): Promise<HospitalPolicy> {
      await hospitalOf(p.hospitalId);
      const { hospitalId, ...doc } = p;
      await repo.savePolicy(hospitalId, JSON.stringify(doc), now().toISOString());
      policyCache.delete(hospitalId);
      audit(actor, 'policy_changed', undefined, { hospitalId });
      return policy(hospitalId);
    },

    tick,
    flushArrivals,
    async close(): Promise<void> {
      closed = true;
      if (ticker !== undefined) clearInterval(ticker);
      await ticking;
      await flushArrivals();
    },
  };
  return service;
}

/** Weaker-evidence score of an (order, study) pair; undefined when too weak to suggest. */
export function scorePair(
  order: { patientId: string; name: string; modality: string; registeredAt: string },
  study: { patientId: string; name: string | null; modalities: string; studyDate: string | null },
  windowDays: number,
): { score: number; reasons: string[] } | undefined {
  const reasons: string[] = [];
  let score = 0;
  const sameId = study.patientId !== '' && study.patientId === order.patientId;
  const nameMatch = sameName(study.name, order.name) === true;
  if (sameId) {
    score += 50;
    reasons.push('同一患者 same patient ID');
  }
  if (nameMatch) {
    score += sameId ? 10 : 30;
    reasons.push('姓名相同 same name');
  }
  if (!sameId && !nameMatch) return undefined;
  if (study.modalities.split('\\').includes(order.modality)) {
    score += 25;
    reasons.push(`检查类型相同 modality ${order.modality}`);
  }
  const sd = dicomDateToIso(study.studyDate);
  if (sd !== undefined) {
    const days =
      Math.abs(Date.parse(`${sd}T00:00:00Z`) - Date.parse(`${order.registeredAt.slice(0, 10)}T00:00:00Z`)) /
      86_400_000;
    if (days <= windowDays) {
      score += Math.max(0, 15 - Math.round(days * 5));
      reasons.push(`日期相近 date within ${Math.round(days)} day(s)`);
    } else return undefined;
  }
  return score >= 50 ? { score: Math.min(score, 100), reasons } : undefined;
}
