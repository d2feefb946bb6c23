/**
 * The REST API of the web application's admin pages. Every route resolves the caller from the session
 * cookie (access/scope.ts: CSRF on state-changing requests, no access while a password change is
 * pending, auditors read-only) and asks the access policy what the caller may do:
 *
 *   GET    /api/admin/hospitals                      → {hospitals}          any logged-in user (no PHI)
 *   POST   /api/admin/hospitals {code, name, isCenter?, defaultCharset?}  → 201 {hospital}  system_admin
 *   PATCH  /api/admin/hospitals/:id {name?, isCenter?, defaultCharset?}   → {hospital}      system_admin
 *
 *   GET    /api/admin/aes                            → {aes}   system_admin: all; hospital_admin: own hospital
 *   POST   /api/admin/aes {aeTitle, hospitalId?, host?, port?, description?} → 201 {ae}
 *   DELETE /api/admin/aes/:aeTitle                   → 204
 *
 *   GET    /api/admin/tokens                         → {tokens}  (as for AEs)
 *   POST   /api/admin/tokens {name, hospitalId?}     → 201 {token, record}   the token is shown only here
 *   POST   /api/admin/tokens/:id/revoke              → 204
 *
 *   GET    /api/admin/audit?from&to&actor&action&outcome&patientId&studyUid&hospitalId&limit&offset
 *                                                    → {events}              auditor, system_admin
 *   GET    /api/admin/audit/export?…(same filters)   → text/csv attachment   auditor, system_admin
 *
 * Every change — and every refused attempt — is recorded in the audit trail (action `admin_change`);
 * audit searches and exports are recorded too (`audit_search`, `audit_export`).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import type { AeRepository, Hospital, HospitalRepository } from '../archive/ports.ts';
import type { ApiTokenRepository } from '../access/api-tokens.ts';
import { can, resolveSessionCaller, type SessionAuthenticator, type SessionCaller } from '../access/scope.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import type { AuditSearch } from '../audit/types.ts';
import type { Schema } from '../db/schema.ts';
import { HuiyingError } from '../errors.ts';
import { adminAudit } from './audited.ts';

export interface AdminApiOptions {
  sessions: SessionAuthenticator;
  hospitals: HospitalRepository;
  aes: AeRepository;
  tokens: ApiTokenRepository;
  audit: AuditLog;
  /** for hospital updates (the repository port has no update) */
  db: Kysely<Schema>;
}

const BODY_LIMIT = 16 * 1024;

const SECURITY_HEADERS: Record<string, string> = {
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Content-Security-Policy': "default-src 'none'; frame-ancestors 'none'",
};

const text = (max: number, pattern?: string): Record<string, unknown> => ({
  type: 'string',
  minLength: 1,
  maxLength: max,
  ...(pattern !== undefined ? { pattern } : {}),
});
const HOSPITAL_CODE = '^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$';
const CHARSET = '^[A-Za-z0-9 _\\\\-]{1,64}$';
/** AE titles: 1–16 characters of the default repertoire, no backslash, not only spaces */
const AE_TITLE = '^[ -\\[\\]-~]*[!-\\[\\]-~][ -\\[\\]-~]*$';
const HOST = '^[A-Za-z0-9.:_-]{1,253}$';
const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'integer', minimum: 1 } },
};

function isSystemAdmin(c: SessionCaller): boolean {
  return c.roles.includes('system_admin');
}

function hospitalOut(h: Hospital): Record<string, unknown> {
  return {
    id: h.id,
    code: h.code,
    name: h.name,
    isCenter: h.isCenter,
    defaultCharset: h.defaultCharset ?? null,
    createdAt: h.createdAt,
  };
}

interface AuditQuery {
  from?: string;
  to?: string;
  actor?: string;
  action?: string;
  outcome?: string;
  patientId?: string;
  studyUid?: string;
  hospitalId?: number;
  limit?: number;
  offset?: number;
}

const auditQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    from: { type: 'string', format: 'date-time' },
    to: { type: 'string', format: 'date-time' },
    actor: text(200),
    action: text(64),
    outcome: { type: 'string', enum: ['success', 'failure', 'denied'] },
    patientId: text(64),
    studyUid: text(64, '^[0-9.]+$'),
    hospitalId: { type: 'integer', minimum: 1 },
    limit: { type: 'integer', minimum: 1, maximum: 1000 },
    offset: { type: 'integer', minimum: 0 },
  },
};

function searchOf(q: AuditQuery): AuditSearch {
  const s: AuditSearch = {};
  if (q.from !== undefined) s.from = new Date(q.from).toISOString();
  if (q.to !== undefined) s.to = new Date(q.to).toISOString();
  if (q.actor !== undefined) s.actor = q.actor;
  if (q.action !== undefined) s.action = q.action;
  if (q.outcome !== undefined) s.outcome = q.outcome;
  if (q.patientId !== undefined) s.patientId = q.patientId;
  if (q.studyUid !== undefined) s.studyUid = q.studyUid;
  if (q.hospitalId !== undefined) s.hospitalId = q.hospitalId;
  return s;
}

export async function registerAdminApi(app: FastifyInstance, opts: AdminApiOptions): Promise<void> {
  const { hospitals, aes, tokens, audit } = opts;
  const deps = { sessions: opts.sessions, hospitals };

  const { record, changer } = adminAudit(audit, deps);

  function deny(req: FastifyRequest, c: SessionCaller, object: string, message: string): never {
    record(req, c, 'admin_change', 'denied', object, { reason: message });
    throw new HuiyingError('forbidden', message);
  }

  /** The hospital a hospital-scoped object is created in / belongs to, if the caller may manage it. */
  async function managedHospital(
    req: FastifyRequest,
    c: SessionCaller,
    hospitalId: number | undefined,
    object: string,
  ): Promise<Hospital> {
    const id = hospitalId ?? c.hospitalId;
    if (!can(c, 'manage_users', { hospitalId: id }))
      deny(req, c, object, 'only system administrators, or the administrator of this hospital, may do this');
    const h = await hospitals.byId(id);
    if (h === undefined) throw new HuiyingError('not-found', `no hospital ${id}`);
    return h;
  }

  function mayList(c: SessionCaller): (hospitalId: number) => boolean {
    if (!isSystemAdmin(c) && !c.roles.includes('hospital_admin'))
      throw new HuiyingError('forbidden', 'administrators only');
    return (hospitalId) => can(c, 'manage_users', { hospitalId });
  }

  await app.register((r, _opts, done) => {
    r.addHook('onRequest', async (_req, reply) => {
      reply.headers(SECURITY_HEADERS);
    });

    // ---- hospitals ----
    r.get('/api/admin/hospitals', async (req) => {
      await resolveSessionCaller(deps, req);
      return { hospitals: (await hospitals.list()).map(hospitalOut) };
    });

    r.post<{ Body: { code: string; name: string; isCenter?: boolean; defaultCharset?: string } }>(
      '/api/admin/hospitals',
      {
        bodyLimit: BODY_LIMIT,
        schema: {
          body: {
            type: 'object',
            required: ['code', 'name'],
            additionalProperties: false,
            properties: {
              code: text(32, HOSPITAL_CODE),
              name: text(200),
              isCenter: { type: 'boolean' },
              defaultCharset: text(64, CHARSET),
            },
          },
        },
      },
      async (req, reply) => {
        const b = req.body;
        const object = `hospital:${b.code}`;
        const c = await changer(req, object);
        if (!isSystemAdmin(c)) deny(req, c, object, 'only system administrators may add hospitals');
        const code = b.code.toUpperCase();
        if ((await hospitals.byCode(code)) !== undefined)
          throw new HuiyingError('conflict', `hospital ${code} already exists`);
        const name = b.name.trim();
        if (name === '') throw new HuiyingError('invalid-input', 'a hospital needs a name');
        const h = await hospitals.create({
          code,
          name,
          isCenter: b.isCenter === true,
          ...(b.defaultCharset !== undefined ? { defaultCharset: b.defaultCharset } : {}),
        });
        record(req, c, 'admin_change', 'success', `hospital:${h.code}`, {
          op: 'hospital.create',
          hospital: hospitalOut(h),
        });
        return reply.code(201).send({ hospital: hospitalOut(h) });
      },
    );

    r.patch<{
      Params: { id: number };
      Body: { name?: string; isCenter?: boolean; defaultCharset?: string | null };
    }>(
      '/api/admin/hospitals/:id',
      {
        bodyLimit: BODY_LIMIT,
        schema: {
          params: idParams,
          body: {
            type: 'object',
            additionalProperties: false,
            minProperties: 1,
            properties: {
              name: text(200),
              isCenter: { type: 'boolean' },
              defaultCharset: { anyOf: [text(64, CHARSET), { type: 'null' }] },
            },
          },
        },
      },
      async (req) => {
        const object = `hospital:${req.params.id}`;
        const c = await changer(req, object);
        if (!isSystemAdmin(c)) deny(req, c, object, 'only system administrators may change hospitals');
        const before = await hospitals.byId(req.params.id);
        if (before === undefined) throw new HuiyingError('not-found', `no hospital ${req.params.id}`);
        const b = req.body;
        const set: { name?: string; is_center?: number; default_charset?: string | null } = {};
        if (b.name !== undefined) {
          if (b.name.trim() === '') throw new HuiyingError('invalid-input', 'a hospital needs a name');
          set.name = b.name.trim();
        }
        if (b.isCenter !== undefined) set.is_center = b.isCenter ? 1 : 0;
        if (b.defaultCharset !== undefined) set.default_charset = b.defaultCharset;
        await opts.db.updateTable('hospitals').set(set).where('id', '=', before.id).execute();
        const after = await hospitals.byId(before.id);
        if (after === undefined) throw new HuiyingError('not-found', `no hospital ${before.id}`);
        record(req, c, 'admin_change', 'success', `hospital:${after.code}`, {
          op: 'hospital.update',
          before: hospitalOut(before),
          after: hospitalOut(after),
        });
        return { hospital: hospitalOut(after) };
      },
    );

    // ---- application entities ----
    r.get('/api/admin/aes', async (req) => {
      const c = await resolveSessionCaller(deps, req);
      const visible = mayList(c);
      return { aes: (await aes.list()).filter((a) => visible(a.hospitalId)) };
    });

    r.post<{
      Body: { aeTitle: string; hospitalId?: number; host?: string; port?: number; description?: string };
    }>(
      '/api/admin/aes',
      {
        bodyLimit: BODY_LIMIT,
        schema: {
          body: {
            type: 'object',
            required: ['aeTitle'],
            additionalProperties: false,
            properties: {
              aeTitle: { type: 'string', minLength: 1, maxLength: 16, pattern: AE_TITLE },
              hospitalId: { type: 'integer', minimum: 1 },
              host: text(253, HOST),
              port: { type: 'integer', minimum: 1, maximum: 65535 },
              description: { type: 'string', maxLength: 200 },
            },
          },
        },
      },
      async (req, reply) => {
        const b = req.body;
        const title = b.aeTitle.trim();
        const object = `ae:${title}`;
        const c = await changer(req, object);
        const h = await managedHospital(req, c, b.hospitalId, object);
        if ((await aes.byTitle(title)) !== undefined)
          throw new HuiyingError('conflict', `AE ${title} is already registered`);
        const ae = await aes.create({
          aeTitle: title,
          hospitalId: h.id,
          ...(b.host !== undefined ? { host: b.host } : {}),
          ...(b.port !== undefined ? { port: b.port } : {}),
          ...(b.description !== undefined && b.description !== '' ? { description: b.description } : {}),
        });
        record(req, c, 'admin_change', 'success', object, { op: 'ae.create', ae });
        return reply.code(201).send({ ae });
      },
    );

    r.delete<{ Params: { aeTitle: string } }>(
      '/api/admin/aes/:aeTitle',
      {
        schema: {
          params: {
            type: 'object',
            required: ['aeTitle'],
            properties: { aeTitle: { type: 'string', minLength: 1, maxLength: 16 } },
          },
        },
      },
      async (req, reply) => {
        const title = req.params.aeTitle;
        const object = `ae:${title}`;
        const c = await changer(req, object);
        const ae = await aes.byTitle(title);
        if (ae === undefined) throw new HuiyingError('not-found', `no AE ${title}`);
        await managedHospital(req, c, ae.hospitalId, object);
        await aes.remove(title);
        record(req, c, 'admin_change', 'success', object, { op: 'ae.delete', ae });
        return reply.code(204).send();
      },
    );

    // ---- API tokens ----
    r.get('/api/admin/tokens', async (req) => {
      const c = await resolveSessionCaller(deps, req);
      const visible = mayList(c);
      return { tokens: (await tokens.list()).filter((t) => visible(t.hospitalId)) };
    });

    r.post<{ Body: { name: string; hospitalId?: number } }>(
      '/api/admin/tokens',
      {
        bodyLimit: BODY_LIMIT,
        schema: {
          body: {
            type: 'object',
            required: ['name'],
            additionalProperties: false,
            properties: { name: text(100), hospitalId: { type: 'integer', minimum: 1 } },
          },
        },
      },
      async (req, reply) => {
        const object = `api_token:${req.body.name}`;
        const c = await changer(req, object);
        const h = await managedHospital(req, c, req.body.hospitalId, object);
        const res = await tokens.create(h.id, req.body.name);
        record(req, c, 'admin_change', 'success', `api_token:${res.record.id}`, {
          op: 'token.create',
          token: res.record,
        });
        return reply.code(201).send(res);
      },
    );

    r.post<{ Params: { id: number } }>(
      '/api/admin/tokens/:id/revoke',
      { bodyLimit: BODY_LIMIT, schema: { params: idParams } },
      async (req, reply) => {
        const object = `api_token:${req.params.id}`;
        const c = await changer(req, object);
        const t = (await tokens.list()).find((x) => x.id === req.params.id);
        if (t === undefined) throw new HuiyingError('not-found', `no token ${req.params.id}`);
        await managedHospital(req, c, t.hospitalId, object);
        await tokens.revoke(t.id);
        record(req, c, 'admin_change', 'success', object, { op: 'token.revoke', token: t });
        return reply.code(204).send();
      },
    );

    // ---- audit trail ----
    async function auditor(req: FastifyRequest): Promise<SessionCaller> {
      const c = await resolveSessionCaller(deps, req);
      if (!c.roles.includes('auditor') && !isSystemAdmin(c)) {
        record(req, c, 'audit_search', 'denied', 'audit_log');
        throw new HuiyingError('forbidden', 'only auditors and system administrators may read the audit log');
      }
      return c;
    }

    r.get<{ Querystring: AuditQuery }>(
      '/api/admin/audit',
      { schema: { querystring: auditQuerySchema } },
      async (req) => {
        const c = await auditor(req);
        await audit.flush();
        const s = searchOf(req.query);
        const events = await audit.search({
          ...s,
          limit: req.query.limit ?? 100,
          offset: req.query.offset ?? 0,
        });
        record(req, c, 'audit_search', 'success', 'audit_log', { filters: s, count: events.length });
        return { events };
      },
    );

    r.get<{ Querystring: AuditQuery }>(
      '/api/admin/audit/export',
      { schema: { querystring: auditQuerySchema } },
      async (req, reply) => {
        const c = await auditor(req);
        await audit.flush();
        const s = searchOf(req.query);
        record(req, c, 'audit_export', 'success', 'audit_log', { filters: s, format: 'csv' });
        const stamp = new Date().toISOString().replace(/[:.]/g, '-');
        return reply
          .type('text/csv; charset=utf-8')
          .header('content-disposition', `attachment; filename="huiying-audit-${stamp}.csv"`)
          .send(audit.export(s, 'csv'));
      },
    );
    done();
  });
}
