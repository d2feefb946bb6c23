/**
 * Orthanc as a member hospital's PACS (CHENCUN), in both directions: our SCU (scuEcho/Find/Move/Get/Send)
 * against Orthanc, and Orthanc's SCU (REST /modalities/...) against our SCP.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { makeInstance, makeUid } from '@huiying/dicom/testing';
import { connect, Status, storageContexts } from '@huiying/dimse';
import { readPart10, type DicomJson, type PersonName } from '@huiying/dicom';
import { scuEcho, scuFind, scuGet, scuMove, scuSend } from '../cli/scu.ts';
import { needOrthanc, startOrthanc, type Orthanc } from '../testing/orthanc.ts';
import { startTestServer, type TestServer } from '../testing/test-server.ts';

const CT = '1.2.840.10008.5.1.4.1.1.2';
const MR = '1.2.840.10008.5.1.4.1.1.4';

function pn(ds: DicomJson | undefined): string {
  const v = ds?.['00100010']?.Value?.[0] as PersonName | string | undefined;
  if (v === undefined) return '';
  if (typeof v === 'string') return v;
  return [v.Alphabetic ?? '', v.Ideographic ?? '', v.Phonetic ?? ''].join('=').replace(/=+$/, '');
}
const str = (ds: DicomJson | undefined, tag: string): string => {
  const v: unknown = ds?.[tag]?.Value?.[0];
  return typeof v === 'string' || typeof v === 'number' ? String(v) : '';
};

describe('Orthanc as a member hospital PACS', { skip: needOrthanc() }, () => {
  let srv: TestServer;
  let orthanc: Orthanc;
  // in Orthanc from the start
  const studyA = makeUid(); // GB18030, 李^四, 2 CT
  const studyB = makeUid(); // UTF-8, 王^五, 1 MR
  // in our archive from the start
  const studyC = makeUid(); // GB18030, 赵^六, sent to Orthanc with scuSend
  const studyD = makeUid(); // UTF-8, 孙^七, moved to Orthanc by Orthanc's own C-MOVE

  before(async () => {
    srv = await startTestServer();
    await srv.hospital('CENTER', { center: true, name: '区域医学影像诊断中心' });
    await srv.hospital('CHENCUN', { name: '陈村医院', charset: 'GB18030' });
    await srv.ae('CHENCUN_CT', 'CHENCUN');
    orthanc = await startOrthanc({
      aet: 'CHENCUN_PACS',
      modalities: { HUIYING: ['HUIYING', '127.0.0.1', srv.dicomPort] },
    });
    await srv.ae('CHENCUN_PACS', 'CHENCUN', { host: '127.0.0.1', port: orthanc.dicomPort });

    const seriesA = makeUid();
    for (let i = 1; i <= 2; i++) {
      const r = await orthanc.uploadFile(
        makeInstance({
          patientName: 'Li^Si=李^四',
          patientId: 'OC001',
          studyUid: studyA,
          seriesUid: seriesA,
          sopUid: makeUid(),
          modality: 'CT',
          charset: 'GB18030',
          instanceNumber: i,
          studyDescription: '头颅CT平扫',
          studyDate: '20261101',
        }),
      );
      assert.equal(r.Status, 'Success');
    }
    const rb = await orthanc.uploadFile(
      makeInstance({
        patientName: 'Wang^Wu=王^五',
        patientId: 'OC002',
        studyUid: studyB,
        seriesUid: makeUid(),
        sopUid: makeUid(),
        modality: 'MR',
        charset: 'ISO_IR 192',
        studyDate: '20261102',
      }),
    );
    assert.equal(rb.Status, 'Success');

    // C and D go into our archive through our SCP, from the hospital's CT
    const ours = [
      makeInstance({
        patientName: 'Zhao^Liu=赵^六',
        patientId: 'OC003',
        studyUid: studyC,
        seriesUid: makeUid(),
        sopUid: makeUid(),
        modality: 'CT',
        charset: 'GB18030',
      }),
      makeInstance({
        patientName: 'Sun^Qi=孙^七',
        patientId: 'OC004',
        studyUid: studyD,
        seriesUid: makeUid(),
        sopUid: makeUid(),
        modality: 'CT',
        charset: 'ISO_IR 192',
      }),
    ];
    const assoc = await connect({
      host: '127.0.0.1',
      port: srv.dicomPort,
      callingAeTitle: 'CHENCUN_CT',
      calledAeTitle: 'HUIYING',
      contexts: storageContexts([{ sopClassUid: CT, transferSyntax: '1.2.840.10008.1.2.1' }]),
    });
    try {
      for (const bytes of ours) {
        const p = readPart10(bytes);
        const r = await assoc.store({
          sopClassUid: CT,
          sopInstanceUid: p.meta.mediaStorageSopInstanceUid ?? '',
          transferSyntax: p.meta.transferSyntaxUid,
          data: bytes.subarray(p.datasetOffset),
        });
        assert.equal(r.status, Status.Success);
      }
    } finally {
      await assoc.release();
    }
  });

  after(async () => {
    await orthanc?.stop();
    await srv?.stop();
  });

  const a = (): TestServer['server']['archive'] => srv.server.archive;
  const studyRows = (uid: string): ReturnType<TestServer['server']['archive']['index']['query']> =>
    a().index.query({
      level: 'IMAGE',
      keys: { StudyInstanceUID: { kind: 'single', value: uid } },
      scope: { kind: 'all' },
    });

  test('scuEcho: C-ECHO Orthanc', async () => {
    assert.equal(await scuEcho(a(), 'CHENCUN_PACS'), Status.Success);
  });

  test('scuFind: study level by Chinese PatientName and by PatientID, names decoded', async () => {
    const byName = await scuFind(a(), 'CHENCUN_PACS', {
      level: 'STUDY',
      root: 'study',
      keys: ['PatientName=Li^Si=李^四', 'PatientID', 'StudyInstanceUID', 'StudyDescription'],
    });
    assert.equal(byName.length, 1, JSON.stringify(byName));
    assert.equal(str(byName[0], '0020000D'), studyA);
    assert.match(pn(byName[0]), /李\^四/);
    assert.equal(str(byName[0], '00081030'), '头颅CT平扫');

    const byId = await scuFind(a(), 'CHENCUN_PACS', {
      level: 'STUDY',
      root: 'study',
      keys: ['PatientID=OC002', 'PatientName', 'StudyInstanceUID'],
    });
    assert.equal(byId.length, 1, JSON.stringify(byId));
    assert.equal(str(byId[0], '0020000D'), studyB);
    assert.equal(pn(byId[0]), 'Wang^Wu=王^五');
  });

  test('scuMove: Orthanc sends a study to us; indexed under its hospital', async () => {
    const r = await scuMove(a(), 'CHENCUN_PACS', {
      level: 'STUDY',
      root: 'study',
      keys: [`StudyInstanceUID=${studyA}`],
      destination: 'HUIYING',
    });
    assert.equal(r.failed, 0);
    assert.equal(r.completed, 2);
    const rows = await studyRows(studyA);
    assert.equal(rows.length, 2);
    const chencun = await a().hospitals.byCode('CHENCUN');
    assert.ok(rows.every((row) => row.hospitalId === chencun?.id));
    const study = await a().index.query({
      level: 'STUDY',
      keys: { StudyInstanceUID: { kind: 'single', value: studyA } },
      scope: { kind: 'all' },
    });
    assert.match(String(study[0]?.values.PatientName ?? ''), /李\^四/);
  });

  test('scuGet: C-GET from Orthanc into our archive', async () => {
    const r = await scuGet(a(), 'CHENCUN_PACS', {
      level: 'STUDY',
      root: 'study',
      keys: [`StudyInstanceUID=${studyB}`],
      sopClasses: [MR],
    });
    assert.equal(r.failed, 0);
    assert.equal(r.completed, 1);
    const rows = await studyRows(studyB);
    assert.equal(rows.length, 1);
  });

  test('scuSend: a stored study goes to Orthanc, Chinese name intact', async () => {
    const before = await orthanc.restJson<string[]>('/instances');
    const r = await scuSend(a(), 'CHENCUN_PACS', [`study:${studyC}`]);
    assert.deepEqual(r.failed, []);
    assert.equal(r.sent, 1);
    const after = await orthanc.restJson<string[]>('/instances');
    assert.equal(after.length, before.length + 1);
    const added = after.filter((id) => !before.includes(id));
    const tags = await orthanc.restJson<{ PatientName: string; StudyInstanceUID: string }>(
      `/instances/${added[0] ?? ''}/simplified-tags`,
    );
    assert.equal(tags.StudyInstanceUID, studyC);
    assert.match(tags.PatientName, /赵\^六/);
  });

  test('Orthanc as SCU against us: C-ECHO and C-FIND with Chinese names', async () => {
    const echo = await orthanc.rest('/modalities/HUIYING/echo', { method: 'POST', body: '{}' });
    assert.equal(echo.status, 200, await echo.text());
    const q = await orthanc.restJson<{ ID: string }>('/modalities/HUIYING/query', {
      method: 'POST',
      body: JSON.stringify({
        Level: 'Study',
        Query: { PatientName: '孙*', PatientID: '', StudyInstanceUID: '' },
      }),
    });
    const answers = await orthanc.restJson<Array<Record<string, { Name: string; Value: string }>>>(
      `/queries/${q.ID}/answers?expand`,
    );
    assert.equal(answers.length, 1, JSON.stringify(answers));
    const ans = answers[0] ?? {};
    assert.equal(ans['0020,000d']?.Value, studyD);
    assert.match(ans['0010,0010']?.Value ?? '', /孙\^七/);
    // GB18030 study, answered in a charset Orthanc decodes
    const q2 = await orthanc.restJson<{ ID: string }>('/modalities/HUIYING/query', {
      method: 'POST',
      body: JSON.stringify({ Level: 'Study', Query: { PatientID: 'OC003', PatientName: '' } }),
    });
    const a2 = await orthanc.restJson<Array<Record<string, { Value: string }>>>(
      `/queries/${q2.ID}/answers?expand`,
    );
    assert.equal(a2.length, 1);
    assert.match(a2[0]?.['0010,0010']?.Value ?? '', /赵\^六/);
  });

  test('Orthanc as SCU against us: C-MOVE a study from us into Orthanc', async () => {
    const res = await orthanc.rest('/modalities/HUIYING/move', {
      method: 'POST',
      body: JSON.stringify({
        Level: 'Study',
        Resources: [{ StudyInstanceUID: studyD }],
        TargetAet: 'CHENCUN_PACS',
        Synchronous: true,
      }),
    });
    assert.equal(res.status, 200, await res.text());
    const found = await orthanc.restJson<string[]>('/tools/find', {
      method: 'POST',
      body: JSON.stringify({ Level: 'Study', Query: { StudyInstanceUID: studyD } }),
    });
    assert.equal(found.length, 1);
    const inst = await orthanc.restJson<Array<{ ID: string }>>(`/studies/${found[0] ?? ''}/instances`);
    const tags = await orthanc.restJson<{ PatientName: string }>(
      `/instances/${inst[0]?.ID ?? ''}/simplified-tags`,
    );
    assert.match(tags.PatientName, /孙\^七/);
  });
});
