import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { makeTinyDicom, needDcmtk, runDcmtk, startStorescp } from './dcmtk.ts';
import { freePort } from './ports.ts';

const skip = needDcmtk();
let work = '';
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'huiying-dcmtk-test-'));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

test('runDcmtk returns the exit code and output', { skip }, async () => {
  const r = await runDcmtk('echoscu', ['--version']);
  assert.equal(r.code, 0);
  assert.match(r.stdout + r.stderr, /echoscu|OFFIS/i);
});

test('runDcmtk kills a tool that outlives its timeout', { skip }, async () => {
  // storescp listens forever: the timeout must end it.
  const r = await runDcmtk('storescp', ['-od', work, String(await freePort())], { timeoutMs: 300 });
  assert.equal(r.signal, 'SIGKILL', r.stderr);
  assert.equal(r.timedOut, true);
  assert.notEqual(r.code, 0);
});

test('storescp receives a file sent by storescu, and answers C-ECHO', { skip }, async () => {
  const tiny = await makeTinyDicom(join(work, 'src'), { patientId: 'DCMTKTEST' });
  const scp = await startStorescp({ aet: 'HYSCP', dir: join(work, 'in') });
  try {
    const echo = await runDcmtk('echoscu', ['-aec', 'HYSCP', '127.0.0.1', String(scp.port)], {
      timeoutMs: 20_000,
    });
    assert.equal(echo.code, 0, echo.stderr);
    const store = await runDcmtk('storescu', ['-aec', 'HYSCP', '127.0.0.1', String(scp.port), tiny.path], {
      timeoutMs: 20_000,
    });
    assert.equal(store.code, 0, store.stderr);
    const files = await scp.files();
    assert.equal(files.length, 1, scp.log());
    assert.ok(files[0]?.endsWith(tiny.sopInstanceUid), files[0]);
    const dump = await runDcmtk('dcmdump', ['+P', '0010,0020', join(scp.dir, files[0] ?? '')]);
    assert.match(dump.stdout, /DCMTKTEST/);
  } finally {
    await scp.stop();
  }
});
