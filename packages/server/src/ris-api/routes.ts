/**
 * The workflow's REST API for the web application (docs/workflow.md): worklist, case data, orders from the
 * registration form, state changes, claims, matching and the per-hospital policy. Every route resolves the
 * caller from the session (CSRF on changes) and asks the policy below what the caller may do; the service
 * scopes every read to the caller's hospitals.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import type { HospitalRepository } from '../archive/ports.ts';
import {
  inScope,
  resolveSessionCaller,
  type SessionAuthenticator,
  type SessionCaller,
} from '../access/scope.ts';
import type { Role } from '../accounts/model.ts';
import type { Schema } from '../db/schema.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import { HuiyingError } from '../errors.ts';
import { isExamStatus, type Actor, type ExamStatus, type WorklistQuery } from '../ris/model.ts';
import type { RisService } from '../ris/ports.ts';
import { parsePolicy } from '../ris/policy.ts';

export interface RisApiOptions {
  sessions: SessionAuthenticator;
  hospitals: HospitalRepository;
  ris: RisService;
  db: Kysely<Schema>;
  /** PHI reads (the case page) are audited */
  audit: AuditLog;
}

const ORDER_ROLES: readonly Role[] = [
  'member_technologist',
  'member_clinician',
  'hospital_admin',
  'system_admin',
  'center_radiologist',
  'center_qc_manager',
];
const CENTER_STAFF: readonly Role[] = ['system_admin', 'center_radiologist', 'center_qc_manager'];
/** what a user may ask `transition` for; reported/reviewed come from reporting, matched from link */
const USER_TARGETS: readonly ExamStatus[] = ['examined', 'registered', 'cancelled', 'returned'];

const has = (c: SessionCaller, roles: readonly Role[]): boolean => c.roles.some((r) => roles.includes(r));
const isCenterStaff = (c: SessionCaller): boolean =>
  c.scope.kind === 'all' && has(c, CENTER_STAFF) && !c.readOnly;

function actorOf(c: SessionCaller, req: FastifyRequest): Actor & { type: 'user'; id: string } {
  return {
    type: 'user',
    id: String(c.userId),
    name: c.session.user.displayName || c.username,
    source: req.ip,
  };
}

function forbid(message: string): never {
  throw new HuiyingError('forbidden', message);
}

function ids(v: string | undefined): number[] | undefined {
  if (v === undefined || v === '') return undefined;
  const out = v.split(',').map((x) => Number(x));
  if (out.some((n) => !Number.isInteger(n) || n < 1))
    throw new HuiyingError('invalid-input', 'hospitalId must be a list of ids');
  return out;
}

function codes(v: string | undefined, where: string): string[] | undefined {
  if (v === undefined || v === '') return undefined;
  const out = v.split(',').map((x) => x.trim().toUpperCase());
  if (out.some((c) => !/^[A-Z0-9_]{1,16}$/.test(c)))
    throw new HuiyingError('invalid-input', `${where} must be codes`);
  return out;
}

function isoDate(v: string | undefined, where: string): string | undefined {
  if (v === undefined || v === '') return undefined;
  if (!/^\d{4}-\d{2}-\d{2}$/.test(v) || !Number.isFinite(Date.parse(v)))
    throw new HuiyingError('invalid-input', `${where} must be a date YYYY-MM-DD`);
  return v;
}

type Q = Record<string, string | undefined>;

