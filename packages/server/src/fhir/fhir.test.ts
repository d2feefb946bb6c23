import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import iconv from 'iconv-lite';
import type { Bundle, OperationOutcome, Patient, ServiceRequest } from '@medplum/fhirtypes';
import type { Hospital, HospitalRepository } from '../archive/ports.ts';
import type { HttpCaller, UserCaller } from '../access/scope.ts';
import type { AuditEventInput } from '../audit/types.ts';
import { HuiyingError } from '../errors.ts';
import { asRisService, FakeRis } from './fake-ris.ts';
import { registerFhir } from './plugin.ts';
import { sampleOrder } from './test-fixtures.ts';
import { EXT_NAME_REPRESENTATION } from './systems.ts';

const HOSPITALS: Hospital[] = [
  { id: 1, code: 'CENTER', name: '区域医学影像诊断中心', isCenter: true, createdAt: '2026-01-01T00:00:00Z' },
  { id: 2, code: 'CHENCUN', name: '陈村医院', isCenter: false, createdAt: '2026-01-01T00:00:00Z' },
  { id: 3, code: 'LECONG', name: '乐从医院', isCenter: false, createdAt: '2026-01-01T00:00:00Z' },
];

const hospitalRepo: HospitalRepository = {
  create: () => Promise.reject(new Error('read-only')),
  list: () => Promise.resolve(HOSPITALS),
  byCode: (code) => Promise.resolve(HOSPITALS.find((h) => h.code === code)),
  byId: (id) => Promise.resolve(HOSPITALS.find((h) => h.id === id)),
};

function user(id: number, hospitalId: number, roles: UserCaller['roles'], readOnly = false): HttpCaller {
  const scope =
    hospitalId === 1 || readOnly
      ? { kind: 'all' as const }
      : { kind: 'hospitals' as const, hospitalIds: [hospitalId] };
  return {
    scope,
    hospitalId,
    user: {
      userId: id,
      username: `user${id}`,
      hospitalId,
      roles,
      grade: null,
      privileges: [],
      scope,
      readOnly,
      mustChangePassword: false,
    },
  };
}

/** bearer value → caller (stands in for access/scope.ts createHttpScopeResolver) */
const CALLERS: Record<string, HttpCaller> = {
  center: { scope: { kind: 'all' }, hospitalId: 1 },
  chencun: { scope: { kind: 'hospitals', hospitalIds: [2] }, hospitalId: 2 },
  lecong: { scope: { kind: 'hospitals', hospitalIds: [3] }, hospitalId: 3 },
  auditor: user(50, 1, ['auditor'], true),
  'lecong-clinician': user(51, 3, ['member_clinician']),
  'lecong-admin-only': user(52, 3, []),
};

async function resolveCaller(req: FastifyRequest): Promise<HttpCaller> {
  await Promise.resolve();
  const m = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
  const c = m === null ? undefined : CALLERS[m[1]!];
  if (c === undefined) throw new HuiyingError('unauthenticated', 'authentication required');
  return c;
}

interface Ctx {
  app: FastifyInstance;
  ris: FakeRis;
  events: AuditEventInput[];
  auditOk: { value: boolean };
}

async function build(): Promise<Ctx> {
  const ris = new FakeRis(HOSPITALS);
  const events: AuditEventInput[] = [];
  const auditOk = { value: true };
  const app = Fastify({ logger: false });
  // like the web application's SPA fallback (webapp/plugin.ts): must never answer under /fhir
  app.get('/*', () => 'index.html');
  await registerFhir(app, {
    ris: asRisService(ris),
    hospitals: hospitalRepo,
    resolveCaller,
    audit: { record: (e) => events.push(e), acceptingReads: () => auditOk.value },
    prefix: '/fhir',
    bodyLimit: 64 * 1024,
  });
  await app.ready();
  return { app, ris, events, auditOk };
}

type Body = Record<string, unknown>;

async function call(
  c: Ctx,
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  url: string,
  token?: string,
  body?: unknown,
  headers: Record<string, string> = {},
) {
  const res = await c.app.inject({
    method,
    url,
    headers: {
      ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/fhir+json' } : {}),
      ...headers,
    },
    ...(body !== undefined
      ? { payload: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body) }
      : {}),
  });
  const json = res.body === '' ? undefined : (JSON.parse(res.body) as Body);
  return { status: res.statusCode, headers: res.headers, json };
}

function outcome(json: Body | undefined): { codes: string[]; paths: string[]; text: string } {
  const oo = json as unknown as OperationOutcome;
  assert.equal(oo.resourceType, 'OperationOutcome');
  return {
    codes: oo.issue.map((i) => i.code),
    paths: oo.issue.flatMap((i) => i.expression ?? []),
    text: oo.issue.map((i) => i.diagnostics ?? '').join('\n'),
  };
}

