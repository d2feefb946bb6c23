/**
 * FHIR R4 (JSON) for ordering systems: ServiceRequest (imaging orders) and Patient, as a Fastify plugin over
 * the workflow's RisService. Every request except GET /metadata resolves its caller first (access/scope.ts:
 * API token, HTTP Basic service account or session) and is audited after the response; a member hospital's
 * caller only reads and writes its own hospital's orders and patients, read-only callers never write.
 *
 *   GET  <prefix>/metadata                           CapabilityStatement (no authentication, no PHI)
 *   POST <prefix>/ServiceRequest                     create (idempotent on the accession; If-None-Exist)
 *   PUT  <prefix>/ServiceRequest/:id                 update; status=revoked cancels; If-Match W/"<version>"
 *   GET  <prefix>/ServiceRequest/:id[/_history/:v]   read, vread (current version only)
 *   GET  <prefix>/ServiceRequest?identifier&patient&status&category&priority&authored&_count&_offset&_include
 *   POST <prefix>/Patient, PUT <prefix>/Patient/:id, GET <prefix>/Patient/:id, GET <prefix>/Patient?identifier
 *
 * Errors are OperationOutcome (outcome.ts); the mapping is in service-request.ts and patient.ts.
 */
import { createHash } from 'node:crypto';
import iconv from 'iconv-lite';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Bundle, BundleEntry, Patient, Resource, ServiceRequest } from '@medplum/fhirtypes';
import type { HospitalRepository, Hospital } from '../archive/ports.ts';
import { can, inScope, type HttpCaller } from '../access/scope.ts';
import type { AuditEventInput, AuditOutcome } from '../audit/types.ts';
import { HuiyingError } from '../errors.ts';
import type { Log } from '../logger.ts';
import type { RisService } from '../ris/ports.ts';
import type {
  Actor,
  Exam,
  ExamStatus,
  OrderChange,
  RisPatient,
  RisPatientInput,
  WorklistQuery,
} from '../ris/model.ts';
import type { Role } from '../accounts/model.ts';
import { capabilityStatement } from './capability.ts';
import { bi, fhirError, FhirError, operationOutcome, toFhirError, type Issue } from './outcome.ts';
import { patientInputOf, patientResource, patientVersion } from './patient.ts';
import {
  EXAM_STATES_OF,
  ORDER_INTENTS,
  orderDifferences,
  orderInputOf,
  parseServiceRequest,
  serviceRequestOf,
  srStatusOf,
  type ParsedServiceRequest,
} from './service-request.ts';
import { DCM, issuerOfSystem, parseHospitalSystem } from './systems.ts';
import { Checker, isObject } from './validate.ts';

export interface FhirOptions {
  ris: RisService;
  hospitals: HospitalRepository;
  /** identify the caller (access/scope.ts createHttpScopeResolver); throws HuiyingError('unauthenticated') */
  resolveCaller: (req: FastifyRequest) => Promise<HttpCaller>;
  /** the audit trail: every request is recorded; reads are refused (503) while it cannot record */
  audit?: { record(e: AuditEventInput): unknown; acceptingReads(): boolean };
  /** default `/fhir` */
  prefix?: string;
  /** most bytes of a request body (default 1 MiB) */
  bodyLimit?: number;
  log?: Log;
  software?: { name: string; version: string };
}

const FHIR_JSON = 'application/fhir+json; charset=utf-8';
const JSON_TYPES = ['application/fhir+json', 'application/json', 'application/json+fhir'];
const MAX_COUNT = 200;
const DEFAULT_COUNT = 20;
/** most exams a filtered search walks through (patient / identifier searches filter in memory) */
const MAX_SCAN = 5000;
/** user roles that place and change orders (docs/workflow.md: who may do what) */
const ORDER_ROLES: readonly Role[] = [
  'system_admin',
  'center_radiologist',
  'center_qc_manager',
  'member_technologist',
  'member_clinician',
  'hospital_admin',
];

const SECURITY_HEADERS: Record<string, string> = {
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
};

interface AuditNote {
  action?: string;
  object?: string;
  patientId?: string;
  patientHospitalId?: number;
  detail?: Record<string, unknown>;
}

const CALLER = new WeakMap<FastifyRequest, HttpCaller>();
const NOTES = new WeakMap<FastifyRequest, AuditNote>();

function note(req: FastifyRequest, n: AuditNote): void {
  const prev = NOTES.get(req) ?? {};
  NOTES.set(req, { ...prev, ...n, detail: { ...prev.detail, ...n.detail } });
}

function tokenFingerprint(req: FastifyRequest): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  if (m === null) return undefined;
  // the token's stored hash (api_tokens.token_hash) starts with this prefix
  return `sha256:${createHash('sha256')
    .update(m[1] ?? '', 'utf8')
    .digest('hex')
    .slice(0, 16)}`;
}

function outcomeOf(status: number): AuditOutcome {
  if (status === 401 || status === 403) return 'denied';
  return status < 400 ? 'success' : 'failure';
}

/** `W/"3"` or `"3"` → `3` */
function parseEtag(h: string | undefined): string | undefined {
  if (h === undefined) return undefined;
  const m = /^\s*(?:W\/)?"([^"]*)"\s*$/.exec(h);
  return m === null ? h.trim() : m[1];
}

function numericId(s: string, type: string): number {
  if (!/^[1-9][0-9]{0,15}$/.test(s))
    throw fhirError(404, 'not-found', bi(`找不到 ${type}/${s}`, `${type}/${s} not found`));
  return Number(s);
}

