import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { HuiyingError, httpStatusOf } from '../errors.ts';
import { needCommand } from '../testing/peers.ts';
import { openFixture, type Fixture } from './test-fixture.ts';
import { registerReportingRoutes } from './routes.ts';

const skip = needCommand('pdftotext');

/** the response bodies this test reads */
interface Body {
  may: { write: boolean; review: boolean; sign: boolean };
  report: { version: number; status: string; draft: { signedBy: unknown } };
  reviewRequired: boolean;
  title: string;
  header: { lines: string[] };
  signed: { kind: string };
  versions: { kind: string }[];
  impression: { op: string; text: string }[];
  modified: boolean;
  template: { id: number; name: string };
  templates: { name: string }[];
  phrases: { text: string }[];
  channel: { config: { authorization?: string }; hospitalId: number };
  entries: { id: number; channelKind: string; state: string }[];
}
const j = (r: { json(): unknown }): Body => r.json() as Body;

async function app(f: Fixture, kicks: { n: number }): Promise<FastifyInstance> {
  const a = Fastify({ logger: false });
  // the server's error mapping (http/server.ts)
  a.setErrorHandler((err, _req, reply) => {
    const status =
      err instanceof HuiyingError
        ? httpStatusOf(err.code)
        : typeof (err as { statusCode?: number }).statusCode === 'number'
          ? (err as { statusCode: number }).statusCode
          : 500;
    void reply
      .status(status)
      .type('application/problem+json')
      .send({ type: 'about:blank', title: err instanceof Error ? err.message : 'Error', status });
  });
  await registerReportingRoutes(a, {
    sessions: f.archive.accounts,
    hospitals: f.archive.hospitals,
    reporting: f.reporting,
    ris: f.ris,
    audit: f.archive.audit,
    db: f.archive.database.db,
    kickDelivery: () => {
      kicks.n++;
    },
  });
  return a;
}

