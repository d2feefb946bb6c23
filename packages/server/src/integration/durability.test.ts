/**
 * Crash durability of the archive as a real process: `huiying serve` is killed with SIGKILL right after
 * storescu reports success, and in the middle of a larger transfer. After a restart every instance that
 * storescu saw acknowledged is in the index and reads back (C-GET) byte-identical; nothing the index
 * references is half-written.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { encodeDataset, readPart10 } from '@huiying/dicom';
import { makeInstance, makeUid } from '@huiying/dicom/testing';
import { connect, SopClass, Status } from '@huiying/dimse';
import { needDcmtk, runDcmtk } from '../testing/dcmtk.ts';
import { dcmtkEnv } from '../testing/peers.ts';
import { freePort, waitForPort } from '../testing/ports.ts';
import { readAll } from './helpers.ts';

const repoRoot = join(import.meta.dirname, '..', '..', '..', '..');
const MAIN = join(repoRoot, 'packages', 'server', 'src', 'cli', 'main.ts');
const SC = '1.2.840.10008.5.1.4.1.1.7';
const EXPLICIT_LE = '1.2.840.10008.1.2.1';

interface Made {
  path: string;
  sopInstanceUid: string;
  dataset: Buffer;
}

describe('durability: SIGKILL of huiying serve', { skip: needDcmtk() }, () => {
  let work: string;
  let env: NodeJS.ProcessEnv;
  let dicomPort: number;
  let server: ChildProcess | undefined;
  let logPath: string;

  async function cli(...args: string[]): Promise<void> {
    const child = spawn(process.execPath, [MAIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    assert.equal(code, 0, `huiying ${args.join(' ')}: ${out}`);
  }

  async function startServe(): Promise<void> {
    const fd = openSync(logPath, 'a');
    const child = spawn(process.execPath, [MAIN, 'serve'], { env, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    let exited = false;
    child.once('exit', () => (exited = true));
    server = child;
    try {
      await waitForPort(dicomPort, { timeoutMs: 20_000, alive: () => !exited });
    } catch (err) {
      throw new Error(`huiying serve did not start: ${readFileSync(logPath, 'utf8')}`, { cause: err });
    }
  }

  async function kill9(): Promise<void> {
    const child = server;
    server = undefined;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await gone;
  }

  async function makeFiles(dir: string, n: number, rows: number, patientId: string): Promise<Made[]> {
    await mkdir(dir, { recursive: true });
    const studyUid = makeUid();
    const seriesUid = makeUid();
    const out: Made[] = [];
    for (let i = 1; i <= n; i++) {
      const sopInstanceUid = makeUid();
      const bytes = makeInstance({
        patientName: 'Chen^Mou=陈^某',
        patientId,
        studyUid,
        seriesUid,
        sopUid: sopInstanceUid,
        modality: 'OT',
        charset: 'ISO_IR 192',
        instanceNumber: i,
        rows,
        cols: rows,
      });
      const path = join(dir, `${String(i).padStart(4, '0')}.dcm`);
      await writeFile(path, bytes);
      const p10 = readPart10(bytes);
      out.push({ path, sopInstanceUid, dataset: Buffer.from(bytes.subarray(p10.datasetOffset)) });
    }
    return out;
  }

  /** Paths storescu -v reported a Success response for. */
  function acknowledged(log: string): Set<string> {
    const ok = new Set<string>();
    let current: string | undefined;
    for (const line of log.split('\n')) {
      const m = /Sending file: (.*)$/.exec(line);
      if (m !== null) current = m[1]?.trim();
      else if (/Received Store Response \(Success\)/.test(line) && current !== undefined) ok.add(current);
    }
    return ok;
  }

  /** Every instance of the patient as the server returns it by C-GET (16 KiB PDUs). */
  async function retrieveAll(patientId: string): Promise<Map<string, Buffer>> {
    const got = new Map<string, Buffer>();
    const assoc = await connect({
      host: '127.0.0.1',
      port: dicomPort,
      callingAeTitle: 'CHENCUN_CT',
      calledAeTitle: 'HUIYING',
      contexts: [
        { abstractSyntax: SopClass.PatientRootGet, transferSyntaxes: [EXPLICIT_LE] },
        { abstractSyntax: SC, transferSyntaxes: [EXPLICIT_LE], scpRole: true },
      ],
    });
    try {
      const gen = assoc.get(
        SopClass.PatientRootGet,
        encodeDataset({
          '00080052': { vr: 'CS', Value: ['PATIENT'] },
          '00100020': { vr: 'LO', Value: [patientId] },
        }),
        async (req, data) => {
          got.set(req.sopInstanceUid, await readAll(data));
          return { status: Status.Success };
        },
      );
      let last = await gen.next();
      while (last.done !== true) last = await gen.next();
      assert.equal(last.value.failed, 0, `C-GET: ${last.value.failed} sub-operations failed`);
      assert.equal(last.value.status, Status.Success);
    } finally {
      await assoc.release();
    }
    return got;
  }

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'hy-durability-'));
    logPath = join(work, 'serve.log');
    dicomPort = await freePort();
    env = {
      ...process.env,
      HUIYING_DATA_DIR: join(work, 'data'),
      HUIYING_DICOM_PORT: String(dicomPort),
      HUIYING_HTTP_PORT: String(await freePort()),
      HUIYING_BIND_ADDRESS: '127.0.0.1',
      HUIYING_AE_TITLE: 'HUIYING',
      HUIYING_LOG_LEVEL: 'warn',
    };
    await cli('hospital', 'add', 'CHENCUN', '--name', '陈村医院', '--charset', 'GB18030');
    await cli('ae', 'add', 'CHENCUN_CT', '--hospital', 'CHENCUN');
  });

  after(async () => {
    await kill9();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  test('instances acknowledged just before SIGKILL are indexed and intact after restart', async () => {
    const files = await makeFiles(join(work, 'small'), 20, 64, 'DUR001');
    await startServe();
    const r = await runDcmtk(
      'storescu',
      [
        '-v',
        '-aet',
        'CHENCUN_CT',
        '-aec',
        'HUIYING',
        '127.0.0.1',
        String(dicomPort),
        ...files.map((f) => f.path),
      ],
      { timeoutMs: 30_000 },
    );
    await kill9();
    assert.equal(r.code, 0, r.stderr);
    assert.equal(acknowledged(r.stdout + r.stderr).size, files.length);
    await startServe();
    try {
      const got = await retrieveAll('DUR001');
      for (const f of files) {
        const back = got.get(f.sopInstanceUid);
        assert.ok(back !== undefined, `${f.sopInstanceUid} lost`);
        assert.ok(back.equals(f.dataset), `${f.sopInstanceUid} differs`);
      }
      assert.equal(got.size, files.length);
    } finally {
      await kill9();
    }
  });

  test('SIGKILL in the middle of a transfer: every acknowledged instance survives, none half-written', async () => {
    const files = await makeFiles(join(work, 'large'), 150, 256, 'DUR002'); // 150 × 128 KiB
    const byPath = new Map(files.map((f) => [f.path, f]));
    await startServe();
    const child = spawn(
      'storescu',
      [
        '-v',
        '-aet',
        'CHENCUN_CT',
        '-aec',
        'HUIYING',
        '127.0.0.1',
        String(dicomPort),
        ...files.map((f) => f.path),
      ],
      { env: dcmtkEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let log = '';
    let killed = false;
    const onData = (d: string): void => {
      log += d;
      if (!killed && acknowledged(log).size >= 40) {
        killed = true;
        void kill9();
      }
    };
    child.stdout.setEncoding('utf8').on('data', onData);
    child.stderr.setEncoding('utf8').on('data', onData);
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    clearTimeout(timer);
    await kill9();
    assert.ok(killed, `storescu finished before the kill: ${log.slice(-2000)}`);
    assert.notEqual(code, 0, 'storescu noticed the server died');
    const acked = acknowledged(log);
    assert.ok(acked.size >= 40 && acked.size < files.length, `${acked.size} acknowledged`);

    await startServe();
    try {
      const got = await retrieveAll('DUR002');
      for (const p of acked) {
        const f = byPath.get(p);
        assert.ok(f !== undefined, p);
        const back = got.get(f.sopInstanceUid);
        assert.ok(back !== undefined, `acknowledged ${f.sopInstanceUid} (${p}) lost`);
        assert.ok(back.equals(f.dataset), `acknowledged ${f.sopInstanceUid} differs`);
      }
      // whatever else the index holds (stored but not yet acknowledged) must be complete too
      const byUid = new Map(files.map((f) => [f.sopInstanceUid, f]));
      for (const [uid, bytes] of got) {
        const f = byUid.get(uid);
        assert.ok(f !== undefined, `unknown instance ${uid}`);
        assert.ok(bytes.equals(f.dataset), `indexed instance ${uid} is half-written`);
      }
      assert.ok(got.size <= acked.size + 2, `${got.size} indexed vs ${acked.size} acknowledged`);

      // and the archive still takes the rest after the crash
      const rest = files.filter((f) => !got.has(f.sopInstanceUid)).map((f) => f.path);
      const r = await runDcmtk(
        'storescu',
        ['-aet', 'CHENCUN_CT', '-aec', 'HUIYING', '127.0.0.1', String(dicomPort), ...rest],
        { timeoutMs: 60_000 },
      );
      assert.equal(r.code, 0, r.stderr);
      const all = await retrieveAll('DUR002');
      assert.equal(all.size, files.length);
    } finally {
      await kill9();
    }
  });
});
