import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeInstance, makeUid, CHINESE_FIXTURES } from '@huiying/dicom/testing';
import { startTestServer, stow, stowBody, parseMultipart, type TestServer } from './test-helpers.ts';

type Json = Record<string, { vr: string; Value?: unknown[]; BulkDataURI?: string; InlineBinary?: string }>;

let srv: TestServer;
const studyA = makeUid();
const seriesA = makeUid();
const studyB = makeUid();
const seriesB = makeUid();
const sops = { zh: makeUid(), utf8: makeUid(), plain: makeUid(), multi: makeUid(), b: makeUid() };
const files: Record<string, Uint8Array> = {};
const multiPixels = new Uint8Array(8 * 8 * 2 * 3).map((_, i) => (i * 13 + 5) & 0xff);

const get = (path: string, user = 'a', headers: Record<string, string> = {}): Promise<Response> =>
  fetch(`${srv.url}${path}`, { headers: { 'x-test-user': user, ...headers } });

async function getJson(path: string, user = 'a'): Promise<Json[]> {
  const res = await get(path, user);
  assert.equal(res.status, 200, `${path}: ${res.status} ${await res.clone().text()}`);
  return (await res.json()) as Json[];
}

function v(ds: Json | undefined, tag: string): unknown {
  return ds?.[tag]?.Value?.[0];
}

async function problem(res: Response, status: number): Promise<void> {
  const text = await res.text();
  assert.equal(res.status, status, text);
  assert.match(res.headers.get('content-type') ?? '', /application\/problem\+json/);
  const body = JSON.parse(text) as { status: number; detail?: string };
  assert.equal(body.status, status);
  assert.doesNotMatch(text, /\n\s+at /, 'no stack trace');
}

before(async () => {
  srv = await startTestServer({ stow: { maxPartBytes: 256 * 1024, maxTotalBytes: 8 * 1024 * 1024 } });
  files.zh = CHINESE_FIXTURES.gb18030({
    studyUid: studyA,
    seriesUid: seriesA,
    sopUid: sops.zh,
    studyDate: '20260315',
    instanceNumber: 1,
  });
  files.utf8 = makeInstance({
    patientName: 'Zhang^San=张^三',
    patientId: 'SD000001',
    charset: 'ISO_IR 192',
    studyUid: studyA,
    seriesUid: seriesA,
    sopUid: sops.utf8,
    studyDate: '20260315',
    instanceNumber: 2,
  });
  files.plain = makeInstance({
    patientName: 'Zhang^San=张^三',
    patientId: 'SD000001',
    charset: 'ISO_IR 192',
    studyUid: studyA,
    seriesUid: seriesA,
    sopUid: sops.plain,
    studyDate: '20260315',
    instanceNumber: 3,
  });
  files.multi = makeInstance({
    patientName: 'Zhang^San=张^三',
    patientId: 'SD000001',
    charset: 'ISO_IR 192',
    studyUid: studyA,
    seriesUid: makeUid(),
    sopUid: sops.multi,
    studyDate: '20260315',
    modality: 'MR',
    frames: 3,
    pixelBytes: multiPixels,
  });
  files.b = CHINESE_FIXTURES.gbk({
    studyUid: studyB,
    seriesUid: seriesB,
    sopUid: sops.b,
    studyDate: '20250101',
  });
});

after(async () => {
  await srv.close();
});

test('STOW-RS stores several instances (GB18030 included) in one request', async () => {
  const r = await stow(srv.url, 'a', [files.zh!, files.utf8!, files.plain!, files.multi!]);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const refs = r.json['00081199']?.Value as Json[];
  assert.equal(refs.length, 4);
  assert.deepEqual(
    refs.map((x) => v(x, '00081155')),
    [sops.zh, sops.utf8, sops.plain, sops.multi],
  );
  assert.match(
    String(v(refs[0], '00081190')),
    new RegExp(`/studies/${studyA}/series/${seriesA}/instances/${sops.zh}$`),
  );
  assert.match(String(v(r.json, '00081190')), new RegExp(`/studies/${studyA}$`));
  const rb = await stow(srv.url, 'b', [files.b!]);
  assert.equal(rb.status, 200);
});