test(
  'reporting REST: draft, CSRF, conflicts, submit, approve, versions, PDF, header, templates, outbox',
  { skip },
  async () => {
    const f = await openFixture('sqlite');
    const kicks = { n: 0 };
    const api = await app(f, kicks);
    const dir = await mkdtemp(join(tmpdir(), 'hy-rest-'));
    try {
      await f.setReview(f.chencun, 'resident');
      const exam = await f.matchedExam(f.chencun);
      const res = await f.login('resident');
      const att = await f.login('attending');
      const admin = await f.login('admin');
      const hadmin = await f.login('hadmin');
      const tech = await f.login('tech');
      const h = (s: { cookie: string; csrf: string }): Record<string, string> => ({
        cookie: s.cookie,
        'x-csrf-token': s.csrf,
      });
      const base = `/api/exams/${exam.id}/report`;

      let r = await api.inject({ method: 'GET', url: base, headers: { cookie: res.cookie } });
      assert.equal(r.statusCode, 200, r.body);
      assert.deepEqual(j(r).may, { write: true, review: false, sign: false });
      assert.equal(j(r).report, null);
      assert.equal(j(r).reviewRequired, true);

      // CSRF required on changes; not logged in → 401
      r = await api.inject({
        method: 'PUT',
        url: `${base}/draft`,
        headers: { cookie: res.cookie },
        payload: { findings: 'x' },
      });
      assert.equal(r.statusCode, 403);
      assert.equal(r.headers['content-type'], 'application/problem+json; charset=utf-8');
      r = await api.inject({ method: 'GET', url: base });
      assert.equal(r.statusCode, 401);
      // a technologist cannot write
      r = await api.inject({
        method: 'PUT',
        url: `${base}/draft`,
        headers: h(tech),
        payload: { findings: 'x' },
      });
      assert.equal(r.statusCode, 403);
      // fields outside the schema are dropped (a draft cannot be signed through the draft route)
      r = await api.inject({
        method: 'PUT',
        url: `${base}/draft`,
        headers: h(res),
        payload: { findings: 'x', signedBy: 1 },
      });
      assert.equal(r.statusCode, 200, r.body);
      assert.equal(j(r).report.status, 'draft');
      assert.equal(j(r).report.draft.signedBy, null);
      // a wrong type is refused
      r = await api.inject({
        method: 'PUT',
        url: `${base}/draft`,
        headers: h(res),
        payload: { version: 1, positive: 'ja' },
      });
      assert.equal(r.statusCode, 400);

      const findings = '腰椎生理曲度存在，L4/5椎间盘向后突出，硬膜囊受压。';
      r = await api.inject({
        method: 'PUT',
        url: `${base}/draft`,
        headers: h(res),
        payload: { version: 1, findings },
      });
      assert.equal(r.statusCode, 200, r.body);
      const v1 = j(r).report.version;
      r = await api.inject({
        method: 'POST',
        url: `${base}/submit`,
        headers: h(res),
        payload: { version: v1 },
      });
      assert.equal(r.statusCode, 400);
      assert.match(j(r).title, /诊断意见/);
      r = await api.inject({
        method: 'PUT',
        url: `${base}/draft`,
        headers: h(res),
        payload: { version: v1, impression: 'L4/5椎间盘突出。' },
      });
      assert.equal(r.statusCode, 200);
      const v2 = j(r).report.version;
      // a stale editor gets a clear conflict
      r = await api.inject({
        method: 'PUT',
        url: `${base}/draft`,
        headers: h(res),
        payload: { version: v1, impression: '旧' },
      });
      assert.equal(r.statusCode, 409);
      assert.match(j(r).title, /报告已被他人修改/);

      r = await api.inject({
        method: 'POST',
        url: `${base}/submit`,
        headers: h(res),
        payload: { version: v2 },
      });
      assert.equal(r.statusCode, 200, r.body);
      assert.equal(j(r).reviewRequired, true);
      const v3 = j(r).report.version;

      // preview PDF (unsigned, watermarked)
      r = await api.inject({ method: 'GET', url: `${base}/pdf`, headers: { cookie: att.cookie } });
      assert.equal(r.statusCode, 200);
      assert.equal(r.headers['content-type'], 'application/pdf');
      await writeFile(join(dir, 'p.pdf'), r.rawPayload);
      assert.match(
        execFileSync('pdftotext', [join(dir, 'p.pdf'), '-'], { encoding: 'utf8' }),
        /初步报告 · 未签发/,
      );

      // the administrator configures the hospital's header
      r = await api.inject({
        method: 'PUT',
        url: `/api/admin/hospitals/${f.chencun.id}/report-header`,
        headers: h(res),
        payload: { lines: ['x'], fields: [] },
      });
      assert.equal(r.statusCode, 403);
      r = await api.inject({
        method: 'PUT',
        url: `/api/admin/hospitals/${f.chencun.id}/report-header`,
        headers: h(hadmin),
        payload: {
          lines: ['佛山市顺德区陈村医院', '区域医学影像诊断中心', 'MR检查报告单'],
          fields: ['patientName', 'sex', 'accessionNumber'],
          footer: '请妥善保存',
          logoPngBase64: 'bm90IGEgcG5n',
        },
      });
      assert.equal(r.statusCode, 400);
      r = await api.inject({
        method: 'PUT',
        url: `/api/admin/hospitals/${f.chencun.id}/report-header`,
        headers: h(hadmin),
        payload: {
          lines: ['佛山市顺德区陈村医院', '区域医学影像诊断中心', 'MR检查报告单'],
          fields: ['patientName', 'sex', 'accessionNumber'],
          footer: '请妥善保存',
        },
      });
      assert.equal(r.statusCode, 200, r.body);
      r = await api.inject({
        method: 'GET',
        url: `/api/admin/hospitals/${f.chencun.id}/report-header`,
        headers: { cookie: att.cookie },
      });
      assert.deepEqual(j(r).header.lines, ['佛山市顺德区陈村医院', '区域医学影像诊断中心', 'MR检查报告单']);

      // the reviewer edits and signs
      r = await api.inject({
        method: 'POST',
        url: `${base}/approve`,
        headers: h(res),
        payload: { version: v3 },
      });
      assert.equal(r.statusCode, 403);
      r = await api.inject({
        method: 'POST',
        url: `${base}/approve`,
        headers: h(att),
        payload: { version: v3, impression: 'L4/5椎间盘突出（中央型）。' },
      });
      assert.equal(r.statusCode, 200, r.body);
      assert.equal(j(r).signed.kind, 'final');
      const v4 = j(r).report.version;
      // editing a signed report
      r = await api.inject({
        method: 'PUT',
        url: `${base}/draft`,
        headers: h(att),
        payload: { version: v4, findings: 'x' },
      });
      assert.equal(r.statusCode, 409);
      assert.match(j(r).title, /补充或更正/);

      r = await api.inject({ method: 'GET', url: `${base}/versions`, headers: { cookie: att.cookie } });
      assert.equal(r.statusCode, 200);
      assert.deepEqual(
        j(r).versions.map((v: { kind: string }) => v.kind),
        ['preliminary', 'final'],
      );
      r = await api.inject({
        method: 'GET',
        url: `${base}/diff?from=1&to=2`,
        headers: { cookie: att.cookie },
      });
      assert.ok(
        j(r).impression.some((p) => p.op === 'insert' && p.text === '（中央型）'),
        r.body,
      );
      r = await api.inject({ method: 'GET', url: `${base}/revision`, headers: { cookie: att.cookie } });
      assert.equal(j(r).modified, true);

      // the signed PDF with the configured header
      r = await api.inject({ method: 'GET', url: `${base}/pdf`, headers: { cookie: res.cookie } });
      assert.equal(r.statusCode, 200);
      await writeFile(join(dir, 's.pdf'), r.rawPayload);
      const txt = execFileSync('pdftotext', [join(dir, 's.pdf'), '-'], { encoding: 'utf8' });
      assert.match(txt, /佛山市顺德区陈村医院/);
      assert.match(txt, /MR检查报告单/);
      assert.ok(txt.replace(/\s+/g, '').includes(findings), txt);
      assert.ok(txt.includes('L4/5椎间盘突出（中央型）。'), txt);
      assert.ok(!txt.includes('未签发'));
      assert.ok(!txt.includes('病人编号'), 'fields follow the header configuration');

      // correction via REST needs a reason
      r = await api.inject({
        method: 'POST',
        url: `${base}/correction`,
        headers: h(att),
        payload: { version: v4, reason: '' },
      });
      assert.equal(r.statusCode, 400);

      // templates: personal for anyone, hospital for its administrator, center for system admins
      r = await api.inject({
        method: 'POST',
        url: '/api/report-templates',
        headers: h(res),
        payload: {
          scope: 'center',
          name: '胸部CT正常',
          modality: 'CT',
          bodyPart: 'CHEST',
          findings: '双肺纹理清晰。',
          impression: '胸部CT平扫未见异常。',
        },
      });
      assert.equal(r.statusCode, 403);
      r = await api.inject({
        method: 'POST',
        url: '/api/report-templates',
        headers: h(admin),
        payload: {
          scope: 'center',
          name: '胸部CT正常',
          modality: 'CT',
          bodyPart: 'CHEST',
          findings: '双肺纹理清晰。',
          impression: '胸部CT平扫未见异常。',
        },
      });
      assert.equal(r.statusCode, 201, r.body);
      r = await api.inject({
        method: 'POST',
        url: '/api/report-templates',
        headers: h(res),
        payload: {
          scope: 'personal',
          name: '我的头颅模板',
          modality: 'CT',
          bodyPart: 'HEAD',
          findings: '脑实质未见异常。',
          impression: '未见异常。',
        },
      });
      assert.equal(r.statusCode, 201);
      const mine = j(r).template.id;
      r = await api.inject({
        method: 'GET',
        url: '/api/report-templates?modality=CT&bodyPart=CHEST',
        headers: { cookie: res.cookie },
      });
      assert.deepEqual(
        j(r).templates.map((t: { name: string }) => t.name),
        ['胸部CT正常'],
      );
      r = await api.inject({
        method: 'GET',
        url: '/api/report-templates?modality=CT',
        headers: { cookie: att.cookie },
      });
      assert.deepEqual(
        j(r).templates.map((t: { name: string }) => t.name),
        ['胸部CT正常'],
        'personal templates are private',
      );
      r = await api.inject({ method: 'DELETE', url: `/api/report-templates/${mine}`, headers: h(att) });
      assert.equal(r.statusCode, 403);
      r = await api.inject({
        method: 'PATCH',
        url: `/api/report-templates/${mine}`,
        headers: h(res),
        payload: { name: '头颅CT正常' },
      });
      assert.equal(j(r).template.name, '头颅CT正常');
      r = await api.inject({
        method: 'POST',
        url: '/api/report-phrases',
        headers: h(res),
        payload: { category: '诊断意见', text: '建议结合临床。' },
      });
      assert.equal(r.statusCode, 201);
      r = await api.inject({ method: 'GET', url: '/api/report-phrases', headers: { cookie: res.cookie } });
      assert.deepEqual(
        j(r).phrases.map((p: { text: string }) => p.text),
        ['建议结合临床。'],
      );

      // delivery channels and the outbox: administrators only
      r = await api.inject({
        method: 'POST',
        url: '/api/admin/delivery/channels',
        headers: h(hadmin),
        payload: { kind: 'hl7', name: 'HIS', config: { host: 'his.local', port: 99999 } },
      });
      assert.equal(r.statusCode, 400);
      r = await api.inject({
        method: 'POST',
        url: '/api/admin/delivery/channels',
        headers: h(hadmin),
        payload: {
          kind: 'fhir',
          name: 'FHIR',
          config: { baseUrl: 'http://127.0.0.1:9/fhir', authorization: 'Bearer s3cret' },
        },
      });
      assert.equal(r.statusCode, 201, r.body);
      assert.equal(j(r).channel.config.authorization, '***');
      assert.equal(j(r).channel.hospitalId, f.chencun.id);
      r = await api.inject({
        method: 'GET',
        url: '/api/admin/delivery/outbox',
        headers: { cookie: res.cookie },
      });
      assert.equal(r.statusCode, 403);
      r = await api.inject({
        method: 'GET',
        url: '/api/admin/delivery/outbox?state=pending',
        headers: { cookie: hadmin.cookie },
      });
      assert.equal(r.statusCode, 200);
      const entries = j(r).entries as { id: number; channelKind: string; state: string }[];
      assert.deepEqual(
        entries.map((e) => [e.channelKind, e.state]),
        [['archive', 'pending']],
      );
      r = await api.inject({
        method: 'POST',
        url: `/api/admin/delivery/outbox/${entries[0]?.id}/retry`,
        headers: h(hadmin),
      });
      assert.equal(r.statusCode, 200);
      assert.equal(kicks.n, 1);

      // the audit trail has the report actions
      await f.archive.audit.flush();
      const actions = (
        await f.archive.database.db.selectFrom('audit_events').select(['action', 'outcome']).execute()
      ).map((e) => `${e.action}:${e.outcome}`);
      for (const a of [
        'report_submit:success',
        'report_sign:success',
        'report_sign:denied',
        'report_export:success',
      ])
        assert.ok(actions.includes(a), `${a} in ${actions.join(',')}`);
    } finally {
      await api.close();
      await f.close();
      await rm(dir, { recursive: true, force: true });
    }
  },
);
