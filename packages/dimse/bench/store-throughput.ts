/**
 * Throughput sanity check (not a test): storescu -> our SCP (handler discards) vs storescu -> storescp
 * --ignore, N instances of ~0.5 MB in one association, median of 3 runs each.
 *
 * Usage: node packages/dimse/bench/store-throughput.ts [count=300] [bytes=524288]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DimseServer } from '../src/server.ts';
import { SopClass, TransferSyntax } from '../src/uids.ts';
import { freePort, makeInstance, makePart10, startListener, stop } from '../src/test-helpers.ts';

const count = Number(process.argv[2] ?? 300);
const bytes = Number(process.argv[3] ?? 512 * 1024);
const CT = SopClass.CtImageStorage;
const ELE = TransferSyntax.ExplicitVRLittleEndian;

function storescu(port: number, aec: string, files: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const p = spawn('storescu', ['-aec', aec, '127.0.0.1', String(port), ...files], {
      env: { ...process.env, TCP_NODELAY: '1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('close', (code) => {
      if (code !== 0) reject(new Error(`storescu exited ${code}: ${err}`));
      else resolve(Number(process.hrtime.bigint() - t0) / 1e9);
    });
  });
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

const dir = mkdtempSync(join(tmpdir(), 'dimse-bench-'));
try {
  const files: string[] = [];
  for (let i = 0; i < count; i++) {
    const uid = `1.2.826.0.1.3680043.9.5.${i}`;
    const path = join(dir, `${i}.dcm`);
    writeFileSync(path, makePart10(CT, uid, ELE, makeInstance(CT, uid, ELE, bytes)));
    files.push(path);
  }
  let received = 0;
  const server = new DimseServer<null>({
    aeTitle: 'HUIYING',
    port: 0,
    host: '127.0.0.1',
    handlers: {
      onAssociate: () => Promise.resolve({ accept: null }),
      async store(_ctx, _req, data) {
        for await (const c of data) received += (c as Buffer).length;
        return { status: 0 };
      },
    },
  });
  const { port } = await server.listen();
  const ours: number[] = [];
  await storescu(port, 'HUIYING', files); // warm-up (JIT), not counted
  for (let i = 0; i < 3; i++) ours.push(count / (await storescu(port, 'HUIYING', files)));
  await server.close();

  const scpPort = await freePort();
  const scp = await startListener('storescp', ['--ignore', '-aet', 'STORESCP', String(scpPort)], scpPort);
  const dcmtk: number[] = [];
  try {
    await storescu(scpPort, 'STORESCP', files); // warm-up, not counted
    for (let i = 0; i < 3; i++) dcmtk.push(count / (await storescu(scpPort, 'STORESCP', files)));
  } finally {
    await stop(scp);
  }
  const o = median(ours);
  const d = median(dcmtk);
  console.log(
    `instances: ${count} x ${(bytes / 1024).toFixed(0)} KiB (received ${(received / 1e6).toFixed(0)} MB)`,
  );
  console.log(
    `storescu -> @huiying/dimse (discard): ${o.toFixed(0)} inst/s  runs ${ours.map((x) => x.toFixed(0)).join(' ')}`,
  );
  console.log(
    `storescu -> storescp --ignore       : ${d.toFixed(0)} inst/s  runs ${dcmtk.map((x) => x.toFixed(0)).join(' ')}`,
  );
  console.log(`ratio: ${(o / d).toFixed(2)}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
