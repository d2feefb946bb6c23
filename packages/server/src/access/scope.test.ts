import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../config/config.ts';
import { startServer } from '../app.ts';
import { silentLog } from '../logger.ts';

test('DICOMweb needs a valid, unrevoked API token; the token scopes to its hospital', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hy-access-'));
  const srv = await startServer(
    loadConfig({
      HUIYING_DATA_DIR: dir,
      HUIYING_DICOM_PORT: '0',
      HUIYING_HTTP_PORT: '0',
      HUIYING_BIND_ADDRESS: '127.0.0.1',
    }),
    silentLog,
  );
  try {
    const a = srv.archive;
    // the first-run administrator's center hospital (created at start on an empty database)
    const center =
      (await a.hospitals.byCode('CENTER')) ??
      (await a.hospitals.create({ code: 'CENTER', name: '中心', isCenter: true }));
    const member = await a.hospitals.create({ code: 'CHENCUN', name: '陈村医院' });
    const { token: memberToken, record } = await a.tokens.create(member.id, 'chencun-his');
    const { token: centerToken } = await a.tokens.create(center.id, 'center');
    const url = `http://127.0.0.1:${srv.httpPort}/dicomweb/studies`;

    const none = await fetch(url);
    assert.equal(none.status, 401);
    assert.match(none.headers.get('www-authenticate') ?? '', /Bearer/);
    assert.match(none.headers.get('content-type') ?? '', /problem\+json/);
    assert.equal((await fetch(url, { headers: { Authorization: 'Bearer hy_forged' } })).status, 401);
    assert.equal((await fetch(url, { headers: { Authorization: 'Basic dXNlcjpwYXNz' } })).status, 401);
    assert.equal((await fetch(url, { headers: { Authorization: `Bearer ${memberToken}` } })).status, 200);
    assert.equal((await fetch(url, { headers: { Authorization: `Bearer ${centerToken}` } })).status, 200);

    await a.tokens.revoke(record.id);
    assert.equal((await fetch(url, { headers: { Authorization: `Bearer ${memberToken}` } })).status, 401);
    // tokens are stored hashed only
    const rows = await a.database.db.selectFrom('api_tokens').select('token_hash').execute();
    assert.ok(rows.every((r) => r.token_hash.length === 64 && !r.token_hash.includes(memberToken)));
    // health stays public and carries no PHI
    assert.equal((await fetch(`http://127.0.0.1:${srv.httpPort}/healthz`)).status, 200);
  } finally {
    await srv.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('the loopback development hospital is off by default and limited to loopback when on', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hy-access-'));
  const srv = await startServer(
    loadConfig({
      HUIYING_DATA_DIR: dir,
      HUIYING_DICOM_PORT: '0',
      HUIYING_HTTP_PORT: '0',
      HUIYING_BIND_ADDRESS: '127.0.0.1',
      HUIYING_HTTP_LOOPBACK_HOSPITAL: 'CENTER',
    }),
    silentLog,
  );
  try {
    if ((await srv.archive.hospitals.byCode('CENTER')) === undefined)
      await srv.archive.hospitals.create({ code: 'CENTER', name: '中心', isCenter: true });
    const r = await fetch(`http://127.0.0.1:${srv.httpPort}/dicomweb/studies`);
    assert.equal(r.status, 200);
  } finally {
    await srv.close();
    await rm(dir, { recursive: true, force: true });
  }
  assert.equal(loadConfig({}).http.loopbackHospital, undefined);
});
