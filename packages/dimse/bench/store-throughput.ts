/**
 * Throughput check (not a test): storescu -> our SCP (store handler discards the data) vs storescu ->
 * `storescp --ignore`, N instances of ~0.5 MB per association.
 *
 * Both receivers listen for the whole run and the measurements are interleaved (ours, DCMTK, ours, ...)
 * so machine noise hits both alike. Two scenarios:
 *   - 1 association  (one storescu; `storescp --ignore`)
 *   - P parallel associations (P storescu processes at once, each sending the N instances; the DCMTK
 *     peer is `storescp --ignore --fork`, one process per association, which is its best case)
 * Printed: medians (instances/s over all associations), ratio ours/DCMTK, and receiver CPU time per
 * instance (less noisy than wall time on a shared machine).
 *
 * Usage: node packages/dimse/bench/store-throughput.ts [count=300] [bytes=524288] [runs=7] [parallel=4]
 * Env: BENCH_MAX_PDU (our announced max PDU length), BENCH_DCMTK_PDU (storescp -pdu, default: its own
 * default of 16 KiB, i.e. storescu sends it 16 KiB PDUs; 131072 is DCMTK's maximum), BENCH_ONLY=1|P
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DimseServer } from '../src/server.ts';
import { SopClass, TransferSyntax } from '../src/uids.ts';
import { freePort, makeInstance, makePart10, startListener, stop } from '../src/test-helpers.ts';

const count = Number(process.argv[2] ?? 300);
const bytes = Number(process.argv[3] ?? 512 * 1024);
const runs = Number(process.argv[4] ?? 7);
const parallel = Number(process.argv[5] ?? 4);
const only = process.env['BENCH_ONLY'];
const maxPdu = process.env['BENCH_MAX_PDU'] !== undefined ? Number(process.env['BENCH_MAX_PDU']) : undefined;
const dcmtkPdu = process.env['BENCH_DCMTK_PDU'];
const dcmtkArgs = ['--ignore', ...(dcmtkPdu !== undefined ? ['-pdu', dcmtkPdu] : []), '-aet', 'STORESCP'];
const CT = SopClass.CtImageStorage;
const ELE = TransferSyntax.ExplicitVRLittleEndian;
const CLK_TCK = 100; // USER_HZ on Linux

function storescu(port: number, aec: string, files: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('storescu', ['-aec', aec, '127.0.0.1', String(port), ...files], {
      env: { ...process.env, TCP_NODELAY: '1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => {
      if (code !== 0) reject(new Error(`storescu exited ${code}: ${err}`));
      else resolve();
    });
  });
}

/** CPU seconds of a process and its reaped children (storescp --fork children). */
function procCpu(p: ChildProcess): number {
  const stat = readFileSync(`/proc/${p.pid}/stat`, 'latin1');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields after ")" start at field 3 (state): utime=14 stime=15 cutime=16 cstime=17
  const n = (i: number): number => Number(f[i - 3] ?? 0);
  return (n(14) + n(15) + n(16) + n(17)) / CLK_TCK;
}

function selfCpu(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

interface Sample {
  rate: number; // instances/s (all associations)
  cpuMs: number; // receiver CPU ms per instance
}

async function measure(
  port: number,
  aec: string,
  files: string[],
  n: number,
  cpu: () => number,
): Promise<Sample> {
  const c0 = cpu();
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: n }, () => storescu(port, aec, files)));
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const total = n * files.length;
  return { rate: total / secs, cpuMs: ((cpu() - c0) * 1000) / total };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? 0 : s.length % 2 === 1 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
};

