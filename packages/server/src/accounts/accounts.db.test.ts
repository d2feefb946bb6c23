import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabaseKinds } from '../db/test-databases.ts';
import { openIndexServices } from '../archive/index-writer.ts';
import { AccountService, LOCKOUT_MS, SESSION_ABSOLUTE_MS, SESSION_IDLE_MS } from './service.ts';
import { ensureInitialAdmin } from './bootstrap.ts';

const INJECTIONS = [
  "Robert'); DROP TABLE users;--",
  '<script>alert(1)</script>',
  '" OR 1=1 --',
  '张三 <img src=x onerror=alert(1)>',
];

for (const kind of await testDatabaseKinds()) {
  describe(`accounts on ${kind.dialect}`, { skip: kind.skip }, () => {
    test('users, lockout, sessions, grade rules, first-run admin', async () => {
      const db = await kind.open();
      const services = await openIndexServices(db, { writerWorker: false });
      try {
        const hospitals = services.hospitals;
        const acc = new AccountService(db.db, hospitals);
        let now = Date.parse('2025-01-01T08:00:00Z');
        acc.now = () => new Date(now);

        // first run: no hospital at all → a center hospital CENTER and the admin, password printed once
        const printed: string[] = [];
        assert.deepEqual(await ensureInitialAdmin(acc, hospitals, { print: (t) => printed.push(t) }), {
          created: true,
        });
        assert.equal(printed.length, 1);
        const pw = /password: (\S+)/.exec(printed[0] ?? '')?.[1] ?? '';
        const center = await hospitals.byCode('CENTER');
        assert.ok(center?.isCenter);
        const admin = await acc.users.byUsername('ADMIN');
        assert.equal(admin?.hospitalId, center.id);
        assert.deepEqual(admin.roles, ['system_admin']);
        assert.equal(admin.mustChangePassword, true);
        assert.equal((await acc.login('admin', pw)).user.mustChangePassword, true);
        // a second start creates nothing
        assert.deepEqual(await ensureInitialAdmin(acc, hospitals, { print: (t) => printed.push(t) }), {
          created: false,
        });
        assert.equal(printed.length, 1);

        // case-insensitive unique usernames
        const member = await hospitals.create({ code: 'CHENCUN', name: '陈村医院' });
        const { user: u } = await acc.createUser(
          'system',
          { username: 'ZhangSan', displayName: '张三', hospitalId: member.id, roles: ['member_clinician'] },
          'Zs-Secret-2025',
        );
        assert.equal(u.username, 'zhangsan');
        await assert.rejects(
          acc.createUser('system', {
            username: 'zhangSAN',
            displayName: 'x',
            hospitalId: member.id,
            roles: [],
          }),
          /taken/,
        );

        // injection strings in the display name are stored verbatim (parameterized SQL)
        for (const [i, s] of INJECTIONS.entries()) {
          const r = await acc.createUser('system', {
            username: `inj${i}`,
            displayName: s,
            hospitalId: member.id,
            roles: [],
          });
          assert.equal((await acc.users.byId(r.user.id))?.displayName, s);
        }
        assert.ok((await acc.users.count()) > 5);
        // injection in the username: refused
        await assert.rejects(
          acc.createUser('system', {
            username: "a' OR '1'='1",
            displayName: 'x',
            hospitalId: member.id,
            roles: [],
          }),
          /username/,
        );

        // lockout: 5 failures lock for 15 minutes, even the right password fails meanwhile
        for (let i = 0; i < 5; i++)
          await assert.rejects(acc.login('zhangsan', 'wrong-Password-1'), /invalid/);
        await assert.rejects(acc.login('zhangsan', 'Zs-Secret-2025'), /invalid/);
        now += LOCKOUT_MS + 1000;
        const ok = await acc.login('zhangsan', 'Zs-Secret-2025');
        assert.equal((await acc.users.byId(u.id))?.failedLogins, 0);

        // sessions: idle expiry
        assert.ok(await acc.authenticate(ok.sessionToken));
        now += SESSION_IDLE_MS + 1000;
        assert.equal(await acc.authenticate(ok.sessionToken), undefined);
        // absolute expiry despite activity
        const s2 = await acc.login('zhangsan', 'Zs-Secret-2025');
        const start = now;
        while (now < start + SESSION_ABSOLUTE_MS - 20 * 60_000) {
          now += 20 * 60_000;
          assert.ok(await acc.authenticate(s2.sessionToken));
        }
        now = start + SESSION_ABSOLUTE_MS + 1;
        assert.equal(await acc.authenticate(s2.sessionToken), undefined);
        // logout revokes; tokens are stored hashed
        const s3 = await acc.login('zhangsan', 'Zs-Secret-2025');
        const a3 = await acc.authenticate(s3.sessionToken);
        assert.ok(a3);
        assert.notEqual(a3.session.id, s3.sessionToken);
        await acc.logout(a3.session.id);
        assert.equal(await acc.authenticate(s3.sessionToken), undefined);

        // grade rules are data, seeded with the defaults
        assert.deepEqual(await acc.gradeRules.privilegesOf('resident'), ['write_preliminary']);
        assert.deepEqual(await acc.gradeRules.privilegesOf('chief'), ['review', 'sign', 'write_preliminary']);
        await acc.gradeRules.grant('resident', 'review');
        assert.deepEqual(await acc.gradeRules.privilegesOf('resident'), ['review', 'write_preliminary']);
        await acc.gradeRules.revoke('resident', 'review');
        assert.deepEqual(await acc.gradeRules.privilegesOf('resident'), ['write_preliminary']);
      } finally {
        await services.close();
        await db.close();
      }
    });
  });
}