test('QIDO-RS: PatientName=张*, fuzzy, date range, UID list, includefield, PN as objects', async () => {
  const byName = await getJson(`/studies?PatientName=${encodeURIComponent('张*')}`);
  assert.equal(byName.length, 1);
  assert.equal(v(byName[0], '0020000D'), studyA);
  assert.deepEqual(v(byName[0], '00100010'), { Alphabetic: 'Zhang^San', Ideographic: '张^三' });
  assert.equal(v(byName[0], '00201208'), 4);
  assert.equal(v(byName[0], '00201206'), 2);
  assert.match(String(v(byName[0], '00081190')), new RegExp(`/dicomweb/studies/${studyA}$`));
  assert.equal(v(byName[0], '00080005'), 'ISO_IR 192');

  const byTag = await getJson(`/studies?00100010=${encodeURIComponent('张^三')}`);
  assert.equal(byTag.length, 1);
  const fuzzy = await getJson('/studies?fuzzymatching=true&PatientName=zhang');
  assert.equal(fuzzy.length, 1);
  const noFuzzy = await getJson('/studies?PatientName=zhang');
  assert.equal(noFuzzy.length, 0, 'without fuzzy, a bare component does not match');
  assert.equal((await getJson('/studies?StudyDate=20260301-20260331')).length, 1);
  assert.equal((await getJson('/studies?StudyDate=20260401-')).length, 0);
  assert.equal((await getJson('/studies?StudyDate=-20260315')).length, 1);
  const list = await getJson(`/studies?StudyInstanceUID=${studyA},${makeUid()}`);
  assert.equal(list.length, 1);
  const list2 = await getJson(`/studies?StudyInstanceUID=${studyA}%5C${makeUid()}`);
  assert.equal(list2.length, 1);
  const inc = await getJson(`/studies?StudyInstanceUID=${studyA}&includefield=00081030,InstitutionName`);
  assert.equal(v(inc[0], '00081030'), '胸部CT平扫');
  assert.equal(v(inc[0], '00080080'), '南方医科大学顺德医院');
  const all = await getJson(`/studies?StudyInstanceUID=${studyA}&includefield=all`);
  assert.ok(all[0]?.['00080062'] !== undefined, 'SOPClassesInStudy with includefield=all');

  const series = await getJson(`/studies/${studyA}/series`);
  assert.equal(series.length, 2);
  assert.deepEqual(new Set(series.map((s) => v(s, '00080060'))), new Set(['CT', 'MR']));
  const ct = series.find((s) => v(s, '00080060') === 'CT')!;
  assert.equal(v(ct, '00201209'), 3);
  const allSeries = await getJson(`/series?Modality=MR`);
  assert.equal(allSeries.length, 1);
  assert.equal(v(allSeries[0], '0020000D'), studyA);
  const inst = await getJson(`/studies/${studyA}/series/${seriesA}/instances`);
  assert.deepEqual(
    inst.map((i) => v(i, '00080018')),
    [sops.zh, sops.utf8, sops.plain],
  );
  assert.equal(v(inst[0], '00280010'), 8);
  const studyInst = await getJson(`/studies/${studyA}/instances?SOPInstanceUID=${sops.multi}`);
  assert.equal(v(studyInst[0], '00280008'), 3);
  const instances = await getJson(`/instances?PatientID=SD000001`);
  assert.equal(instances.length, 4);
});

test('QIDO-RS: limit/offset with the Warning header', async () => {
  const res = await get(`/studies/${studyA}/series/${seriesA}/instances?limit=2`);
  assert.equal(res.status, 200);
  assert.match(
    res.headers.get('warning') ?? '',
    /^299 .*: "There are additional results that can be requested"$/,
  );
  assert.equal(((await res.json()) as Json[]).length, 2);
  const res2 = await get(`/studies/${studyA}/series/${seriesA}/instances?limit=2&offset=2`);
  assert.equal(res2.headers.get('warning'), null);
  const rest = (await res2.json()) as Json[];
  assert.deepEqual(
    rest.map((i) => v(i, '00080018')),
    [sops.plain],
  );
});

