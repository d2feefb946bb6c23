/** Our SCP (DimseServer) against the DCMTK SCUs: echoscu, storescu, findscu, movescu, getscu. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { buffer } from 'node:stream/consumers';
import { DimseServer } from './server.ts';
import { connect, storageContexts } from './client.ts';
import { DimseError, Status } from './types.ts';
import type { RetrieveProgress, ScpHandlers } from './types.ts';
import { SopClass, TransferSyntax } from './uids.ts';
import {
  datasetOfPart10,
  encodeDataset,
  freePort,
  makeInstance,
  makePart10,
  needCommand,
  run,
  startListener,
  stop,
} from './test-helpers.ts';

const skip = needCommand('storescu') || needCommand('storescp');
const CT = SopClass.CtImageStorage;
const ELE = TransferSyntax.ExplicitVRLittleEndian;

interface Stored {
  sopClassUid: string;
  transferSyntax: string;
  bytes: Buffer;
  chunks: number;
  callingAe: string;
}

describe('DimseServer with DCMTK SCUs', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'dimse-scp-'));
  const stored = new Map<string, Stored>();
  const files: { path: string; uid: string; dataset: Buffer }[] = [];
  let server: DimseServer<{ ae: string }>;
  let port = 0;
  let storescpPort = 0;
  let storescp: ChildProcess | undefined;
  const storescpDir = join(dir, 'storescp-out');
  let findCancelled = false;

  const handlers: ScpHandlers<{ ae: string }> = {
    onAssociate(req) {
      if (req.callingAeTitle === 'UNKNOWN')
        return Promise.resolve({ reject: { result: 1, source: 1, reason: 3 } });
      return Promise.resolve({ accept: { ae: req.callingAeTitle } });
    },
    async store(ctx, req, data) {
      let chunks = 0;
      const parts: Buffer[] = [];
      for await (const c of data) {
        chunks++;
        parts.push(c as Buffer);
      }
      if (req.sopInstanceUid === '1.2.999.1') throw new DimseError(Status.OutOfResources, 'disk full (test)');
      if (req.sopInstanceUid === '1.2.999.2') throw new Error('unexpected bug');
      stored.set(req.sopInstanceUid, {
        sopClassUid: req.sopClassUid,
        transferSyntax: req.transferSyntax,
        bytes: Buffer.concat(parts),
        chunks,
        callingAe: ctx.session.ae,
      });
      return { status: Status.Success };
    },
    async *find(_ctx, req) {
      const slow = Buffer.from(req.identifier).includes(Buffer.from('SLOW'));
      try {
        for (let i = 1; i <= (slow ? 100 : 3); i++) {
          if (slow) await new Promise((r) => setTimeout(r, 20));
          yield encodeDataset(
            [
              { tag: 0x00080052, vr: 'CS', value: 'STUDY' },
              { tag: 0x00100010, vr: 'PN', value: `PATIENT^NUMBER${i}` },
              { tag: 0x0020000d, vr: 'UI', value: `1.2.826.0.1.${i}` },
            ],
            req.transferSyntax,
          );
        }
      } finally {
        // runs when the server stops the iteration on C-CANCEL
        if (req.signal.aborted) findCancelled = true;
      }
    },
    async *move(_ctx, req): AsyncGenerator<RetrieveProgress, RetrieveProgress> {
      if (req.moveDestination !== 'STORESCP')
        throw new DimseError(Status.MoveDestinationUnknown, 'unknown destination');
      const todo = files.slice(0, 3);
      const assoc = await connect({
        host: '127.0.0.1',
        port: storescpPort,
        callingAeTitle: 'HUIYING',
        calledAeTitle: 'STORESCP',
        contexts: storageContexts(todo.map(() => ({ sopClassUid: CT, transferSyntax: ELE }))),
      });
      const p: RetrieveProgress = { remaining: todo.length, completed: 0, failed: 0, warning: 0 };
      try {
        for (const f of todo) {
          const r = await assoc.store({
            sopClassUid: CT,
            sopInstanceUid: f.uid,
            transferSyntax: ELE,
            data: f.dataset,
          });
          p.remaining--;
          if (r.status === 0) p.completed++;
          else p.failed++;
          yield { ...p };
        }
      } finally {
        await assoc.release();
      }
      return p;
    },
    async *get(_ctx, _req, sender): AsyncGenerator<RetrieveProgress, RetrieveProgress> {
      const todo = files.slice(0, 2);
      const p: RetrieveProgress = {
        remaining: todo.length + 1,
        completed: 0,
        failed: 0,
        warning: 0,
        failedSopInstanceUids: [],
      };
      for (const f of todo) {
        assert.ok(sender.acceptedTransferSyntaxes(CT).includes(ELE));
        const r = await sender.store({
          sopClassUid: CT,
          sopInstanceUid: f.uid,
          transferSyntax: ELE,
          data: f.dataset,
        });
        p.remaining--;
        if (r.status === 0) p.completed++;
        else p.failed++;
        yield { ...p };
      }
      // a sub-operation without a usable context fails and is reported
      try {
        await sender.store({
          sopClassUid: '1.2.3.4.5.6.999',
          sopInstanceUid: '1.2.3.9',
          transferSyntax: ELE,
          data: new Uint8Array(2),
        });
      } catch {
        p.remaining--;
        p.failed++;
        p.failedSopInstanceUids?.push('1.2.3.9');
      }
      return p;
    },
  };

  before(async () => {
    for (let i = 1; i <= 4; i++) {
      const uid = `1.2.826.0.1.3680043.9.${i}`;
      const dataset = makeInstance(CT, uid, ELE, i === 4 ? 4_000_000 : 2048 * i);
      const path = join(dir, `f${i}.dcm`);
      writeFileSync(path, makePart10(CT, uid, ELE, dataset));
      files.push({ path, uid, dataset });
    }
    server = new DimseServer({ aeTitle: 'HUIYING', port: 0, host: '127.0.0.1', handlers });
    port = (await server.listen()).port;
    storescpPort = await freePort();
    rmSync(storescpDir, { recursive: true, force: true });
    writeFileSync(join(dir, 'keep'), '');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(storescpDir);
    storescp = await startListener(
      'storescp',
      ['-aet', 'STORESCP', '-od', storescpDir, String(storescpPort)],
      storescpPort,
    );
  });

  after(async () => {
    await server.close();
    if (storescp !== undefined) await stop(storescp);
    rmSync(dir, { recursive: true, force: true });
  });

  test('echoscu succeeds', async () => {
    const r = await run('echoscu', ['-aet', 'ECHOSCU', '-aec', 'HUIYING', '127.0.0.1', String(port)]);
    assert.equal(r.code, 0, r.stderr);
  });

  test('unknown calling AE is rejected (reason 3)', async () => {
    const r = await run('echoscu', ['-d', '-aet', 'UNKNOWN', '-aec', 'HUIYING', '127.0.0.1', String(port)]);
    assert.notEqual(r.code, 0);
    const out = r.stdout + r.stderr;
    assert.match(out, /Reject/i);
    assert.match(out, /Calling AE Title Not Recognized/i);
  });

  test('wrong called AE is rejected (reason 7)', async () => {
    const r = await run('echoscu', ['-d', '-aet', 'ECHOSCU', '-aec', 'NOTUS', '127.0.0.1', String(port)]);
    assert.notEqual(r.code, 0);
    assert.match(r.stdout + r.stderr, /Called AE Title Not Recognized/i);
  });

  test('storescu: several files in one association, bytes identical (incl. a 4 MB file, streamed)', async () => {
    const r = await run('storescu', [
      '-aet',
      'MODALITY',
      '-aec',
      'HUIYING',
      '127.0.0.1',
      String(port),
      ...files.map((f) => f.path),
    ]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    for (const f of files) {
      const s = stored.get(f.uid);
      assert.ok(s, `stored ${f.uid}`);
      assert.equal(s.sopClassUid, CT);
      assert.equal(s.transferSyntax, ELE);
      assert.equal(s.callingAe, 'MODALITY');
      assert.ok(s.bytes.equals(datasetOfPart10(readFileSync(f.path))), `bytes of ${f.uid}`);
    }
    const big = stored.get(files[3]?.uid ?? '');
    assert.ok(big !== undefined && big.chunks > 10, 'big instance arrived in many chunks');
  });

  test('storescu: handler DimseError and other throws become failure statuses', async () => {
    const p1 = join(dir, 'fail1.dcm');
    const p2 = join(dir, 'fail2.dcm');
    writeFileSync(p1, makePart10(CT, '1.2.999.1', ELE, makeInstance(CT, '1.2.999.1', ELE)));
    writeFileSync(p2, makePart10(CT, '1.2.999.2', ELE, makeInstance(CT, '1.2.999.2', ELE)));
    const r = await run('storescu', [
      '-d',
      '-nh',
      '-aet',
      'MODALITY',
      '-aec',
      'HUIYING',
      '127.0.0.1',
      String(port),
      p1,
      p2,
    ]);
    const out = r.stdout + r.stderr;
    assert.match(out, /0xa700: Refused: Out of resources/i);
    assert.match(out, /disk full \(test\)/);
    assert.match(out, /unexpected bug/);
  });

  test('findscu (study root) receives every pending answer', async () => {
    const r = await run('findscu', [
      '-v',
      '-S',
      '-aet',
      'FINDSCU',
      '-aec',
      'HUIYING',
      '-k',
      'QueryRetrieveLevel=STUDY',
      '-k',
      'PatientName=',
      '-k',
      'StudyInstanceUID=',
      '127.0.0.1',
      String(port),
    ]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const out = r.stdout + r.stderr;
    for (let i = 1; i <= 3; i++) assert.match(out, new RegExp(`PATIENT\\^NUMBER${i}`));
    assert.match(out, /Find Response: 4 \(Success\)|Received Final Find Response \(Success\)/);
  });

  test('findscu --cancel: C-CANCEL stops the handler, final status Cancel', async () => {
    findCancelled = false;
    const r = await run('findscu', [
      '-v',
      '-S',
      '--cancel',
      '2',
      '-aet',
      'FINDSCU',
      '-aec',
      'HUIYING',
      '-k',
      'QueryRetrieveLevel=STUDY',
      '-k',
      'PatientName=SLOW',
      '127.0.0.1',
      String(port),
    ]);
    const out = r.stdout + r.stderr;
    assert.match(out, /Cancel/);
    assert.doesNotMatch(out, /NUMBER20/);
    assert.equal(findCancelled, true);
  });

  test('movescu to storescp: our handler C-STOREs with DimseClient', async () => {
    const r = await run('movescu', [
      '-v',
      '-S',
      '-aet',
      'MOVESCU',
      '-aec',
      'HUIYING',
      '-aem',
      'STORESCP',
      '-k',
      'QueryRetrieveLevel=STUDY',
      '-k',
      'StudyInstanceUID=1.2.3.4.5.6.7',
      '127.0.0.1',
      String(port),
    ]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const got = readdirSync(storescpDir);
    for (const f of files.slice(0, 3)) {
      const name = got.find((n) => n.includes(f.uid));
      assert.ok(name, `storescp received ${f.uid}: ${got.join(',')}`);
      assert.ok(datasetOfPart10(readFileSync(join(storescpDir, name))).equals(f.dataset));
    }
  });

  test('movescu to an unknown destination gets 0xA801', async () => {
    const r = await run('movescu', [
      '-v',
      '-S',
      '-aet',
      'MOVESCU',
      '-aec',
      'HUIYING',
      '-aem',
      'NOWHERE',
      '-k',
      'QueryRetrieveLevel=STUDY',
      '-k',
      'StudyInstanceUID=1.2.3.4.5.6.7',
      '127.0.0.1',
      String(port),
    ]);
    assert.match(r.stdout + r.stderr, /Refused: MoveDestinationUnknown/);
  });

  test('getscu receives instances over the same association (SCP role)', async () => {
    const out = join(dir, 'getscu-out');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(out);
    const r = await run('getscu', [
      '-v',
      '-S',
      '-aet',
      'GETSCU',
      '-aec',
      'HUIYING',
      '-od',
      out,
      '-k',
      'QueryRetrieveLevel=STUDY',
      '-k',
      'StudyInstanceUID=1.2.3.4.5.6.7',
      '127.0.0.1',
      String(port),
    ]);
    const log = r.stdout + r.stderr;
    const got = readdirSync(out);
    for (const f of files.slice(0, 2)) {
      const name = got.find((n) => n.includes(f.uid));
      assert.ok(name, `getscu received ${f.uid}: ${got.join(',')}\n${log}`);
      assert.ok(datasetOfPart10(readFileSync(join(out, name))).equals(f.dataset));
    }
    assert.match(log, /Warning|0xb000/i);
  });

  test('our DimseClient gets (C-GET) from our SCP, with the failed UID list', async () => {
    const assoc = await connect({
      host: '127.0.0.1',
      port,
      callingAeTitle: 'GETTER',
      calledAeTitle: 'HUIYING',
      contexts: [
        { abstractSyntax: SopClass.StudyRootGet, transferSyntaxes: [ELE] },
        { abstractSyntax: CT, transferSyntaxes: [ELE], scpRole: true },
      ],
    });
    const received: string[] = [];
    const gen = assoc.get(
      SopClass.StudyRootGet,
      encodeDataset([{ tag: 0x00080052, vr: 'CS', value: 'STUDY' }]),
      async (req, data) => {
        const b = await buffer(data);
        assert.ok(b.equals(files.find((f) => f.uid === req.sopInstanceUid)?.dataset ?? Buffer.alloc(0)));
        received.push(req.sopInstanceUid);
        return { status: 0 };
      },
    );
    let r = await gen.next();
    let pendings = 0;
    while (r.done !== true) {
      pendings++;
      r = await gen.next();
    }
    assert.equal(pendings, 2);
    assert.equal(r.value.status, Status.SubOpsWarning);
    assert.equal(r.value.completed, 2);
    assert.equal(r.value.failed, 1);
    assert.deepEqual(r.value.failedSopInstanceUids, ['1.2.3.9']);
    assert.deepEqual(
      received,
      files.slice(0, 2).map((f) => f.uid),
    );
    await assoc.release();
  });
});