function worklistQueryOf(q: Q, c: SessionCaller): WorklistQuery {
  const out: WorklistQuery = {};
  if (q.status !== undefined && q.status !== '') {
    const s = q.status.split(',');
    for (const x of s) if (!isExamStatus(x)) throw new HuiyingError('invalid-input', `unknown status ${x}`);
    out.status = s as ExamStatus[];
  }
  const h = ids(q.hospitalId);
  if (h !== undefined) out.hospitalIds = h;
  const m = codes(q.modality, 'modality');
  if (m !== undefined) out.modalities = m;
  if (q.priority !== undefined && q.priority !== '') {
    if (q.priority !== 'emergency' && q.priority !== 'routine')
      throw new HuiyingError('invalid-input', 'priority must be emergency or routine');
    out.priority = q.priority;
  }
  const from = isoDate(q.from, 'from');
  const to = isoDate(q.to, 'to');
  if (from !== undefined) out.from = from;
  if (to !== undefined) out.to = to;
  if (q.assigned === 'me') out.assignedTo = c.userId;
  if (q.overdue === '1' || q.overdue === 'true') out.overdue = true;
  if (q.center === '1' || q.center === 'true') out.readAtCenter = true;
  if (q.q !== undefined && q.q.trim() !== '') {
    if (q.q.length > 64) throw new HuiyingError('invalid-input', 'q is longer than 64 characters');
    out.text = q.q;
  }
  const limit = q.limit === undefined ? 50 : Number(q.limit);
  const offset = q.offset === undefined ? 0 : Number(q.offset);
  if (!Number.isInteger(limit) || limit < 1 || limit > 200)
    throw new HuiyingError('invalid-input', 'limit must be 1–200');
  if (!Number.isInteger(offset) || offset < 0 || offset > 1_000_000)
    throw new HuiyingError('invalid-input', 'offset must be ≥ 0');
  out.limit = limit;
  out.offset = offset;
  return out;
}

