import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../testing/test-server.ts';
import { callAs, loginSession, userSession, type Session } from '../testing/http-session.ts';
import type { Role } from '../accounts/model.ts';

const ADMIN_PW = 'Initial-Chushi-2025';
const PW = 'Huiying-Test-2025';

describe('admin REST API over HTTP', () => {
  let srv: TestServer;
  let base: string;
  let admin: Session;

  const login = (username: string, password: string): Promise<Session> =>
    loginSession(base, username, password);
  const call = (s: Session | undefined, method: string, path: string, body?: unknown, csrf = true) =>
    callAs(base, s, method, path, body, csrf);
  const user = async (username: string, hospital: string, roles: Role[]): Promise<Session> =>
    (await userSession(srv, username, hospital, roles, { password: PW })).session;

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
    const first = await login('admin', ADMIN_PW);
    // the first-run admin must change the password before using the admin API
    const blocked = await call(first, 'GET', '/api/admin/hospitals');
    assert.equal(blocked.status, 403);
    const ch = await call(first, 'POST', '/api/auth/change-password', {
      current: ADMIN_PW,
      next: 'Changed-Mima-2025!',
    });
    assert.equal(ch.status, 200, await ch.clone().text());
    admin = await login('admin', 'Changed-Mima-2025!');
  });

  after(async () => {
    await srv?.stop();
  });

  test('hospitals: list, create, update (system_admin); validation; CSRF', async () => {
    const list = (await (await call(admin, 'GET', '/api/admin/hospitals')).json()) as {
      hospitals: { code: string; isCenter: boolean }[];
    };
    assert.ok(list.hospitals.some((h) => h.isCenter));

    const created = await call(admin, 'POST', '/api/admin/hospitals', { code: 'CHENCUN', name: '陈村医院' });
    assert.equal(created.status, 201, await created.clone().text());
    const { hospital } = (await created.json()) as { hospital: { id: number; name: string } };
    assert.equal(hospital.name, '陈村医院');

    const dup = await call(admin, 'POST', '/api/admin/hospitals', { code: 'CHENCUN', name: 'x' });
    assert.equal(dup.status, 409);
    assert.match(dup.headers.get('content-type') ?? '', /problem\+json/);

    const bad = await call(admin, 'POST', '/api/admin/hospitals', { code: "x'; drop--", name: 'x' });
    assert.equal(bad.status, 400);
    const html = await call(admin, 'POST', '/api/admin/hospitals', { code: 'X1<b>', name: '<script>' });
    assert.equal(html.status, 400);

    const noCsrf = await call(admin, 'POST', '/api/admin/hospitals', { code: 'X2', name: 'x' }, false);
    assert.equal(noCsrf.status, 403);

    const upd = await call(admin, 'PATCH', `/api/admin/hospitals/${hospital.id}`, {
      name: '佛山市顺德区陈村医院',
      defaultCharset: 'GB18030',
    });
    assert.equal(upd.status, 200, await upd.clone().text());
    const u = (await upd.json()) as { hospital: { name: string; defaultCharset: string } };
    assert.equal(u.hospital.name, '佛山市顺德区陈村医院');
    assert.equal(u.hospital.defaultCharset, 'GB18030');

    const anon = await call(undefined, 'GET', '/api/admin/hospitals');
    assert.equal(anon.status, 401);
  });

  test('AEs and API tokens: system_admin anywhere, hospital_admin only its hospital', async () => {
    await srv.hospital('XINGTAN');
    const chencun = await srv.hospital('CHENCUN');
    const xingtan = await srv.hospital('XINGTAN');
    const ha = await user('cc-admin', 'CHENCUN', ['hospital_admin']);

    const own = await call(ha, 'POST', '/api/admin/aes', { aeTitle: 'CC_CT1', host: '10.0.0.5', port: 104 });
    assert.equal(own.status, 201, await own.clone().text());
    const other = await call(ha, 'POST', '/api/admin/aes', { aeTitle: 'XT_CT1', hospitalId: xingtan.id });
    assert.equal(other.status, 403);
    const byAdmin = await call(admin, 'POST', '/api/admin/aes', {
      aeTitle: 'XT_CT1',
      hospitalId: xingtan.id,
    });
    assert.equal(byAdmin.status, 201);
    const dupAe = await call(admin, 'POST', '/api/admin/aes', { aeTitle: 'XT_CT1', hospitalId: xingtan.id });
    assert.equal(dupAe.status, 409);

    const haList = (await (await call(ha, 'GET', '/api/admin/aes')).json()) as { aes: { aeTitle: string }[] };
    assert.deepEqual(
      haList.aes.map((a) => a.aeTitle),
      ['CC_CT1'],
    );
    assert.equal((await call(ha, 'DELETE', '/api/admin/aes/XT_CT1')).status, 403);
    assert.equal((await call(ha, 'DELETE', '/api/admin/aes/CC_CT1')).status, 204);
    assert.equal(await srv.server.archive.aes.byTitle('CC_CT1'), undefined);

    // tokens: shown once, usable for DICOMweb, revocable
    const t = await call(ha, 'POST', '/api/admin/tokens', { name: 'RIS 陈村' });
    assert.equal(t.status, 201, await t.clone().text());
    const tok = (await t.json()) as { token: string; record: { id: number; hospitalId: number } };
    assert.equal(tok.record.hospitalId, chencun.id);
    assert.match(tok.token, /^hy_/);
    const dw = await fetch(`${base}/dicomweb/studies`, { headers: { authorization: `Bearer ${tok.token}` } });
    assert.ok(dw.status === 200 || dw.status === 204, String(dw.status));
    const listed = (await (await call(ha, 'GET', '/api/admin/tokens')).json()) as {
      tokens: Record<string, unknown>[];
    };
    assert.equal(listed.tokens.length, 1);
    assert.equal(JSON.stringify(listed).includes(tok.token), false);

    const xt = (await (
      await call(admin, 'POST', '/api/admin/tokens', { name: 'XT', hospitalId: xingtan.id })
    ).json()) as { record: { id: number } };
    assert.equal((await call(ha, 'POST', `/api/admin/tokens/${xt.record.id}/revoke`)).status, 403);
    assert.equal((await call(ha, 'POST', `/api/admin/tokens/${tok.record.id}/revoke`)).status, 204);
    const after = await fetch(`${base}/dicomweb/studies`, {
      headers: { authorization: `Bearer ${tok.token}` },
    });
    assert.equal(after.status, 401);

    // hospital admins cannot add hospitals; clinicians cannot list AEs
    assert.equal((await call(ha, 'POST', '/api/admin/hospitals', { code: 'X3', name: 'x' })).status, 403);
    const clin = await user('cc-clin', 'CHENCUN', ['member_clinician']);
    assert.equal((await call(clin, 'GET', '/api/admin/aes')).status, 403);
    assert.equal((await call(clin, 'GET', '/api/admin/audit')).status, 403);
  });

  test('audit log: every admin change recorded; search with filters; CSV export; auditors only', async () => {
    const aud = await user('auditor1', 'CENTER', ['auditor']);
    const r = await call(aud, 'GET', '/api/admin/audit?action=admin_change&limit=500');
    assert.equal(r.status, 200, await r.clone().text());
    const { events } = (await r.json()) as {
      events: { action: string; outcome: string; object: string; detail: string }[];
    };
    const ops = events
      .filter((e) => e.outcome === 'success')
      .map((e) => JSON.parse(e.detail) as { op: string });
    for (const op of [
      'hospital.create',
      'hospital.update',
      'ae.create',
      'ae.delete',
      'token.create',
      'token.revoke',
    ])
      assert.ok(
        ops.some((o) => o.op === op),
        `${op} audited`,
      );
    assert.ok(
      events.some((e) => e.outcome === 'denied'),
      'refused attempts audited',
    );

    const denied = (await (
      await call(aud, 'GET', '/api/admin/audit?outcome=denied&actor=cc-admin')
    ).json()) as {
      events: { outcome: string; actorName: string }[];
    };
    assert.ok(denied.events.length > 0);
    assert.ok(denied.events.every((e) => e.outcome === 'denied' && e.actorName === 'cc-admin'));

    const future = (await (await call(aud, 'GET', '/api/admin/audit?from=2999-01-01T00:00:00Z')).json()) as {
      events: unknown[];
    };
    assert.equal(future.events.length, 0);
    assert.equal((await call(aud, 'GET', '/api/admin/audit?outcome=maybe')).status, 400);

    const csv = await call(aud, 'GET', '/api/admin/audit/export?action=admin_change');
    assert.equal(csv.status, 200);
    assert.match(csv.headers.get('content-type') ?? '', /text\/csv/);
    assert.match(csv.headers.get('content-disposition') ?? '', /attachment/);
    const textBody = await csv.text();
    assert.match(textBody.split('\r\n')[0] ?? '', /^id,at,/);
    assert.ok(textBody.includes('hospital:CHENCUN'));

    // auditors are read-only: no admin changes
    assert.equal((await call(aud, 'POST', '/api/admin/hospitals', { code: 'X4', name: 'x' })).status, 403);
  });
});
