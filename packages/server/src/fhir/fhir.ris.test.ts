/**
 * The FHIR endpoint over the real workflow service (ris/service.ts), API tokens, access policy and audit
 * trail, on SQLite and PostgreSQL: Chinese text survives the database, versions come from the exam,
 * idempotency, optimistic locking, cancel/re-register, search and scope.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import iconv from 'iconv-lite';
import type { Bundle, OperationOutcome, Patient, ServiceRequest } from '@medplum/fhirtypes';
import { openArchive, type Archive } from '../app.ts';
import { loadConfig } from '../config/config.ts';
import { silentLog } from '../logger.ts';
import { createTestPostgresDatabase, needPostgres } from '../db/test-databases.ts';
import { createHttpScopeResolver } from '../access/scope.ts';
import { hashPassword } from '../accounts/passwords.ts';
import { registerFhir } from './plugin.ts';
import { sampleOrder } from './test-fixtures.ts';

const pgSkip = await needPostgres();

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(
    `FHIR over the workflow service (${dialect})`,
    { skip: dialect === 'postgres' ? pgSkip : false },
    () => {
      let dir: string;
      let archive: Archive;
      let dropPg: (() => Promise<void>) | undefined;
      let app: FastifyInstance;
      let base: string;
      const tokens: Record<string, string> = {};

      before(async () => {
        dir = await mkdtemp(join(tmpdir(), 'huiying-fhir-'));
        let databaseUrl: string | undefined;
        if (dialect === 'postgres') {
          const pg = await createTestPostgresDatabase();
          databaseUrl = pg.url;
          dropPg = pg.drop;
        }
        archive = await openArchive(
          loadConfig({
            HUIYING_DATA_DIR: join(dir, 'data'),
            HUIYING_WORKFLOW_TICK_MS: '0',
            HUIYING_SYNC_MODE: 'normal',
            ...(databaseUrl !== undefined ? { HUIYING_DATABASE_URL: databaseUrl } : {}),
          }),
          silentLog,
        );
        const center = await archive.hospitals.create({
          code: 'CENTER',
          name: '区域医学影像诊断中心',
          isCenter: true,
        });
        const chencun = await archive.hospitals.create({
          code: 'CHENCUN',
          name: '陈村医院',
          defaultCharset: 'GB18030',
        });
        const lecong = await archive.hospitals.create({ code: 'LECONG', name: '乐从医院' });
        for (const [k, h] of [
          ['center', center],
          ['chencun', chencun],
          ['lecong', lecong],
        ] as const)
          tokens[k] = (await archive.tokens.create(h.id, `${k}-his`)).token;
        app = Fastify({ logger: false });
        await registerFhir(app, {
          ris: archive.ris,
          hospitals: archive.hospitals,
          resolveCaller: createHttpScopeResolver({
            tokens: archive.tokens,
            hospitals: archive.hospitals,
            sessions: archive.accounts,
            passwords: archive.accounts,
          }),
          audit: archive.audit,
          log: silentLog,
        });
        await app.listen({ port: 0, host: '127.0.0.1' });
        const addr = app.server.address();
        base = `http://127.0.0.1:${typeof addr === 'object' && addr !== null ? addr.port : 0}/fhir`;
      });

      after(async () => {
        await app?.close();
        await archive?.close();
        await dropPg?.();
        await rm(dir, { recursive: true, force: true });
      });

      async function call(
        method: string,
        path: string,
        who: string | undefined,
        body?: unknown,
        headers: Record<string, string> = {},
      ): Promise<{ status: number; headers: Headers; json: Record<string, unknown> | undefined }> {
        const r = await fetch(`${base}${path}`, {
          method,
          headers: {
            ...(who !== undefined ? { authorization: `Bearer ${tokens[who]}` } : {}),
            ...(body !== undefined ? { 'content-type': 'application/fhir+json' } : {}),
            ...headers,
          },
          ...(body !== undefined ? { body: Buffer.isBuffer(body) ? body : JSON.stringify(body) } : {}),
        });
        const text = await r.text();
        return {
          status: r.status,
          headers: r.headers,
          json: text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>),
        };
      }

      it('create, read back with Chinese text intact from the database, idempotent repeat, 409 on a clash', async () => {
        const created = await call('POST', '/ServiceRequest', 'chencun', sampleOrder('FH0001'));
        assert.equal(created.status, 201, JSON.stringify(created.json));
        const sr = created.json as unknown as ServiceRequest;
        assert.equal(created.headers.get('etag'), 'W/"1"');
        const exam = await archive.ris.getExam(Number(sr.id), { kind: 'all' });
        assert.equal(exam.source, 'fhir');
        assert.equal(exam.patient.name, '张三');
        assert.equal(exam.patient.issuer, 'CHENCUN');
        assert.deepEqual(exam.examItems, [
          { code: 'CT0012', name: '胸部CT平扫' },
          { code: 'CT0031', name: '上腹部CT平扫' },
        ]);
        assert.equal(exam.clinicalHistory, '咳嗽两周，发热三天');
        assert.equal(exam.symptoms, '胸闷、气促');
        assert.equal(exam.requestingDepartment, '呼吸内科');
        assert.equal(exam.priority, 'emergency');
        assert.equal(exam.patientClass, 'inpatient');
        assert.equal(exam.scheduledAt, '2026-11-26T01:30:00.000Z');

        const read = await call('GET', `/ServiceRequest/${sr.id}`, 'chencun');
        assert.equal(read.status, 200);
        const back = read.json as unknown as ServiceRequest;
        assert.equal(back.code?.text, '胸部CT平扫、上腹部CT平扫');
        assert.equal(back.subject?.display, '张三');
        assert.equal(back.reasonCode?.[0]?.text, '肺部感染？');
        assert.equal(back.note?.[0]?.text, '病史：咳嗽两周，发热三天');
        assert.equal(back.bodySite?.[0]?.coding?.[0]?.code, 'CHEST');
        assert.equal(back.meta?.versionId, '1');

        const repeat = await call('POST', '/ServiceRequest', 'chencun', sampleOrder('FH0001'));
        assert.equal(repeat.status, 200);
        assert.equal(repeat.json?.id, sr.id);
        const clash = await call('POST', '/ServiceRequest', 'chencun', {
          ...sampleOrder('FH0001'),
          priority: 'routine',
        });
        assert.equal(clash.status, 409);
        assert.equal((clash.json as unknown as OperationOutcome).issue[0]?.code, 'duplicate');

        // a GB18030 body from an older HIS
        const gb = await call(
          'POST',
          '/ServiceRequest',
          'chencun',
          iconv.encode(
            JSON.stringify({ ...sampleOrder('FH0002'), requester: { display: '欧阳医生' } }),
            'gb18030',
          ),
          { 'content-type': 'application/fhir+json; charset=gb18030' },
        );
        assert.equal(gb.status, 201, JSON.stringify(gb.json));
        assert.equal(
          (await archive.ris.findExamByAccession(exam.hospitalId, 'FH0002'))?.requestingPhysician,
          '欧阳医生',
        );
      });

      it('update with If-Match (version from the exam), 412 when stale, cancel and re-register', async () => {
        const created = await call('POST', '/ServiceRequest', 'chencun', sampleOrder('FH0010'));
        const id = String(created.json?.id);
        const body = {
          ...sampleOrder('FH0010'),
          id,
          priority: 'routine',
          note: [{ text: '病史：糖尿病五年' }],
        };
        const u = await call('PUT', `/ServiceRequest/${id}`, 'chencun', body, { 'if-match': 'W/"1"' });
        assert.equal(u.status, 200, JSON.stringify(u.json));
        assert.equal(u.headers.get('etag'), 'W/"2"');
        const exam = await archive.ris.getExam(Number(id), { kind: 'all' });
        assert.equal(exam.priority, 'routine');
        assert.equal(exam.clinicalHistory, '糖尿病五年');
        assert.equal(exam.version, 2);
        const stale = await call(
          'PUT',
          `/ServiceRequest/${id}`,
          'chencun',
          { ...body, priority: 'stat' },
          { 'if-match': 'W/"1"' },
        );
        assert.equal(stale.status, 412);

        const cancel = await call('PUT', `/ServiceRequest/${id}`, 'chencun', { ...body, status: 'revoked' });
        assert.equal(cancel.status, 200, JSON.stringify(cancel.json));
        assert.equal(cancel.json?.status, 'revoked');
        assert.equal((await archive.ris.getExam(Number(id), { kind: 'all' })).status, 'cancelled');
        const changeCancelled = await call('PUT', `/ServiceRequest/${id}`, 'chencun', {
          ...body,
          status: 'revoked',
          priority: 'stat',
        });
        assert.equal(changeCancelled.status, 422);
        const react = await call('PUT', `/ServiceRequest/${id}`, 'chencun', { ...body, status: 'active' });
        assert.equal(react.status, 200, JSON.stringify(react.json));
        assert.equal((await archive.ris.getExam(Number(id), { kind: 'all' })).status, 'registered');
      });

      it('concurrent updates on the same version: exactly one wins, the other gets 412', async () => {
        const created = await call('POST', '/ServiceRequest', 'chencun', sampleOrder('FH0030'));
        const id = String(created.json?.id);
        const put = (priority: string) =>
          call(
            'PUT',
            `/ServiceRequest/${id}`,
            'chencun',
            { ...sampleOrder('FH0030'), id, priority, requester: { display: priority } },
            {
              'if-match': 'W/"1"',
            },
          );
        const results = await Promise.all([put('routine'), put('urgent')]);
        assert.deepEqual(results.map((r) => r.status).sort(), [200, 412]);
        const exam = await archive.ris.getExam(Number(id), { kind: 'all' });
        assert.equal(exam.version, 2);
        const winner = results.find((r) => r.status === 200)!;
        assert.equal((winner.json as unknown as ServiceRequest).requester?.display, exam.requestingPhysician);
      });

      it('HTTP Basic service accounts: a technologist writes, an auditor-only account is refused', async () => {
        const chencun = (await archive.hospitals.byCode('CHENCUN'))!;
        const pw = 'Fhir-Service-2026!';
        for (const [username, roles] of [
          ['cc-his', ['member_technologist']],
          ['cc-audit', ['auditor']],
        ] as const) {
          const { user } = await archive.accounts.createUser('system', {
            username,
            displayName: username,
            hospitalId: chencun.id,
            roles: [...roles],
          });
          await archive.accounts.users.setPassword(user.id, await hashPassword(pw), false, new Date());
        }
        const basic = (u: string) => ({
          authorization: `Basic ${Buffer.from(`${u}:${pw}`).toString('base64')}`,
        });
        const ok = await call('POST', '/ServiceRequest', undefined, sampleOrder('FH0040'), basic('cc-his'));
        assert.equal(ok.status, 201, JSON.stringify(ok.json));
        const exam = await archive.ris.findExamByAccession(chencun.id, 'FH0040');
        const events = await archive.ris.history(exam!.id, { kind: 'all' });
        assert.equal(events[0]?.actor, 'cc-his');
        const refused = await call(
          'POST',
          '/ServiceRequest',
          undefined,
          sampleOrder('FH0041'),
          basic('cc-audit'),
        );
        assert.equal(refused.status, 401);
        const wrong = await call('GET', `/ServiceRequest/${String(ok.json?.id)}`, undefined, undefined, {
          authorization: `Basic ${Buffer.from('cc-his:wrong').toString('base64')}`,
        });
        assert.equal(wrong.status, 401);
      });

      it('search and scope: hospital A’s order is invisible to B (404), visible to the center', async () => {
        const created = await call('POST', '/ServiceRequest', 'chencun', sampleOrder('FH0020'));
        const sr = created.json as unknown as ServiceRequest;
        const found = await call(
          'GET',
          '/ServiceRequest?identifier=urn:huiying:hospital:CHENCUN:accession|FH0020',
          'chencun',
        );
        assert.equal((found.json as unknown as Bundle).total, 1);
        const bare = await call('GET', '/ServiceRequest?identifier=FH0020', 'center');
        assert.equal((bare.json as unknown as Bundle).total, 1);
        const pid = sr.subject?.reference?.split('/')[1];
        const byPatient = await call(
          'GET',
          `/ServiceRequest?patient=${pid}&status=active&_include=ServiceRequest:patient`,
          'chencun',
        );
        const pb = byPatient.json as unknown as Bundle;
        assert.ok((pb.total ?? 0) >= 2, `total ${pb.total}`);
        assert.equal(pb.entry?.filter((e) => e.search?.mode === 'include').length, 1);
        const modality = await call('GET', '/ServiceRequest?category=CT&_count=1', 'chencun');
        assert.equal((modality.json as unknown as Bundle).entry?.length, 1);

        assert.equal((await call('GET', `/ServiceRequest/${sr.id}`, 'lecong')).status, 404);
        assert.equal((await call('GET', `/Patient/${pid}`, 'lecong')).status, 404);
        const lsearch = await call('GET', '/ServiceRequest?identifier=FH0020', 'lecong');
        assert.equal((lsearch.json as unknown as Bundle).total, 0);
        assert.equal(
          (await call('PUT', `/ServiceRequest/${sr.id}`, 'lecong', { ...sampleOrder('FH0020'), id: sr.id }))
            .status,
          404,
        );
        assert.equal(
          (await call('POST', '/ServiceRequest', 'lecong', sampleOrder('FH0021', 'CHENCUN'))).status,
          403,
        );
        assert.equal((await call('GET', `/ServiceRequest/${sr.id}`, 'center')).status, 200);
        const un = await call('GET', `/ServiceRequest/${sr.id}`, undefined);
        assert.equal(un.status, 401);
        assert.match(un.headers.get('www-authenticate') ?? '', /Bearer/);
      });

      it('Patient create/read/search/update through the workflow; every access audited', async () => {
        const p = {
          resourceType: 'Patient',
          identifier: [{ system: 'urn:huiying:hospital:LECONG:patient-id', value: 'LC9001' }],
          name: [{ text: '欧阳娜娜' }, { family: 'Ouyang', given: ['Nana'] }],
          gender: 'female',
          birthDate: '1992-02-29',
        };
        const c = await call('POST', '/Patient', 'lecong', p);
        assert.equal(c.status, 201, JSON.stringify(c.json));
        const pat = c.json as unknown as Patient;
        const rec = await archive.ris.getPatient(Number(pat.id), { kind: 'all' });
        assert.equal(rec.name, 'Ouyang^Nana=欧阳娜娜');
        assert.equal(rec.birthDate, '19920229');
        const read = await call('GET', `/Patient/${pat.id}`, 'lecong');
        const rp = read.json as unknown as Patient;
        assert.equal(rp.name?.[0]?.text, '欧阳娜娜');
        assert.equal(rp.name?.[0]?.family, '欧阳');
        assert.equal(rp.name?.[1]?.text, 'Ouyang Nana');
        const s = await call(
          'GET',
          '/Patient?identifier=urn:huiying:hospital:LECONG:patient-id|LC9001',
          'lecong',
        );
        assert.equal((s.json as unknown as Bundle).total, 1);
        const upd = await call(
          'PUT',
          `/Patient/${pat.id}`,
          'lecong',
          { ...p, id: pat.id, telecom: [{ system: 'phone', value: '13600000000' }] },
          {
            'if-match': read.headers.get('etag') ?? '',
          },
        );
        assert.equal(upd.status, 200, JSON.stringify(upd.json));
        assert.equal((await archive.ris.getPatient(Number(pat.id), { kind: 'all' })).phone, '13600000000');
        const order = await call('POST', '/ServiceRequest', 'lecong', {
          ...sampleOrder('LC0001', 'LECONG'),
          contained: undefined,
          subject: { reference: `Patient/${pat.id}` },
        });
        assert.equal(order.status, 201, JSON.stringify(order.json));
        assert.equal((order.json as unknown as ServiceRequest).subject?.display, '欧阳娜娜');

        await archive.audit.flush();
        const events = await archive.audit.search({ patientId: 'LC9001', limit: 100 });
        const actions = events.map((e) => e.action);
        for (const a of ['fhir_create', 'fhir_read', 'fhir_search', 'fhir_update'])
          assert.ok(actions.includes(a), `${a} in ${actions.join(', ')}`);
        const fhirEvents = events.filter((e) => e.action.startsWith('fhir_'));
        assert.ok(fhirEvents.every((e) => e.protocol === 'fhir' && e.actorType === 'api_token'));
        assert.ok(actions.includes('order_placed'), 'the workflow audits the order itself');
      });
    },
  );
}
