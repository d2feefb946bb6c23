/**
 * Numbers: series metadata uncached vs cached for a 100-instance series, and WADO-RS study retrieve
 * throughput (real HTTP on 127.0.0.1, folder blob store). Printed as diagnostics.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeInstance, makeUid } from '@huiying/dicom/testing';
import { startTestServer, stow, type TestServer } from './test-helpers.ts';

let srv: TestServer;
const study = makeUid();
const series = makeUid();
const N = 100;
let totalBytes = 0;

before(async () => {
  srv = await startTestServer();
  for (let b = 0; b < N; b += 25) {
    const batch = Array.from({ length: 25 }, (_, i) =>
      makeInstance({
        studyUid: study,
        seriesUid: series,
        instanceNumber: b + i + 1,
        rows: 512,
        cols: 512,
        patientName: 'Li^Si=李^四',
        charset: 'ISO_IR 192',
        extra: {
          '00200032': { vr: 'DS', Value: [0, 0, b + i] },
          '00200037': { vr: 'DS', Value: [1, 0, 0, 0, 1, 0] },
          '00280030': { vr: 'DS', Value: [0.7, 0.7] },
        },
      }),
    );
    totalBytes += batch.reduce((n, f) => n + f.length, 0);
    const r = await stow(srv.url, 'a', batch);
    assert.equal(r.status, 200);
  }
});
after(async () => {
  await srv.close();
});

async function timed(path: string, accept?: string): Promise<{ ms: number; bytes: number }> {
  const t0 = performance.now();
  const res = await fetch(`${srv.url}${path}`, {
    headers: { 'x-test-user': 'a', ...(accept ? { accept } : {}) },
  });
  assert.equal(res.status, 200);
  const bytes = (await res.arrayBuffer()).byteLength;
  return { ms: performance.now() - t0, bytes };
}

test('bench: series metadata (100 instances) uncached vs cached; WADO-RS study MB/s', async (t) => {
  const path = `/studies/${study}/series/${series}/metadata`;
  const uncached: number[] = [];
  for (let i = 0; i < 3; i++) {
    srv.handle.clearCaches();
    uncached.push((await timed(path)).ms);
  }
  const cached: number[] = [];
  for (let i = 0; i < 10; i++) cached.push((await timed(path)).ms);
  const med = (a: number[]): number => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
  t.diagnostic(
    `metadata ${N} instances: uncached median ${med(uncached).toFixed(1)} ms, cached median ${med(cached).toFixed(1)} ms`,
  );
  assert.ok(med(cached) < med(uncached));
  const runs: number[] = [];
  let bytes = 0;
  for (let i = 0; i < 3; i++) {
    const r = await timed(`/studies/${study}`, 'multipart/related; type="application/dicom"');
    runs.push(r.ms);
    bytes = r.bytes;
  }
  assert.ok(bytes > totalBytes);
  const ms = med(runs);
  t.diagnostic(
    `WADO-RS study retrieve: ${(bytes / 1e6).toFixed(1)} MB in ${ms.toFixed(0)} ms = ${(bytes / 1e6 / (ms / 1000)).toFixed(0)} MB/s`,
  );
  const frames: number[] = [];
  const inst = (await (
    await fetch(`${srv.url}/studies/${study}/series/${series}/instances`, { headers: { 'x-test-user': 'a' } })
  ).json()) as Record<string, { Value?: unknown[] }>[];
  const t0 = performance.now();
  for (const i of inst) {
    const s0 = performance.now();
    await timed(
      `/studies/${study}/series/${series}/instances/${String(i['00080018']?.Value?.[0])}/frames/1`,
      'multipart/related; type=application/octet-stream; transfer-syntax=*',
    );
    frames.push(performance.now() - s0);
  }
  t.diagnostic(
    `frames/1 ×${inst.length} sequential: total ${(performance.now() - t0).toFixed(0)} ms, median ${med(frames).toFixed(1)} ms`,
  );
});
