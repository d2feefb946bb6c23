/**
 * dcmjs-dimse's Client as an independent SCU (a second DIMSE implementation besides DCMTK) against our
 * server: C-ECHO, C-STORE, C-FIND with a Chinese name, C-GET and C-MOVE.
 *
 * Fixtures are UTF-8 (ISO_IR 192): dcmjs-dimse decodes answers with dcmjs, whose GB18030/GBK support
 * depends on the runtime's TextDecoder and which re-labels text when it re-encodes (see
 * ../shared/notes/dependencies.md); our server answers a UTF-8 query in UTF-8, which is what a
 * dcmjs-dimse user gets in practice.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import dimse from 'dcmjs-dimse';
import { makeInstance, makeUid } from '@huiying/dicom/testing';
import { startStorescp, needDcmtk } from '../testing/dcmtk.ts';
import { startTestServer, type TestServer } from '../testing/test-server.ts';

const { Client } = dimse;
const { CEchoRequest, CFindRequest, CStoreRequest, CGetRequest, CMoveRequest } = dimse.requests;
const { CStoreResponse } = dimse.responses;
const { Status } = dimse.constants;
dimse.log.setLevel(process.env.HUIYING_TEST_LOG === '1' ? 'info' : 'silent');

type Req = InstanceType<typeof CEchoRequest>;
type Rsp = { getStatus(): number; hasDataset(): boolean; getDataset(): { getElement(t: string): unknown } };

/** Sends requests on one association; resolves with every response once the association closed. */
function run(
  port: number,
  callingAe: string,
  requests: Req[],
  onStore?: (ds: { getElement(t: string): unknown }) => void,
): Promise<Rsp[]> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    const responses: Rsp[] = [];
    for (const r of requests) {
      r.on('response', (rsp: Rsp) => responses.push(rsp));
      client.addRequest(r);
    }
    if (onStore !== undefined) {
      client.on(
        'cStoreRequest',
        (req: InstanceType<typeof CStoreRequest>, callback: (r: unknown) => void) => {
          onStore(req.getDataset() as { getElement(t: string): unknown });
          const rsp = CStoreResponse.fromRequest(req);
          rsp.setStatus(Status.Success);
          callback(rsp);
        },
      );
    }
    client.on('associationRejected', (r: unknown) => reject(new Error(`rejected: ${JSON.stringify(r)}`)));
    client.on('networkError', (e: Error) => reject(e));
    client.on('closed', () => resolve(responses));
    client.send('127.0.0.1', port, callingAe, 'HUIYING', { associationTimeout: 10_000, pduTimeout: 10_000 });
  });
}

function personName(v: unknown): string {
  const first: unknown = Array.isArray(v) ? v[0] : v;
  if (typeof first === 'string') return first;
  if (first !== null && typeof first === 'object') {
    const p = first as { Alphabetic?: string; Ideographic?: string; Phonetic?: string };
    return [p.Alphabetic ?? '', p.Ideographic ?? '', p.Phonetic ?? ''].join('=').replace(/=+$/, '');
  }
  return '';
}

describe('dcmjs-dimse Client as SCU against our SCP', () => {
  let srv: TestServer;
  let work: string;
  let file: string;
  const studyUid = makeUid();
  const sopUid = makeUid();

  before(async () => {
    srv = await startTestServer();
    work = await mkdtemp(join(tmpdir(), 'hy-dcmjs-'));
    await srv.hospital('CENTER', { center: true });
    await srv.hospital('XINGTAN', { name: '杏坛医院' });
    await srv.ae('XINGTAN_WS', 'XINGTAN');
    file = join(work, 'ct.dcm');
    await writeFile(
      file,
      makeInstance({
        patientName: 'Zhang^Wei=张^伟',
        patientId: 'DJ001',
        studyUid,
        seriesUid: makeUid(),
        sopUid,
        modality: 'CT',
        charset: 'ISO_IR 192',
        studyDescription: '腹部CT增强',
      }),
    );
  });

  after(async () => {
    await srv?.stop();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  test('C-ECHO', async () => {
    const rsp = await run(srv.dicomPort, 'XINGTAN_WS', [new CEchoRequest()]);
    assert.deepEqual(
      rsp.map((r) => r.getStatus()),
      [Status.Success],
    );
  });

  test('an unregistered calling AE is rejected', async () => {
    await assert.rejects(run(srv.dicomPort, 'STRANGER', [new CEchoRequest()]), /rejected/);
  });

  test('C-STORE of a fixture', async () => {
    const rsp = await run(srv.dicomPort, 'XINGTAN_WS', [new CStoreRequest(file)]);
    assert.deepEqual(
      rsp.map((r) => r.getStatus()),
      [Status.Success],
    );
    const rows = await srv.server.archive.index.query({
      level: 'IMAGE',
      keys: { SOPInstanceUID: { kind: 'single', value: sopUid } },
      scope: { kind: 'all' },
    });
    assert.equal(rows.length, 1);
  });

  test('C-FIND (study root) by Chinese name returns the decoded name', async () => {
    const req = CFindRequest.createStudyFindRequest({
      SpecificCharacterSet: 'ISO_IR 192',
      PatientName: '张*',
      PatientID: '',
      StudyInstanceUID: '',
      StudyDescription: '',
    });
    const rsp = await run(srv.dicomPort, 'XINGTAN_WS', [req]);
    const pending = rsp.filter((r) => r.getStatus() === Status.Pending && r.hasDataset());
    assert.equal(pending.length, 1);
    const ds = pending[0]?.getDataset();
    assert.equal(ds?.getElement('StudyInstanceUID'), studyUid);
    assert.equal(personName(ds?.getElement('PatientName')), 'Zhang^Wei=张^伟');
    assert.equal(ds?.getElement('StudyDescription'), '腹部CT增强');
    assert.equal(rsp.at(-1)?.getStatus(), Status.Success);
  });

  test('C-GET of the study', async () => {
    const got: string[] = [];
    const rsp = await run(srv.dicomPort, 'XINGTAN_WS', [CGetRequest.createStudyGetRequest(studyUid)], (ds) =>
      got.push(String(ds.getElement('SOPInstanceUID'))),
    );
    assert.deepEqual(got, [sopUid]);
    assert.equal(rsp.at(-1)?.getStatus(), Status.Success);
  });

  test(
    'C-MOVE of the study to a registered destination (DCMTK storescp)',
    { skip: needDcmtk() },
    async () => {
      const scp = await startStorescp({ aet: 'XINGTAN_VIEW', dir: join(work, 'moved') });
      try {
        await srv.ae('XINGTAN_VIEW', 'XINGTAN', { host: '127.0.0.1', port: scp.port });
        const rsp = await run(srv.dicomPort, 'XINGTAN_WS', [
          CMoveRequest.createStudyMoveRequest('XINGTAN_VIEW', studyUid),
        ]);
        assert.equal(rsp.at(-1)?.getStatus(), Status.Success);
        const files = await scp.files();
        assert.equal(files.length, 1, scp.log());
        assert.ok(files[0]?.endsWith(sopUid));
      } finally {
        await scp.stop();
      }
    },
  );
});
