import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeInstance, makeUid } from '@huiying/dicom/testing';
import { startTestServer, type TestServer } from '../testing/test-server.ts';
import { createTestDatabase, pgSkipReason, type TestDatabase } from '../testing/pg.ts';
import type { Role } from './model.ts';
import { hashPassword } from './passwords.ts';
import { LOCKOUT_MS, SESSION_ABSOLUTE_MS, SESSION_IDLE_MS } from './service.ts';

const PW = 'Huiying-Test-2025';

interface Session {
  cookie: string;
  csrf: string;
  setCookie: string;
  body: Record<string, unknown>;
}

/** The same flows on the embedded SQLite index and on PostgreSQL. */
function suite(kind: 'sqlite' | 'postgres', skip: false | string): void {
  describe(`accounts over HTTP (${kind})`, { skip }, () => {
    let pg: TestDatabase | undefined;
    let srv: TestServer;
    let base: string;
    let now = Date.parse('2025-03-01T08:00:00Z');
    let studyA = '';
    let studyB = '';
    const ids: Record<string, number> = {};

    async function user(
      username: string,
      hospital: string,
      roles: Role[],
      mustChange = false,
    ): Promise<number> {
      const acc = srv.server.archive.accounts;
      const h = await srv.hospital(hospital);
      const { user: u } = await acc.createUser('system', {
        username,
        displayName: username,
        hospitalId: h.id,
        roles,
      });
      await acc.users.setPassword(u.id, await hashPassword(PW), mustChange, new Date(now));
      ids[username] = u.id;
      return u.id;
    }

    async function login(username: string, password = PW): Promise<Session> {
      const r = await fetch(`${base}/api/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username, password }),
      });
      assert.equal(r.status, 200, `login ${username}: ${await r.clone().text()}`);
      const setCookie = r.headers.get('set-cookie') ?? '';
      const body = (await r.json()) as Record<string, unknown>;
      return { cookie: setCookie.split(';')[0] ?? '', csrf: String(body.csrfToken), setCookie, body };
    }

    function call(s: Session | undefined, method: string, path: string, body?: unknown, csrf = true) {
      const headers: Record<string, string> = {};
      if (s !== undefined) headers.cookie = s.cookie;
      if (s !== undefined && csrf) headers['x-csrf-token'] = s.csrf;
      if (body !== undefined) headers['content-type'] = 'application/json';
      return fetch(`${base}${path}`, {
        method,
        headers,
        ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
      });
    }

    before(async () => {
      if (kind === 'postgres') pg = await createTestDatabase();
      srv = await startTestServer(pg !== undefined ? { HUIYING_DATABASE_URL: pg.url } : {});
      base = `http://127.0.0.1:${srv.httpPort}`;
      srv.server.archive.accounts.now = () => new Date(now);
      await srv.hospital('CENTER', { center: true });
      await srv.hospital('CHENCUN');
      await srv.hospital('XINGTAN');
      for (const [code, patient] of [
        ['CHENCUN', 'A'],
        ['XINGTAN', 'B'],
      ] as const) {
        const studyUid = makeUid();
        const path = join(srv.dataDir, `${code}.dcm`);
        await writeFile(
          path,
          makeInstance({ patientId: patient, studyUid, seriesUid: makeUid(), sopUid: makeUid() }),
        );
        const h = await srv.hospital(code);
        await srv.server.archive.ingest.ingestFile({ hospitalId: h.id, path });
        if (code === 'CHENCUN') studyA = studyUid;
        else studyB = studyUid;
      }
      await user('rad', 'CENTER', ['center_radiologist']);
      await user('sysadmin', 'CENTER', ['system_admin']);
      await user('cc_tech', 'CHENCUN', ['member_technologist']);
      await user('cc_admin', 'CHENCUN', ['hospital_admin']);
      await user('xt_clin', 'XINGTAN', ['member_clinician']);
      await user('newbie', 'CHENCUN', ['member_clinician'], true);
      await user('victim', 'CHENCUN', ['member_clinician']);
    });
    after(async () => {
      await srv.stop();
      await pg?.drop();
    });

    test('first run created the administrator in the center hospital', async () => {
      const admin = await srv.server.archive.accounts.users.byUsername('admin');
      assert.equal(admin?.mustChangePassword, true);
      assert.equal(admin.hospitalId, (await srv.hospital('CENTER')).id);
    });

    test('login: cookie attributes, security headers, /me; wrong password and unknown user alike', async () => {
      const s = await login('cc_tech');
      assert.match(s.setCookie, /^huiying_session=[A-Za-z0-9_-]{40,};/);
      for (const attr of ['HttpOnly', 'SameSite=Strict', 'Path=/'])
        assert.ok(s.setCookie.includes(attr), attr);
      assert.ok(!s.setCookie.includes('Secure'), 'no Secure over plain HTTP');
      assert.equal(s.body.mustChangePassword, false);
      assert.equal((s.body.user as Record<string, unknown>).passwordHash, undefined);
      const me = await call(s, 'GET', '/api/auth/me');
      assert.equal(me.status, 200);
      assert.equal(me.headers.get('cache-control'), 'no-store');
      assert.equal(me.headers.get('x-content-type-options'), 'nosniff');
      const meBody = (await me.json()) as { csrfToken: string; user: { username: string } };
      assert.equal(meBody.csrfToken, s.csrf);
      assert.equal(meBody.user.username, 'cc_tech');

      const wrong = await call(undefined, 'POST', '/api/auth/login', {
        username: 'cc_tech',
        password: 'Wrong-Pass-123',
      });
      const unknown = await call(undefined, 'POST', '/api/auth/login', {
        username: 'nobody',
        password: 'Wrong-Pass-123',
      });
      assert.equal(wrong.status, 401);
      assert.equal(unknown.status, 401);
      assert.match(wrong.headers.get('content-type') ?? '', /problem\+json/);
      const [w, u] = [(await wrong.json()) as { title: string }, (await unknown.json()) as { title: string }];
      assert.equal(w.title, u.title);
      assert.ok(!JSON.stringify(w).includes('stack'));
      // bad bodies: 400, oversized: 413
      assert.equal((await call(undefined, 'POST', '/api/auth/login', { username: 'x' })).status, 400);
      assert.equal((await call(undefined, 'POST', '/api/auth/login', '{not json')).status, 400);
      const big = await call(undefined, 'POST', '/api/auth/login', {
        username: 'x',
        password: 'y'.repeat(40_000),
      });
      assert.equal(big.status, 413);
      assert.equal((await call(undefined, 'GET', '/api/auth/me')).status, 401);
    });

    test('lockout after 5 failures, unlock after 15 minutes', async () => {
      for (let i = 0; i < 5; i++)
        assert.equal(
          (
            await call(undefined, 'POST', '/api/auth/login', {
              username: 'victim',
              password: 'Wrong-Pass-123',
            })
          ).status,
          401,
        );
      assert.equal(
        (await call(undefined, 'POST', '/api/auth/login', { username: 'victim', password: PW })).status,
        401,
      );
      now += LOCKOUT_MS + 1000;
      await login('victim');
    });

    test('forced password change: 403 elsewhere until changed; policy enforced', async () => {
      const s = await login('newbie');
      assert.equal(s.body.mustChangePassword, true);
      const dw = await call(s, 'GET', '/dicomweb/studies');
      assert.equal(dw.status, 403);
      assert.equal((await call(s, 'GET', '/api/auth/me')).status, 200);
      const weak = await call(s, 'POST', '/api/auth/change-password', { current: PW, next: 'short' });
      assert.equal(weak.status, 400);
      const badCurrent = await call(s, 'POST', '/api/auth/change-password', {
        current: 'Nope-Nope-123',
        next: 'Brand-New-Pass-9',
      });
      assert.equal(badCurrent.status, 403);
      const ok = await call(s, 'POST', '/api/auth/change-password', {
        current: PW,
        next: 'Brand-New-Pass-9',
      });
      assert.equal(ok.status, 200);
      assert.equal((await call(s, 'GET', '/dicomweb/studies')).status, 200);
      await login('newbie', 'Brand-New-Pass-9');
    });

    test('sessions: idle and absolute expiry; logout revokes', async () => {
      const s = await login('cc_tech');
      now += SESSION_IDLE_MS + 1000;
      assert.equal((await call(s, 'GET', '/api/auth/me')).status, 401);
      const s2 = await login('cc_tech');
      const end = now + SESSION_ABSOLUTE_MS;
      while (now + 25 * 60_000 < end) {
        now += 25 * 60_000;
        assert.equal((await call(s2, 'GET', '/api/auth/me')).status, 200);
      }
      now = end + 1;
      assert.equal((await call(s2, 'GET', '/api/auth/me')).status, 401);
      const s3 = await login('cc_tech');
      assert.equal(
        (await call(s3, 'POST', '/api/auth/logout', undefined, false)).status,
        403,
        'logout needs CSRF',
      );
      const out = await call(s3, 'POST', '/api/auth/logout');
      assert.equal(out.status, 204);
      assert.match(out.headers.get('set-cookie') ?? '', /Max-Age=0/);
      assert.equal((await call(s3, 'GET', '/api/auth/me')).status, 401);
      assert.equal((await call(s3, 'GET', '/dicomweb/studies')).status, 401);
    });

    test('CSRF: missing or forged token → 403 and nothing changed', async () => {
      const s = await login('sysadmin');
      const before = await srv.server.archive.accounts.users.count();
      const body = { username: 'csrf_victim', displayName: 'x', roles: [] };
      assert.equal((await call(s, 'POST', '/api/admin/users', body, false)).status, 403);
      assert.equal((await call({ ...s, csrf: 'forged' }, 'POST', '/api/admin/users', body)).status, 403);
      const other = await login('rad');
      assert.equal((await call({ ...s, csrf: other.csrf }, 'POST', '/api/admin/users', body)).status, 403);
      assert.equal(await srv.server.archive.accounts.users.count(), before);
      assert.equal((await call(s, 'POST', '/api/admin/users', body)).status, 201);
    });

    test('user administration: create, update, reset, disable; hospital_admin limited to its hospital', async () => {
      const sys = await login('sysadmin');
      const cc = (await srv.hospital('CHENCUN')).id;
      const created = await call(sys, 'POST', '/api/admin/users', {
        username: 'Li.Si',
        displayName: '李四',
        hospitalId: cc,
        roles: ['member_technologist'],
      });
      assert.equal(created.status, 201);
      const c = (await created.json()) as {
        user: { id: number; username: string };
        temporaryPassword: string;
      };
      assert.equal(c.user.username, 'li.si');
      const first = await login('li.si', c.temporaryPassword);
      assert.equal(first.body.mustChangePassword, true);

      const ha = await login('cc_admin');
      const list = (await (await call(ha, 'GET', '/api/admin/users')).json()) as {
        users: Array<{ hospitalId: number }>;
      };
      assert.ok(list.users.length > 0 && list.users.every((u) => u.hospitalId === cc));
      // another hospital's user: invisible and untouchable
      const xt = ids.xt_clin ?? 0;
      assert.equal((await call(ha, 'GET', `/api/admin/users/${xt}`)).status, 404);
      assert.equal(
        (await call(ha, 'PATCH', `/api/admin/users/${xt}`, { displayName: 'hacked' })).status,
        404,
      );
      assert.equal((await call(ha, 'POST', `/api/admin/users/${xt}/reset-password`)).status, 404);
      assert.equal((await call(ha, 'POST', `/api/admin/users/${xt}/disable`)).status, 404);
      const xtHospital = (await srv.hospital('XINGTAN')).id;
      assert.equal(
        (
          await call(ha, 'POST', '/api/admin/users', {
            username: 'intruder',
            displayName: 'x',
            hospitalId: xtHospital,
            roles: [],
          })
        ).status,
        403,
      );
      assert.equal((await srv.server.archive.accounts.users.byId(xt))?.displayName, 'xt_clin');
      // cannot grant roles that widen access
      assert.equal(
        (await call(ha, 'PATCH', `/api/admin/users/${c.user.id}`, { roles: ['auditor'] })).status,
        403,
      );
      // own hospital: update, reset, disable, enable
      const upd = await call(ha, 'PATCH', `/api/admin/users/${c.user.id}`, {
        displayName: '李四四',
        roles: ['member_clinician'],
      });
      assert.equal(upd.status, 200);
      assert.equal(((await upd.json()) as { user: { roles: string[] } }).user.roles[0], 'member_clinician');
      const reset = await call(ha, 'POST', `/api/admin/users/${c.user.id}/reset-password`);
      const tmp = ((await reset.json()) as { temporaryPassword: string }).temporaryPassword;
      assert.equal((await call(first, 'GET', '/api/auth/me')).status, 401, 'reset ends the sessions');
      assert.equal((await login('li.si', tmp)).body.mustChangePassword, true);
      assert.equal((await call(ha, 'POST', `/api/admin/users/${c.user.id}/disable`)).status, 200);
      assert.equal(
        (await call(undefined, 'POST', '/api/auth/login', { username: 'li.si', password: tmp })).status,
        401,
      );
      assert.equal((await call(ha, 'POST', `/api/admin/users/${c.user.id}/enable`)).status, 200);
      await login('li.si', tmp);
      // non-admins: 403; bad input: 400
      const tech = await login('cc_tech');
      assert.equal((await call(tech, 'GET', '/api/admin/users')).status, 403);
      assert.equal(
        (await call(sys, 'POST', '/api/admin/users', { username: 'x1', displayName: 'x', roles: ['god'] }))
          .status,
        400,
      );
      assert.equal((await call(sys, 'PATCH', '/api/admin/users/abc', { displayName: 'x' })).status, 400);
    });

    test('SQL/HTML injection in text fields: stored verbatim or refused', async () => {
      const sys = await login('sysadmin');
      for (const s of ["x'); DROP TABLE users;--", '<script>alert(1)</script>', '" OR "1"="1']) {
        const bad = await call(sys, 'POST', '/api/admin/users', { username: s, displayName: 'x', roles: [] });
        assert.equal(bad.status, 400);
        assert.ok(!(await bad.text()).includes(s), 'the refusal does not echo the input');
        const login401 = await call(undefined, 'POST', '/api/auth/login', { username: s, password: s });
        assert.equal(login401.status, 401);
      }
      const name = `<img src=x onerror=alert(1)>'; DROP TABLE sessions;--`;
      const r = await call(sys, 'POST', '/api/admin/users', {
        username: 'inj.user',
        displayName: name,
        roles: [],
      });
      assert.equal(r.status, 201);
      assert.match(r.headers.get('content-type') ?? '', /application\/json/);
      const u = (await r.json()) as { user: { id: number; displayName: string } };
      assert.equal(u.user.displayName, name);
      assert.equal((await srv.server.archive.accounts.users.byId(u.user.id))?.displayName, name);
      assert.equal(
        (await call(sys, 'POST', '/api/admin/users', { username: 'ctl', displayName: 'a\u0000b', roles: [] }))
          .status,
        400,
      );
      assert.ok((await srv.server.archive.accounts.users.count()) > 5, 'users table intact');
    });

    test('DICOMweb with a session: member sees its hospital only, center sees all', async () => {
      const qido = async (s: Session): Promise<string[]> => {
        const r = await call(s, 'GET', '/dicomweb/studies');
        assert.equal(r.status, 200);
        const rows = (await r.json()) as Array<Record<string, { Value?: string[] }>>;
        return rows.map((row) => row['0020000D']?.Value?.[0] ?? '');
      };
      const member = await login('cc_tech');
      assert.deepEqual(await qido(member), [studyA]);
      assert.equal((await call(member, 'GET', `/dicomweb/studies/${studyB}`)).status, 404);
      assert.equal((await call(member, 'GET', `/dicomweb/studies/${studyB}/metadata`)).status, 404);
      const other = await login('xt_clin');
      assert.deepEqual(await qido(other), [studyB]);
      const center = await login('rad');
      assert.deepEqual((await qido(center)).sort(), [studyA, studyB].sort());
      // STOW by cookie without CSRF: 403
      assert.equal((await call(member, 'POST', `/dicomweb/studies`, undefined, false)).status, 403);
      // API tokens keep working
      const { token } = await srv.server.archive.tokens.create((await srv.hospital('XINGTAN')).id, 'his');
      const t = await fetch(`${base}/dicomweb/studies`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(t.status, 200);
    });
  });
}

suite('sqlite', false);
suite('postgres', await pgSkipReason());
