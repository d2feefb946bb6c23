/**
 * The workflow REST API over HTTP on a real server: who may do what (member technologist, center
 * radiologists of two grades, auditor, hospital admin, nobody), scoping, CSRF, validation answers, and the
 * live event stream scoped to the caller's hospital.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../testing/test-server.ts';
import { callAs, userSession, type Session } from '../testing/http-session.ts';
import type { Grade, Role } from '../accounts/model.ts';
import { openSse } from '../events/sse-client.ts';
import type { Exam } from '../ris/model.ts';

const ADMIN_PW = 'Initial-Chushi-2025';
const PW = 'Huiying-Test-2025';

describe('workflow REST API over HTTP', () => {
  let srv: TestServer;
  let base: string;
  let tech: Session; // 陈村 technologist
  let techX: Session; // 杏坛 technologist
  let resident: Session;
  let resident2: Session;
  let attending: Session;
  let auditor: Session;
  let hadmin: Session; // 陈村 hospital admin
  let chencunId: number;
  let xingtanId: number;
  let attendingId: number;

  const call = (s: Session | undefined, method: string, path: string, body?: unknown, csrf = true) =>
    callAs(base, s, method, path, body, csrf);
  const user = async (username: string, hospital: string, roles: Role[], grade?: Grade) => {
    const u = await userSession(srv, username, hospital, roles, {
      password: PW,
      ...(grade !== undefined ? { grade } : {}),
    });
    return { s: u.session, id: u.id };
  };

  const form = (o: Record<string, unknown> = {}) => ({
    patient: { patientId: 'CC1001', name: '张三', sex: 'M', birthDate: '1980-01-01' },
    examItems: [{ name: '胸部CT平扫' }],
    modality: 'CT',
    bodyPart: 'CHEST',
    priority: 'routine',
    patientClass: 'outpatient',
    clinicalHistory: '咳嗽两周',
    ...o,
  });

  before(async () => {
    const prev = process.env.HUIYING_ADMIN_PASSWORD;
    process.env.HUIYING_ADMIN_PASSWORD = ADMIN_PW;
    try {
      srv = await startTestServer();
    } finally {
      if (prev === undefined) delete process.env.HUIYING_ADMIN_PASSWORD;
      else process.env.HUIYING_ADMIN_PASSWORD = prev;
    }
    base = `http://127.0.0.1:${srv.httpPort}`;
    chencunId = (await srv.hospital('CHENCUN', { name: '陈村医院' })).id;
    xingtanId = (await srv.hospital('XINGTAN', { name: '杏坛医院' })).id;
    const center = (await srv.server.archive.hospitals.list()).find((h) => h.isCenter);
    assert.ok(center !== undefined);
    tech = (await user('tech1', 'CHENCUN', ['member_technologist'])).s;
    techX = (await user('techx', 'XINGTAN', ['member_technologist'])).s;
    resident = (await user('res1', center.code, ['center_radiologist'], 'resident')).s;
    resident2 = (await user('res2', center.code, ['center_radiologist'], 'resident')).s;
    const att = await user('att1', center.code, ['center_radiologist'], 'attending');
    attending = att.s;
    attendingId = att.id;
    auditor = (await user('aud1', center.code, ['auditor'])).s;
    hadmin = (await user('hadm', 'CHENCUN', ['hospital_admin'])).s;
  });

  after(async () => {
    await srv?.stop();
  });

  test('registration form: own hospital only; generated accession; validation is problem+json', async () => {
    const r = await call(tech, 'POST', '/api/orders', form());
    assert.equal(r.status, 201, await r.clone().text());
    const { exam } = (await r.json()) as { exam: Exam };
    assert.equal(exam.hospitalId, chencunId);
    assert.equal(exam.source, 'form');
    assert.equal(exam.patient.birthDate, '19800101');
    assert.match(exam.accessionNumber, /^CHENCU/);
    assert.equal((await call(tech, 'POST', '/api/orders', form({ hospitalId: xingtanId }))).status, 403);
    const bad = await call(tech, 'POST', '/api/orders', form({ examItems: [] }));
    assert.equal(bad.status, 400);
    assert.equal(bad.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    assert.match(((await bad.json()) as { title: string }).title, /exam item/);
    assert.equal((await call(tech, 'POST', '/api/orders', form(), false)).status, 403, 'CSRF');
    assert.equal((await call(undefined, 'POST', '/api/orders', form())).status, 401);
    assert.equal((await call(auditor, 'POST', '/api/orders', form({ hospitalId: chencunId }))).status, 403);
  });

  test('worklist and case page are scoped; counts; bad filters are 400', async () => {
    const x = (await (
      await call(techX, 'POST', '/api/orders', form({ patient: { patientId: 'XT9', name: '李四' } }))
    ).json()) as {
      exam: Exam;
    };
    const mine = (await (await call(tech, 'GET', '/api/exams')).json()) as { exams: Exam[]; total: number };
    assert.ok(mine.total >= 1);
    assert.ok(mine.exams.every((e) => e.hospitalId === chencunId));
    assert.equal((await call(tech, 'GET', `/api/exams/${x.exam.id}`)).status, 404);
    const page = (await (await call(techX, 'GET', `/api/exams/${x.exam.id}`)).json()) as {
      exam: Exam;
      history: unknown[];
      patientStudies: unknown[];
    };
    assert.equal(page.exam.patient.name, '李四');
    assert.equal(page.history.length, 1);
    const all = (await (await call(resident, 'GET', '/api/exams?center=1')).json()) as { exams: Exam[] };
    assert.ok(
      all.exams.some((e) => e.hospitalId === xingtanId) && all.exams.some((e) => e.hospitalId === chencunId),
    );
    const counts = (await (await call(auditor, 'GET', '/api/exams/counts')).json()) as {
      counts: Record<string, number>;
    };
    assert.ok((counts.counts.registered ?? 0) >= 2);
    for (const q of ['status=nope', 'limit=1000', 'from=yesterday', 'priority=high', 'modality=C%27T'])
      assert.equal((await call(resident, 'GET', `/api/exams?${q}`)).status, 400, q);
    // PHI access is audited: the case page every time, a worklist listing once a minute per query
    await call(resident, 'GET', '/api/exams?center=1');
    await srv.server.archive.audit.flush();
    const views = await srv.server.archive.audit.search({ action: 'view_exam' });
    assert.ok(views.some((v) => v.actorName === 'techx' && v.patientId === 'XT9'));
    const listings = await srv.server.archive.audit.search({ action: 'query_worklist', actor: 'res1' });
    assert.equal(listings.filter((l) => l.object === 'worklist center=1').length, 1);
  });

  test('claims: one reader; release by the reader or a senior; assign by an attending', async () => {
    const { exam } = (await (await call(tech, 'POST', '/api/orders', form())).json()) as { exam: Exam };
    assert.equal((await call(tech, 'POST', `/api/exams/${exam.id}/claim`)).status, 403);
    assert.equal((await call(resident, 'POST', `/api/exams/${exam.id}/claim`)).status, 200);
    const clash = await call(resident2, 'POST', `/api/exams/${exam.id}/claim`);
    assert.equal(clash.status, 409);
    assert.match(((await clash.json()) as { title: string }).title, /res1/);
    assert.equal((await call(resident2, 'POST', `/api/exams/${exam.id}/release`)).status, 403);
    assert.equal(
      (await call(resident2, 'POST', `/api/exams/${exam.id}/assign`, { userId: attendingId })).status,
      403,
    );
    const assigned = await call(attending, 'POST', `/api/exams/${exam.id}/assign`, { userId: attendingId });
    assert.equal(assigned.status, 200);
    assert.equal(((await assigned.json()) as { exam: Exam }).exam.assignedTo?.name, 'att1');
    const readers = (await (await call(attending, 'GET', '/api/readers')).json()) as {
      users: { name: string }[];
    };
    assert.deepEqual(readers.users.map((u) => u.name).sort(), ['att1', 'res1', 'res2']);
    assert.equal((await call(attending, 'POST', `/api/exams/${exam.id}/release`)).status, 200);
  });

  test('transitions: technologist marks examined; only the center returns; reported is not a user move', async () => {
    const { exam } = (await (await call(tech, 'POST', '/api/orders', form())).json()) as { exam: Exam };
    assert.equal(
      (await call(tech, 'POST', `/api/exams/${exam.id}/transition`, { to: 'reported' })).status,
      400,
    );
    const ex = await call(tech, 'POST', `/api/exams/${exam.id}/transition`, {
      to: 'examined',
      version: exam.version,
    });
    assert.equal(ex.status, 200, await ex.clone().text());
    assert.equal(
      (await call(tech, 'POST', `/api/exams/${exam.id}/transition`, { to: 'returned', reason: '图像不全' }))
        .status,
      403,
    );
    const stale = await call(resident, 'POST', `/api/exams/${exam.id}/transition`, {
      to: 'returned',
      reason: '图像不全',
      version: 1,
    });
    assert.equal(stale.status, 409);
    const ret = await call(resident, 'POST', `/api/exams/${exam.id}/transition`, {
      to: 'returned',
      reason: '图像不全',
    });
    assert.equal(ret.status, 200);
    const illegal = await call(tech, 'POST', `/api/exams/${exam.id}/transition`, { to: 'examined' });
    assert.equal(illegal.status, 409);
    assert.match(((await illegal.json()) as { title: string }).title, /returned to examined/);
  });

  test('policy: read in scope; edited by the hospital admin or a system admin; validated', async () => {
    const got = await call(hadmin, 'GET', `/api/admin/hospitals/${chencunId}/policy`);
    assert.equal(got.status, 200);
    const { policy } = (await got.json()) as { policy: Record<string, unknown> };
    assert.equal(policy.defaultLimitMinutes, 1440);
    assert.equal((await call(hadmin, 'GET', `/api/admin/hospitals/${xingtanId}/policy`)).status, 404);
    const put = await call(hadmin, 'PUT', `/api/admin/hospitals/${chencunId}/policy`, {
      ...policy,
      stableSeconds: 10,
    });
    assert.equal(put.status, 200, await put.clone().text());
    assert.equal(((await put.json()) as { policy: { stableSeconds: number } }).policy.stableSeconds, 10);
    assert.equal((await call(hadmin, 'PUT', `/api/admin/hospitals/${xingtanId}/policy`, policy)).status, 403);
    assert.equal(
      (await call(resident, 'PUT', `/api/admin/hospitals/${chencunId}/policy`, policy)).status,
      403,
    );
    assert.equal(
      (await call(hadmin, 'PUT', `/api/admin/hospitals/${chencunId}/policy`, { ...policy, review: 'maybe' }))
        .status,
      400,
    );
  });

  test('live events: a member hospital’s stream carries only its own exams; 401 without a session', async () => {
    const none = await openSse(`${base}/api/events`);
    assert.equal(none.status, 401);
    none.close();
    const stream = await openSse(`${base}/api/events`, { cookie: techX.cookie });
    assert.equal(stream.status, 200);
    try {
      await call(tech, 'POST', '/api/orders', form()); // 陈村: not for 杏坛
      const r = await call(
        techX,
        'POST',
        '/api/orders',
        form({ patient: { patientId: 'XT10', name: '王五' } }),
      );
      const { exam } = (await r.json()) as { exam: Exam };
      const m = await stream.next(5000);
      assert.equal(m.event, 'exam');
      const ev = JSON.parse(m.data) as { examId: number; hospitalId: number; status: string };
      assert.deepEqual(
        { examId: ev.examId, hospitalId: ev.hospitalId, status: ev.status },
        {
          examId: exam.id,
          hospitalId: xingtanId,
          status: 'registered',
        },
      );
    } finally {
      stream.close();
    }
  });
});
