/** Helpers shared by the @huiying/dimse tests (not exported from the package). */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import net from 'node:net';
import { TransferSyntax } from './uids.ts';

export { needCommand, dcmtkEnv } from '../../server/src/testing/peers.ts';

export interface El {
  tag: number;
  vr: string;
  value: string | Uint8Array;
}

const longVrs = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);

function valueBytes(e: El): Buffer {
  if (typeof e.value !== 'string') {
    const b = Buffer.from(e.value.buffer, e.value.byteOffset, e.value.byteLength);
    return b.length % 2 === 1 ? Buffer.concat([b, Buffer.alloc(1)]) : b;
  }
  let s = e.value;
  if (s.length % 2 === 1) s += e.vr === 'UI' ? '\0' : ' ';
  return Buffer.from(s, 'latin1');
}

/** Encode a flat dataset (elements sorted by the caller) in implicit or explicit VR little endian. */
export function encodeDataset(els: El[], ts: string = TransferSyntax.ExplicitVRLittleEndian): Buffer {
  const parts: Buffer[] = [];
  for (const e of [...els].sort((a, b) => a.tag - b.tag)) {
    const v = valueBytes(e);
    const g = e.tag >>> 16;
    const el = e.tag & 0xffff;
    if (ts === TransferSyntax.ImplicitVRLittleEndian) {
      const h = Buffer.alloc(8);
      h.writeUInt16LE(g, 0);
      h.writeUInt16LE(el, 2);
      h.writeUInt32LE(v.length, 4);
      parts.push(h, v);
    } else if (longVrs.has(e.vr)) {
      const h = Buffer.alloc(12);
      h.writeUInt16LE(g, 0);
      h.writeUInt16LE(el, 2);
      h.write(e.vr, 4, 'latin1');
      h.writeUInt32LE(v.length, 8);
      parts.push(h, v);
    } else {
      const h = Buffer.alloc(8);
      h.writeUInt16LE(g, 0);
      h.writeUInt16LE(el, 2);
      h.write(e.vr, 4, 'latin1');
      h.writeUInt16LE(v.length, 6);
      parts.push(h, v);
    }
  }
  return Buffer.concat(parts);
}

/** A Part-10 file: preamble, DICM, meta group (explicit LE), dataset bytes as given. */
export function makePart10(sopClassUid: string, sopInstanceUid: string, ts: string, dataset: Buffer): Buffer {
  const metaBody = encodeDataset([
    { tag: 0x00020001, vr: 'OB', value: new Uint8Array([0, 1]) },
    { tag: 0x00020002, vr: 'UI', value: sopClassUid },
    { tag: 0x00020003, vr: 'UI', value: sopInstanceUid },
    { tag: 0x00020010, vr: 'UI', value: ts },
    { tag: 0x00020012, vr: 'UI', value: '1.2.3.4' },
  ]);
  const gl = encodeDataset([
    { tag: 0x00020000, vr: 'UL', value: new Uint8Array(new Uint32Array([metaBody.length]).buffer) },
  ]);
  return Buffer.concat([Buffer.alloc(128), Buffer.from('DICM'), gl, metaBody, dataset]);
}

/** The dataset part of a Part-10 file (after the meta group). */
export function datasetOfPart10(file: Buffer): Buffer {
  if (file.toString('latin1', 128, 132) !== 'DICM') throw new Error('not a Part-10 file');
  const metaLen = file.readUInt32LE(128 + 4 + 8);
  return file.subarray(128 + 4 + 12 + metaLen);
}

/** A small image-like dataset; `pixelBytes` of (pseudo random) pixel data make it as big as wanted. */
export function makeInstance(
  sopClassUid: string,
  sopInstanceUid: string,
  ts: string,
  pixelBytes = 512,
  extra: El[] = [],
): Buffer {
  const pixels = Buffer.alloc(pixelBytes);
  let x = sopInstanceUid.length * 2654435761;
  for (let i = 0; i + 4 <= pixels.length; i += 4) {
    x = (x * 1103515245 + 12345) >>> 0;
    pixels.writeUInt32LE(x, i);
  }
  return encodeDataset(
    [
      { tag: 0x00080016, vr: 'UI', value: sopClassUid },
      { tag: 0x00080018, vr: 'UI', value: sopInstanceUid },
      { tag: 0x00080060, vr: 'CS', value: 'CT' },
      { tag: 0x00100010, vr: 'PN', value: 'TEST^PATIENT' },
      { tag: 0x00100020, vr: 'LO', value: 'PID1' },
      { tag: 0x0020000d, vr: 'UI', value: '1.2.3.4.5.6.7' },
      { tag: 0x0020000e, vr: 'UI', value: '1.2.3.4.5.6.7.8' },
      { tag: 0x7fe00010, vr: 'OW', value: pixels },
      ...extra,
    ],
    ts,
  );
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], timeoutMs = 20_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { env: { ...process.env, TCP_NODELAY: '1' } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** Start a DCMTK tool that listens on `port` and wait until it accepts connections. */
export async function startListener(cmd: string, args: string[], port: number): Promise<ChildProcess> {
  const p = spawn(cmd, args, {
    env: { ...process.env, TCP_NODELAY: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  p.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (p.exitCode !== null) throw new Error(`${cmd} exited: ${out}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return p;
    if (Date.now() > deadline) {
      p.kill();
      throw new Error(`${cmd} did not start: ${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function stop(p: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (p.exitCode !== null || p.signalCode !== null) return resolve();
    p.once('close', () => resolve());
    p.kill('SIGTERM');
  });
}