test('QIDO-RS: application/dicom+xml (multipart)', async () => {
  const res = await get(`/studies?StudyInstanceUID=${studyA}`, 'a', {
    accept: 'multipart/related; type="application/dicom+xml"',
  });
  assert.equal(res.status, 200);
  const parts = await parseMultipart(res);
  assert.equal(parts.length, 1);
  const xml = parts[0]!.body.toString('utf8');
  assert.match(xml, /<NativeDicomModel/);
  assert.match(
    xml,
    /<DicomAttribute tag="00100010" vr="PN" keyword="PatientName"><PersonName number="1"><Alphabetic><FamilyName>Zhang<\/FamilyName><GivenName>San<\/GivenName><\/Alphabetic><Ideographic><FamilyName>张<\/FamilyName>/,
  );
});

test('QIDO-RS: bad parameters are 400 problem+json; injection strings are just values', async () => {
  await problem(await get('/studies?NoSuchKeyword=1'), 400);
  await problem(await get('/studies?StudyDate=2026-01-01'), 400);
  await problem(await get('/studies?StudyDate=20260301-20260101'), 400);
  await problem(await get('/studies?StudyInstanceUID=1.2.abc'), 400);
  await problem(await get('/studies?limit=ten'), 400);
  await problem(await get('/studies?limit=-1'), 400);
  await problem(await get('/studies?fuzzymatching=maybe'), 400);
  await problem(await get('/studies?NumberOfStudyRelatedInstances=4'), 400);
  await problem(await get(`/studies?StudyInstanceUID=${encodeURIComponent("1' OR '1'='1")}`), 400);
  const inj = await getJson(
    `/studies?PatientName=${encodeURIComponent("x' OR 1=1; DROP TABLE studies; --")}`,
  );
  assert.equal(inj.length, 0);
  const inj2 = await getJson(`/studies?PatientID=${encodeURIComponent("' OR ''='")}`);
  assert.equal(inj2.length, 0);
  const inj3 = await getJson(`/studies?StudyDescription=${encodeURIComponent('%_!*')}`);
  assert.equal(inj3.length, 0);
  assert.equal((await getJson('/studies')).length, 1, 'still working, table intact');
  await problem(await get('/studies', 'nobody'), 401);
  await problem(await get('/studies', 'a', { accept: 'image/png' }), 406);
});

test('WADO-RS: instance is byte-identical Part 10; study has N parts; ETag/304', async () => {
  const path = `/studies/${studyA}/series/${seriesA}/instances/${sops.zh}`;
  const res = await get(path, 'a', { accept: 'multipart/related; type="application/dicom"' });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /transfer-syntax=1\.2\.840\.10008\.1\.2\.1/);
  const etag = res.headers.get('etag');
  const parts = await parseMultipart(res);
  assert.equal(parts.length, 1);
  assert.ok(parts[0]!.body.equals(Buffer.from(files.zh!)));
  const single = await get(path, 'a', { accept: 'application/dicom' });
  assert.equal(single.headers.get('content-type'), 'application/dicom; transfer-syntax=1.2.840.10008.1.2.1');
  assert.ok(Buffer.from(await single.arrayBuffer()).equals(Buffer.from(files.zh!)));
  const again = await get(path, 'a', { 'if-none-match': etag! });
  assert.equal(again.status, 304);

  const study = await get(`/studies/${studyA}`, 'a', {
    accept: 'multipart/related; type="application/dicom"; transfer-syntax=*',
  });
  assert.equal(study.status, 200);
  const sp = await parseMultipart(study);
  assert.equal(sp.length, 4);
  assert.equal(
    sp.reduce((n, p) => n + p.body.length, 0),
    files.zh!.length + files.utf8!.length + files.plain!.length + files.multi!.length,
  );
  const series = await parseMultipart(await get(`/studies/${studyA}/series/${seriesA}`));
  assert.equal(series.length, 3);
  // asking for a transfer syntax we cannot produce
  await problem(
    await get(path, 'a', {
      accept: 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.50',
    }),
    406,
  );
  // q-values: the acceptable alternative is chosen
  const q = await get(path, 'a', {
    accept:
      'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.50; q=0.9, multipart/related; type="application/dicom"; q=0.5',
  });
  assert.equal(q.status, 200);
  await problem(await get(`/studies/${makeUid()}`), 404);
  await problem(await get(`/studies/1.2.x3`), 400);
});

