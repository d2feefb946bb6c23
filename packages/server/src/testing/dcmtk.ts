/**
 * DCMTK command-line tools as test peers: a promise wrapper with a hard timeout, a storescp receiver,
 * and tiny DICOM files made with dump2dcm. Nagle is off (TCP_NODELAY=1) for every tool started here.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { dcmtkEnv, needCommand } from './peers.ts';
import { freePort, waitForPort } from './ports.ts';

export interface DcmtkResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface RunDcmtkOptions {
  /** Kill the tool (SIGKILL) after this long; default 60 s. */
  timeoutMs?: number;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

/** Runs a DCMTK tool (`echoscu`, `storescu`, `findscu`, ...) to completion. Never rejects for a non-zero exit. */
export function runDcmtk(
  tool: string,
  args: readonly string[],
  opts: RunDcmtkOptions = {},
): Promise<DcmtkResult> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    const child = spawn(tool, args, {
      cwd: opts.cwd,
      env: { ...dcmtkEnv(), ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

/** `false` when DCMTK's network tools are installed, else a skip reason. */
export function needDcmtk(): false | string {
  for (const tool of ['echoscu', 'storescu', 'storescp', 'findscu', 'movescu', 'dump2dcm']) {
    const reason = needCommand(tool);
    if (reason !== false) return reason;
  }
  return false;
}

export interface Storescp {
  aet: string;
  port: number;
  dir: string;
  /** Files received so far (names as storescp writes them: `<modality>.<SOPInstanceUID>`). */
  files(): Promise<string[]>;
  /** Output of storescp so far (stdout + stderr). */
  log(): string;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Starts one (non-forking) storescp writing into `dir`; resolves when its port accepts connections. */
export async function startStorescp(opts: {
  aet?: string;
  port?: number;
  dir: string;
  extraArgs?: readonly string[];
}): Promise<Storescp> {
  const aet = opts.aet ?? 'STORESCP';
  const port = opts.port ?? (await freePort());
  await mkdir(opts.dir, { recursive: true });
  const child = spawn('storescp', ['-aet', aet, '-od', opts.dir, ...(opts.extraArgs ?? []), String(port)], {
    env: dcmtkEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let output = '';
  let exited = false;
  child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
  const closed = new Promise<void>((resolve) =>
    child.once('close', () => {
      exited = true;
      running.delete(child);
      resolve();
    }),
  );
  child.once('error', (err) => {
    output += `spawn error: ${err.message}\n`;
  });
  child.unref();
  try {
    await waitForPort(port, { timeoutMs: 10_000, alive: () => !exited });
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`storescp did not start: ${(err as Error).message}\n${output}`, { cause: err });
  }
  return {
    aet,
    port,
    dir: opts.dir,
    files: async () => (await readdir(opts.dir)).sort(),
    log: () => output,
    stop: async () => {
      if (!exited) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        await closed;
        clearTimeout(t);
      }
    },
  };
}

export interface TinyDicomOptions {
  sopInstanceUid?: string;
  studyInstanceUid?: string;
  seriesInstanceUid?: string;
  patientId?: string;
  patientName?: string;
  studyDate?: string;
  modality?: string;
}

let uidCounter = 0;
/** A UID unique to this process run (2.25 root would need a UUID; this one is short and readable). */
export function testUid(): string {
  uidCounter++;
  return `1.2.826.0.1.3680043.10.1419.99.${process.pid}.${Date.now()}.${uidCounter}`;
}

/**
 * Writes a tiny Secondary Capture instance (2x2 pixels, explicit VR little endian) with dump2dcm.
 * Returns the file path and the UIDs used.
 */
export async function makeTinyDicom(
  dir: string,
  opts: TinyDicomOptions = {},
): Promise<{ path: string; sopInstanceUid: string; studyInstanceUid: string; seriesInstanceUid: string }> {
  const sopInstanceUid = opts.sopInstanceUid ?? testUid();
  const studyInstanceUid = opts.studyInstanceUid ?? testUid();
  const seriesInstanceUid = opts.seriesInstanceUid ?? testUid();
  const dump = [
    '(0008,0016) UI [1.2.840.10008.5.1.4.1.1.7]',
    `(0008,0018) UI [${sopInstanceUid}]`,
    `(0008,0020) DA [${opts.studyDate ?? '20240101'}]`,
    `(0008,0060) CS [${opts.modality ?? 'OT'}]`,
    `(0010,0010) PN [${opts.patientName ?? 'Test^Patient'}]`,
    `(0010,0020) LO [${opts.patientId ?? 'HYTEST1'}]`,
    `(0020,000d) UI [${studyInstanceUid}]`,
    `(0020,000e) UI [${seriesInstanceUid}]`,
    '(0020,0013) IS [1]',
    '(0028,0002) US 1',
    '(0028,0004) CS [MONOCHROME2]',
    '(0028,0010) US 2',
    '(0028,0011) US 2',
    '(0028,0100) US 8',
    '(0028,0101) US 8',
    '(0028,0102) US 7',
    '(0028,0103) US 0',
    '(7fe0,0010) OB 00\\40\\80\\ff',
    '',
  ].join('\n');
  await mkdir(dir, { recursive: true });
  const dumpPath = join(dir, `${sopInstanceUid}.dump`);
  const path = join(dir, `${sopInstanceUid}.dcm`);
  await writeFile(dumpPath, dump);
  const r = await runDcmtk('dump2dcm', ['+te', dumpPath, path], { timeoutMs: 20_000 });
  if (r.code !== 0) throw new Error(`dump2dcm failed (${r.code}): ${r.stderr}`);
  return { path, sopInstanceUid, studyInstanceUid, seriesInstanceUid };
}
