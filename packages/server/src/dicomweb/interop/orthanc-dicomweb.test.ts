/**
 * Orthanc's DICOMweb plugin as a CLIENT of Huiying: `DicomWeb.Servers.huiying` points at our /dicomweb
 * with an `Authorization: Bearer` header; Orthanc queries (QIDO-RS), retrieves (WADO-RS) a study into
 * its own store, and sends (STOW-RS) its resources to us.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { needOrthanc, startOrthanc, type Orthanc } from '../../testing/orthanc.ts';
import { inspectSample, needSamples, samplesDir, startInteropServer, type InteropServer } from './helpers.ts';

type Json = Record<string, { vr: string; Value?: unknown[] } | undefined>;
/** Orthanc's answer to /dicom-web/servers/{name}/qido and /get: DICOM JSON re-encoded, values as strings. */
type OrthancJson = Record<string, { Name?: string; Type?: string; Value?: unknown } | undefined>;

const skip = needOrthanc({ dicomWeb: true }) || needSamples();
let srv: InteropServer;
let orthanc: Orthanc;

const sample = (p: string): Buffer => readFileSync(join(samplesDir() ?? '', p));
const CHEST = 'charsets/chinese/synthetic-gb18030-ct-chest.dcm';
const SLICES = ['01.dcm', '02.dcm', '03.dcm'].map((f) => `modalities/ct/series-3slice/${f}`);
const TO_STOW = ['charsets/chinese/chrX2-GB18030.dcm', 'modalities/mr/MR-moving-knee-19frame.dcm'];

