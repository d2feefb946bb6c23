/**
 * The reporting REST API (docs/reporting.md). Session cookie; `X-CSRF-Token` on changes; every route asks
 * the access policy (`can(caller, 'write_preliminary' | 'review' | 'sign', exam)`, scopes, admin roles).
 * Bodies are validated by JSON schemas; errors are problem+json through the server's error handler.
 *
 * Report actions, reads of report content and PDF downloads are audited (`report_*`).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import type { HospitalRepository } from '../archive/ports.ts';
import { can, resolveSessionCaller, type SessionAuthenticator, type SessionCaller } from '../access/scope.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import type { AuditOutcome } from '../audit/types.ts';
import type { Schema } from '../db/schema.ts';
import { HuiyingError } from '../errors.ts';
import type { Exam } from '../ris/model.ts';
import type { RisService } from '../ris/ports.ts';
import { headerFor, loadVersionDocument, renderDocument } from './documents.ts';
import {
  HEADER_FIELDS,
  SIGNED_KINDS,
  type ChannelConfig,
  type ChannelKind,
  type HeaderField,
  type OutboxState,
  type ReportContent,
  type TemplateScope,
} from './model.ts';
import { renderReportPdf } from './pdf.ts';
import type { ReportingCaller, ReportingService } from './service.ts';

export interface ReportingRoutesDeps {
  sessions: SessionAuthenticator;
  hospitals: HospitalRepository;
  reporting: ReportingService;
  ris: Pick<RisService, 'getExam'>;
  audit: AuditLog;
  db: Kysely<Schema>;
  /** wake the delivery worker after an administrator retry */
  kickDelivery?: () => void;
}

const HEADERS = { 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' };
const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'integer', minimum: 1 } } };
const BODY_LIMIT = 256 * 1024;
const text = (max: number): Record<string, unknown> => ({ type: 'string', maxLength: max });
const contentProps = {
  findings: text(20000),
  impression: text(20000),
  recommendation: text(20000),
  positive: { type: 'boolean' },
  critical: { type: 'boolean' },
  structured: { type: 'object', maxProperties: 100 },
};
const version = { type: 'integer', minimum: 0 };

type ContentBody = Partial<ReportContent> & { version?: number };

function contentOf(b: ContentBody): Partial<ReportContent> {
  const out: Partial<ReportContent> = {};
  if (b.findings !== undefined) out.findings = b.findings;
  if (b.impression !== undefined) out.impression = b.impression;
  if (b.recommendation !== undefined) out.recommendation = b.recommendation;
  if (b.positive !== undefined) out.positive = b.positive;
  if (b.critical !== undefined) out.critical = b.critical;
  if (b.structured !== undefined) out.structured = b.structured;
  return out;
}

const isAdmin = (c: SessionCaller): boolean => c.roles.includes('system_admin');
const mayAdminister = (c: SessionCaller, hospitalId: number): boolean =>
  !c.readOnly && can(c, 'manage_users', { hospitalId });
const isQc = (c: SessionCaller): boolean => c.roles.includes('center_qc_manager') && c.scope.kind === 'all';