const dir = mkdtempSync(join(tmpdir(), 'dimse-bench-'));
const children: ChildProcess[] = [];
let server: DimseServer<null> | undefined;
try {
  const files: string[] = [];
  for (let i = 0; i < count; i++) {
    const uid = `1.2.826.0.1.3680043.9.5.${i}`;
    const path = join(dir, `${i}.dcm`);
    writeFileSync(path, makePart10(CT, uid, ELE, makeInstance(CT, uid, ELE, bytes)));
    files.push(path);
  }
  let received = 0;
  server = new DimseServer<null>({
    aeTitle: 'HUIYING',
    port: 0,
    host: '127.0.0.1',
    ...(maxPdu !== undefined ? { maxPduLength: maxPdu } : {}),
    handlers: {
      onAssociate: () => Promise.resolve({ accept: null }),
      async store(_ctx, _req, data) {
        for await (const c of data) received += (c as Buffer).length;
        return { status: 0 };
      },
    },
  });
  const { port } = await server.listen();
  const p1 = await freePort();
  const scp1 = await startListener('storescp', [...dcmtkArgs, String(p1)], p1);
  children.push(scp1);
  const pN = await freePort();
  const scpN = await startListener('storescp', ['--fork', ...dcmtkArgs, String(pN)], pN);
  children.push(scpN);

  const scenarios = [
    { name: '1 association', n: 1, dcmtkPort: p1, dcmtk: scp1 },
    { name: `${parallel} parallel associations`, n: parallel, dcmtkPort: pN, dcmtk: scpN },
  ].filter((s) => only === undefined || String(s.n) === only);

  // warm-up (JIT, page cache), not counted
  await measure(port, 'HUIYING', files, 1, selfCpu);
  await measure(p1, 'STORESCP', files, 1, () => procCpu(scp1));

  const results = scenarios.map(() => ({ ours: [] as Sample[], dcmtk: [] as Sample[] }));
  for (let r = 0; r < runs; r++) {
    for (const [i, s] of scenarios.entries()) {
      const res = results[i];
      if (res === undefined) continue;
      // alternate which one goes first
      const pair = [
        async () => res.ours.push(await measure(port, 'HUIYING', files, s.n, selfCpu)),
        async () =>
          res.dcmtk.push(await measure(s.dcmtkPort, 'STORESCP', files, s.n, () => procCpu(s.dcmtk))),
      ];
      if (r % 2 === 1) pair.reverse();
      for (const f of pair) await f();
    }
  }

  console.log(
    `instances: ${count} x ${(bytes / 1024).toFixed(0)} KiB per association, ${runs} interleaved runs` +
      ` (ours received ${(received / 1e6).toFixed(0)} MB; our max PDU ${maxPdu ?? 'default'}, storescp -pdu ${dcmtkPdu ?? 'default'})`,
  );
  for (const [i, s] of scenarios.entries()) {
    const res = results[i];
    if (res === undefined) continue;
    const o = median(res.ours.map((x) => x.rate));
    const d = median(res.dcmtk.map((x) => x.rate));
    const oc = median(res.ours.map((x) => x.cpuMs));
    const dc = median(res.dcmtk.map((x) => x.cpuMs));
    const ratios = res.ours.map((x, k) => x.rate / (res.dcmtk[k]?.rate ?? NaN));
    const fmt = (xs: Sample[]): string => xs.map((x) => x.rate.toFixed(0)).join(' ');
    console.log(`\n${s.name}:`);
    console.log(
      `  @huiying/dimse (discard) : median ${o.toFixed(0)} inst/s, ${oc.toFixed(2)} CPU ms/inst  runs ${fmt(res.ours)}`,
    );
    console.log(
      `  storescp --ignore${s.n > 1 ? ' --fork' : '       '}: median ${d.toFixed(0)} inst/s, ${dc.toFixed(2)} CPU ms/inst  runs ${fmt(res.dcmtk)}`,
    );
    console.log(
      `  ratio of medians: ${(o / d).toFixed(2)}   median of paired ratios: ${median(ratios).toFixed(2)}` +
        `   (pairs ${ratios.map((x) => x.toFixed(2)).join(' ')})`,
    );
  }
} finally {
  await server?.close();
  for (const c of children) await stop(c);
  rmSync(dir, { recursive: true, force: true });
}
