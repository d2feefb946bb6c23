/** Our SCU (connect/ClientAssociation) against DCMTK storescp and dcmjs-dimse's Scp. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import dcmjsDimse from 'dcmjs-dimse';
import { connect, storageContexts } from './client.ts';
import { Status } from './types.ts';
import { SopClass, TransferSyntax } from './uids.ts';
import {
  datasetOfPart10,
  encodeDataset,
  freePort,
  makeInstance,
  needCommand,
  startListener,
  stop,
} from './test-helpers.ts';

const CT = SopClass.CtImageStorage;
const ELE = TransferSyntax.ExplicitVRLittleEndian;

describe('our SCU -> DCMTK storescp', { skip: needCommand('storescp') }, () => {
  test('echo, then store instances (one streamed, 3 MB) byte-identical', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dimse-scu-'));
    const port = await freePort();
    const scp = await startListener('storescp', ['-aet', 'STORESCP', '-od', dir, String(port)], port);
    try {
      const instances = [1, 2, 3].map((i) => {
        const uid = `1.2.826.0.1.3680043.9.77.${i}`;
        return { uid, dataset: makeInstance(CT, uid, ELE, i === 3 ? 3_000_000 : 1000 * i) };
      });
      const a = await connect({
        host: '127.0.0.1',
        port,
        callingAeTitle: 'HUIYING',
        calledAeTitle: 'STORESCP',
        contexts: storageContexts(instances.map(() => ({ sopClassUid: CT, transferSyntax: ELE }))),
      });
      assert.equal(a.contextFor(CT, ELE)?.transferSyntax, ELE);
      assert.equal((await a.echo()).status, 0);
      for (const [i, inst] of instances.entries()) {
        // the big one is streamed from a Readable in odd-sized chunks
        const data =
          i === 2
            ? Readable.from(
                (function* () {
                  for (let o = 0; o < inst.dataset.length; o += 77_777)
                    yield inst.dataset.subarray(o, o + 77_777);
                })(),
              )
            : inst.dataset;
        const r = await a.store({ sopClassUid: CT, sopInstanceUid: inst.uid, transferSyntax: ELE, data });
        assert.equal(r.status, Status.Success);
      }
      await a.release();
      const files = readdirSync(dir);
      for (const inst of instances) {
        const name = files.find((n) => n.includes(inst.uid));
        assert.ok(name, `received ${inst.uid}`);
        assert.ok(
          datasetOfPart10(readFileSync(join(dir, name))).equals(inst.dataset),
          `bytes of ${inst.uid}`,
        );
      }
    } finally {
      await stop(scp);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

const { Server, Scp, Dataset } = dcmjsDimse;
const { CEchoResponse, CFindResponse, CStoreResponse } = dcmjsDimse.responses;
type Association = Parameters<InstanceType<typeof Scp>['associationRequested']>[0];
type StoreRq = Parameters<InstanceType<typeof Scp>['cStoreRequest']>[0];

const dcmjsStored: { sopInstanceUid: string | undefined; patientName: string | undefined }[] = [];

class TestScp extends Scp {
  association: Association | undefined;
  override associationRequested(association: Association): void {
    this.association = association;
    for (const c of association.getPresentationContexts()) {
      const ctx = association.getPresentationContext(c.id);
      const ts = ctx.getTransferSyntaxUids();
      if (ts.includes(ELE)) ctx.setResult(0, ELE);
      else if (ts.includes(TransferSyntax.ImplicitVRLittleEndian))
        ctx.setResult(0, TransferSyntax.ImplicitVRLittleEndian);
      else ctx.setResult(4);
    }
    this.sendAssociationAccept();
  }
  override cEchoRequest(
    request: Parameters<InstanceType<typeof Scp>['cEchoRequest']>[0],
    cb: (r: InstanceType<typeof CEchoResponse>) => void,
  ): void {
    const r = CEchoResponse.fromRequest(request);
    r.setStatus(0);
    cb(r);
  }
  override cStoreRequest(request: StoreRq, cb: (r: InstanceType<typeof CStoreResponse>) => void): void {
    const ds = request.getDataset();
    dcmjsStored.push({
      sopInstanceUid: ds?.getElement('SOPInstanceUID'),
      patientName: ds?.getElement('PatientID'),
    });
    const r = CStoreResponse.fromRequest(request);
    r.setStatus(0);
    cb(r);
  }
  override cFindRequest(
    request: Parameters<InstanceType<typeof Scp>['cFindRequest']>[0],
    cb: (r: InstanceType<typeof CFindResponse>[]) => void,
  ): void {
    const out: InstanceType<typeof CFindResponse>[] = [];
    for (const id of ['A1', 'A2']) {
      const p = CFindResponse.fromRequest(request);
      p.setDataset(new Dataset({ PatientID: id, QueryRetrieveLevel: 'PATIENT' }));
      p.setStatus(Status.Pending);
      out.push(p);
    }
    const f = CFindResponse.fromRequest(request);
    f.setStatus(0);
    out.push(f);
    cb(out);
  }
  override associationReleaseRequested(): void {
    this.sendAssociationReleaseResponse();
  }
}

describe('our SCU -> dcmjs-dimse Scp', () => {
  test('echo, store, find', async () => {
    const port = await freePort();
    const server = new Server(TestScp);
    server.on('networkError', () => {});
    server.listen(port);
    try {
      const a = await connect({
        host: '127.0.0.1',
        port,
        callingAeTitle: 'HUIYING',
        calledAeTitle: 'DCMJS',
        contexts: [
          {
            abstractSyntax: SopClass.Verification,
            transferSyntaxes: [TransferSyntax.ImplicitVRLittleEndian],
          },
          { abstractSyntax: CT, transferSyntaxes: [ELE] },
          { abstractSyntax: SopClass.PatientRootFind, transferSyntaxes: [ELE] },
        ],
      });
      assert.equal((await a.echo()).status, 0);
      const uid = '1.2.826.0.1.3680043.9.88.1';
      const r = await a.store({
        sopClassUid: CT,
        sopInstanceUid: uid,
        transferSyntax: ELE,
        data: makeInstance(CT, uid, ELE, 200_000),
      });
      assert.equal(r.status, 0);
      assert.deepEqual(dcmjsStored, [{ sopInstanceUid: uid, patientName: 'PID1' }]);
      const ids: string[] = [];
      const gen = a.find(
        SopClass.PatientRootFind,
        encodeDataset([
          { tag: 0x00080052, vr: 'CS', value: 'PATIENT' },
          { tag: 0x00100020, vr: 'LO', value: '' },
        ]),
      );
      let n = await gen.next();
      while (n.done !== true) {
        const ds = new Dataset(Buffer.from(n.value), ELE);
        ids.push(ds.getElement('PatientID') ?? '');
        n = await gen.next();
      }
      assert.equal(n.value, Status.Success);
      assert.deepEqual(ids, ['A1', 'A2']);
      await a.release();
    } finally {
      server.close();
    }
  });
});