export async function registerReportingRoutes(
  app: FastifyInstance,
  deps: ReportingRoutesDeps,
): Promise<void> {
  const { reporting, audit } = deps;
  const store = reporting.store;
  const auth = { sessions: deps.sessions, hospitals: deps.hospitals };

  const reporter = (c: SessionCaller, req: FastifyRequest): ReportingCaller => ({
    userId: c.userId,
    name: c.session.user.displayName || c.username,
    grade: c.grade,
    privileges: c.privileges,
    radiologist: c.roles.includes('center_radiologist'),
    source: req.ip,
    scope: c.scope,
    may: (action, hospitalId) => can(c, action, { hospitalId }),
  });

  function record(
    req: FastifyRequest,
    c: SessionCaller,
    action: string,
    outcome: AuditOutcome,
    exam: Exam | undefined,
    detail: Record<string, unknown> = {},
  ): void {
    audit.record({
      actorType: 'user',
      actorId: String(c.userId),
      actorName: c.username,
      hospitalId: c.hospitalId,
      source: req.ip,
      protocol: 'http',
      action,
      outcome,
      ...(exam !== undefined
        ? {
            patientHospitalId: exam.hospitalId,
            patientId: exam.patient.patientId,
            ...(exam.studyInstanceUid !== null ? { studyUid: exam.studyInstanceUid } : {}),
            object: `exam:${exam.id}`,
          }
        : {}),
      detail: { method: req.method, path: req.url.split('?')[0], ...detail },
    });
  }

  /** run a report action: audit success and refusals */
  async function act<T>(
    req: FastifyRequest<{ Params: { id: number } }>,
    action: string,
    fn: (c: ReportingCaller, sc: SessionCaller) => Promise<T>,
  ): Promise<T> {
    const c = await resolveSessionCaller(auth, req);
    try {
      const out = await fn(reporter(c, req), c);
      const exam = await deps.ris.getExam(req.params.id, c.scope).catch(() => undefined);
      record(req, c, action, 'success', exam);
      return out;
    } catch (err) {
      const code = err instanceof HuiyingError ? err.code : 'internal';
      if (code !== 'not-found') {
        const exam = await deps.ris.getExam(req.params.id, c.scope).catch(() => undefined);
        record(req, c, action, code === 'forbidden' ? 'denied' : 'failure', exam, {
          reason: err instanceof Error ? err.message : String(err),
        });
      }
      throw err;
    }
  }

  await app.register(
    (api, _opts, done) => {
      api.addHook('onSend', (_req, reply, payload, next) => {
        reply.headers(HEADERS);
        next(null, payload);
      });

      // ------------------------------------------------------------------------------- the report
      api.get<{ Params: { id: number } }>(
        '/exams/:id/report',
        { schema: { params: idParams } },
        async (req) => {
          const c = await resolveSessionCaller(auth, req);
          const { exam, report } = await reporting.get(req.params.id, c.scope);
          record(req, c, 'report_view', 'success', exam);
          const r = reporter(c, req);
          return {
            report,
            examStatus: exam.status,
            may: {
              write: r.may('write_preliminary', exam.hospitalId),
              review: r.may('review', exam.hospitalId),
              sign: r.may('sign', exam.hospitalId),
            },
            reviewRequired:
              report === null || report.status === 'draft' ? await reporting.reviewRequired(exam, r) : null,
          };
        },
      );

      api.put<{ Params: { id: number }; Body: ContentBody }>(
        '/exams/:id/report/draft',
        {
          bodyLimit: BODY_LIMIT,
          schema: {
            params: idParams,
            body: { type: 'object', additionalProperties: false, properties: { version, ...contentProps } },
          },
        },
        async (req) => {
          const c = await resolveSessionCaller(auth, req);
          // autosave: not audited per keystroke; refusals are
          try {
            return {
              report: await reporting.saveDraft(
                req.params.id,
                contentOf(req.body),
                req.body.version,
                reporter(c, req),
              ),
            };
          } catch (err) {
            if (err instanceof HuiyingError && err.code === 'forbidden')
              record(req, c, 'report_draft', 'denied', undefined, {
                reason: err.message,
                examId: req.params.id,
              });
            throw err;
          }
        },
      );

      const versionBody = (extra: Record<string, unknown> = {}, required: string[] = []) => ({
        type: 'object',
        additionalProperties: false,
        required: ['version', ...required],
        properties: { version, ...extra },
      });

      api.post<{ Params: { id: number }; Body: { version: number } }>(
        '/exams/:id/report/submit',
        { schema: { params: idParams, body: versionBody() } },
        (req) => act(req, 'report_submit', (r) => reporting.submit(req.params.id, req.body.version, r)),
      );

      api.post<{ Params: { id: number }; Body: ContentBody & { version: number } }>(
        '/exams/:id/report/approve',
        { bodyLimit: BODY_LIMIT, schema: { params: idParams, body: versionBody(contentProps) } },
        (req) =>
          act(req, 'report_sign', (r) =>
            reporting.approve(req.params.id, req.body.version, contentOf(req.body), r),
          ),
      );

      api.post<{ Params: { id: number }; Body: { version: number; opinion: string } }>(
        '/exams/:id/report/return',
        { schema: { params: idParams, body: versionBody({ opinion: text(20000) }, ['opinion']) } },
        (req) =>
          act(req, 'report_return', async (r) => ({
            report: await reporting.returnReport(req.params.id, req.body.version, req.body.opinion, r),
          })),
      );

      api.post<{ Params: { id: number }; Body: { version: number; text: string } }>(
        '/exams/:id/report/addendum',
        {
          bodyLimit: BODY_LIMIT,
          schema: { params: idParams, body: versionBody({ text: text(20000) }, ['text']) },
        },
        (req) =>
          act(req, 'report_addendum', (r) =>
            reporting.addendum(req.params.id, req.body.version, req.body.text, r),
          ),
      );

      api.post<{ Params: { id: number }; Body: ContentBody & { version: number; reason: string } }>(
        '/exams/:id/report/correction',
        {
          bodyLimit: BODY_LIMIT,
          schema: {
            params: idParams,
            body: versionBody({ ...contentProps, reason: text(2000) }, ['reason']),
          },
        },
        (req) =>
          act(req, 'report_correction', (r) =>
            reporting.correction(req.params.id, req.body.version, contentOf(req.body), req.body.reason, r),
          ),
      );

      api.get<{ Params: { id: number } }>(
        '/exams/:id/report/versions',
        { schema: { params: idParams } },
        async (req) => {
          const c = await resolveSessionCaller(auth, req);
          const h = await reporting.history(req.params.id, c.scope);
          record(req, c, 'report_view', 'success', await deps.ris.getExam(req.params.id, c.scope), {
            versions: true,
          });
          return h;
        },
      );

      api.get<{ Params: { id: number }; Querystring: { from: number; to: number } }>(
        '/exams/:id/report/diff',
        {
          schema: {
            params: idParams,
            querystring: {
              type: 'object',
              required: ['from', 'to'],
              properties: { from: { type: 'integer', minimum: 1 }, to: { type: 'integer', minimum: 1 } },
            },
          },
        },
        async (req) => {
          const c = await resolveSessionCaller(auth, req);
          return reporting.diff(req.params.id, req.query.from, req.query.to, c.scope);
        },
      );

      api.get<{ Params: { id: number } }>(
        '/exams/:id/report/revision',
        { schema: { params: idParams } },
        async (req) => {
          const c = await resolveSessionCaller(auth, req);
          return reporting.revisionStats(req.params.id, c.scope);
        },
      );

      api.get<{ Params: { id: number }; Querystring: { version?: number } }>(
        '/exams/:id/report/pdf',
        {
          schema: {
            params: idParams,
            querystring: { type: 'object', properties: { version: { type: 'integer', minimum: 1 } } },
          },
        },
        async (req, reply) => {
          const c = await resolveSessionCaller(auth, req);
          const { exam, report } = await reporting.get(req.params.id, c.scope);
          if (report === null) throw new HuiyingError('not-found', `检查 ${exam.id} 尚无报告 — no report`);
          let pdf: Buffer;
          let label: string;
          if (req.query.version !== undefined || report.signed !== null) {
            const versions = await store.versions(report.id);
            const v =
              req.query.version !== undefined
                ? versions.find((x) => x.number === req.query.version)
                : versions.filter((x) => SIGNED_KINDS.includes(x.kind)).pop();
            if (v === undefined) throw new HuiyingError('not-found', `no version ${req.query.version ?? ''}`);
            pdf = await renderDocument(
              await loadVersionDocument({ store, ris: deps.ris, hospitals: deps.hospitals }, v.id),
            );
            label = `v${v.number}`;
          } else {
            // preview of the newest version (watermarked: not signed)
            const v = report.current;
            if (v === null) throw new HuiyingError('not-found', 'no report version');
            const hospital = await deps.hospitals.byId(exam.hospitalId);
            if (hospital === undefined) throw new HuiyingError('not-found', 'no hospital');
            pdf = await renderReportPdf({ header: await headerFor(store, hospital), exam, version: v });
            label = `v${v.number}-preview`;
          }
          record(req, c, 'report_export', 'success', exam, { format: 'pdf', version: label });
          const name = `report-${exam.accessionNumber}-${label}.pdf`.replace(/[^A-Za-z0-9._-]/g, '_');
          return reply
            .type('application/pdf')
            .header('Content-Disposition', `inline; filename="${name}"`)
            .send(pdf);
        },
      );

      // ------------------------------------------------------------------------ templates, phrases
      const templateBody = {
        type: 'object',
        additionalProperties: false,
        properties: {
          scope: { type: 'string', enum: ['center', 'hospital', 'personal'] },
          hospitalId: { type: 'integer', minimum: 1 },
          modality: { anyOf: [{ type: 'string', pattern: '^[A-Z0-9]{1,16}$' }, { type: 'null' }] },
          bodyPart: { anyOf: [{ type: 'string', pattern: '^[A-Z0-9_ ]{1,64}$' }, { type: 'null' }] },
          name: { type: 'string', minLength: 1, maxLength: 200 },
          findings: text(20000),
          impression: text(20000),
          recommendation: text(20000),
        },
      };
      type TemplateBody = {
        scope?: TemplateScope;
        hospitalId?: number;
        modality?: string | null;
        bodyPart?: string | null;
        name?: string;
        findings?: string;
        impression?: string;
        recommendation?: string;
      };
      /** may the caller manage a template/phrase of this scope? */
      const mayManage = (
        c: SessionCaller,
        scope: TemplateScope,
        hospitalId: number | null,
        ownerId: number | null,
      ): boolean => {
        if (c.readOnly) return false;
        if (scope === 'personal') return ownerId === c.userId;
        if (scope === 'center') return isAdmin(c) || isQc(c);
        return hospitalId !== null && (mayAdminister(c, hospitalId) || isQc(c));
      };

      api.get<{ Querystring: { modality?: string; bodyPart?: string; hospitalId?: number } }>(
        '/report-templates',
        {
          schema: {
            querystring: {
              type: 'object',
              properties: {
                modality: { type: 'string', maxLength: 16 },
                bodyPart: { type: 'string', maxLength: 64 },
                hospitalId: { type: 'integer', minimum: 1 },
              },
            },
          },
        },
        async (req) => {
          const c = await resolveSessionCaller(auth, req);
          const hid = req.query.hospitalId;
          if (hid !== undefined && !can(c, 'read', { hospitalId: hid }))
            throw new HuiyingError('forbidden', 'out of scope');
          const list = await store.templates({
            ownerId: c.userId,
            ...(hid !== undefined
              ? { hospitalId: hid }
              : c.scope.kind === 'all'
                ? {}
                : { hospitalId: c.hospitalId }),
            ...(req.query.modality !== undefined ? { modality: req.query.modality.toUpperCase() } : {}),
            ...(req.query.bodyPart !== undefined ? { bodyPart: req.query.bodyPart.toUpperCase() } : {}),
          });
          return {
            templates: list.filter(
              (t) => t.hospitalId === null || can(c, 'read', { hospitalId: t.hospitalId }),
            ),
          };
        },
      );

      api.post<{ Body: TemplateBody }>(
        '/report-templates',
        { bodyLimit: BODY_LIMIT, schema: { body: { ...templateBody, required: ['scope', 'name'] } } },
        async (req, reply) => {
          const c = await resolveSessionCaller(auth, req);
          const b = req.body;
          const scope = b.scope ?? 'personal';
          const hospitalId = scope === 'hospital' ? (b.hospitalId ?? c.hospitalId) : null;
          const ownerId = scope === 'personal' ? c.userId : null;
          if (!mayManage(c, scope, hospitalId, ownerId))
            throw new HuiyingError(
              'forbidden',
              '无权管理此类模板 — you may not manage templates of this scope',
            );
          const t = await store.createTemplate(
            {
              scope,
              hospitalId,
              ownerId,
              modality: b.modality ?? null,
              bodyPart: b.bodyPart ?? null,
              name: (b.name ?? '').trim(),
              findings: b.findings ?? '',
              impression: b.impression ?? '',
              recommendation: b.recommendation ?? '',
            },
            new Date().toISOString(),
          );
          record(req, c, 'admin_change', 'success', undefined, { op: 'report_template.create', id: t.id });
          return reply.code(201).send({ template: t });
        },
      );

      api.patch<{ Params: { id: number }; Body: TemplateBody }>(
        '/report-templates/:id',
        { bodyLimit: BODY_LIMIT, schema: { params: idParams, body: { ...templateBody, minProperties: 1 } } },
        async (req) => {
          const c = await resolveSessionCaller(auth, req);
          const t = await store.template(req.params.id);
          if (t === undefined) throw new HuiyingError('not-found', `no template ${req.params.id}`);
          if (!mayManage(c, t.scope, t.hospitalId, t.ownerId))
            throw new HuiyingError('forbidden', '无权修改此模板 — you may not change this template');
          const { scope: _s, hospitalId: _h, ...change } = req.body;
          const out = await store.updateTemplate(t.id, change, new Date().toISOString());
          record(req, c, 'admin_change', 'success', undefined, { op: 'report_template.update', id: t.id });
          return { template: out };
        },
      );

      api.delete<{ Params: { id: number } }>(
        '/report-templates/:id',
        { schema: { params: idParams } },
        async (req, reply) => {
          const c = await resolveSessionCaller(auth, req);
          const t = await store.template(req.params.id);
          if (t === undefined) throw new HuiyingError('not-found', `no template ${req.params.id}`);
          if (!mayManage(c, t.scope, t.hospitalId, t.ownerId))
            throw new HuiyingError('forbidden', '无权删除此模板 — you may not delete this template');
          await store.deleteTemplate(t.id);
          record(req, c, 'admin_change', 'success', undefined, { op: 'report_template.delete', id: t.id });
          return reply.code(204).send();
        },
      );

      api.get('/report-phrases', async (req) => {
        const c = await resolveSessionCaller(auth, req);
        const list = await store.phrases({
          ownerId: c.userId,
          ...(c.scope.kind === 'all' ? {} : { hospitalId: c.hospitalId }),
        });
        return {
          phrases: list.filter((p) => p.hospitalId === null || can(c, 'read', { hospitalId: p.hospitalId })),
        };
      });

      api.post<{ Body: { scope?: TemplateScope; hospitalId?: number; category: string; text: string } }>(
        '/report-phrases',
        {
          schema: {
            body: {
              type: 'object',
              additionalProperties: false,
              required: ['category', 'text'],
              properties: {
                scope: { type: 'string', enum: ['center', 'hospital', 'personal'] },
                hospitalId: { type: 'integer', minimum: 1 },
                category: { type: 'string', minLength: 1, maxLength: 64 },
                text: { type: 'string', minLength: 1, maxLength: 2000 },
              },
            },
          },
        },
        async (req, reply) => {
          const c = await resolveSessionCaller(auth, req);
          const scope = req.body.scope ?? 'personal';
          const hospitalId = scope === 'hospital' ? (req.body.hospitalId ?? c.hospitalId) : null;
          const ownerId = scope === 'personal' ? c.userId : null;
          if (!mayManage(c, scope, hospitalId, ownerId))
            throw new HuiyingError(
              'forbidden',
              '无权管理此类常用语 — you may not manage phrases of this scope',
            );
          const p = await store.createPhrase(
            { scope, hospitalId, ownerId, category: req.body.category.trim(), text: req.body.text },
            new Date().toISOString(),
          );
          return reply.code(201).send({ phrase: p });
        },
      );

      api.delete<{ Params: { id: number } }>(
        '/report-phrases/:id',
        { schema: { params: idParams } },
        async (req, reply) => {
          const c = await resolveSessionCaller(auth, req);
          const p = await store.phrase(req.params.id);
          if (p === undefined) throw new HuiyingError('not-found', `no phrase ${req.params.id}`);
          if (!mayManage(c, p.scope, p.hospitalId, p.ownerId))
            throw new HuiyingError('forbidden', '无权删除此常用语 — you may not delete this phrase');
          await store.deletePhrase(p.id);
          return reply.code(204).send();
        },
      );

      // ----------------------------------------------------------------------------- report header
      api.get<{ Params: { id: number } }>(
        '/admin/hospitals/:id/report-header',
        { schema: { params: idParams } },
        async (req) => {
          const c = await resolveSessionCaller(auth, req);
          if (!can(c, 'read', { hospitalId: req.params.id }))
            throw new HuiyingError('forbidden', 'out of scope');
          const h = await deps.hospitals.byId(req.params.id);
          if (h === undefined) throw new HuiyingError('not-found', `no hospital ${req.params.id}`);
          return { header: await headerFor(store, h), fields: HEADER_FIELDS };
        },
      );

      api.put<{
        Params: { id: number };
        Body: { lines: string[]; logoPngBase64?: string | null; fields: HeaderField[]; footer?: string };
      }>(
        '/admin/hospitals/:id/report-header',
        {
          bodyLimit: 512 * 1024,
          schema: {
            params: idParams,
            body: {
              type: 'object',
              additionalProperties: false,
              required: ['lines', 'fields'],
              properties: {
                lines: {
                  type: 'array',
                  minItems: 1,
                  maxItems: 5,
                  items: { type: 'string', minLength: 1, maxLength: 100 },
                },
                logoPngBase64: {
                  anyOf: [
                    { type: 'string', maxLength: 350_000, pattern: '^[A-Za-z0-9+/=]*$' },
                    { type: 'null' },
                  ],
                },
                fields: {
                  type: 'array',
                  maxItems: HEADER_FIELDS.length,
                  uniqueItems: true,
                  items: { type: 'string', enum: [...HEADER_FIELDS] },
                },
                footer: { type: 'string', maxLength: 500 },
              },
            },
          },
        },
        async (req) => {
          const c = await resolveSessionCaller(auth, req);
          if (!mayAdminister(c, req.params.id))
            throw new HuiyingError(
              'forbidden',
              '只有系统管理员或本院管理员可以配置报告页眉 — administrators only',
            );
          const h = await deps.hospitals.byId(req.params.id);
          if (h === undefined) throw new HuiyingError('not-found', `no hospital ${req.params.id}`);
          const logo = req.body.logoPngBase64 ?? null;
          if (logo !== null && logo !== '') {
            const b = Buffer.from(logo, 'base64');
            if (b.length > 256 * 1024 || b.subarray(0, 8).toString('hex') !== '89504e470d0a1a0a')
              throw new HuiyingError('invalid-input', 'the logo must be a PNG of at most 256 KiB');
          }
          const header = {
            hospitalId: h.id,
            lines: req.body.lines.map((l) => l.trim()),
            logoPngBase64: logo === '' ? null : logo,
            fields: req.body.fields,
            footer: req.body.footer ?? '',
          };
          // render once: a header that cannot be printed is refused now, not at signing time
          await renderReportPdf({
            header: { ...header, updatedAt: null },
            exam: placeholderExam(h.id, h.name),
            version: placeholderVersion(),
          }).catch((err: unknown) => {
            throw new HuiyingError(
              'invalid-input',
              `the header cannot be rendered: ${err instanceof Error ? err.message : String(err)}`,
            );
          });
          const saved = await store.setHeader(header, c.username, new Date().toISOString());
          record(req, c, 'admin_change', 'success', undefined, {
            op: 'report_header.update',
            hospitalId: h.id,
            lines: header.lines,
          });
          return { header: saved };
        },
      );

      // --------------------------------------------------------------------------------- delivery
      const channelSchema = {
        type: 'object',
        additionalProperties: false,
        properties: {
          hospitalId: { type: 'integer', minimum: 1 },
          kind: { type: 'string', enum: ['hl7', 'fhir', 'dicom'] },
          name: { type: 'string', minLength: 1, maxLength: 100 },
          enabled: { type: 'boolean' },
          config: { type: 'object', maxProperties: 10 },
        },
      };
      const validConfig = (kind: ChannelKind, cfg: Record<string, unknown>): ChannelConfig => {
        const str = (k: string, re: RegExp, required: boolean): string | undefined => {
          const v = cfg[k];
          if (v === undefined && !required) return undefined;
          if (typeof v !== 'string' || !re.test(v))
            throw new HuiyingError('invalid-input', `config.${k} is missing or invalid`);
          return v;
        };
        switch (kind) {
          case 'hl7': {
            const port = cfg.port;
            if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535)
              throw new HuiyingError('invalid-input', 'config.port must be 1–65535');
            const charset = str('charset', /^[A-Za-z0-9 _/-]{1,32}$/, false);
            return {
              host: str('host', /^[A-Za-z0-9.:_-]{1,253}$/, true) ?? '',
              port,
              ...(charset !== undefined ? { charset } : {}),
              ...(cfg.receivingApplication !== undefined
                ? { receivingApplication: str('receivingApplication', /^.{1,64}$/, true) ?? '' }
                : {}),
              ...(cfg.receivingFacility !== undefined
                ? { receivingFacility: str('receivingFacility', /^.{1,64}$/, true) ?? '' }
                : {}),
            };
          }
          case 'fhir': {
            const url = str('baseUrl', /^https?:\/\/\S{1,500}$/, true) ?? '';
            const a = str('authorization', /^[\x20-\x7e]{1,2000}$/, false);
            return { baseUrl: url, ...(a !== undefined ? { authorization: a } : {}) };
          }
          case 'dicom':
            return { aeTitle: str('aeTitle', /^[ -[\]-~]{1,16}$/, true) ?? '' };
        }
      };
      const channelOut = <T extends { config: ChannelConfig }>(ch: T): T =>
        'authorization' in ch.config ? { ...ch, config: { ...ch.config, authorization: '***' } } : ch;

      api.get<{ Querystring: { hospitalId?: number } }>(
        '/admin/delivery/channels',
        {
          schema: {
            querystring: { type: 'object', properties: { hospitalId: { type: 'integer', minimum: 1 } } },
          },
        },
        async (req) => {
          const c = await resolveSessionCaller(auth, req);
          const list = await store.channels(req.query.hospitalId);
          return { channels: list.filter((ch) => mayAdminister(c, ch.hospitalId)).map(channelOut) };
        },
      );

      api.post<{
        Body: {
          hospitalId?: number;
          kind: ChannelKind;
          name: string;
          enabled?: boolean;
          config: Record<string, unknown>;
        };
      }>(
        '/admin/delivery/channels',
        { schema: { body: { ...channelSchema, required: ['kind', 'name', 'config'] } } },
        async (req, reply) => {
          const c = await resolveSessionCaller(auth, req);
          const hospitalId = req.body.hospitalId ?? c.hospitalId;
          if (!mayAdminister(c, hospitalId)) throw new HuiyingError('forbidden', 'administrators only');
          if ((await deps.hospitals.byId(hospitalId)) === undefined)
            throw new HuiyingError('not-found', `no hospital ${hospitalId}`);
          const ch = await store.createChannel(
            {
              hospitalId,
              kind: req.body.kind,
              name: req.body.name.trim(),
              enabled: req.body.enabled ?? true,
              config: validConfig(req.body.kind, req.body.config),
            },
            new Date().toISOString(),
          );
          record(req, c, 'admin_change', 'success', undefined, {
            op: 'delivery_channel.create',
            channel: channelOut(ch),
          });
          return reply.code(201).send({ channel: channelOut(ch) });
        },
      );

      api.patch<{
        Params: { id: number };
        Body: { name?: string; enabled?: boolean; config?: Record<string, unknown> };
      }>(
        '/admin/delivery/channels/:id',
        { schema: { params: idParams, body: { ...channelSchema, minProperties: 1 } } },
        async (req) => {
          const c = await resolveSessionCaller(auth, req);
          const ch = await store.channel(req.params.id);
          if (ch === undefined) throw new HuiyingError('not-found', `no delivery channel ${req.params.id}`);
          if (!mayAdminister(c, ch.hospitalId)) throw new HuiyingError('forbidden', 'administrators only');
          const out = await store.updateChannel(
            ch.id,
            {
              ...(req.body.name !== undefined ? { name: req.body.name.trim() } : {}),
              ...(req.body.enabled !== undefined ? { enabled: req.body.enabled } : {}),
              ...(req.body.config !== undefined ? { config: validConfig(ch.kind, req.body.config) } : {}),
            },
            new Date().toISOString(),
          );
          record(req, c, 'admin_change', 'success', undefined, {
            op: 'delivery_channel.update',
            channel: channelOut(out),
          });
          return { channel: channelOut(out) };
        },
      );

      api.delete<{ Params: { id: number } }>(
        '/admin/delivery/channels/:id',
        { schema: { params: idParams } },
        async (req, reply) => {
          const c = await resolveSessionCaller(auth, req);
          const ch = await store.channel(req.params.id);
          if (ch === undefined) throw new HuiyingError('not-found', `no delivery channel ${req.params.id}`);
          if (!mayAdminister(c, ch.hospitalId)) throw new HuiyingError('forbidden', 'administrators only');
          await store.deleteChannel(ch.id);
          record(req, c, 'admin_change', 'success', undefined, { op: 'delivery_channel.disable', id: ch.id });
          return reply.code(204).send();
        },
      );

      api.get<{
        Querystring: {
          state?: string;
          hospitalId?: number;
          reportId?: number;
          limit?: number;
          offset?: number;
        };
      }>(
        '/admin/delivery/outbox',
        {
          schema: {
            querystring: {
              type: 'object',
              properties: {
                state: {
                  type: 'string',
                  pattern: '^(pending|delivering|delivered|failed)(,(pending|delivering|delivered|failed))*$',
                },
                hospitalId: { type: 'integer', minimum: 1 },
                reportId: { type: 'integer', minimum: 1 },
                limit: { type: 'integer', minimum: 1, maximum: 500 },
                offset: { type: 'integer', minimum: 0 },
              },
            },
          },
        },
        async (req) => {
          const c = await resolveSessionCaller(auth, req);
          const q = req.query;
          let hospitalIds: number[] | undefined;
          if (isAdmin(c)) hospitalIds = q.hospitalId !== undefined ? [q.hospitalId] : undefined;
          else if (c.roles.includes('hospital_admin')) {
            if (q.hospitalId !== undefined && q.hospitalId !== c.hospitalId)
              throw new HuiyingError('forbidden', 'out of scope');
            hospitalIds = [c.hospitalId];
          } else throw new HuiyingError('forbidden', 'administrators only');
          return {
            entries: await store.outbox({
              ...(hospitalIds !== undefined ? { hospitalIds } : {}),
              ...(q.state !== undefined ? { state: q.state.split(',') as OutboxState[] } : {}),
              ...(q.reportId !== undefined ? { reportId: q.reportId } : {}),
              limit: q.limit ?? 100,
              offset: q.offset ?? 0,
            }),
          };
        },
      );

      api.post<{ Params: { id: number } }>(
        '/admin/delivery/outbox/:id/retry',
        { schema: { params: idParams } },
        async (req) => {
          const c = await resolveSessionCaller(auth, req);
          const e = await store.outboxEntry(req.params.id);
          if (e === undefined) throw new HuiyingError('not-found', `no delivery ${req.params.id}`);
          if (!mayAdminister(c, e.hospitalId)) throw new HuiyingError('forbidden', 'administrators only');
          const out = await store.retryOutbox(e.id, new Date().toISOString());
          record(req, c, 'admin_change', 'success', undefined, {
            op: 'delivery.retry',
            id: e.id,
            key: e.idempotencyKey,
          });
          deps.kickDelivery?.();
          return { entry: out };
        },
      );

      done();
    },
    { prefix: '/api' },
  );
}

