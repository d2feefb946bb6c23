/**
 * `huiying demo`: seeded twice into one archive → everything exists once; the demo patients are found by
 * Chinese name; a member hospital's demo user sees only its hospital's studies over DICOMweb.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestServer, type TestServer } from '../testing/test-server.ts';
import { CENTER_NAME, demoUsers, MEMBERS, seedDemo } from './seed.ts';

const PW = 'Demo-Region-2026!';

describe('huiying demo', () => {
  let srv: TestServer;
  let base: string;

  before(async () => {
    srv = await startTestServer();
    base = `http://127.0.0.1:${srv.httpPort}`;
  });
  after(async () => {
    await srv.stop();
  });

  async function login(username: string): Promise<string> {
    const r = await fetch(`${base}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, password: PW }),
    });
    assert.equal(r.status, 200, await r.clone().text());
    const body = (await r.json()) as { mustChangePassword: boolean };
    assert.equal(body.mustChangePassword, false);
    return (r.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  }

  async function qido(cookie: string, query: string): Promise<Record<string, { Value?: unknown[] }>[]> {
    const r = await fetch(`${base}/dicomweb/studies?${query}`, { headers: { cookie } });
    if (r.status === 204) return [];
    assert.equal(r.status, 200, await r.clone().text());
    return (await r.json()) as Record<string, { Value?: unknown[] }>[];
  }

  test('seeding twice creates everything once', async () => {
    const a = srv.server.archive;
    const first = await seedDemo(a, { password: PW, print: () => undefined });
    assert.equal(first.centerCode, 'CENTER'); // the first-run center, renamed
    assert.ok(first.usersCreated >= 20);
    assert.ok(first.instancesStored > 100);
    const second = await seedDemo(a, { print: () => undefined });
    assert.deepEqual(
      [second.hospitalsCreated, second.aesCreated, second.usersCreated, second.instancesStored],
      [0, 0, 0, 0],
    );
    assert.equal(second.password, undefined);
    assert.equal(second.instancesPresent, first.instancesStored);
    assert.equal(first.ordersPlaced, first.studies + MEMBERS.length);
    assert.equal(second.ordersPlaced, 0);
    const all = { kind: 'all' } as const;
    const counts = await a.ris.counts({}, all);
    assert.equal(counts.matched, first.studies, 'every demo study matched its order');
    assert.equal(counts.registered, MEMBERS.length, 'one order per member waits for images');
    const cc = await a.ris.worklist({ text: '陈 建国', status: ['matched'] }, all);
    assert.ok(cc.total >= 1);
    assert.equal(cc.exams[0]?.hospitalName, '陈村医院');

    const hospitals = await a.hospitals.list();
    assert.equal(hospitals.length, 1 + MEMBERS.length);
    assert.equal(hospitals.find((h) => h.isCenter)?.name, CENTER_NAME);
    assert.equal((await a.hospitals.byCode('CHENCUN'))?.defaultCharset, 'GB18030');
    const titles = (await a.aes.list()).map((x) => x.aeTitle);
    assert.equal(new Set(titles).size, titles.length);
    assert.ok(titles.includes('CHENCUN_CT') && titles.includes('JUNAN_PACS'));
    const users = await a.accounts.users.list({});
    for (const u of demoUsers('CENTER'))
      assert.equal(users.filter((x) => x.username === u.username).length, 1, u.username);
  });

  test('QIDO by Chinese name; a member user sees only its hospital', async () => {
    const center = await login('sdh.attending');
    const all = await qido(center, 'limit=1000');
    assert.equal(all.length, 28);
    const chen = await qido(center, `PatientName=${encodeURIComponent('陈*')}`);
    assert.ok(chen.length >= 1, 'a demo patient found by Chinese name');

    const chencun = await login('chencun.doctor');
    const own = await qido(chencun, 'limit=1000');
    assert.ok(own.length > 0);
    for (const s of own) assert.match(String(s['00100020']?.Value?.[0]), /^CC/);
    const other = await qido(chencun, `PatientName=${encodeURIComponent('麦*')}`);
    assert.equal(other.length, 0, "another hospital's patient is invisible");
  });
});