describe('FHIR endpoint (in-memory workflow)', () => {
  let c: Ctx;
  before(async () => {
    c = await build();
  });
  after(async () => {
    await c.app.close();
  });

  test('metadata: a CapabilityStatement without authentication', async () => {
    const r = await call(c, 'GET', '/fhir/metadata');
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /^application\/fhir\+json/);
    assert.equal(r.json?.resourceType, 'CapabilityStatement');
    assert.equal(r.json?.fhirVersion, '4.0.1');
    const types = (r.json as { rest: { resource: { type: string }[] }[] }).rest[0]!.resource.map(
      (x) => x.type,
    );
    assert.deepEqual(types, ['ServiceRequest', 'Patient']);
    assert.equal(c.events.length, 0, 'metadata is not PHI and not audited');
  });

  test('no credentials: 401 OperationOutcome with WWW-Authenticate', async () => {
    for (const [m, u] of [
      ['GET', '/fhir/ServiceRequest/1'],
      ['GET', '/fhir/ServiceRequest?identifier=X'],
      ['POST', '/fhir/ServiceRequest'],
      ['GET', '/fhir/Patient/1'],
    ] as const) {
      const r = await call(c, m, u, undefined, m === 'POST' ? sampleOrder('A1') : undefined);
      assert.equal(r.status, 401, `${m} ${u}`);
      assert.match(String(r.headers['www-authenticate']), /Bearer realm="huiying"/);
      assert.deepEqual(outcome(r.json).codes, ['login']);
    }
    const bad = await call(c, 'GET', '/fhir/ServiceRequest/1', 'forged');
    assert.equal(bad.status, 401);
    assert.equal(c.events.at(-1)?.outcome, 'denied');
  });

  test('create → read → Chinese text intact; every field mapped into the workflow', async () => {
    const r = await call(c, 'POST', '/fhir/ServiceRequest', 'chencun', sampleOrder('CC0001'));
    assert.equal(r.status, 201, JSON.stringify(r.json));
    const sr = r.json as unknown as ServiceRequest;
    assert.equal(r.headers.etag, 'W/"1"');
    assert.equal(r.headers.location, `http://localhost:80/fhir/ServiceRequest/${sr.id}/_history/1`);
    const exam = c.ris.exams.find((e) => e.accessionNumber === 'CC0001')!;
    assert.equal(exam.hospitalId, 2);
    assert.equal(exam.source, 'fhir');
    assert.deepEqual(
      {
        items: exam.examItems,
        modality: exam.modality,
        bodyPart: exam.bodyPart,
        priority: exam.priority,
        patientClass: exam.patientClass,
        history: exam.clinicalHistory,
        symptoms: exam.symptoms,
        diagnosis: exam.clinicalDiagnosis,
        purpose: exam.examPurpose,
        department: exam.requestingDepartment,
        physician: exam.requestingPhysician,
        scheduledAt: exam.scheduledAt,
        placer: exam.placerOrderNumber,
        patient: [exam.patient.patientId, exam.patient.issuer, exam.patient.name, exam.patient.sex],
      },
      {
        items: [
          { code: 'CT0012', name: '胸部CT平扫' },
          { code: 'CT0031', name: '上腹部CT平扫' },
        ],
        modality: 'CT',
        bodyPart: 'CHEST',
        priority: 'emergency',
        patientClass: 'inpatient',
        history: '咳嗽两周，发热三天',
        symptoms: '胸闷、气促',
        diagnosis: '肺部感染？',
        purpose: '排除肺炎',
        department: '呼吸内科',
        physician: '李医生',
        scheduledAt: '2026-11-26T01:30:00.000Z',
        placer: 'HIS-778899',
        patient: ['P0001', 'CHENCUN', '张三', 'M'],
      },
    );
    assert.equal(c.ris.actors.at(-1)?.type, 'fhir');

    const g = await call(c, 'GET', `/fhir/ServiceRequest/${sr.id}`, 'chencun');
    assert.equal(g.status, 200);
    const back = g.json as unknown as ServiceRequest;
    assert.equal(back.status, 'active');
    assert.equal(back.code?.coding?.[0]?.display, '胸部CT平扫');
    assert.equal(back.subject?.display, '张三');
    assert.equal(back.requester?.display, '李医生');
    assert.equal(back.note?.[1]?.text, '症状：胸闷、气促');
    assert.equal(back.reasonCode?.[0]?.text, '肺部感染？');
    assert.equal(g.headers['cache-control'], 'no-store');
    const again = await call(c, 'GET', `/fhir/ServiceRequest/${sr.id}`, 'chencun', undefined, {
      'if-none-match': 'W/"1"',
    });
    assert.equal(again.status, 304);
    const v = await call(c, 'GET', `/fhir/ServiceRequest/${sr.id}/_history/1`, 'chencun');
    assert.equal(v.status, 200);
    const audited = c.events.filter((e) => e.object === `ServiceRequest/${sr.id}`);
    assert.deepEqual(
      audited.map((e) => [e.action, e.outcome, e.patientId, e.protocol]),
      [
        ['fhir_create', 'success', 'P0001', 'fhir'],
        ['fhir_read', 'success', 'P0001', 'fhir'],
        ['fhir_read', 'success', 'P0001', 'fhir'],
        ['fhir_vread', 'success', 'P0001', 'fhir'],
      ],
    );
    assert.match(String(audited[0]?.actorId), /^sha256:[0-9a-f]{16}$/);
  });

  test('idempotent create on the accession; different content 409; If-None-Exist', async () => {
    const first = await call(c, 'POST', '/fhir/ServiceRequest', 'chencun', sampleOrder('CC0002'));
    assert.equal(first.status, 201);
    const n = c.ris.exams.length;
    const same = await call(c, 'POST', '/fhir/ServiceRequest', 'chencun', sampleOrder('CC0002'));
    assert.equal(same.status, 200);
    assert.equal(same.json?.id, first.json?.id);
    assert.equal(c.ris.exams.length, n);
    const diff = await call(c, 'POST', '/fhir/ServiceRequest', 'chencun', {
      ...sampleOrder('CC0002'),
      priority: 'routine',
      code: { coding: [{ code: 'MR01', display: '头颅MR平扫' }] },
    });
    assert.equal(diff.status, 409);
    const o = outcome(diff.json);
    assert.deepEqual(o.codes, ['duplicate']);
    assert.match(o.text, /CC0002/);
    assert.match(o.text, /code, priority/);
    // conditional create: a match → 200 with the existing one, whatever the content
    const cond = await call(
      c,
      'POST',
      '/fhir/ServiceRequest',
      'chencun',
      { ...sampleOrder('CC0003'), priority: 'routine' },
      { 'if-none-exist': 'identifier=urn:huiying:hospital:CHENCUN:accession|CC0002' },
    );
    assert.equal(cond.status, 200);
    assert.equal(cond.json?.id, first.json?.id);
    assert.equal(c.ris.exams.length, n);
    const badCond = await call(c, 'POST', '/fhir/ServiceRequest', 'chencun', sampleOrder('CC0003'), {
      'if-none-exist': 'name=张三',
    });
    assert.equal(badCond.status, 400);
  });

  test('update with If-Match; 412 on a stale version; id and accession rules', async () => {
    const created = await call(c, 'POST', '/fhir/ServiceRequest', 'chencun', sampleOrder('CC0010'));
    const id = String(created.json?.id);
    const body = { ...sampleOrder('CC0010'), id, priority: 'routine', requester: { display: '王医生' } };
    const u = await call(c, 'PUT', `/fhir/ServiceRequest/${id}`, 'chencun', body, { 'if-match': 'W/"1"' });
    assert.equal(u.status, 200, JSON.stringify(u.json));
    assert.equal(u.headers.etag, 'W/"2"');
    assert.equal(u.json?.priority, 'routine');
    assert.deepEqual(u.json?.requester, { display: '王医生' });
    const exam = c.ris.exams.find((e) => e.accessionNumber === 'CC0010')!;
    assert.equal(exam.priority, 'routine');
    assert.equal(exam.requestingPhysician, '王医生');

    const stale = await call(
      c,
      'PUT',
      `/fhir/ServiceRequest/${id}`,
      'chencun',
      { ...body, priority: 'stat' },
      {
        'if-match': 'W/"1"',
      },
    );
    assert.equal(stale.status, 412);
    assert.deepEqual(outcome(stale.json).codes, ['conflict']);
    assert.equal(exam.priority, 'routine');

    const unchanged = await call(c, 'PUT', `/fhir/ServiceRequest/${id}`, 'chencun', body, {
      'if-match': 'W/"2"',
    });
    assert.equal(unchanged.status, 200);
    assert.equal(unchanged.headers.etag, 'W/"2"', 'nothing changed: same version');

    const wrongId = await call(c, 'PUT', `/fhir/ServiceRequest/${id}`, 'chencun', { ...body, id: '999' });
    assert.equal(wrongId.status, 400);
    assert.deepEqual(outcome(wrongId.json).paths, ['ServiceRequest.id']);
    const acc = await call(c, 'PUT', `/fhir/ServiceRequest/${id}`, 'chencun', {
      ...sampleOrder('CC0099'),
      id,
    });
    assert.equal(acc.status, 422);
    assert.deepEqual(outcome(acc.json).codes, ['business-rule']);
    const missing = await call(c, 'PUT', '/fhir/ServiceRequest/9999', 'chencun', { ...body, id: '9999' });
    assert.equal(missing.status, 404);
    const del = await call(c, 'DELETE', `/fhir/ServiceRequest/${id}`, 'chencun');
    assert.equal(del.status, 405);
  });

  test('status: revoked cancels, active re-registers, completed/on-hold are the workflow’s', async () => {
    const created = await call(c, 'POST', '/fhir/ServiceRequest', 'chencun', sampleOrder('CC0020'));
    const id = String(created.json?.id);
    const exam = c.ris.exams.find((e) => e.accessionNumber === 'CC0020')!;
    const put = (status: string) =>
      call(c, 'PUT', `/fhir/ServiceRequest/${id}`, 'chencun', { ...sampleOrder('CC0020'), id, status });
    const cancel = await put('revoked');
    assert.equal(cancel.status, 200);
    assert.equal(cancel.json?.status, 'revoked');
    assert.equal(exam.status, 'cancelled');
    const again = await put('revoked');
    assert.equal(again.status, 200, 'cancelling twice is harmless');
    const react = await put('active');
    assert.equal(react.status, 200);
    assert.equal(exam.status, 'registered');
    assert.equal((await put('completed')).status, 422);
    assert.equal((await put('on-hold')).status, 422);
    assert.equal((await put('draft')).status, 422);
    c.ris.setStatus(exam.id, 'reported');
    const late = await put('revoked');
    assert.equal(late.status, 422);
    assert.match(outcome(late.json).text, /cannot be cancelled/);
    assert.equal(exam.status, 'reported');
    const read = await call(c, 'GET', `/fhir/ServiceRequest/${id}`, 'chencun');
    assert.equal(read.json?.status, 'completed');
    c.ris.setStatus(exam.id, 'returned');
    assert.equal((await call(c, 'GET', `/fhir/ServiceRequest/${id}`, 'chencun')).json?.status, 'on-hold');
    const newOrder = await call(c, 'POST', '/fhir/ServiceRequest', 'chencun', {
      ...sampleOrder('CC0021'),
      status: 'draft',
    });
    assert.equal(newOrder.status, 422);
    const plan = await call(c, 'POST', '/fhir/ServiceRequest', 'chencun', {
      ...sampleOrder('CC0021'),
      intent: 'plan',
    });
    assert.equal(plan.status, 422);
    assert.deepEqual(outcome(plan.json).paths, ['ServiceRequest.intent']);
  });

  test('search: identifier, patient, status, category, paging, _include', async () => {
    for (const a of ['CS0001', 'CS0002', 'CS0003'])
      assert.equal(
        (await call(c, 'POST', '/fhir/ServiceRequest', 'lecong', sampleOrder(a, 'LECONG'))).status,
        201,
      );
    const mr: Body = {
      ...sampleOrder('CS0004', 'LECONG'),
      category: [{ coding: [{ system: 'http://dicom.nema.org/resources/ontology/DCM', code: 'MR' }] }],
    };
    (mr.contained as Body[])[0]!.identifier = [
      { system: 'urn:huiying:hospital:LECONG:patient-id', value: 'P0099' },
    ];
    (mr.contained as Body[])[0]!.name = [{ text: '欧阳娜娜' }];
    assert.equal((await call(c, 'POST', '/fhir/ServiceRequest', 'lecong', mr)).status, 201);

    const byId = await call(
      c,
      'GET',
      '/fhir/ServiceRequest?identifier=urn:huiying:hospital:LECONG:accession|CS0002',
      'lecong',
    );
    assert.equal(byId.status, 200);
    const b = byId.json as unknown as Bundle<ServiceRequest>;
    assert.equal(b.type, 'searchset');
    assert.equal(b.total, 1);
    assert.equal(b.entry?.[0]?.resource?.identifier?.[0]?.value, 'CS0002');
    assert.equal(b.entry?.[0]?.search?.mode, 'match');
    const bare = await call(c, 'GET', '/fhir/ServiceRequest?identifier=CS0003', 'lecong');
    assert.equal((bare.json as unknown as Bundle).total, 1);
    const centerBare = await call(c, 'GET', '/fhir/ServiceRequest?identifier=CS0003', 'center');
    assert.equal((centerBare.json as unknown as Bundle).total, 1);

    const pid = String((b.entry?.[0]?.resource?.subject?.reference ?? '').split('/')[1]);
    const byPatient = await call(
      c,
      'GET',
      `/fhir/ServiceRequest?patient=Patient/${pid}&_count=2&_include=ServiceRequest:subject`,
      'lecong',
    );
    const pb = byPatient.json as unknown as Bundle;
    assert.equal(pb.total, 3);
    assert.deepEqual(
      pb.entry?.map((e) => [e.resource?.resourceType, e.search?.mode]),
      [
        ['ServiceRequest', 'match'],
        ['ServiceRequest', 'match'],
        ['Patient', 'include'],
      ],
    );
    const next = pb.link?.find((l) => l.relation === 'next')?.url;
    assert.ok(next !== undefined && next.includes('_offset=2'), next);
    const page2 = await call(c, 'GET', next.replace(/^https?:\/\/[^/]+/, ''), 'lecong');
    assert.deepEqual(
      (page2.json as unknown as Bundle).entry?.map((e) => e.search?.mode),
      ['match', 'include'],
      'the next page keeps _include',
    );

    const mrOnly = await call(c, 'GET', '/fhir/ServiceRequest?category=MR', 'lecong');
    const mb = mrOnly.json as unknown as Bundle<ServiceRequest>;
    assert.equal(mb.total, 1);
    assert.equal(mb.entry?.[0]?.resource?.subject?.display, '欧阳娜娜');

    await call(c, 'PUT', `/fhir/ServiceRequest/${mb.entry?.[0]?.resource?.id}`, 'lecong', {
      ...mr,
      id: mb.entry?.[0]?.resource?.id,
      status: 'revoked',
    });
    const revoked = await call(c, 'GET', '/fhir/ServiceRequest?status=revoked', 'lecong');
    assert.equal((revoked.json as unknown as Bundle).total, 1);
    const active = await call(c, 'GET', '/fhir/ServiceRequest?status=active&_count=0', 'lecong');
    assert.equal((active.json as unknown as Bundle).total, 3);
    assert.equal((active.json as unknown as Bundle).entry?.length, 0);

    const unknown = await call(c, 'GET', '/fhir/ServiceRequest?status=active&foo=1', 'lecong');
    const ub = unknown.json as unknown as Bundle;
    assert.equal(ub.entry?.at(-1)?.search?.mode, 'outcome');
    assert.ok(!ub.link?.[0]?.url.includes('foo'));
    const strict = await call(c, 'GET', '/fhir/ServiceRequest?foo=1', 'lecong', undefined, {
      prefer: 'handling=strict',
    });
    assert.equal(strict.status, 400);
    assert.equal((await call(c, 'GET', '/fhir/ServiceRequest?_count=abc', 'lecong')).status, 400);
    assert.equal((await call(c, 'GET', '/fhir/ServiceRequest?status=waiting', 'lecong')).status, 400);
    const searchEvent = c.events.find((e) => e.action === 'fhir_search');
    assert.ok(searchEvent !== undefined);
  });

  test('scope: another hospital’s orders are invisible (404) and cannot be written (403)', async () => {
    const created = await call(c, 'POST', '/fhir/ServiceRequest', 'chencun', sampleOrder('CC0030'));
    const id = String(created.json?.id);
    assert.equal((await call(c, 'GET', `/fhir/ServiceRequest/${id}`, 'lecong')).status, 404);
    assert.equal((await call(c, 'GET', `/fhir/ServiceRequest/${id}/_history/1`, 'lecong')).status, 404);
    const put = await call(c, 'PUT', `/fhir/ServiceRequest/${id}`, 'lecong', {
      ...sampleOrder('CC0030'),
      id,
      status: 'revoked',
    });
    assert.equal(put.status, 404);
    assert.equal(c.ris.exams.find((e) => e.accessionNumber === 'CC0030')?.status, 'registered');
    const search = await call(
      c,
      'GET',
      '/fhir/ServiceRequest?identifier=urn:huiying:hospital:CHENCUN:accession|CC0030',
      'lecong',
    );
    assert.equal((search.json as unknown as Bundle).total, 0);
    const pid = String(
      created.json?.subject && (created.json.subject as { reference: string }).reference.split('/')[1],
    );
    assert.equal((await call(c, 'GET', `/fhir/Patient/${pid}`, 'lecong')).status, 404);
    assert.equal((await call(c, 'GET', `/fhir/ServiceRequest?patient=${pid}`, 'lecong')).json?.total, 0);
    // placing an order for another hospital
    const forOther = await call(
      c,
      'POST',
      '/fhir/ServiceRequest',
      'lecong',
      sampleOrder('CC0031', 'CHENCUN'),
    );
    assert.equal(forOther.status, 403);
    assert.deepEqual(outcome(forOther.json).codes, ['forbidden']);
    assert.equal(c.events.at(-1)?.outcome, 'denied');
    // the center reads and writes every hospital's
    assert.equal((await call(c, 'GET', `/fhir/ServiceRequest/${id}`, 'center')).status, 200);
    assert.equal(
      (await call(c, 'POST', '/fhir/ServiceRequest', 'center', sampleOrder('CC0032', 'CHENCUN'))).status,
      201,
    );
    assert.equal(c.ris.exams.find((e) => e.accessionNumber === 'CC0032')?.hospitalId, 2);
    // read-only and role-less users cannot write; a clinician of LECONG can
    assert.equal((await call(c, 'GET', `/fhir/ServiceRequest/${id}`, 'auditor')).status, 200);
    assert.equal(
      (await call(c, 'POST', '/fhir/ServiceRequest', 'auditor', sampleOrder('CC0033', 'CHENCUN'))).status,
      403,
    );
    assert.equal(
      (await call(c, 'POST', '/fhir/ServiceRequest', 'lecong-admin-only', sampleOrder('LC0033', 'LECONG')))
        .status,
      403,
    );
    const clin = await call(
      c,
      'POST',
      '/fhir/ServiceRequest',
      'lecong-clinician',
      sampleOrder('LC0034', 'LECONG'),
    );
    assert.equal(clin.status, 201);
    assert.deepEqual(c.ris.actors.at(-1), { type: 'user', id: '51', name: 'user51', source: '127.0.0.1' });
    assert.equal(c.events.at(-1)?.actorType, 'user');
    // unknown hospital code in the accession system
    assert.equal(
      (await call(c, 'POST', '/fhir/ServiceRequest', 'center', sampleOrder('X1', 'NOWHERE'))).status,
      422,
    );
  });

  test('request errors: JSON, media type, charset, size, unknown routes', async () => {
    const notJson = await call(c, 'POST', '/fhir/ServiceRequest', 'chencun', '{"resourceType":');
    assert.equal(notJson.status, 400);
    assert.deepEqual(outcome(notJson.json).codes, ['structure']);
    const xml = await call(c, 'POST', '/fhir/ServiceRequest', 'chencun', undefined, {
      'content-type': 'application/fhir+xml',
    });
    assert.equal(xml.status, 415);
    const xml2 = await c.app.inject({
      method: 'POST',
      url: '/fhir/ServiceRequest',
      headers: { authorization: 'Bearer chencun', 'content-type': 'application/fhir+xml' },
      payload: '<ServiceRequest/>',
    });
    assert.equal(xml2.statusCode, 415);
    assert.equal((JSON.parse(xml2.body) as Body).resourceType, 'OperationOutcome');
    const plainJson = await c.app.inject({
      method: 'POST',
      url: '/fhir/ServiceRequest',
      headers: { authorization: 'Bearer chencun', 'content-type': 'application/json; charset=utf-8' },
      payload: JSON.stringify(sampleOrder('CC0040')),
    });
    assert.equal(plainJson.statusCode, 201);
    // GB18030 body, declared
    const gb = await c.app.inject({
      method: 'POST',
      url: '/fhir/ServiceRequest',
      headers: { authorization: 'Bearer chencun', 'content-type': 'application/fhir+json; charset=GB18030' },
      payload: iconv.encode(
        JSON.stringify({ ...sampleOrder('CC0041'), requester: { display: '𠀀医生' } }),
        'gb18030',
      ),
    });
    assert.equal(gb.statusCode, 201, gb.body);
    const gbExam = c.ris.exams.find((e) => e.accessionNumber === 'CC0041')!;
    assert.equal(gbExam.requestingPhysician, '𠀀医生');
    assert.equal(gbExam.examItems[0]?.name, '胸部CT平扫');
    const latin = await c.app.inject({
      method: 'POST',
      url: '/fhir/ServiceRequest',
      headers: { authorization: 'Bearer chencun', 'content-type': 'application/fhir+json; charset=big5' },
      payload: '{}',
    });
    assert.equal(latin.statusCode, 415);
    const big = await call(c, 'POST', '/fhir/ServiceRequest', 'chencun', {
      ...sampleOrder('CC0042'),
      note: [{ text: 'x'.repeat(70 * 1024) }],
    });
    assert.equal(big.status, 413);
    assert.deepEqual(outcome(big.json).codes, ['too-costly']);
    for (const [m, u] of [
      ['GET', '/fhir/Observation/1'],
      ['POST', '/fhir/Observation'],
      ['GET', '/fhir'],
      ['GET', '/fhir/ServiceRequest/1/$everything'],
      ['PATCH', '/fhir/ServiceRequest/1'],
    ] as const) {
      const noRoute = await call(c, m as 'GET', u, 'chencun');
      assert.equal(noRoute.status, 404, `${m} ${u}`);
      assert.equal(noRoute.json?.resourceType, 'OperationOutcome');
    }
    const xmlAccept = await call(c, 'GET', '/fhir/metadata', undefined, undefined, {
      accept: 'application/fhir+xml',
    });
    assert.equal(xmlAccept.status, 406);
    const badId = await call(c, 'GET', '/fhir/ServiceRequest/abc', 'chencun');
    assert.equal(badId.status, 404);
  });

  test('validation errors name the element paths', async () => {
    const o = sampleOrder('CC0050');
    delete o.subject;
    delete o.category;
    const r = await call(c, 'POST', '/fhir/ServiceRequest', 'chencun', o);
    assert.equal(r.status, 400);
    const oo = outcome(r.json);
    assert.deepEqual(oo.paths, ['ServiceRequest.subject', 'ServiceRequest.category']);
    assert.match(oo.text, /缺少设备类型/);
    const ref = await call(c, 'POST', '/fhir/ServiceRequest', 'chencun', {
      ...sampleOrder('CC0051'),
      subject: { reference: 'Patient/9999' },
    });
    assert.equal(ref.status, 422);
    assert.deepEqual(outcome(ref.json).paths, ['ServiceRequest.subject.reference']);
  });

  test('Patient: create, read, search, update with If-Match, and orders referencing it', async () => {
    const p = {
      resourceType: 'Patient',
      identifier: [{ system: 'urn:huiying:hospital:CHENCUN:patient-id', value: 'P7001' }],
      name: [
        {
          use: 'official',
          text: '王小明',
          family: '王',
          given: ['小明'],
          extension: [{ url: EXT_NAME_REPRESENTATION, valueCode: 'IDE' }],
        },
        {
          use: 'official',
          family: 'Wang',
          given: ['Xiaoming'],
          extension: [{ url: EXT_NAME_REPRESENTATION, valueCode: 'ABC' }],
        },
      ],
      gender: 'female',
      birthDate: '1985-07-01',
      telecom: [{ system: 'phone', value: '13912345678' }],
    };
    const created = await call(c, 'POST', '/fhir/Patient', 'chencun', p);
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const pat = created.json as unknown as Patient;
    assert.equal(c.ris.patients.find((x) => x.patientId === 'P7001')?.name, 'Wang^Xiaoming=王^小明');
    assert.equal(pat.name?.[0]?.text, '王小明');
    assert.equal(pat.name?.[1]?.text, 'Wang Xiaoming');
    assert.equal(pat.gender, 'female');
    assert.equal(pat.birthDate, '1985-07-01');
    assert.deepEqual(pat.telecom, [{ system: 'phone', value: '13912345678' }]);
    assert.equal(pat.managingOrganization?.display, '陈村医院');
    const again = await call(c, 'POST', '/fhir/Patient', 'chencun', p);
    assert.equal(again.status, 200, 'a known identifier updates');
    assert.equal(again.json?.id, pat.id);

    const read = await call(c, 'GET', `/fhir/Patient/${pat.id}`, 'chencun');
    assert.equal(read.status, 200);
    const search = await call(
      c,
      'GET',
      '/fhir/Patient?identifier=urn:huiying:hospital:CHENCUN:patient-id|P7001',
      'chencun',
    );
    assert.equal((search.json as unknown as Bundle).total, 1);
    const none = await call(
      c,
      'GET',
      '/fhir/Patient?identifier=urn:huiying:hospital:CHENCUN:patient-id|P7001',
      'lecong',
    );
    assert.equal((none.json as unknown as Bundle).total, 0);
    assert.equal((await call(c, 'GET', '/fhir/Patient', 'chencun')).status, 400);
    assert.equal((await call(c, 'GET', `/fhir/Patient?_id=${pat.id}`, 'center')).json?.total, 1);

    const version = String(read.headers.etag);
    const upd = await call(
      c,
      'PUT',
      `/fhir/Patient/${pat.id}`,
      'chencun',
      { ...p, id: pat.id, telecom: [{ system: 'phone', value: '13700000000' }] },
      { 'if-match': version },
    );
    assert.equal(upd.status, 200);
    assert.equal(c.ris.patients.find((x) => x.patientId === 'P7001')?.phone, '13700000000');
    const stale = await call(
      c,
      'PUT',
      `/fhir/Patient/${pat.id}`,
      'chencun',
      { ...p, id: pat.id },
      { 'if-match': version },
    );
    assert.equal(stale.status, 412);
    const newId = await call(c, 'PUT', `/fhir/Patient/${pat.id}`, 'chencun', {
      ...p,
      id: pat.id,
      identifier: [{ system: 'urn:huiying:hospital:CHENCUN:patient-id', value: 'P7002' }],
    });
    assert.equal(newId.status, 422);
    assert.equal(
      (await call(c, 'PUT', `/fhir/Patient/${pat.id}`, 'lecong', { ...p, id: pat.id })).status,
      404,
    );
    assert.equal(
      (await call(c, 'PUT', `/fhir/Patient/${pat.id}`, 'auditor', { ...p, id: pat.id })).status,
      403,
    );

    // an order referencing the Patient, then one by identifier
    const byRef = await call(c, 'POST', '/fhir/ServiceRequest', 'chencun', {
      ...sampleOrder('CC0060'),
      contained: undefined,
      subject: { reference: `Patient/${pat.id}` },
    });
    assert.equal(byRef.status, 201, JSON.stringify(byRef.json));
    assert.equal(c.ris.exams.find((e) => e.accessionNumber === 'CC0060')?.patient.patientId, 'P7001');
    assert.equal((byRef.json as unknown as ServiceRequest).subject?.display, '王小明');
    const byIdent = await call(c, 'POST', '/fhir/ServiceRequest', 'chencun', {
      ...sampleOrder('CC0061'),
      contained: undefined,
      subject: { identifier: { system: 'urn:huiying:hospital:CHENCUN:patient-id', value: 'P7001' } },
    });
    assert.equal(byIdent.status, 201);
    const unknownIdent = await call(c, 'POST', '/fhir/ServiceRequest', 'chencun', {
      ...sampleOrder('CC0062'),
      contained: undefined,
      subject: { identifier: { value: 'NOPE' } },
    });
    assert.equal(unknownIdent.status, 422);
    // LECONG may not order for CHENCUN's patient
    const cross = await call(c, 'POST', '/fhir/ServiceRequest', 'center', {
      ...sampleOrder('LC0063', 'LECONG'),
      contained: undefined,
      subject: { reference: `Patient/${pat.id}` },
    });
    assert.equal(cross.status, 422);
    const bad = await call(c, 'POST', '/fhir/Patient', 'chencun', { resourceType: 'Patient', gender: 'x' });
    assert.equal(bad.status, 400);
    assert.deepEqual(outcome(bad.json).paths, ['Patient.identifier', 'Patient.name', 'Patient.gender']);
  });

  test('reads are refused (503) while the audit trail cannot record; writes go on', async () => {
    c.auditOk.value = false;
    try {
      const r = await call(c, 'GET', '/fhir/ServiceRequest/1', 'center');
      assert.equal(r.status, 503);
      assert.deepEqual(outcome(r.json).codes, ['transient']);
      const w = await call(c, 'POST', '/fhir/ServiceRequest', 'chencun', sampleOrder('CC0070'));
      assert.equal(w.status, 201);
      assert.equal((await call(c, 'GET', '/fhir/metadata')).status, 200);
    } finally {
      c.auditOk.value = true;
    }
  });
});

