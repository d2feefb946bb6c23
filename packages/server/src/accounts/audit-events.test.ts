/** Authentication and user administration over HTTP leave audit events (actor, source, outcome). */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestServer, type TestServer } from '../testing/test-server.ts';
import { hashPassword } from './passwords.ts';
import { MAX_FAILED_LOGINS } from './service.ts';

const PW = 'Huiying-Audit-2025';

describe('audit events of the account flows', () => {
  let srv: TestServer;
  let base: string;

  before(async () => {
    srv = await startTestServer();
    base = `http://127.0.0.1:${srv.httpPort}`;
    const acc = srv.server.archive.accounts;
    const h = await srv.hospital('CHENCUN');
    const center = (await srv.server.archive.hospitals.list()).find((x) => x.isCenter);
    assert.ok(center);
    for (const [username, roles, hospitalId] of [
      ['boss', ['system_admin'], center.id],
      ['nurse', ['member_clinician'], h.id],
      ['victim', ['member_clinician'], h.id],
    ] as const) {
      const { user } = await acc.createUser('system', {
        username,
        displayName: username,
        hospitalId,
        roles: [...roles],
      });
      await acc.users.setPassword(user.id, await hashPassword(PW), false, new Date());
    }
  });
  after(async () => {
    await srv.stop();
  });

  const post = (path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> =>
    fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });

  async function events(
    action: string,
  ): Promise<Awaited<ReturnType<typeof srv.server.archive.audit.search>>> {
    await srv.server.archive.audit.flush();
    return srv.server.archive.audit.search({ action, limit: 1000 });
  }

  test('login, failures, lockout, password change, logout, admin changes', async () => {
    // success
    const ok = await post('/api/auth/login', { username: 'boss', password: PW });
    assert.equal(ok.status, 200);
    const cookie = (ok.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    const csrf = String(((await ok.json()) as { csrfToken: string }).csrfToken);
    const s = { cookie, 'x-csrf-token': csrf };
    // failures: unknown user, wrong password
    assert.equal(
      (await post('/api/auth/login', { username: 'ghost', password: 'Secret-Nope-1' })).status,
      401,
    );
    assert.equal(
      (await post('/api/auth/login', { username: 'nurse', password: 'Wrong-Password-1' })).status,
      401,
    );
    // lockout
    for (let i = 0; i < MAX_FAILED_LOGINS; i++)
      await post('/api/auth/login', { username: 'victim', password: 'Wrong-Password-1' });

    const login = await events('login');
    assert.ok(login.some((e) => e.actorName === 'boss' && e.outcome === 'success' && e.source !== null));
    const failed = await events('login_failed');
    const ghost = failed.find((e) => e.actorName === 'ghost');
    assert.ok(ghost && ghost.actorType === 'anonymous' && ghost.outcome === 'failure');
    assert.ok(failed.some((e) => e.actorName === 'nurse' && String(e.detail).includes('wrong_password')));
    for (const e of failed) assert.ok(!String(e.detail).includes('Wrong-Password-1'), 'no password logged');
    const locked = await events('account_locked');
    assert.ok(locked.some((e) => e.actorName === 'victim'));

    // admin changes
    const created = await post(
      '/api/admin/users',
      { username: 'newbie', displayName: '新人', roles: ['member_technologist'] },
      s,
    );
    assert.equal(created.status, 201);
    const id = ((await created.json()) as { user: { id: number } }).user.id;
    assert.equal((await post(`/api/admin/users/${id}/reset-password`, {}, s)).status, 200);
    assert.equal((await post(`/api/admin/users/${id}/disable`, {}, s)).status, 200);
    assert.equal((await post(`/api/admin/users/${id}/enable`, {}, s)).status, 200);
    const patch = await fetch(`${base}/api/admin/users/${id}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json', ...s },
      body: JSON.stringify({ displayName: '新人二' }),
    });
    assert.equal(patch.status, 200);
    const changes = (await events('admin_change')).filter((e) => e.object === 'user newbie');
    const kinds = changes.map((e) => (JSON.parse(e.detail ?? '{}') as { change: string }).change).sort();
    assert.deepEqual(kinds, [
      'user_create',
      'user_disable',
      'user_enable',
      'user_reset_password',
      'user_update',
    ]);
    for (const e of changes) {
      assert.equal(e.actorName, 'boss');
      assert.equal(e.outcome, 'success');
      assert.ok(e.source !== null);
    }

    // password change and logout
    const cp = await post('/api/auth/change-password', { current: PW, next: 'Huiying-Audit-2026' }, s);
    assert.equal(cp.status, 200);
    assert.ok(
      (await events('password_changed')).some((e) => e.actorName === 'boss' && e.outcome === 'success'),
    );
    assert.equal((await post('/api/auth/logout', {}, s)).status, 204);
    assert.ok((await events('logout')).some((e) => e.actorName === 'boss' && e.outcome === 'success'));
  });
});
