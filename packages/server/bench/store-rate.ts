/**
 * Quick C-STORE rate check (not the project benchmark — see bench/): storescu → our server vs
 * storescu → storescp (writing files), same files, one association, medians of N runs.
 *
 *   node packages/server/bench/store-rate.ts [count=300] [runs=3]
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeInstance, makeUid } from '@huiying/dicom/testing';
import { startTestServer } from '../src/testing/test-server.ts';
import { startStorescp } from '../src/testing/dcmtk.ts';

const count = Number(process.argv[2] ?? 300);
const runs = Number(process.argv[3] ?? 3);
const env = { ...process.env, TCP_NODELAY: '1' };

function storescu(port: number, aec: string, dir: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn('storescu', ['-aet', 'BENCH', '-aec', aec, '+sd', '127.0.0.1', String(port), dir], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('exit', (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new Error(`storescu ${code}: ${err}`))));
  });
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

const work = await mkdtemp(join(tmpdir(), 'hy-rate-'));
const files = join(work, 'files');
await mkdir(files);
const study = makeUid();
const series = makeUid();
for (let i = 0; i < count; i++) {
  await writeFile(join(files, `${i}.dcm`), makeInstance({ studyUid: study, seriesUid: series, sopUid: makeUid(), modality: 'CT', rows: 512, cols: 512, instanceNumber: i + 1, patientName: 'Zhang^San=张^三', patientId: 'B1', charset: 'GB18030' }));
}
const ours: number[] = [];
const theirs: number[] = [];
const syncMode = process.env.HUIYING_SYNC_MODE ?? 'full';
for (let r = 0; r < runs + 1; r++) {
  const srv = await startTestServer({ HUIYING_SYNC_MODE: syncMode });
  await srv.hospital('C', { center: true });
  await srv.ae('BENCH', 'C');
  const ms = await storescu(srv.dicomPort, 'HUIYING', files);
  await srv.stop();
  const scp = await startStorescp({ aet: 'SCP', dir: join(work, `scp${r}`) });
  const ms2 = await storescu(scp.port, 'SCP', files);
  await scp.stop();
  await rm(join(work, `scp${r}`), { recursive: true, force: true });
  if (r === 0) continue; // warm-up
  ours.push((count * 1000) / ms);
  theirs.push((count * 1000) / ms2);
}
await rm(work, { recursive: true, force: true });
console.log(`sync=${syncMode} huiying: ${ours.map((x) => x.toFixed(0)).join(' ')} inst/s (median ${median(ours).toFixed(0)})`);
console.log(`storescp: ${theirs.map((x) => x.toFixed(0)).join(' ')} inst/s (median ${median(theirs).toFixed(0)})`);
console.log(`ratio ${(median(ours) / median(theirs)).toFixed(2)}`);