describe('FHIR endpoint over a real socket', () => {
  test('UTF-8 and GB18030 bodies keep Chinese text; Prefer return=minimal', async () => {
    const c = await build();
    try {
      await c.app.listen({ port: 0, host: '127.0.0.1' });
      const addr = c.app.server.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      const base = `http://127.0.0.1:${port}/fhir`;
      const post = (body: Buffer | string, charset: string, prefer?: string) =>
        fetch(`${base}/ServiceRequest`, {
          method: 'POST',
          headers: {
            authorization: 'Bearer chencun',
            'content-type': `application/fhir+json; charset=${charset}`,
            ...(prefer !== undefined ? { prefer } : {}),
          },
          body,
        });
      const r1 = await post(JSON.stringify(sampleOrder('NET001')), 'utf-8');
      assert.equal(r1.status, 201);
      const sr = (await r1.json()) as ServiceRequest;
      assert.equal(sr.code?.text, '胸部CT平扫、上腹部CT平扫');
      const r2 = await post(
        iconv.encode(JSON.stringify(sampleOrder('NET002')), 'gbk'),
        'GBK',
        'return=minimal',
      );
      assert.equal(r2.status, 201);
      assert.equal(await r2.text(), '');
      assert.match(r2.headers.get('location') ?? '', /\/fhir\/ServiceRequest\/\d+\/_history\/1$/);
      const g = await fetch(`${base}/ServiceRequest?identifier=NET002`, {
        headers: { authorization: 'Bearer chencun' },
      });
      const b = (await g.json()) as Bundle<ServiceRequest>;
      assert.equal(b.entry?.[0]?.resource?.subject?.display, '张三');
      assert.equal(b.entry?.[0]?.resource?.note?.[0]?.text, '病史：咳嗽两周，发热三天');
      const un = await fetch(`${base}/ServiceRequest/1`);
      assert.equal(un.status, 401);
      assert.ok(un.headers.get('www-authenticate') !== null);
    } finally {
      await c.app.close();
    }
  });
});