const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'integer', minimum: 1 } } };
const HEADERS = { 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' };

export async function registerRisApi(app: FastifyInstance, opts: RisApiOptions): Promise<void> {
  const { ris } = opts;
  const deps = { sessions: opts.sessions, hospitals: opts.hospitals };
  const caller = (req: FastifyRequest) => resolveSessionCaller(deps, req);

  /**
   * Worklist listings show patient names: each is audited (query_worklist), but a live worklist refetches
   * on every exam event, so the same user's same query is recorded at most once a minute.
   */
  const lastListed = new Map<string, number>();
  function auditListing(c: SessionCaller, req: FastifyRequest, total: number): void {
    const query = req.url.split('?')[1] ?? '';
    const key = `${c.userId}?${query}`;
    const now = Date.now();
    if ((lastListed.get(key) ?? 0) > now - 60_000) return;
    if (lastListed.size > 10_000) lastListed.clear();
    lastListed.set(key, now);
    opts.audit.record({
      actorType: 'user',
      actorId: String(c.userId),
      actorName: c.username,
      hospitalId: c.hospitalId,
      source: req.ip,
      protocol: 'http',
      action: 'query_worklist',
      outcome: 'success',
      object: `worklist ${query}`.slice(0, 200),
      detail: { total },
    });
  }

  await app.register(
    (api, _opts, registered) => {
      api.addHook('onSend', (_req, reply, payload, done) => {
        reply.headers(HEADERS);
        done(null, payload);
      });

      api.get('/exams', async (req) => {
        const c = await caller(req);
        const page = await ris.worklist(worklistQueryOf(req.query as Q, c), c.scope);
        auditListing(c, req, page.total);
        return page;
      });

      api.get('/exams/counts', async (req) => {
        const c = await caller(req);
        return { counts: await ris.counts(worklistQueryOf(req.query as Q, c), c.scope) };
      });

      api.get<{ Params: { id: number } }>('/exams/:id', { schema: { params: idParams } }, async (req) => {
        const c = await caller(req);
        const exam = await ris.getExam(req.params.id, c.scope);
        const [history, patientExams, suggestions] = await Promise.all([
          ris.history(exam.id, c.scope),
          ris.patientExams(exam.id, c.scope),
          ris.suggestions(exam.id, c.scope),
        ]);
        const patientStudies = await opts.db
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
          .where('p.hospital_id', '=', exam.hospitalId)
          .where('p.patient_id', '=', exam.patient.patientId)
          .orderBy('s.study_date', 'desc')
          .limit(100)
          .execute();
        opts.audit.record({
          actorType: 'user',
          actorId: String(c.userId),
          actorName: c.username,
          hospitalId: c.hospitalId,
          source: req.ip,
          protocol: 'http',
          action: 'view_exam',
          outcome: 'success',
          patientHospitalId: exam.hospitalId,
          patientId: exam.patient.patientId,
          ...(exam.studyInstanceUid !== null ? { studyUid: exam.studyInstanceUid } : {}),
          object: `exam ${exam.id} ${exam.accessionNumber}`,
        });
        return { exam, history, patientExams, suggestions, patientStudies };
      });

      api.post('/orders', { bodyLimit: 64 * 1024 }, async (req, reply) => {
        const c = await caller(req);
        const body = (req.body ?? {}) as Record<string, unknown>;
        const hospitalId = typeof body.hospitalId === 'number' ? body.hospitalId : c.hospitalId;
        if (!has(c, ORDER_ROLES) || !inScope(c.scope, hospitalId))
          forbid('you may not register exams for this hospital');
        const h = await opts.hospitals.byId(hospitalId);
        if (h === undefined) throw new HuiyingError('invalid-input', `hospital ${hospitalId} does not exist`);
        const r = await ris.placeOrder({ ...body, hospitalId, source: 'form' } as never, actorOf(c, req));
        void reply.code(r.created ? 201 : 200);
        return { exam: r.exam };
      });

      api.patch<{ Params: { id: number } }>(
        '/exams/:id',
        { schema: { params: idParams }, bodyLimit: 64 * 1024 },
        async (req) => {
          const c = await caller(req);
          const exam = await ris.getExam(req.params.id, c.scope);
          if (!has(c, ORDER_ROLES)) forbid('you may not change orders');
          const body = (req.body ?? {}) as Record<string, unknown>;
          const version = body.version;
          if (typeof version !== 'number') throw new HuiyingError('invalid-input', 'version is required');
          const { version: _v, ...change } = body;
          return {
            exam: await ris.changeOrder(
              exam.hospitalId,
              exam.accessionNumber,
              change,
              actorOf(c, req),
              version,
            ),
          };
        },
      );

      api.post<{ Params: { id: number } }>(
        '/exams/:id/transition',
        { schema: { params: idParams } },
        async (req) => {
          const c = await caller(req);
          const body = (req.body ?? {}) as { to?: unknown; reason?: unknown; version?: unknown };
          if (typeof body.to !== 'string' || !isExamStatus(body.to))
            throw new HuiyingError('invalid-input', 'to must be an exam status');
          if (!USER_TARGETS.includes(body.to))
            throw new HuiyingError(
              'invalid-input',
              `${body.to} is reached through ${body.to === 'matched' ? 'linking a study' : 'reporting'}, not directly`,
            );
          if (body.reason !== undefined && (typeof body.reason !== 'string' || body.reason.length > 500))
            throw new HuiyingError('invalid-input', 'reason must be text of at most 500 characters');
          const exam = await ris.getExam(req.params.id, c.scope);
          if (body.to === 'returned' ? !isCenterStaff(c) : !has(c, ORDER_ROLES) || c.readOnly)
            forbid(`you may not move exam ${exam.accessionNumber} to ${body.to}`);
          return {
            exam: await ris.transition(exam.id, body.to, actorOf(c, req), {
              scope: c.scope,
              ...(typeof body.reason === 'string' ? { reason: body.reason } : {}),
              ...(typeof body.version === 'number' ? { version: body.version } : {}),
            }),
          };
        },
      );

      api.post<{ Params: { id: number } }>(
        '/exams/:id/claim',
        { schema: { params: idParams } },
        async (req) => {
          const c = await caller(req);
          if (!isCenterStaff(c) || !has(c, ['center_radiologist', 'system_admin']))
            forbid('only center radiologists claim exams');
          return { exam: await ris.claim(req.params.id, actorOf(c, req), c.scope) };
        },
      );

      api.post<{ Params: { id: number } }>(
        '/exams/:id/release',
        { schema: { params: idParams } },
        async (req) => {
          const c = await caller(req);
          const exam = await ris.getExam(req.params.id, c.scope);
          const mine = exam.assignedTo?.userId === c.userId;
          const senior = has(c, ['system_admin']) || c.privileges.includes('review');
          if (!isCenterStaff(c) || (!mine && !senior))
            forbid('only the reader, an attending or above, or an administrator releases an exam');
          return { exam: await ris.release(exam.id, actorOf(c, req), c.scope) };
        },
      );

      api.post<{ Params: { id: number } }>(
        '/exams/:id/assign',
        { schema: { params: idParams } },
        async (req) => {
          const c = await caller(req);
          const body = (req.body ?? {}) as { userId?: unknown };
          if (typeof body.userId !== 'number' || !Number.isInteger(body.userId))
            throw new HuiyingError('invalid-input', 'userId is required');
          const senior = has(c, ['system_admin', 'center_qc_manager']) || c.privileges.includes('review');
          if (!isCenterStaff(c) || !senior)
            forbid('only an attending or above, a QC manager or an administrator assigns exams');
          const reader = await opts.db
            .selectFrom('users')
            .select(['id', 'roles', 'hospital_id'])
            .where('id', '=', body.userId)
            .executeTakeFirst();
          if (reader === undefined || !reader.roles.split(',').includes('center_radiologist'))
            throw new HuiyingError('invalid-input', 'exams are assigned to center radiologists');
          return { exam: await ris.assign(req.params.id, body.userId, actorOf(c, req), c.scope) };
        },
      );

      api.post<{ Params: { id: number } }>(
        '/exams/:id/link',
        { schema: { params: idParams } },
        async (req) => {
          const c = await caller(req);
          const body = (req.body ?? {}) as { studyId?: unknown };
          if (typeof body.studyId !== 'number' || !Number.isInteger(body.studyId))
            throw new HuiyingError('invalid-input', 'studyId is required');
          if (!isCenterStaff(c)) forbid('only center staff link studies to orders');
          return { exam: await ris.link(req.params.id, body.studyId, actorOf(c, req), c.scope) };
        },
      );

      api.post<{ Params: { id: number } }>(
        '/exams/:id/unlink',
        { schema: { params: idParams } },
        async (req) => {
          const c = await caller(req);
          const body = (req.body ?? {}) as { reason?: unknown };
          if (body.reason !== undefined && (typeof body.reason !== 'string' || body.reason.length > 500))
            throw new HuiyingError('invalid-input', 'reason must be text of at most 500 characters');
          if (!isCenterStaff(c)) forbid('only center staff unlink studies');
          return {
            exam: await ris.unlink(
              req.params.id,
              actorOf(c, req),
              c.scope,
              typeof body.reason === 'string' ? body.reason : undefined,
            ),
          };
        },
      );

      api.get('/matching', async (req) => {
        const c = await caller(req);
        const [studies, orders] = await Promise.all([
          ris.unmatchedStudies(c.scope),
          ris.worklist({ status: ['registered', 'examined'], limit: 200 }, c.scope),
        ]);
        return { studies, orders: orders.exams.filter((e) => e.studyId === null) };
      });

      api.get('/readers', async (req) => {
        const c = await caller(req);
        if (!isCenterStaff(c)) forbid('only center staff see the readers');
        const rows = await opts.db
          .selectFrom('users as u')
          .innerJoin('hospitals as h', 'h.id', 'u.hospital_id')
          .select(['u.id', 'u.display_name', 'u.grade', 'u.roles'])
          .where('h.is_center', '=', 1)
          .where('u.disabled', '=', 0)
          .orderBy('u.display_name')
          .execute();
        return {
          users: rows
            .filter((r) => r.roles.split(',').includes('center_radiologist'))
            .map((r) => ({ id: r.id, name: r.display_name, grade: r.grade })),
        };
      });

      api.get<{ Params: { id: number } }>(
        '/admin/hospitals/:id/policy',
        { schema: { params: idParams } },
        async (req) => {
          const c = await caller(req);
          if (!inScope(c.scope, req.params.id))
            throw new HuiyingError('not-found', `hospital ${req.params.id} not found`);
          return { policy: await ris.policy(req.params.id) };
        },
      );

      api.put<{ Params: { id: number } }>(
        '/admin/hospitals/:id/policy',
        { schema: { params: idParams }, bodyLimit: 64 * 1024 },
        async (req) => {
          const c = await caller(req);
          const id = req.params.id;
          const allowed = has(c, ['system_admin']) || (has(c, ['hospital_admin']) && c.hospitalId === id);
          if (!allowed)
            forbid('only a system administrator or this hospital’s administrator edits its policy');
          const policy = parsePolicy(id, req.body);
          return { policy: await ris.setPolicy(policy, actorOf(c, req)) };
        },
      );
      registered();
    },
    { prefix: '/api' },
  );
}
