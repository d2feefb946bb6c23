import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startTestServer } from '../testing/test-server.ts';

test('refused REST requests (no session, forged session) are audited', async () => {
  const srv = await startTestServer();
  try {
    const base = `http://127.0.0.1:${srv.httpPort}`;
    assert.equal((await fetch(`${base}/api/admin/users`)).status, 401);
    const forged = await fetch(`${base}/api/admin/users/1/disable`, {
      method: 'POST',
      headers: { cookie: 'huiying_session=forged', 'x-csrf-token': 'x' },
    });
    assert.equal(forged.status, 401);
    await srv.server.archive.audit.flush();
    const events = await srv.server.archive.audit.search({ action: 'request_refused', limit: 10 });
    const objects = events.map((e) => e.object);
    assert.ok(objects.includes('GET /api/admin/users'), objects.join());
    assert.ok(objects.includes('POST /api/admin/users/1/disable'), objects.join());
    assert.ok(events.every((e) => e.outcome === 'denied' && e.status === '401'));
  } finally {
    await srv.stop();
  }
});