function placeholderExam(hospitalId: number, hospitalName: string): Exam {
  const at = new Date().toISOString();
  return {
    id: 0,
    hospitalId,
    hospitalName,
    patient: {
      id: 0,
      hospitalId,
      patientId: 'TEST',
      issuer: 'TEST',
      name: '测试',
      sex: 'O',
      birthDate: null,
      phone: null,
      mergedInto: null,
      createdAt: at,
      updatedAt: at,
    },
    accessionNumber: 'TEST',
    placerOrderNumber: null,
    examItems: [{ name: '测试' }],
    modality: 'OT',
    bodyPart: null,
    priority: 'routine',
    patientClass: null,
    complex: false,
    clinicalHistory: null,
    symptoms: null,
    clinicalDiagnosis: null,
    examPurpose: null,
    requestingDepartment: null,
    requestingPhysician: null,
    scheduledAt: null,
    source: 'form',
    status: 'matched',
    statusAt: at,
    registeredAt: at,
    examinedAt: null,
    matchedAt: null,
    reportedAt: null,
    reviewedAt: null,
    studyId: null,
    studyInstanceUid: null,
    readAtCenter: true,
    reviewRequired: true,
    limitMinutes: 60,
    dueAt: null,
    assignedTo: null,
    assignedAt: null,
    identityConflict: null,
    version: 1,
    createdAt: at,
    updatedAt: at,
  };
}

function placeholderVersion(): Parameters<typeof renderReportPdf>[0]['version'] {
  const at = new Date().toISOString();
  return {
    id: 0,
    reportId: 0,
    number: 1,
    kind: 'draft',
    findings: '测试',
    impression: '测试',
    recommendation: '',
    positive: false,
    critical: false,
    structured: {},
    addendum: null,
    author: { userId: 0, name: '测试' },
    reviewer: null,
    reviewOpinion: null,
    signedBy: null,
    signedAt: null,
    contentHash: null,
    reason: null,
    basedOn: null,
    createdAt: at,
    updatedAt: at,
  };
}
