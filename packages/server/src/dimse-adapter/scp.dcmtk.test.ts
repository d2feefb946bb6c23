/**
 * The archive's DIMSE SCP against DCMTK (echoscu, storescu, findscu, movescu, getscu) as real peers.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeInstance, makeUid } from '@huiying/dicom/testing';
import { readPart10 } from '@huiying/dicom';
import { connect } from '@huiying/dimse';
import { needDcmtk, runDcmtk, startStorescp } from '../testing/dcmtk.ts';
import { startTestServer, type TestServer } from '../testing/test-server.ts';
import { samplesDir } from '../testing/peers.ts';

const skip = needDcmtk();

describe('DIMSE SCP with DCMTK peers', { skip }, () => {
  let srv: TestServer;
  let work: string;
  const studyUid = makeUid();
  const otherStudyUid = makeUid();
  const files: string[] = [];
  const host = '127.0.0.1';

  before(async () => {
    srv = await startTestServer();
    work = await mkdtemp(join(tmpdir(), 'hy-dcmtk-'));
    await srv.hospital('CENTER', { center: true, name: '区域医学影像诊断中心' });
    await srv.hospital('CHENCUN', { name: '陈村医院', charset: 'GB18030' });
    await srv.hospital('XINGTAN', { name: '杏坛医院' });
    await srv.ae('CENTER_WS', 'CENTER');
    await srv.ae('CHENCUN_CT', 'CHENCUN');
    await srv.ae('XINGTAN_CT', 'XINGTAN');
    await mkdir(join(work, 'in'), { recursive: true });
    const seriesUid = makeUid();
    for (let i = 1; i <= 3; i++) {
      const bytes = makeInstance({
        patientName: 'Zhang^San=张^三',
        patientId: 'P001',
        studyUid,
        seriesUid,
        sopUid: makeUid(),
        modality: 'CT',
        charset: 'GB18030',
        instanceNumber: i,
        studyDescription: '胸部CT平扫',
        studyDate: '20261120',
        accessionNumber: 'ACC001',
      });
      const f = join(work, 'in', `ct${i}.dcm`);
      await writeFile(f, bytes);
      files.push(f);
    }
    // same Patient ID at another hospital: a different patient
    const other = makeInstance({
      patientName: 'Li^Si=李^四',
      patientId: 'P001',
      studyUid: otherStudyUid,
      seriesUid: makeUid(),
      sopUid: makeUid(),
      modality: 'MR',
      charset: 'ISO_IR 192',
    });
    await writeFile(join(work, 'other.dcm'), other);
  });

  after(async () => {
    await srv?.stop();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  const port = (): string => String(srv.dicomPort);

  test('C-ECHO from a registered AE succeeds; an unknown calling AE is rejected', async () => {
    const ok = await runDcmtk('echoscu', ['-aet', 'CHENCUN_CT', '-aec', 'HUIYING', host, port()]);
    assert.equal(ok.code, 0, ok.stderr);
    const bad = await runDcmtk('echoscu', ['-aet', 'STRANGER', '-aec', 'HUIYING', host, port()]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr + bad.stdout, /Calling AE Title Not Recognized|rejected/i);
    const wrongCalled = await runDcmtk('echoscu', ['-aet', 'CHENCUN_CT', '-aec', 'NOTUS', host, port()]);
    assert.notEqual(wrongCalled.code, 0);
  });

  test('C-STORE from storescu stores and indexes every instance', async () => {
    const r = await runDcmtk('storescu', ['-aet', 'CHENCUN_CT', '-aec', 'HUIYING', host, port(), ...files]);
    assert.equal(r.code, 0, r.stderr);
    const r2 = await runDcmtk('storescu', [
      '-aet',
      'XINGTAN_CT',
      '-aec',
      'HUIYING',
      host,
      port(),
      join(work, 'other.dcm'),
    ]);
    assert.equal(r2.code, 0, r2.stderr);
    const rows = await srv.server.archive.index.query({
      level: 'STUDY',
      keys: { StudyInstanceUID: { kind: 'single', value: studyUid } },
      scope: { kind: 'all' },
    });
    assert.equal(rows.length, 1);
    assert.equal(Number(rows[0]?.values.NumberOfStudyRelatedInstances), 3);
    // the same Patient ID at two hospitals stays two patients
    const patients = await srv.server.archive.index.query({
      level: 'PATIENT',
      keys: { PatientID: { kind: 'single', value: 'P001' } },
      scope: { kind: 'all' },
    });
    assert.equal(patients.length, 2);
  });

  test('C-STORE of the same instance again is acknowledged and not duplicated', async () => {
    const r = await runDcmtk('storescu', [
      '-aet',
      'CHENCUN_CT',
      '-aec',
      'HUIYING',
      host,
      port(),
      files[0] ?? '',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const rows = await srv.server.archive.index.query({
      level: 'IMAGE',
      keys: { StudyInstanceUID: { kind: 'single', value: studyUid } },
      scope: { kind: 'all' },
    });
    assert.equal(rows.length, 3);
  });

  async function findscu(aet: string, dumpLines: string[]): Promise<string[]> {
    const dir = await mkdtemp(join(work, 'find-'));
    const dump = join(dir, 'q.dump');
    const text = dumpLines.join('\n') + '\n';
    await writeFile(dump, text, 'utf8');
    const q = join(dir, 'q.dcm');
    const d2d = await runDcmtk('dump2dcm', [dump, q]);
    assert.equal(d2d.code, 0, d2d.stderr);
    const r = await runDcmtk('findscu', [
      '-S',
      '-aet',
      aet,
      '-aec',
      'HUIYING',
      '-X',
      '-od',
      dir,
      host,
      port(),
      q,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const names = (await readdir(dir)).filter((n) => n.startsWith('rsp')).sort();
    const out: string[] = [];
    for (const n of names) {
      const d = await runDcmtk('dcmdump', ['+U8', join(dir, n)]);
      out.push(d.stdout);
    }
    return out;
  }

  test('C-FIND by Chinese name (UTF-8 query) finds the GB18030 study; answers are in a charset the caller reads', async () => {
    const answers = await findscu('CENTER_WS', [
      '(0008,0005) CS [ISO_IR 192]',
      '(0008,0052) CS [STUDY]',
      '(0010,0010) PN [张*]',
      '(0010,0020) LO []',
      '(0020,000d) UI []',
      '(0008,1030) LO []',
      '(0020,1208) IS []',
    ]);
    assert.equal(answers.length, 1, answers.join('\n'));
    const a = answers[0] ?? '';
    assert.match(a, /张\^三/);
    assert.match(a, /胸部CT平扫/);
    assert.match(a, new RegExp(studyUid.replaceAll('.', '\\.')));
    assert.match(a, /\(0020,1208\) IS \[3\]/);
  });

  test('C-FIND is scoped: a member hospital sees only its own data', async () => {
    const mine = await findscu('XINGTAN_CT', [
      '(0008,0052) CS [STUDY]',
      '(0010,0020) LO [P001]',
      '(0020,000d) UI []',
    ]);
    assert.equal(mine.length, 1);
    assert.match(mine[0] ?? '', new RegExp(otherStudyUid.replaceAll('.', '\\.')));
    const center = await findscu('CENTER_WS', [
      '(0008,0052) CS [STUDY]',
      '(0010,0020) LO [P001]',
      '(0020,000d) UI []',
    ]);
    assert.equal(center.length, 2);
  });

  test('C-FIND at SERIES and IMAGE level, date range and wildcard', async () => {
    const series = await findscu('CHENCUN_CT', [
      '(0008,0052) CS [SERIES]',
      `(0020,000d) UI [${studyUid}]`,
      '(0008,0060) CS [CT]',
      '(0020,000e) UI []',
      '(0020,1209) IS []',
    ]);
    assert.equal(series.length, 1);
    assert.match(series[0] ?? '', /\(0020,1209\) IS \[3\]/);
    const images = await findscu('CHENCUN_CT', [
      '(0008,0052) CS [IMAGE]',
      `(0020,000d) UI [${studyUid}]`,
      '(0008,0018) UI []',
      '(0020,0013) IS []',
    ]);
    assert.equal(images.length, 3);
    const byDate = await findscu('CENTER_WS', [
      '(0008,0052) CS [STUDY]',
      '(0008,0020) DA [20261101-20261130]',
      '(0008,0050) SH [ACC*]',
      '(0020,000d) UI []',
    ]);
    assert.equal(byDate.length, 1);
    const none = await findscu('CENTER_WS', [
      '(0008,0052) CS [STUDY]',
      '(0008,0020) DA [-20200101]',
      '(0020,000d) UI []',
    ]);
    assert.equal(none.length, 0);
  });

  test('C-MOVE to a registered storescp delivers the study; unknown destination fails', async () => {
    const scp = await startStorescp({ aet: 'MOVEDEST', dir: join(work, 'moved') });
    try {
      await srv.ae('MOVEDEST', 'CENTER', { host, port: scp.port });
      const r = await runDcmtk('movescu', [
        '-S',
        '-aet',
        'CENTER_WS',
        '-aec',
        'HUIYING',
        '-aem',
        'MOVEDEST',
        '-k',
        '0008,0052=STUDY',
        '-k',
        `0020,000d=${studyUid}`,
        host,
        port(),
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((await scp.files()).length, 3, scp.log());
      const bad = await runDcmtk('movescu', [
        '-S',
        '-aet',
        'CENTER_WS',
        '-aec',
        'HUIYING',
        '-aem',
        'NOWHERE',
        '-k',
        '0008,0052=STUDY',
        '-k',
        `0020,000d=${studyUid}`,
        host,
        port(),
      ]);
      assert.match(bad.stderr + bad.stdout, /MoveDestinationUnknown|Move Destination Unknown|a801/i);
    } finally {
      await scp.stop();
    }
  });

  test("C-MOVE by a member hospital cannot reach another hospital's study", async () => {
    const scp = await startStorescp({ aet: 'MOVEDEST2', dir: join(work, 'moved2') });
    try {
      await srv.ae('MOVEDEST2', 'XINGTAN', { host, port: scp.port });
      const r = await runDcmtk('movescu', [
        '-S',
        '-aet',
        'XINGTAN_CT',
        '-aec',
        'HUIYING',
        '-aem',
        'MOVEDEST2',
        '-k',
        '0008,0052=STUDY',
        '-k',
        `0020,000d=${studyUid}`,
        host,
        port(),
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((await scp.files()).length, 0);
    } finally {
      await scp.stop();
    }
  });

  test('C-GET returns the study over the same association, identical datasets', async () => {
    const out = join(work, 'got');
    await mkdir(out, { recursive: true });
    const r = await runDcmtk('getscu', [
      '-S',
      '-aet',
      'CHENCUN_CT',
      '-aec',
      'HUIYING',
      '-od',
      out,
      '-k',
      '0008,0052=STUDY',
      '-k',
      `0020,000d=${studyUid}`,
      host,
      port(),
    ]);
    assert.equal(r.code, 0, r.stderr);
    const got = await readdir(out);
    assert.equal(got.length, 3, r.stderr);
    for (const f of got) {
      const d = await runDcmtk('dcmdump', ['+U8', join(out, f)]);
      assert.match(d.stdout, /张\^三/);
    }
  });

  test(
    'every invalid/ sample sent raw by C-STORE gets a failure status with a comment; the server keeps serving',
    { skip: samplesDir() === undefined ? 'no ../shared/dicom-samples' : false },
    async () => {
      // DCMTK's storescu refuses to send most broken files, so our SCU sends the raw bytes behind the meta.
      const dir = join(samplesDir() ?? '', 'invalid');
      // well-formed over the wire: the damage is in the File Meta (not sent by C-STORE), or the "delimiter"
      // bytes sit inside a fragment of stated length, which is legal content
      const acceptable = new Set([
        'derived-CT_small-bad-meta-group-length.dcm',
        'JPEG2000-embedded-sequence-delimiter.dcm',
      ]);
      const names = (await readdir(dir)).filter((n) => n.endsWith('.dcm')).sort();
      assert.ok(names.length >= 15);
      for (const n of names) {
        const buf = await readFile(join(dir, n));
        let ts = '1.2.840.10008.1.2.1';
        let offset = 0;
        let sopClass = '1.2.840.10008.5.1.4.1.1.7';
        let sopInstance = makeUid();
        try {
          const p = readPart10(buf);
          ts = p.meta.transferSyntaxUid;
          offset = p.datasetOffset;
          sopClass = p.meta.mediaStorageSopClassUid ?? sopClass;
          sopInstance = p.meta.mediaStorageSopInstanceUid ?? sopInstance;
        } catch {
          // not even a readable Part 10: send the bytes as a raw data set
        }
        const assoc = await connect({
          host,
          port: srv.dicomPort,
          callingAeTitle: 'CHENCUN_CT',
          calledAeTitle: 'HUIYING',
          contexts: [{ abstractSyntax: sopClass, transferSyntaxes: [ts] }],
        });
        try {
          const r = await assoc.store({
            sopClassUid: sopClass,
            sopInstanceUid: sopInstance,
            transferSyntax: ts,
            data: buf.subarray(offset),
          });
          if (acceptable.has(n)) {
            assert.equal(r.status, 0, `${n}: ${r.errorComment ?? ''}`);
          } else {
            assert.notEqual(r.status, 0, `${n} was accepted`);
            assert.ok(
              (r.status & 0xf000) === 0xc000 || (r.status & 0xff00) === 0xa900,
              `${n}: status 0x${r.status.toString(16)}`,
            );
            assert.ok((r.errorComment ?? '').length > 5, `${n}: no error comment`);
          }
        } finally {
          await assoc.release();
        }
      }
      const ok = await runDcmtk('echoscu', ['-aet', 'CHENCUN_CT', '-aec', 'HUIYING', host, port()]);
      assert.equal(ok.code, 0, 'server still answers after the invalid files');
      // nothing of the broken files reached the index or the blob folder's staging area
      assert.deepEqual(await readdir(join(srv.dataDir, 'staging')), []);
    },
  );
});