async function stowToUs(files: string[]): Promise<void> {
  const boundary = 'interop-boundary-1';
  const chunks: Buffer[] = [];
  for (const f of files) {
    chunks.push(
      Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`),
      sample(f),
      Buffer.from('\r\n'),
    );
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  const res = await fetch(`${srv.url}/studies`, {
    method: 'POST',
    headers: {
      ...srv.auth,
      'content-type': `multipart/related; type="application/dicom"; boundary=${boundary}`,
      accept: 'application/dicom+json',
    },
    body: Buffer.concat(chunks),
  });
  assert.equal(res.status, 200, await res.text());
}

async function qidoUs(path: string): Promise<Json[]> {
  const res = await fetch(`${srv.url}${path}`, {
    headers: { ...srv.auth, accept: 'application/dicom+json' },
  });
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()) as Json[];
}

before(async () => {
  if (skip !== false) return;
  srv = await startInteropServer();
  await stowToUs([CHEST, ...SLICES]);
  orthanc = await startOrthanc({
    aet: 'HYORTHWEB',
    dicomWeb: true,
    extraConfig: {
      DicomWeb: {
        Enable: true,
        Root: '/dicom-web/',
        EnableWado: false,
        Ssl: false,
        Servers: {
          huiying: { Url: `${srv.url}/`, HttpHeaders: { Authorization: `Bearer ${srv.token}` } },
        },
      },
    },
  });
});

after(async () => {
  if (skip !== false) return;
  await orthanc?.stop();
  await srv.stop();
});

test(
  'Orthanc QIDO-RS client: finds our studies by Chinese PatientName and lists series/instances',
  { skip },
  async () => {
    const chest = inspectSample(sample(CHEST));
    const studies = await orthanc.restJson<OrthancJson[]>('/dicom-web/servers/huiying/qido', {
      method: 'POST',
      body: JSON.stringify({ Uri: '/studies', Arguments: { PatientName: '张*' } }),
    });
    assert.equal(studies.length, 1, JSON.stringify(studies));
    assert.equal(studies[0]?.['0020000D']?.Value, chest.studyUid);
    // Orthanc 1.7's /qido keeps only the Alphabetic group of a PN; the raw answer (/get) has all groups
    assert.equal(studies[0]?.['00100010']?.Value, 'Zhang^San');
    const raw = await orthanc.restJson<Json[]>('/dicom-web/servers/huiying/get', {
      method: 'POST',
      body: JSON.stringify({ Uri: '/studies', Arguments: { PatientName: '张*' } }),
    });
    assert.equal(raw.length, 1);
    assert.deepEqual(raw[0]?.['00100010']?.Value?.[0], { Alphabetic: 'Zhang^San', Ideographic: '张^三' });

    const slices = inspectSample(sample(SLICES[0]!));
    const uri = `/studies/${slices.studyUid}/series/${slices.seriesUid}/instances`;
    const viaGet = await orthanc.restJson<unknown[]>('/dicom-web/servers/huiying/get', {
      method: 'POST',
      body: JSON.stringify({ Uri: uri }),
    });
    assert.equal(viaGet.length, 3);
  },
);

test('Orthanc WADO-RS client: retrieves a study from us, Chinese name intact', { skip }, async (t) => {
  const started = Date.now();
  for (const f of [CHEST, SLICES[0]!]) {
    const info = inspectSample(sample(f));
    const res = await orthanc.rest('/dicom-web/servers/huiying/retrieve', {
      method: 'POST',
      body: JSON.stringify({ Resources: [{ Study: info.studyUid }] }),
    });
    assert.ok(
      res.ok,
      `retrieve ${f}: ${res.status} ${await res.clone().text()}\n${(await orthanc.log()).slice(-3000)}`,
    );
    await res.body?.cancel();
  }
  const instances = await orthanc.restJson<string[]>('/instances');
  assert.equal(instances.length, 4, 'chest CT + 3 slices');
  const names: string[] = [];
  for (const id of instances) {
    const tags = await orthanc.restJson<Record<string, string>>(`/instances/${id}/simplified-tags`);
    names.push(tags.PatientName ?? '');
  }
  assert.ok(names.includes('Zhang^San=张^三'), names.join(' | '));
  // byte-identical files in Orthanc
  const chest = inspectSample(sample(CHEST));
  const found = await orthanc.restJson<string[]>('/tools/find', {
    method: 'POST',
    body: JSON.stringify({ Level: 'Instance', Query: { SOPInstanceUID: chest.sopUid } }),
  });
  assert.equal(found.length, 1);
  const file = Buffer.from(await (await orthanc.rest(`/instances/${found[0]!}/file`)).arrayBuffer());
  const got = inspectSample(file);
  const diff = got.dataset.findIndex((b, i) => b !== chest.dataset[i]);
  assert.ok(
    got.dataset.equals(chest.dataset),
    `Orthanc holds the same dataset (${got.transferSyntaxUid} ${got.dataset.length} vs ${chest.transferSyntaxUid} ${chest.dataset.length} bytes, first difference at ${diff}: ${JSON.stringify(got.dataset.subarray(Math.max(0, diff - 16), diff + 48).toString('latin1'))} vs ${JSON.stringify(chest.dataset.subarray(Math.max(0, diff - 16), diff + 48).toString('latin1'))})`,
  );
  t.diagnostic(`retrieve of 2 studies (4 instances) into Orthanc: ${Date.now() - started} ms`);
});

test('Orthanc STOW-RS client: sends its resources to us, they appear in our index', { skip }, async () => {
  const ids: string[] = [];
  for (const f of TO_STOW) ids.push((await orthanc.uploadFile(sample(f))).ParentStudy);
  const res = await orthanc.rest('/dicom-web/servers/huiying/stow', {
    method: 'POST',
    body: JSON.stringify({ Resources: ids }),
  });
  assert.ok(res.ok, `stow: ${res.status} ${await res.clone().text()}\n${(await orthanc.log()).slice(-3000)}`);
  await res.body?.cancel();
  for (const f of TO_STOW) {
    const info = inspectSample(sample(f));
    const rows = await qidoUs(`/studies/${info.studyUid}/series/${info.seriesUid}/instances`);
    assert.deepEqual(
      rows.map((r) => r['00080018']?.Value?.[0]),
      [info.sopUid],
      f,
    );
  }
  const wang = await qidoUs(`/studies?PatientName=${encodeURIComponent('王^小东')}`);
  assert.equal(wang.length, 1);
});
