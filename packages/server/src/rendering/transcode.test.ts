/**
 * WADO-RS retrieve with transfer-syntax negotiation: instances stored compressed, implicit VR LE or
 * explicit VR BE come back as Explicit VR Little Endian Part 10 files when asked for explicitly (real
 * HTTP through the DICOMweb plugin); `*` or no transfer-syntax gives the stored bytes.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeDataset, readPart10, type DicomJson } from '@huiying/dicom';
import { CHINESE_FIXTURES, makeInstance, makeUid } from '@huiying/dicom/testing';
import { startTestServer, stow, parseMultipart, type TestServer } from '../dicomweb/test-helpers.ts';

const SAMPLES = join(import.meta.dirname, '../../../../../shared/dicom-samples');
const TS_DIR = join(SAMPLES, 'transfer-syntaxes');
const CT2 = join(TS_DIR, 'wg04-CT2-same-image');
const present = existsSync(CT2);
const ELE = '1.2.840.10008.1.2.1';
const ILE = '1.2.840.10008.1.2';
const ASK_ELE = `multipart/related; type="application/dicom"; transfer-syntax=${ELE}`;
const dcmdump = spawnSync('dcmdump', ['--version']).status === 0;

let srv: TestServer;
let tmp: string;

before(async () => {
  srv = await startTestServer({ rendering: { workers: 1 } });
  tmp = mkdtempSync(join(tmpdir(), 'huiying-transcode-'));
});
after(async () => {
  await srv.close();
  rmSync(tmp, { recursive: true, force: true });
});

async function get(u: string, accept: string): Promise<Response> {
  return fetch(u, { headers: { 'x-test-user': 'a', accept } });
}

async function stowOne(bytes: Uint8Array): Promise<string> {
  const r = await stow(srv.url, 'a', [bytes]);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const ref = (r.json['00081199']?.Value as Record<string, { Value?: unknown[] }>[])[0]!;
  return String(ref['00081190']?.Value?.[0]);
}

function parse(b: Uint8Array): { ts: string; ds: DicomJson } {
  const p = readPart10(b);
  return {
    ts: p.transferSyntaxUid,
    ds: decodeDataset(b, { transferSyntax: p.transferSyntaxUid, offset: p.datasetOffset }),
  };
}

function pixels(ds: DicomJson): Buffer {
  return Buffer.from(ds['7FE00010']?.InlineBinary ?? '', 'base64');
}

function comparable(ds: DicomJson, drop: string[] = []): DicomJson {
  const out: DicomJson = {};
  for (const [k, v] of Object.entries(ds)) {
    if (k.startsWith('0002') || k === '7FE00010' || k === 'FFFCFFFC' || drop.includes(k)) continue;
    // implicit VR: US/SS-ambiguous elements (0028,0106/0107…) are resolved by Pixel Representation
    out[k] = v.vr === 'SS' || v.vr === 'US' ? { ...v, vr: 'US|SS' } : v;
  }
  return out;
}

function dump(b: Buffer, args: string[] = []): string {
  const f = join(tmp, `${makeUid()}.dcm`);
  writeFileSync(f, b);
  const r = spawnSync('dcmdump', [...args, f], { encoding: 'utf8' });
  assert.equal(r.status, 0, `dcmdump failed: ${r.stderr}`);
  return r.stdout;
}

async function single(u: string, accept = ASK_ELE): Promise<{ ct: string; body: Buffer }> {
  const res = await get(u, accept);
  assert.equal(res.status, 200, await res.clone().text());
  const parts = await parseMultipart(res);
  assert.equal(parts.length, 1);
  return { ct: parts[0]!.headers['content-type'] ?? '', body: parts[0]!.body };
}

test(
  'lossless wg04 CT2 encodings transcode to CT2_UNC pixels; every other element kept',
  { skip: !present && 'no dicom-samples' },
  async (t) => {
    const unc = parse(readFileSync(join(CT2, 'CT2_UNC.dcm')));
    const ref = pixels(unc.ds);
    for (const n of ['CT2_RLE.dcm', 'CT2_JPLL.dcm', 'CT2_JLSL.dcm', 'CT2_J2KR.dcm']) {
      const file = readFileSync(join(CT2, n));
      const orig = parse(file);
      const u = await stowOne(file);
      const t0 = performance.now();
      const { ct, body } = await single(u);
      t.diagnostic(
        `${n}: ${file.length} → ${body.length} bytes in ${(performance.now() - t0).toFixed(0)} ms`,
      );
      assert.match(ct, new RegExp(`transfer-syntax=${ELE.replaceAll('.', '\\.')}`));
      const out = parse(body);
      assert.equal(out.ts, ELE);
      assert.ok(pixels(out.ds).equals(ref), `${n}: PixelData equals CT2_UNC's`);
      assert.deepEqual(comparable(out.ds), comparable(orig.ds), `${n}: non-pixel elements kept`);
      if (dcmdump) assert.match(dump(body), /Little Endian Explicit/);
      else t.diagnostic('dcmdump not installed: DCMTK parse check skipped');
      // as stored: the bytes unchanged
      const stored = await single(u, 'multipart/related; type="application/dicom"; transfer-syntax=*');
      assert.ok(stored.body.equals(file), `${n}: * gives the stored bytes`);
      const plain = await get(u, 'multipart/related; type="application/dicom"');
      assert.ok((await parseMultipart(plain))[0]!.body.equals(file));
    }
  },
);

test(
  'big endian and implicit LE samples come back as explicit LE with identical values',
  { skip: !present && 'no dicom-samples' },
  async () => {
    for (const n of [
      'explicit-be_MR_small_bigendian.dcm',
      'implicit-le_MR_small_implicit.dcm',
      'explicit-be_SC_rgb_2frame.dcm',
    ]) {
      const file = readFileSync(join(TS_DIR, n));
      const orig = parse(file);
      const { body } = await single(await stowOne(file));
      const out = parse(body);
      assert.equal(out.ts, ELE);
      assert.deepEqual(comparable(out.ds), comparable(orig.ds), `${n}: values kept`);
      assert.ok(pixels(out.ds).equals(pixels(orig.ds)), `${n}: pixel values kept`);
      if (dcmdump) dump(body);
    }
  },
);

test('GB18030 stored as implicit LE keeps 张^三 readable', async (t) => {
  const file = CHINESE_FIXTURES.gb18030({ transferSyntax: ILE });
  const { body } = await single(await stowOne(file));
  const out = parse(body);
  assert.equal(out.ts, ELE);
  assert.deepEqual(out.ds['00100010']?.Value, parse(file).ds['00100010']?.Value);
  assert.equal(out.ds['00080005']?.Value?.[0], 'GB18030');
  if (dcmdump) assert.match(dump(body, ['+U8']), /张\^三/);
  else t.diagnostic('dcmdump not installed: skipped');
});

test('series retrieve with mixed syntaxes: each part says what was sent', async () => {
  const study = makeUid();
  const series = makeUid();
  const px = Uint8Array.from({ length: 16 * 16 * 2 }, (_, i) => i & 0xff);
  const common = { studyUid: study, seriesUid: series, rows: 16, cols: 16, pixelBytes: px };
  const a = makeInstance({ ...common, sopUid: makeUid(), transferSyntax: ILE });
  const b = makeInstance({ ...common, sopUid: makeUid() });
  await stowOne(a);
  await stowOne(b);
  const u = `${srv.url}/studies/${study}/series/${series}`;
  const asStored = await parseMultipart(await get(u, 'multipart/related; type="application/dicom"'));
  assert.deepEqual(
    asStored.map((p) => /transfer-syntax=([\d.]+)/.exec(p.headers['content-type'] ?? '')?.[1]).sort(),
    [ILE, ELE],
  );
  const res = await get(u, ASK_ELE);
  assert.match(res.headers.get('content-type') ?? '', /transfer-syntax=1\.2\.840\.10008\.1\.2\.1/);
  const parts = await parseMultipart(res);
  assert.equal(parts.length, 2);
  for (const p of parts) {
    assert.match(p.headers['content-type'] ?? '', /transfer-syntax=1\.2\.840\.10008\.1\.2\.1$/);
    const out = parse(p.body);
    assert.equal(out.ts, ELE);
    assert.ok(pixels(out.ds).equals(Buffer.from(px)));
  }
  // q-value list: explicit LE preferred
  const q = await get(
    u,
    `multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.50; q=0.9, ${ASK_ELE}`,
  );
  assert.equal(q.status, 200);
  await q.arrayBuffer();
});

test(
  'deflated image frame compression → a problem+json saying why; compressed targets → 406',
  { skip: !present && 'no dicom-samples' },
  async () => {
    const u = await stowOne(readFileSync(join(TS_DIR, 'deflated-image-frame_liver.dcm')));
    const res = await get(u, ASK_ELE);
    const body = await res.text();
    assert.equal(res.status, 406, body);
    assert.match(res.headers.get('content-type') ?? '', /problem\+json/);
    assert.match(body, /cannot be decoded/);
    const rle = await stowOne(readFileSync(join(CT2, 'CT2_RLE.dcm')));
    const r2 = await get(
      rle,
      'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.80',
    );
    assert.equal(r2.status, 406);
    await r2.arrayBuffer();
  },
);
