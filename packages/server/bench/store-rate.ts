/**
 * Quick C-STORE rate check (not the project benchmark — see bench/): storescu → our server vs
 * storescu → storescp (writing files), same files, one association, medians of N runs.
 *
 *   node packages/server/bench/store-rate.ts [count=300] [runs=3] [--parallel N]
 *
 * With `--parallel N`: N storescu processes at once, each on its own shard of the files (N associations),
 * against our server and against `storescp --fork`.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeInstance, makeUid } from '@huiying/dicom/testing';
import { startTestServer } from '../src/testing/test-server.ts';
import { startStorescp } from '../src/testing/dcmtk.ts';

const args = process.argv.slice(2);
const pi = args.indexOf('--parallel');
const parallel = pi >= 0 ? Number(args[pi + 1] ?? 1) : 1;
if (pi >= 0) args.splice(pi, 2);
const count = Number(args[0] ?? 300);
const runs = Number(args[1] ?? 3);
const env = { ...process.env, TCP_NODELAY: '1' };

function storescu(port: number, aec: string, dir: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn('storescu', ['-aet', 'BENCH', '-aec', aec, '+sd', '127.0.0.1', String(port), dir], {
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('exit', (code) =>
      code === 0 ? resolve(performance.now() - t0) : reject(new Error(`storescu ${code}: ${err}`)),
    );
  });
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

async function storescuAll(port: number, aec: string, dirs: string[]): Promise<number> {
  const t0 = performance.now();
  await Promise.all(dirs.map((d) => storescu(port, aec, d)));
  return performance.now() - t0;
}

const work = await mkdtemp(join(tmpdir(), 'hy-rate-'));
const files = join(work, 'files');
const shards = Array.from({ length: parallel }, (_, k) => join(files, `shard${k}`));
for (const d of shards) await mkdir(d, { recursive: true });
const study = makeUid();
const series = makeUid();
for (let i = 0; i < count; i++) {
  await writeFile(
    join(shards[i % parallel]!, `${i}.dcm`),
    makeInstance({
      studyUid: study,
      seriesUid: series,
      sopUid: makeUid(),
      modality: 'CT',
      rows: 512,
      cols: 512,
      instanceNumber: i + 1,
      patientName: 'Zhang^San=张^三',
      patientId: 'B1',
      charset: 'GB18030',
    }),
  );
}
const ours: number[] = [];
const theirs: number[] = [];
const syncMode = process.env.HUIYING_SYNC_MODE ?? 'full';
for (let r = 0; r < runs + 1; r++) {
  const srv = await startTestServer({
    HUIYING_SYNC_MODE: syncMode,
    HUIYING_INDEX_WRITER_THREAD: process.env.HUIYING_INDEX_WRITER_THREAD ?? 'false',
  });
  await srv.hospital('C', { center: true });
  await srv.ae('BENCH', 'C');
  const ms = await storescuAll(srv.dicomPort, 'HUIYING', shards);
  await srv.stop();
  await mkdir(join(work, `scp${r}`), { recursive: true });
  const scp = await startStorescp({
    aet: 'SCP',
    dir: join(work, `scp${r}`),
    ...(parallel > 1 ? { extraArgs: ['--fork'] } : {}),
  });
  const ms2 = await storescuAll(scp.port, 'SCP', shards);
  await scp.stop();
  await rm(join(work, `scp${r}`), { recursive: true, force: true });
  if (r === 0) continue; // warm-up
  ours.push((count * 1000) / ms);
  theirs.push((count * 1000) / ms2);
}
await rm(work, { recursive: true, force: true });
console.log(
  `sync=${syncMode} parallel=${parallel} huiying: ${ours.map((x) => x.toFixed(0)).join(' ')} inst/s (median ${median(ours).toFixed(0)})`,
);
console.log(
  `storescp: ${theirs.map((x) => x.toFixed(0)).join(' ')} inst/s (median ${median(theirs).toFixed(0)})`,
);
console.log(`ratio ${(median(ours) / median(theirs)).toFixed(2)}`);
