import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { makeTinyDicom, needDcmtk, runDcmtk, startStorescp } from './dcmtk.ts';
import { needOrthanc, startOrthanc } from './orthanc.ts';
import { needSamples, samplesDir } from './peers.ts';

const skip = needOrthanc({ dicomWeb: true }) || needDcmtk();
let work = '';
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'huiying-orthanc-test-'));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

test(
  'Orthanc starts on free ports, answers /system, C-ECHO, C-STORE, QIDO, and sends to a modality',
  { skip },
  async () => {
    const scp = await startStorescp({ aet: 'HYDEST', dir: join(work, 'dest') });
    const orthanc = await startOrthanc({
      aet: 'HYORTHANC',
      dicomWeb: true,
      modalities: { DEST: ['HYDEST', '127.0.0.1', scp.port] },
    });
    try {
      const system = await orthanc.restJson<{ DicomAet: string; DicomPort: number; Version: string }>(
        '/system',
      );
      assert.equal(system.DicomAet, 'HYORTHANC');
      assert.equal(system.DicomPort, orthanc.dicomPort);

      const echo = await runDcmtk('echoscu', ['-aec', orthanc.aet, '127.0.0.1', String(orthanc.dicomPort)]);
      assert.equal(echo.code, 0, echo.stderr);

      const tiny = await makeTinyDicom(join(work, 'src'), { patientId: 'ORTHTEST1' });
      const store = await runDcmtk('storescu', [
        '-aec',
        orthanc.aet,
        '127.0.0.1',
        String(orthanc.dicomPort),
        tiny.path,
      ]);
      assert.equal(store.code, 0, store.stderr);
      const instances = await orthanc.restJson<string[]>('/instances');
      assert.equal(instances.length, 1);

      const qido = await orthanc.rest(`/dicom-web/studies?PatientID=ORTHTEST1`, {
        headers: { Accept: 'application/dicom+json' },
      });
      assert.equal(qido.status, 200);
      const studies = (await qido.json()) as Record<string, { Value?: unknown[] }>[];
      assert.deepEqual(studies[0]?.['0020000D']?.Value, [tiny.studyInstanceUid]);

      // outgoing C-STORE to the configured modality
      await orthanc.restJson('/modalities/DEST/store', { method: 'POST', body: instances[0] ?? '' });
      const got = await scp.files();
      assert.equal(got.length, 1, scp.log());
    } finally {
      await orthanc.stop();
      await scp.stop();
    }
    assert.throws(() => readdirSync(orthanc.dir), /ENOENT/);
  },
);

test('Orthanc accepts a sample file uploaded over REST', { skip: skip || needSamples() }, async () => {
  const dir = samplesDir() ?? '';
  const orthanc = await startOrthanc({ aet: 'HYSAMPLES' });
  try {
    const res = await orthanc.uploadFile(join(dir, 'charsets/chinese/synthetic-gb18030-ct-chest.dcm'));
    assert.equal(res.Status, 'Success');
    const tags = await orthanc.restJson<{ PatientName: string }>(`/instances/${res.ID}/simplified-tags`);
    assert.match(tags.PatientName, /张\^三/);
  } finally {
    await orthanc.stop();
  }
});