test('WADO-RS: metadata has the Chinese name as UTF-8 and BulkDataURIs', async () => {
  const res = await get(`/studies/${studyA}/series/${seriesA}/metadata`, 'a', {
    accept: 'application/dicom+json',
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /application\/dicom\+json/);
  const text = await res.text();
  assert.ok(text.includes('张^三'), 'UTF-8 Chinese');
  const md = JSON.parse(text) as Json[];
  assert.equal(md.length, 3);
  const zh = md.find((m) => v(m, '00080018') === sops.zh)!;
  assert.deepEqual(v(zh, '00100010'), { Alphabetic: 'Zhang^San', Ideographic: '张^三' });
  assert.equal(v(zh, '00080080'), '南方医科大学顺德医院');
  assert.equal(v(zh, '00083002'), '1.2.840.10008.1.2.1');
  const pixel = zh['7FE00010']!;
  assert.match(
    pixel.BulkDataURI ?? '',
    new RegExp(
      `^http://127\\.0\\.0\\.1:\\d+/dicomweb/studies/${studyA}/series/${seriesA}/instances/${sops.zh}/bulkdata/7FE00010$`,
    ),
  );
  const bulk = await fetch(pixel.BulkDataURI!, {
    headers: { 'x-test-user': 'a', accept: 'application/octet-stream' },
  });
  assert.equal(bulk.status, 200);
  assert.equal((await bulk.arrayBuffer()).byteLength, 8 * 8 * 2);
  const study = await getJson(`/studies/${studyA}/metadata`);
  assert.equal(study.length, 4);
  const one = await getJson(`/studies/${studyA}/series/${seriesA}/instances/${sops.utf8}/metadata`);
  assert.equal(one.length, 1);
  const stats = srv.handle.stats();
  assert.ok(stats.metadataHits > 0, 'second reads come from the cache');
});

test('WADO-RS: frames of a native instance equal the source pixel bytes', async () => {
  const inst = await getJson(`/studies/${studyA}/instances?SOPInstanceUID=${sops.multi}`);
  const seriesUid = String(v(inst[0], '0020000E'));
  const path = `/studies/${studyA}/series/${seriesUid}/instances/${sops.multi}/frames`;
  const res = await get(`${path}/2`, 'a', {
    accept: 'multipart/related; type=application/octet-stream; transfer-syntax=*',
  });
  assert.equal(res.status, 200);
  assert.match(
    res.headers.get('content-type') ?? '',
    /type="application\/octet-stream"; transfer-syntax=1\.2\.840\.10008\.1\.2\.1/,
  );
  const parts = await parseMultipart(res);
  assert.equal(parts.length, 1);
  assert.ok(parts[0]!.body.equals(Buffer.from(multiPixels.subarray(128, 256))));
  assert.match(parts[0]!.headers['content-type'] ?? '', /transfer-syntax=1\.2\.840\.10008\.1\.2\.1/);
  const three = await parseMultipart(await get(`${path}/3,1`));
  assert.ok(three[0]!.body.equals(Buffer.from(multiPixels.subarray(256, 384))));
  assert.ok(three[1]!.body.equals(Buffer.from(multiPixels.subarray(0, 128))));
  await problem(await get(`${path}/4`), 404);
  await problem(await get(`${path}/0`), 400);
  await problem(await get(`${path}/x`), 400);
  await problem(
    await get(`${path}/1`, 'a', {
      accept: 'multipart/related; type="image/jpeg"; transfer-syntax=1.2.840.10008.1.2.4.50',
    }),
    406,
  );
});

test('WADO-URI: application/dicom; image/jpeg by default; other types 406', async () => {
  const q = `requestType=WADO&studyUID=${studyA}&seriesUID=${seriesA}&objectUID=${sops.utf8}`;
  const res = await get(`/wado?${q}&contentType=application/dicom`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/dicom');
  assert.ok(Buffer.from(await res.arrayBuffer()).equals(Buffer.from(files.utf8!)));
  // no contentType: image/jpeg (rendered, see ../rendering)
  const rendered = await get(`/wado?${q}`);
  assert.equal(rendered.status, 200);
  assert.equal(rendered.headers.get('content-type'), 'image/jpeg');
  await rendered.arrayBuffer();
  await problem(await get(`/wado?${q}&contentType=text/html`), 406);
  await problem(await get(`/wado?${q}&contentType=application/dicom`, 'b'), 404);
  await problem(
    await get(`/wado?requestType=WADO&studyUID=1..2&seriesUID=1&objectUID=1&contentType=application/dicom`),
    400,
  );
});

test('STOW-RS errors: wrong content type 415, malformed 400, huge part 413, server keeps working', async () => {
  const post = (body: Buffer | string, contentType?: string, path = '/studies'): Promise<Response> =>
    fetch(`${srv.url}${path}`, {
      method: 'POST',
      headers: { 'x-test-user': 'a', ...(contentType !== undefined ? { 'content-type': contentType } : {}) },
      body,
    });
  await problem(await post('{}', 'application/json'), 415);
  await problem(await post('x', 'multipart/related; type="application/dicom+json"; boundary=abc'), 415);
  await problem(await post('x', 'multipart/related; type="application/dicom"'), 400);
  await problem(
    await post('garbage without boundary', 'multipart/related; type="application/dicom"; boundary=abc'),
    400,
  );
  const { body, contentType } = stowBody([makeInstance({ studyUid: makeUid() })]);
  await problem(await post(body.subarray(0, body.length - 30), contentType), 400);
  const big = makeInstance({ rows: 512, cols: 512 }); // 512 KiB of pixels > 256 KiB cap
  const huge = stowBody([big]);
  await problem(await post(huge.body, huge.contentType), 413);
  // a part that is not DICOM fails alone (409: all failed)
  const junk = stowBody([Buffer.from('this is not dicom at all, not even close')]);
  const jr = await post(junk.body, junk.contentType);
  assert.equal(jr.status, 409);
  const jj = (await jr.json()) as Json;
  assert.equal(v((jj['00081198']?.Value as Json[])[0], '00081197'), 0xc000);
  // mixed: 202
  const mixed = stowBody([
    Buffer.from('junk junk junk junk junk junk junk'),
    makeInstance({ studyUid: makeUid() }),
  ]);
  const mr = await post(mixed.body, mixed.contentType);
  assert.equal(mr.status, 202);
  // study mismatch on /studies/{study}
  const other = makeUid();
  const mism = stowBody([
    makeInstance({ studyUid: other }),
    makeInstance({ studyUid: studyA, seriesUid: makeUid(), patientId: 'SD000001' }),
  ]);
  const sr = await post(mism.body, mism.contentType, `/studies/${studyA}`);
  assert.equal(sr.status, 202);
  const sj = (await sr.json()) as Json;
  assert.equal(v((sj['00081198']?.Value as Json[])[0], '00081197'), 0xa900);
  assert.equal((sj['00081199']?.Value as Json[]).length, 1);
  // no identity / no hospital to store for
  const nb = stowBody([makeInstance()]);
  await problem(
    await fetch(`${srv.url}/studies`, {
      method: 'POST',
      headers: { 'content-type': nb.contentType },
      body: nb.body,
    }),
    401,
  );
  await problem(
    await fetch(`${srv.url}/studies`, {
      method: 'POST',
      headers: { 'content-type': nb.contentType, 'x-test-user': 'viewer' },
      body: nb.body,
    }),
    403,
  );
  assert.equal((await getJson(`/studies?StudyInstanceUID=${studyA}`)).length, 1);
});

test('scope: hospital A never sees hospital B through any endpoint; the center sees both', async () => {
  assert.equal(
    (await getJson('/studies', 'a')).some((s) => v(s, '0020000D') === studyB),
    false,
  );
  assert.equal((await getJson(`/studies?StudyInstanceUID=${studyB}`, 'a')).length, 0);
  assert.equal((await getJson(`/series?StudyInstanceUID=${studyB}`, 'a')).length, 0);
  assert.equal((await getJson(`/instances?SOPInstanceUID=${sops.b}`, 'a')).length, 0);
  assert.equal((await getJson(`/studies/${studyB}/series`, 'a')).length, 0);
  assert.equal((await getJson(`/studies/${studyB}/instances`, 'a')).length, 0);
  assert.equal((await getJson(`/studies/${studyB}/series/${seriesB}/instances`, 'a')).length, 0);
  assert.equal((await getJson(`/studies?PatientName=${encodeURIComponent('王*')}`, 'a')).length, 0);
  const ip = `/studies/${studyB}/series/${seriesB}/instances/${sops.b}`;
  for (const p of [
    `/studies/${studyB}`,
    `/studies/${studyB}/series/${seriesB}`,
    ip,
    `/studies/${studyB}/metadata`,
    `/studies/${studyB}/series/${seriesB}/metadata`,
    `${ip}/metadata`,
    `${ip}/frames/1`,
    `${ip}/bulkdata/7FE00010`,
    `/wado?requestType=WADO&studyUID=${studyB}&seriesUID=${seriesB}&objectUID=${sops.b}&contentType=application/dicom`,
  ]) {
    await problem(await get(p, 'a'), 404);
    const ok = await get(p, 'b');
    assert.equal(ok.status, 200, p);
    await ok.arrayBuffer();
  }
  const center = await getJson('/studies', 'center');
  assert.deepEqual(new Set(center.map((s) => v(s, '0020000D'))).has(studyB), true);
  assert.deepEqual(new Set(center.map((s) => v(s, '0020000D'))).has(studyA), true);
  assert.equal(
    (await getJson('/studies', 'b')).some((s) => v(s, '0020000D') === studyA),
    false,
  );
  // A stores into "B's study" UID: it is stored for A, B's copy is untouched and invisible to A
  const intoB = makeInstance({ studyUid: studyB, seriesUid: makeUid(), patientId: 'A-PATIENT' });
  const r = await stow(srv.url, 'a', [intoB]);
  assert.equal(r.status, 200);
  const aView = await getJson(`/studies/${studyB}/instances`, 'a');
  assert.equal(aView.length, 1);
  const bView = await getJson(`/studies/${studyB}/instances`, 'b');
  assert.deepEqual(
    bView.map((i) => v(i, '00080018')),
    [sops.b],
  );
  const aMeta = await getJson(`/studies/${studyB}/metadata`, 'a');
  assert.equal(aMeta.length, 1);
  assert.equal(v(aMeta[0], '00100020'), 'A-PATIENT');
});

test('CORS off by default: no Access-Control headers', async () => {
  const res = await get('/studies', 'a', { origin: 'http://evil.example' });
  assert.equal(res.headers.get('access-control-allow-origin'), null);
  await res.arrayBuffer();
});

test('CORS when configured: preflight without identity, allowed origin echoed, Warning exposed', async () => {
  const s = await startTestServer({ cors: { origins: ['http://viewer.example'] } });
  try {
    const pre = await fetch(`${s.url}/studies`, {
      method: 'OPTIONS',
      headers: {
        origin: 'http://viewer.example',
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'authorization',
      },
    });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), 'http://viewer.example');
    assert.match(pre.headers.get('access-control-allow-headers') ?? '', /authorization/);
    const res = await fetch(`${s.url}/studies`, {
      headers: { origin: 'http://viewer.example', 'x-test-user': 'a' },
    });
    assert.equal(res.headers.get('access-control-allow-origin'), 'http://viewer.example');
    assert.match(res.headers.get('access-control-expose-headers') ?? '', /Warning/);
    await res.arrayBuffer();
    const other = await fetch(`${s.url}/studies`, {
      headers: { origin: 'http://evil.example', 'x-test-user': 'a' },
    });
    assert.equal(other.headers.get('access-control-allow-origin'), null);
    await other.arrayBuffer();
  } finally {
    await s.close();
  }
});