/** Read the body as text in its declared charset (UTF-8 default; GB18030/GBK accepted) and parse JSON. */
function jsonBody(req: FastifyRequest): unknown {
  const buf = req.body;
  if (!Buffer.isBuffer(buf) || buf.length === 0)
    throw fhirError(400, 'required', bi('缺少请求体', 'the request body is missing'));
  const ct = req.headers['content-type'] ?? '';
  const cs = /;\s*charset="?([^";\s]+)"?/i.exec(ct)?.[1]?.toLowerCase() ?? 'utf-8';
  let text: string;
  if (cs === 'utf-8' || cs === 'utf8') text = buf.toString('utf8');
  else if (['gb18030', 'gbk', 'gb2312', 'cp936'].includes(cs))
    text = iconv.decode(buf, cs === 'gb2312' ? 'gbk' : cs);
  else
    throw fhirError(
      415,
      'not-supported',
      bi(`不支持的字符集 ${cs}（请用 UTF-8）`, `charset ${cs} is not supported (use UTF-8)`),
    );
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw fhirError(
      400,
      'structure',
      bi(
        '请求体不是合法的 JSON',
        `the body is not valid JSON (${e instanceof Error ? e.message : String(e)})`,
      ),
    );
  }
}

type Query = Record<string, string | string[] | undefined>;

function headerOf(req: FastifyRequest, name: string): string {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : (v ?? '');
}

function single(q: Query, name: string): string | undefined {
  const v = q[name];
  if (Array.isArray(v)) {
    if (v.length > 1)
      throw fhirError(
        400,
        'not-supported',
        bi(`搜索参数 ${name} 不能重复`, `search parameter ${name} may appear only once`),
        name,
      );
    return v[0];
  }
  return v;
}

/** `system|value`, `|value` or `value` */
function parseToken(s: string): { system?: string; value: string } {
  const bar = s.indexOf('|');
  if (bar < 0) return { value: s };
  const system = s.slice(0, bar);
  return { value: s.slice(bar + 1), ...(system !== '' ? { system } : {}) };
}

function intParam(q: Query, name: string, def: number, max: number): number {
  const v = single(q, name);
  if (v === undefined) return def;
  if (!/^\d{1,9}$/.test(v))
    throw fhirError(400, 'value', bi(`${name} 应为非负整数`, `${name} must be a non-negative integer`), name);
  return Math.min(Number(v), max);
}

function patientInputOfRecord(p: RisPatient): RisPatientInput {
  return {
    patientId: p.patientId,
    issuer: p.issuer,
    name: p.name,
    ...(p.sex !== null ? { sex: p.sex } : {}),
    ...(p.birthDate !== null ? { birthDate: p.birthDate } : {}),
    ...(p.phone !== null ? { phone: p.phone } : {}),
  };
}

/** The workflow's not-found / forbidden for a read in scope: both answer 404 (no existence leak). */
async function orNotFound<T>(p: Promise<T>, what: string): Promise<T> {
  try {
    return await p;
  } catch (e) {
    if (e instanceof HuiyingError && (e.code === 'not-found' || e.code === 'forbidden'))
      throw fhirError(404, 'not-found', bi(`找不到 ${what}`, `${what} not found`));
    throw e;
  }
}

