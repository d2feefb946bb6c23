import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { freePort, waitForPort } from './ports.ts';

test('freePort returns a bindable port and waitForPort sees a listener', async () => {
  const port = await freePort();
  assert.ok(port > 0 && port < 65536);
  const srv = createServer((s) => s.end());
  await new Promise<void>((resolve) => srv.listen(port, '127.0.0.1', resolve));
  try {
    await waitForPort(port, { timeoutMs: 2000 });
  } finally {
    await new Promise((resolve) => srv.close(resolve));
  }
  await assert.rejects(waitForPort(port, { timeoutMs: 200 }), /did not accept/);
});