export async function registerFhir(app: FastifyInstance, opts: FhirOptions): Promise<void> {
  const prefix = (opts.prefix ?? '/fhir').replace(/\/+$/, '');
  const { ris, hospitals, audit } = opts;
  const bodyLimit = opts.bodyLimit ?? 1024 * 1024;
  const software = opts.software ?? { name: 'Huiying 汇影', version: '0.1.0' };
  const baseOf = (req: FastifyRequest): string => `${req.protocol}://${req.host}${prefix}`;

  const callerOf = (req: FastifyRequest): HttpCaller => {
    const c = CALLER.get(req);
    if (c === undefined) throw new HuiyingError('internal', 'caller not resolved');
    return c;
  };

  async function hospitalById(id: number, cache?: Map<number, Hospital>): Promise<Hospital> {
    const hit = cache?.get(id);
    if (hit !== undefined) return hit;
    const h = await hospitals.byId(id);
    if (h === undefined) throw new HuiyingError('internal', `hospital ${id} does not exist`);
    cache?.set(id, h);
    return h;
  }

  function actorOf(req: FastifyRequest): Actor {
    const c = callerOf(req);
    if (c.user !== undefined)
      return { type: 'user', id: String(c.user.userId), name: c.user.username, source: req.ip };
    const fp = tokenFingerprint(req);
    return { type: 'fhir', ...(fp !== undefined ? { id: fp } : {}), name: 'FHIR client', source: req.ip };
  }

  /** May the caller place/change orders and patients of `hospitalId`? (403 otherwise) */
  function assertWrite(req: FastifyRequest, hospitalId: number): void {
    const c = callerOf(req);
    if (c.user !== undefined) {
      if (c.user.readOnly || !c.user.roles.some((r) => ORDER_ROLES.includes(r)))
        throw fhirError(
          403,
          'forbidden',
          bi('此账号无权提交或修改申请单', 'this account may not place or change orders'),
        );
      if (!can(c.user, 'change', { hospitalId }))
        throw fhirError(
          403,
          'forbidden',
          bi('无权操作其他医院的数据', "no access to another hospital's data"),
        );
      return;
    }
    if (!inScope(c.scope, hospitalId))
      throw fhirError(403, 'forbidden', bi('无权操作其他医院的数据', "no access to another hospital's data"));
  }

  /** The hospital an incoming resource is for: named by its identifier system, else the caller's. */
  async function targetHospital(
    req: FastifyRequest,
    code: string | undefined,
    path: string,
  ): Promise<Hospital> {
    const c = callerOf(req);
    if (code !== undefined) {
      const h = await hospitals.byCode(code);
      if (h === undefined)
        throw fhirError(
          422,
          'business-rule',
          bi(`未知医院代码 ${code}`, `unknown hospital code ${code}`),
          path,
        );
      return h;
    }
    if (c.hospitalId === undefined)
      throw fhirError(
        422,
        'business-rule',
        bi(
          '无法确定医院：请在 identifier.system 中写明 urn:huiying:hospital:<医院代码>:…',
          'no hospital: name it in the identifier system urn:huiying:hospital:<CODE>:…',
        ),
        path,
      );
    return hospitalById(c.hospitalId);
  }

  function send(
    reply: FastifyReply,
    status: number,
    resource: Resource | undefined,
    headers: Record<string, string> = {},
  ): FastifyReply {
    void reply.status(status).headers({ ...SECURITY_HEADERS, ...headers });
    if (resource === undefined) return reply.send();
    return reply.type(FHIR_JSON).send(JSON.stringify(resource));
  }

  /** Prefer: return=minimal | representation (default) | OperationOutcome */
  function sendWritten(
    req: FastifyRequest,
    reply: FastifyReply,
    status: number,
    resource: ServiceRequest | Patient,
  ): FastifyReply {
    const version = resource.meta?.versionId ?? '1';
    const headers: Record<string, string> = {
      ETag: `W/"${version}"`,
      Location: `${baseOf(req)}/${resource.resourceType}/${resource.id}/_history/${version}`,
    };
    if (resource.meta?.lastUpdated !== undefined)
      headers['Last-Modified'] = new Date(resource.meta.lastUpdated).toUTCString();
    const prefer = headerOf(req, 'prefer');
    if (/return=minimal/i.test(prefer)) return send(reply, status, undefined, headers);
    if (/return=OperationOutcome/i.test(prefer))
      return send(
        reply,
        status,
        operationOutcome([
          {
            severity: 'information',
            code: 'informational',
            diagnostics: bi(
              `已保存 ${resource.resourceType}/${resource.id}`,
              `stored ${resource.resourceType}/${resource.id}`,
            ),
          },
        ]),
        headers,
      );
    return send(reply, status, resource, headers);
  }

  function sendRead(
    req: FastifyRequest,
    reply: FastifyReply,
    resource: ServiceRequest | Patient,
  ): FastifyReply {
    const etag = `W/"${resource.meta?.versionId ?? '1'}"`;
    const inm = req.headers['if-none-match'];
    const headers: Record<string, string> = { ETag: etag };
    if (resource.meta?.lastUpdated !== undefined)
      headers['Last-Modified'] = new Date(resource.meta.lastUpdated).toUTCString();
    if (inm !== undefined && inm.split(',').some((t) => parseEtag(t) === resource.meta?.versionId))
      return send(reply, 304, undefined, headers);
    return send(reply, 200, resource, headers);
  }

  async function srOf(exam: Exam, cache?: Map<number, Hospital>): Promise<ServiceRequest> {
    const h = await hospitalById(exam.hospitalId, cache);
    return serviceRequestOf(exam, h.code);
  }

  async function patientOf(p: RisPatient, cache?: Map<number, Hospital>): Promise<Patient> {
    return patientResource(p, await hospitalById(p.hospitalId, cache));
  }

  function noteExam(req: FastifyRequest, exam: Exam): void {
    note(req, {
      object: `ServiceRequest/${exam.id}`,
      patientId: exam.patient.patientId,
      patientHospitalId: exam.hospitalId,
      detail: { accession: exam.accessionNumber, version: exam.version },
    });
  }

  /** The subject of a ServiceRequest as the workflow's patient (must belong to the order's hospital). */
  async function resolveSubject(
    req: FastifyRequest,
    p: ParsedServiceRequest,
    hospital: Hospital,
  ): Promise<RisPatientInput> {
    const s = p.subject;
    const wrongHospital = (): FhirError =>
      fhirError(
        422,
        'business-rule',
        bi('患者与申请单不属于同一医院', 'the patient belongs to another hospital than the order'),
        'ServiceRequest.subject',
      );
    if (s.kind === 'contained') {
      if (s.hospitalCode !== undefined && s.hospitalCode !== hospital.code) throw wrongHospital();
      return s.patient;
    }
    if (s.kind === 'reference') {
      let rec: RisPatient;
      try {
        rec = await ris.getPatient(s.id, callerOf(req).scope);
      } catch (e) {
        if (e instanceof HuiyingError && (e.code === 'not-found' || e.code === 'forbidden'))
          throw fhirError(
            422,
            'not-found',
            bi(`找不到 Patient/${s.id}`, `Patient/${s.id} not found`),
            'ServiceRequest.subject.reference',
          );
        throw e;
      }
      if (rec.hospitalId !== hospital.id) throw wrongHospital();
      return patientInputOfRecord(rec);
    }
    if (s.hospitalCode !== undefined && s.hospitalCode !== hospital.code) throw wrongHospital();
    const rec = await ris.findPatient(hospital.id, s.patientId, s.issuer);
    if (rec === undefined)
      throw fhirError(
        422,
        'not-found',
        bi(
          '找不到该标识的患者；请先提交 Patient，或在申请单中内含 Patient',
          'no patient with this identifier: send the Patient first, or contain it in the ServiceRequest',
        ),
        'ServiceRequest.subject.identifier',
      );
    return patientInputOfRecord(rec);
  }

  function checkIntent(p: ParsedServiceRequest): void {
    if (!ORDER_INTENTS.includes(p.intent))
      throw fhirError(
        422,
        'business-rule',
        bi(
          `只接受申请单（intent=order），而不是 ${p.intent}`,
          `only orders are accepted (intent=order), not ${p.intent}`,
        ),
        'ServiceRequest.intent',
      );
  }

  /** Walk the worklist (in pages of 200) and keep what `keep` accepts, up to MAX_SCAN exams. */
  async function scan(q: WorklistQuery, keep: (e: Exam) => boolean, req: FastifyRequest): Promise<Exam[]> {
    const out: Exam[] = [];
    let offset = 0;
    for (;;) {
      const page = await ris.worklist({ ...q, limit: 200, offset }, callerOf(req).scope);
      for (const e of page.exams) if (keep(e)) out.push(e);
      offset += page.exams.length;
      if (page.exams.length === 0 || offset >= page.total) return out;
      if (offset >= MAX_SCAN)
        throw fhirError(
          400,
          'too-costly',
          bi('匹配过多，请缩小搜索范围', 'too many matches: narrow the search'),
        );
    }
  }

  /** `authored=ge2026-01-01` etc. → from/to */
  function authoredRange(values: string[], q: WorklistQuery): void {
    for (const v of values) {
      const m = /^(eq|ge|le|gt|lt)?(\d{4}-\d{2}-\d{2})$/.exec(v);
      if (m === null)
        throw fhirError(
          400,
          'value',
          bi('authored 应为 [eq|ge|le]YYYY-MM-DD', 'authored must be [eq|ge|le]YYYY-MM-DD'),
          'authored',
        );
      const p = m[1] ?? 'eq';
      const d = m[2]!;
      const shift = (n: number): string =>
        new Date(Date.parse(`${d}T00:00:00Z`) + n * 86400000).toISOString().slice(0, 10);
      if (p === 'eq' || p === 'ge') q.from = d;
      if (p === 'eq' || p === 'le') q.to = d;
      if (p === 'gt') q.from = shift(1);
      if (p === 'lt') q.to = shift(-1);
    }
  }

  await app.register(
    (r, _o, registered) => {
      r.removeAllContentTypeParsers();
      r.addContentTypeParser(JSON_TYPES, { parseAs: 'buffer', bodyLimit }, (_req, body, done) => {
        done(null, body);
      });

      r.setErrorHandler((err, req, reply) => {
        const fe = toFhirError(err);
        if (fe.status >= 500)
          opts.log?.('error', 'fhir request failed', {
            method: req.method,
            url: req.url.split('?')[0],
            error: err instanceof Error ? err.message : String(err),
          });
        const headers: Record<string, string> = {};
        if (fe.status === 401)
          headers['WWW-Authenticate'] = 'Bearer realm="huiying", Basic realm="huiying", charset="UTF-8"';
        if (fe.status === 413) headers.Connection = 'close';
        return send(reply, fe.status, operationOutcome(fe.issues), headers);
      });
      const unsupported = (req: FastifyRequest, reply: FastifyReply): FastifyReply => {
        const path = req.url.split('?')[0] ?? '';
        return send(
          reply,
          404,
          operationOutcome([
            {
              code: 'not-supported',
              diagnostics: bi(
                `不支持的资源类型或操作：${req.method} ${path}`,
                `unsupported resource type or interaction: ${req.method} ${path}`,
              ),
            },
          ]),
        );
      };
      r.setNotFoundHandler(unsupported);
      // the whole prefix is ours: unknown paths answer an OperationOutcome, never a root catch-all (the SPA)
      r.route({ method: ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'], url: '/*', handler: unsupported });
      r.route({ method: ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'], url: '/', handler: unsupported });

      const isMetadata = (req: FastifyRequest): boolean => req.routeOptions.url === `${prefix}/metadata`;
      /** no resource behind the route (metadata, unknown paths): no caller, no audit */
      const open = (req: FastifyRequest): boolean =>
        isMetadata(req) ||
        req.routeOptions.url === undefined ||
        req.routeOptions.url === `${prefix}/*` ||
        req.routeOptions.url === prefix ||
        req.routeOptions.url === `${prefix}/`;

      r.addHook('onRequest', async (req) => {
        // content negotiation: JSON only
        const q = req.query as Query;
        const fmt = typeof q._format === 'string' ? q._format : undefined;
        const accept = req.headers.accept;
        const jsonOk = (s: string): boolean => /json|\*\/\*|application\/\*/i.test(s);
        if (
          (fmt !== undefined && !jsonOk(fmt) && fmt !== 'json') ||
          (accept !== undefined && accept !== '' && !jsonOk(accept))
        )
          throw fhirError(
            406,
            'not-supported',
            bi('仅提供 application/fhir+json', 'only application/fhir+json is available'),
          );
        if (open(req)) return;
        CALLER.set(req, await opts.resolveCaller(req));
        // fail-closed: no reads of patient data that cannot be audited (audit/audit-log.ts)
        if (audit !== undefined && req.method === 'GET' && !audit.acceptingReads())
          throw fhirError(
            503,
            'transient',
            bi('审计日志暂不可用，拒绝读取', 'audit trail unavailable: reads are refused'),
          );
      });

      if (audit !== undefined) {
        r.addHook('onResponse', async (req, reply) => {
          if (open(req)) return;
          const caller = CALLER.get(req);
          const n = NOTES.get(req) ?? {};
          const route = req.routeOptions.url;
          const fp = tokenFingerprint(req);
          const actor: Pick<AuditEventInput, 'actorType' | 'actorId' | 'actorName'> =
            caller?.user !== undefined
              ? { actorType: 'user', actorId: String(caller.user.userId), actorName: caller.user.username }
              : fp !== undefined
                ? { actorType: 'api_token', actorId: fp }
                : { actorType: 'anonymous' };
          const status = reply.statusCode;
          audit.record({
            ...actor,
            ...(caller?.hospitalId !== undefined ? { hospitalId: caller.hospitalId } : {}),
            source: req.ip,
            protocol: 'fhir',
            action: n.action ?? `fhir_${req.method.toLowerCase()}`,
            outcome: outcomeOf(status),
            status: String(status),
            ...(n.patientHospitalId !== undefined ? { patientHospitalId: n.patientHospitalId } : {}),
            ...(n.patientId !== undefined ? { patientId: n.patientId } : {}),
            object: (n.object ?? `${req.method} ${req.url}`).slice(0, 200),
            detail: { api: 'fhir', method: req.method, route, ...n.detail },
          });
          await Promise.resolve();
        });
      }

      // ------------------------------------------------------------------------------ metadata
      r.get('/metadata', async (req, reply) =>
        send(reply, 200, capabilityStatement(baseOf(req), software), {
          'Cache-Control': 'public, max-age=3600',
        }),
      );

      // ------------------------------------------------------------------------------ ServiceRequest
      r.post('/ServiceRequest', async (req, reply) => {
        note(req, { action: 'fhir_create', object: 'ServiceRequest' });
        const p = parseServiceRequest(jsonBody(req));
        checkIntent(p);
        if (p.status !== 'active')
          throw fhirError(
            422,
            'business-rule',
            bi(
              `新申请单的状态应为 active，而不是 ${p.status}`,
              `a new order must have status active, not ${p.status}`,
            ),
            'ServiceRequest.status',
          );
        const hospital = await targetHospital(req, p.hospitalCode, 'ServiceRequest.identifier');
        assertWrite(req, hospital.id);
        note(req, { detail: { accession: p.accessionNumber } });

        // conditional create: If-None-Exist: identifier=<system>|<value>
        const ine = req.headers['if-none-exist'];
        if (typeof ine === 'string' && ine.trim() !== '') {
          const params = new URLSearchParams(ine.replace(/^.*\?/, ''));
          const keys = [...params.keys()];
          const idv = params.get('identifier');
          if (idv === null || keys.some((k) => k !== 'identifier'))
            throw fhirError(
              400,
              'not-supported',
              bi('If-None-Exist 只支持 identifier', 'If-None-Exist supports only identifier'),
            );
          const tok = parseToken(idv);
          const hs = tok.system !== undefined ? parseHospitalSystem(tok.system) : undefined;
          const h = hs !== undefined ? await targetHospital(req, hs.code, 'If-None-Exist') : hospital;
          const found = await ris.findExamByAccession(h.id, tok.value);
          if (found !== undefined && inScope(callerOf(req).scope, found.hospitalId)) {
            noteExam(req, found);
            note(req, { detail: { created: false, conditional: true } });
            return sendWritten(req, reply, 200, await srOf(found));
          }
        }

        const existing = await ris.findExamByAccession(hospital.id, p.accessionNumber);
        const patient = await resolveSubject(req, p, hospital);
        const input = orderInputOf(p, hospital.id, patient);
        if (existing !== undefined) {
          noteExam(req, existing);
          const diff = orderDifferences(input, existing, hospital.code);
          if (diff.length > 0)
            throw new FhirError(409, [
              {
                code: 'duplicate',
                expression: 'ServiceRequest.identifier',
                diagnostics: bi(
                  `检查号 ${p.accessionNumber} 已用于内容不同的申请单 ServiceRequest/${existing.id}（不同之处：${diff.join('、')}）；修改请用 PUT`,
                  `accession ${p.accessionNumber} is already used by ServiceRequest/${existing.id} with different content (${diff.join(', ')}); use PUT to change it`,
                ),
              },
            ]);
          note(req, { detail: { created: false } });
          return sendWritten(req, reply, 200, await srOf(existing));
        }
        let result;
        try {
          result = await ris.placeOrder(input, actorOf(req));
        } catch (e) {
          if (e instanceof HuiyingError && e.code === 'conflict')
            throw fhirError(409, 'duplicate', bi('检查号冲突', e.message));
          throw e;
        }
        noteExam(req, result.exam);
        note(req, { detail: { created: result.created } });
        return sendWritten(req, reply, result.created ? 201 : 200, await srOf(result.exam));
      });

      r.put('/ServiceRequest/:id', async (req, reply) => {
        const idS = (req.params as { id: string }).id;
        note(req, { action: 'fhir_update', object: `ServiceRequest/${idS}` });
        const p = parseServiceRequest(jsonBody(req));
        if (p.id !== idS)
          throw fhirError(
            400,
            'invalid',
            bi('资源 id 必须与 URL 中的 id 一致', 'the resource id must equal the id in the URL'),
            'ServiceRequest.id',
          );
        const id = numericId(idS, 'ServiceRequest');
        const caller = callerOf(req);
        let exam = await orNotFound(ris.getExam(id, caller.scope), `ServiceRequest/${id}`);
        noteExam(req, exam);
        assertWrite(req, exam.hospitalId);
        const hospital = await hospitalById(exam.hospitalId);
        const ifMatch = parseEtag(req.headers['if-match']);
        if (ifMatch !== undefined && ifMatch !== String(exam.version))
          throw fhirError(
            412,
            'conflict',
            bi(
              `版本冲突：当前版本为 ${exam.version}，请求基于 ${ifMatch}`,
              `version conflict: the current version is ${exam.version}, the request is based on ${ifMatch}`,
            ),
          );
        checkIntent(p);
        if (
          p.accessionNumber !== exam.accessionNumber ||
          (p.hospitalCode !== undefined && p.hospitalCode !== hospital.code)
        )
          throw fhirError(
            422,
            'business-rule',
            bi('检查号不能修改', 'the accession number cannot be changed'),
            'ServiceRequest.identifier',
          );
        const patient = await resolveSubject(req, p, hospital);
        const input = orderInputOf(p, hospital.id, patient);
        const actor = actorOf(req);
        const stale = (e: unknown): unknown =>
          e instanceof HuiyingError && e.code === 'conflict' && ifMatch !== undefined
            ? fhirError(412, 'conflict', bi('版本冲突', e.message))
            : e instanceof HuiyingError && e.code === 'conflict'
              ? fhirError(409, 'conflict', bi('冲突', e.message))
              : e;

        const current = srStatusOf(exam.status);
        const wanted = p.status;
        const revoke = wanted === 'revoked' || wanted === 'entered-in-error';
        const illegal = (zh: string, en: string): FhirError =>
          fhirError(422, 'business-rule', bi(zh, en), 'ServiceRequest.status');
        if (revoke && current === 'completed')
          throw illegal('已出报告的检查不能取消', 'an exam that has been reported cannot be cancelled');
        if (wanted === 'active' && current === 'completed')
          throw illegal(
            '检查已出报告（completed），不能改回 active',
            'the exam has been reported (completed); it cannot become active',
          );
        if (wanted === 'completed' && current !== 'completed')
          throw illegal(
            'completed 由阅片流程设置，申请方不能设置',
            'completed is set by the reading workflow, not by the orderer',
          );
        if (wanted === 'on-hold' && current !== 'on-hold')
          throw illegal('on-hold（退回）由诊断中心设置', 'on-hold (returned) is set by the center');
        if (wanted === 'draft' || wanted === 'unknown')
          throw illegal(`不支持状态 ${wanted}`, `status ${wanted} is not supported`);

        // reactivate a cancelled / returned order first (re-registration)
        if (wanted === 'active' && (exam.status === 'cancelled' || exam.status === 'returned')) {
          try {
            exam = await ris.transition(exam.id, 'registered', actor, {
              scope: caller.scope,
              reason: 'FHIR ServiceRequest.status=active',
              version: exam.version,
            });
          } catch (e) {
            throw stale(e);
          }
        }
        const diff = orderDifferences(input, exam, hospital.code);
        const demographics =
          patient.name !== exam.patient.name ||
          (patient.sex !== undefined && patient.sex !== exam.patient.sex) ||
          (patient.birthDate !== undefined && patient.birthDate !== exam.patient.birthDate) ||
          (patient.phone !== undefined && patient.phone !== exam.patient.phone);
        if ((diff.length > 0 || demographics) && ['reported', 'reviewed', 'cancelled'].includes(exam.status))
          throw fhirError(
            422,
            'business-rule',
            bi(
              `申请单状态为${exam.status === 'cancelled' ? '已取消' : '已出报告'}，内容不能再修改`,
              `the order is ${exam.status} and its content can no longer be changed`,
            ),
          );
        if (diff.length > 0 || demographics) {
          const { hospitalId: _h, source: _s, accessionNumber: _a, ...change } = input;
          const c: OrderChange = change;
          try {
            exam = await ris.changeOrder(hospital.id, exam.accessionNumber, c, actor, exam.version);
          } catch (e) {
            throw stale(e);
          }
        }
        if (revoke && exam.status !== 'cancelled') {
          try {
            exam = await ris.cancelOrder(
              hospital.id,
              exam.accessionNumber,
              wanted === 'entered-in-error' ? 'FHIR entered-in-error' : 'FHIR ServiceRequest.status=revoked',
              actor,
            );
          } catch (e) {
            if (e instanceof HuiyingError && e.code === 'conflict')
              throw fhirError(422, 'business-rule', bi('状态不允许', e.message), 'ServiceRequest.status');
            throw e;
          }
        }
        noteExam(req, exam);
        note(req, { detail: { changed: diff, status: exam.status } });
        return sendWritten(req, reply, 200, await srOf(exam));
      });

      r.delete('/ServiceRequest/:id', () => {
        throw fhirError(
          405,
          'not-supported',
          bi(
            '不支持删除；取消申请请用 PUT 并设置 status=revoked',
            'delete is not supported; cancel with PUT status=revoked',
          ),
        );
      });

      r.get('/ServiceRequest/:id', async (req, reply) => {
        const idS = (req.params as { id: string }).id;
        note(req, { action: 'fhir_read', object: `ServiceRequest/${idS}` });
        const exam = await orNotFound(
          ris.getExam(numericId(idS, 'ServiceRequest'), callerOf(req).scope),
          `ServiceRequest/${idS}`,
        );
        noteExam(req, exam);
        return sendRead(req, reply, await srOf(exam));
      });

      r.get('/ServiceRequest/:id/_history/:vid', async (req, reply) => {
        const { id: idS, vid } = req.params as { id: string; vid: string };
        note(req, { action: 'fhir_vread', object: `ServiceRequest/${idS}/_history/${vid}` });
        const exam = await orNotFound(
          ris.getExam(numericId(idS, 'ServiceRequest'), callerOf(req).scope),
          `ServiceRequest/${idS}`,
        );
        noteExam(req, exam);
        if (vid !== String(exam.version))
          throw fhirError(
            404,
            'not-found',
            bi(`只保留当前版本 ${exam.version}`, `only the current version (${exam.version}) is kept`),
          );
        return sendRead(req, reply, await srOf(exam));
      });

      r.get('/ServiceRequest', async (req, reply) => {
        const q = req.query as Query;
        note(req, { action: 'fhir_search', object: `ServiceRequest?${req.url.split('?')[1] ?? ''}` });
        const caller = callerOf(req);
        const known = new Set([
          'identifier',
          'patient',
          'subject',
          'status',
          'category',
          'priority',
          'authored',
          '_count',
          '_offset',
          '_include',
          '_format',
          '_total',
        ]);
        const ignored = Object.keys(q).filter((k) => !known.has(k));
        if (ignored.length > 0 && /handling=strict/i.test(headerOf(req, 'prefer')))
          throw fhirError(
            400,
            'not-supported',
            bi(
              `不支持的搜索参数：${ignored.join(', ')}`,
              `unsupported search parameters: ${ignored.join(', ')}`,
            ),
          );
        const count = intParam(q, '_count', DEFAULT_COUNT, MAX_COUNT);
        const offset = intParam(q, '_offset', 0, 1_000_000);
        const wl: WorklistQuery = {};
        const applied = new URLSearchParams();
        const status = single(q, 'status');
        if (status !== undefined) {
          const states = new Set<ExamStatus>();
          for (const s of status.split(',')) {
            const st = EXAM_STATES_OF[s.trim()];
            if (st === undefined)
              throw fhirError(400, 'value', bi(`未知状态 ${s}`, `unknown status ${s}`), 'status');
            st.forEach((x) => states.add(x));
          }
          wl.status = [...states];
          applied.set('status', status);
        }
        const category = single(q, 'category');
        if (category !== undefined) {
          const mods = category.split(',').map((c) => {
            const t = parseToken(c);
            if (t.system !== undefined && t.system !== DCM)
              throw fhirError(
                400,
                'value',
                bi(`category 应使用 ${DCM}`, `category must be coded in ${DCM}`),
                'category',
              );
            return t.value.toUpperCase();
          });
          wl.modalities = mods;
          applied.set('category', category);
        }
        const priority = single(q, 'priority');
        if (priority !== undefined) {
          if (priority === 'routine') wl.priority = 'routine';
          else if (['stat', 'asap', 'urgent'].includes(priority)) wl.priority = 'emergency';
          else
            throw fhirError(
              400,
              'value',
              bi('priority 应为 routine|stat', 'priority must be routine|stat'),
              'priority',
            );
          applied.set('priority', priority);
        }
        const authored =
          q.authored === undefined ? [] : Array.isArray(q.authored) ? q.authored : [q.authored];
        if (authored.length > 0) {
          authoredRange(authored, wl);
          for (const a of authored) applied.append('authored', a);
        }
        const statusOk = (e: Exam): boolean =>
          (wl.status === undefined || wl.status.includes(e.status)) &&
          (wl.modalities === undefined || wl.modalities.includes(e.modality)) &&
          (wl.priority === undefined || wl.priority === e.priority) &&
          (wl.from === undefined || e.registeredAt.slice(0, 10) >= wl.from) &&
          (wl.to === undefined || e.registeredAt.slice(0, 10) <= wl.to);

        const identifier = single(q, 'identifier');
        const patientRef = single(q, 'patient') ?? single(q, 'subject');
        let page: Exam[];
        let total: number;
        if (identifier !== undefined || patientRef !== undefined) {
          let candidates: Exam[] | undefined;
          if (identifier !== undefined) {
            applied.set('identifier', identifier);
            const tok = parseToken(identifier);
            const hs = tok.system !== undefined ? parseHospitalSystem(tok.system) : undefined;
            if (hs !== undefined && hs.kind !== 'accession')
              throw fhirError(
                400,
                'not-supported',
                bi('只能按检查号（accession）搜索', 'only the accession number can be searched'),
                'identifier',
              );
            const scopeIds = caller.scope.kind === 'hospitals' ? caller.scope.hospitalIds : undefined;
            if (hs !== undefined || scopeIds !== undefined) {
              const ids =
                hs !== undefined
                  ? [(await hospitals.byCode(hs.code))?.id].filter((x): x is number => x !== undefined)
                  : scopeIds!;
              candidates = [];
              for (const hid of ids) {
                const e = await ris.findExamByAccession(hid, tok.value);
                if (e !== undefined && inScope(caller.scope, e.hospitalId)) candidates.push(e);
              }
            } else {
              candidates = await scan(
                { ...wl, text: tok.value },
                (e) => e.accessionNumber === tok.value,
                req,
              );
            }
          }
          if (patientRef !== undefined) {
            applied.set('patient', patientRef);
            const m = /^(?:Patient\/)?([1-9][0-9]{0,15})$/.exec(patientRef);
            let patientId: number | undefined;
            if (m !== null) {
              try {
                const pr = await ris.getPatient(Number(m[1]), caller.scope);
                patientId = pr.id;
                note(req, { patientId: pr.patientId, patientHospitalId: pr.hospitalId });
                candidates ??= await scan(
                  { ...wl, hospitalIds: [pr.hospitalId], text: pr.patientId },
                  (e) => e.patient.id === pr.id,
                  req,
                );
              } catch (e) {
                if (!(e instanceof HuiyingError && (e.code === 'not-found' || e.code === 'forbidden')))
                  throw e;
              }
            }
            candidates =
              patientId === undefined ? [] : (candidates ?? []).filter((e) => e.patient.id === patientId);
          }
          const all = (candidates ?? []).filter(statusOk);
          total = all.length;
          page = all.slice(offset, offset + count);
        } else {
          if (count === 0) {
            const wp = await ris.worklist({ ...wl, limit: 1, offset: 0 }, caller.scope);
            total = wp.total;
            page = [];
          } else {
            const wp = await ris.worklist({ ...wl, limit: count, offset }, caller.scope);
            total = wp.total;
            page = wp.exams;
          }
        }
        note(req, { detail: { matches: page.length, total } });
        if (page.length === 1) noteExam(req, page[0]!);

        const cache = new Map<number, Hospital>();
        const base = baseOf(req);
        const entry: BundleEntry[] = [];
        for (const e of page)
          entry.push({
            fullUrl: `${base}/ServiceRequest/${e.id}`,
            resource: await srOf(e, cache),
            search: { mode: 'match' },
          });
        const include = q._include === undefined ? [] : Array.isArray(q._include) ? q._include : [q._include];
        if (
          include.some((i) => i === 'ServiceRequest:subject' || i === 'ServiceRequest:patient' || i === '*')
        ) {
          const seen = new Set<number>();
          for (const e of page) {
            if (seen.has(e.patient.id)) continue;
            seen.add(e.patient.id);
            entry.push({
              fullUrl: `${base}/Patient/${e.patient.id}`,
              resource: await patientOf(e.patient, cache),
              search: { mode: 'include' },
            });
          }
          for (const i of include) applied.append('_include', i);
        }
        if (ignored.length > 0)
          entry.push({
            resource: operationOutcome([
              {
                severity: 'warning',
                code: 'not-supported',
                diagnostics: bi(
                  `已忽略不支持的搜索参数：${ignored.join(', ')}`,
                  `ignored unsupported search parameters: ${ignored.join(', ')}`,
                ),
              },
            ]),
            search: { mode: 'outcome' },
          });
        const link = (off: number): string => {
          const u = new URLSearchParams(applied);
          u.set('_count', String(count));
          if (off > 0) u.set('_offset', String(off));
          return `${base}/ServiceRequest?${u.toString()}`;
        };
        const links: Bundle['link'] = [{ relation: 'self', url: link(offset) }];
        if (count > 0 && offset + count < total) links.push({ relation: 'next', url: link(offset + count) });
        if (count > 0 && offset > 0)
          links.push({ relation: 'previous', url: link(Math.max(0, offset - count)) });
        const bundle: Bundle = {
          resourceType: 'Bundle',
          type: 'searchset',
          total,
          link: links,
          entry,
        };
        return send(reply, 200, bundle);
      });

      // ------------------------------------------------------------------------------ Patient
      r.post('/Patient', async (req, reply) => {
        note(req, { action: 'fhir_create', object: 'Patient' });
        const body = jsonBody(req);
        const ck = new Checker();
        if (!isObject(body)) {
          ck.fail('Patient', '请求体应为 JSON 对象', 'the body must be a JSON object', 'structure');
          ck.throwIfAny();
        }
        const parsed = patientInputOf(ck, body as Record<string, unknown>, 'Patient');
        ck.throwIfAny();
        const { patient, hospitalCode } = parsed!;
        const hospital = await targetHospital(req, hospitalCode, 'Patient.identifier');
        assertWrite(req, hospital.id);
        const issuer = patient.issuer ?? hospital.code;
        note(req, { patientId: patient.patientId, patientHospitalId: hospital.id });
        const ine = req.headers['if-none-exist'];
        const existing = await ris.findPatient(hospital.id, patient.patientId, issuer);
        if (typeof ine === 'string' && ine.trim() !== '' && existing !== undefined) {
          const params = new URLSearchParams(ine.replace(/^.*\?/, ''));
          const tok = parseToken(params.get('identifier') ?? '');
          const iss = issuerOfSystem(tok.system).issuer ?? hospital.code;
          if (tok.value === existing.patientId && iss === existing.issuer) {
            note(req, { object: `Patient/${existing.id}`, detail: { conditional: true, created: false } });
            return sendWritten(req, reply, 200, await patientOf(existing));
          }
        }
        const saved = await ris.upsertPatient(hospital.id, { ...patient, issuer }, actorOf(req));
        note(req, { object: `Patient/${saved.id}`, detail: { created: existing === undefined } });
        return sendWritten(req, reply, existing === undefined ? 201 : 200, await patientOf(saved));
      });

      r.put('/Patient/:id', async (req, reply) => {
        const idS = (req.params as { id: string }).id;
        note(req, { action: 'fhir_update', object: `Patient/${idS}` });
        const body = jsonBody(req);
        const ck = new Checker();
        if (!isObject(body)) {
          ck.fail('Patient', '请求体应为 JSON 对象', 'the body must be a JSON object', 'structure');
          ck.throwIfAny();
        }
        const b = body as Record<string, unknown>;
        const parsed = patientInputOf(ck, b, 'Patient');
        ck.throwIfAny();
        if (b.id !== idS)
          throw fhirError(
            400,
            'invalid',
            bi('资源 id 必须与 URL 中的 id 一致', 'the resource id must equal the id in the URL'),
            'Patient.id',
          );
        const caller = callerOf(req);
        const existing = await orNotFound(
          ris.getPatient(numericId(idS, 'Patient'), caller.scope),
          `Patient/${idS}`,
        );
        note(req, { patientId: existing.patientId, patientHospitalId: existing.hospitalId });
        assertWrite(req, existing.hospitalId);
        const hospital = await hospitalById(existing.hospitalId);
        const ifMatch = parseEtag(req.headers['if-match']);
        if (ifMatch !== undefined && ifMatch !== patientVersion(existing))
          throw fhirError(
            412,
            'conflict',
            bi(
              `版本冲突：当前版本为 ${patientVersion(existing)}`,
              `version conflict: the current version is ${patientVersion(existing)}`,
            ),
          );
        const { patient, hospitalCode } = parsed!;
        const issuer = patient.issuer ?? hospital.code;
        if (
          patient.patientId !== existing.patientId ||
          issuer !== existing.issuer ||
          (hospitalCode !== undefined && hospitalCode !== hospital.code)
        )
          throw fhirError(
            422,
            'business-rule',
            bi(
              '患者标识不能修改（合并患者请用 ADT^A40）',
              'the patient identifier cannot be changed (merge with ADT^A40)',
            ),
            'Patient.identifier',
          );
        const saved = await ris.upsertPatient(hospital.id, { ...patient, issuer }, actorOf(req));
        return sendWritten(req, reply, 200, await patientOf(saved));
      });

      r.delete('/Patient/:id', () => {
        throw fhirError(405, 'not-supported', bi('不支持删除患者', 'deleting patients is not supported'));
      });

      r.get('/Patient/:id', async (req, reply) => {
        const idS = (req.params as { id: string }).id;
        note(req, { action: 'fhir_read', object: `Patient/${idS}` });
        const p = await orNotFound(
          ris.getPatient(numericId(idS, 'Patient'), callerOf(req).scope),
          `Patient/${idS}`,
        );
        note(req, { patientId: p.patientId, patientHospitalId: p.hospitalId });
        return sendRead(req, reply, await patientOf(p));
      });

      r.get('/Patient', async (req, reply) => {
        const q = req.query as Query;
        note(req, { action: 'fhir_search', object: `Patient?${req.url.split('?')[1] ?? ''}` });
        const caller = callerOf(req);
        const identifier = single(q, 'identifier');
        const idParam = single(q, '_id');
        if (identifier === undefined && idParam === undefined)
          throw fhirError(
            400,
            'required',
            bi('患者搜索需要 identifier（或 _id）参数', 'a Patient search needs identifier (or _id)'),
            'identifier',
          );
        const found: RisPatient[] = [];
        if (idParam !== undefined) {
          if (/^[1-9][0-9]{0,15}$/.test(idParam)) {
            try {
              found.push(await ris.getPatient(Number(idParam), caller.scope));
            } catch (e) {
              if (!(e instanceof HuiyingError && (e.code === 'not-found' || e.code === 'forbidden'))) throw e;
            }
          }
        } else {
          const tok = parseToken(identifier!);
          const { issuer, hospitalCode } = issuerOfSystem(tok.system);
          let hs: Hospital[];
          if (hospitalCode !== undefined)
            hs = [await hospitals.byCode(hospitalCode)].filter((h): h is Hospital => h !== undefined);
          else hs = (await hospitals.list()).filter((h) => inScope(caller.scope, h.id));
          for (const h of hs) {
            if (!inScope(caller.scope, h.id)) continue;
            const p = await ris.findPatient(h.id, tok.value, issuer);
            if (p !== undefined) found.push(p);
          }
        }
        const filtered =
          identifier !== undefined && idParam !== undefined
            ? found.filter((p) => p.patientId === parseToken(identifier).value)
            : found;
        note(req, { detail: { matches: filtered.length } });
        if (filtered.length === 1)
          note(req, { patientId: filtered[0]!.patientId, patientHospitalId: filtered[0]!.hospitalId });
        const base = baseOf(req);
        const cache = new Map<number, Hospital>();
        const entry: BundleEntry[] = [];
        for (const p of filtered)
          entry.push({
            fullUrl: `${base}/Patient/${p.id}`,
            resource: await patientOf(p, cache),
            search: { mode: 'match' },
          });
        const applied = new URLSearchParams();
        if (identifier !== undefined) applied.set('identifier', identifier);
        if (idParam !== undefined) applied.set('_id', idParam);
        const bundle: Bundle = {
          resourceType: 'Bundle',
          type: 'searchset',
          total: filtered.length,
          link: [{ relation: 'self', url: `${base}/Patient?${applied.toString()}` }],
          entry,
        };
        return send(reply, 200, bundle);
      });

      registered();
    },
    { prefix },
  );
}

export type { Issue };
