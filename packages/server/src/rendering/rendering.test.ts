/**
 * Rendered images, thumbnails and transcoded frames over real HTTP (the DICOMweb plugin on a real
 * archive). Fixtures from makeInstance; the transfer-syntax samples from ../shared/dicom-samples when
 * present (skipped otherwise). Prints measured timings.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { makeInstance, makeUid } from '@huiying/dicom/testing';
import { initCodecs, runJob } from './codec.ts';
import { startTestServer, stow, parseMultipart, type TestServer } from '../dicomweb/test-helpers.ts';

type Meta = Awaited<ReturnType<ReturnType<typeof sharp>['metadata']>>;

const SAMPLES = join(import.meta.dirname, '../../../../../shared/dicom-samples');
const TS_DIR = join(SAMPLES, 'transfer-syntaxes');
const present = existsSync(TS_DIR);

let srv: TestServer;
const study = makeUid();
const series = makeUid();
const sops = { ct: makeUid(), mono1: makeUid(), rgb: makeUid(), multi: makeUid() };
const W = 256;
const H = 192;

/** CT-like 16-bit gradient: stored 0..4095 left to right, rescale -1024 → HU -1024..3071. */
function ctPixels(frames = 1): Uint8Array {
  const b = Buffer.alloc(W * H * 2 * frames);
  for (let f = 0; f < frames; f++)
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++)
        b.writeUInt16LE(Math.floor((x * 4095) / (W - 1)) ^ (f * 64), ((f * H + y) * W + x) * 2);
  return b;
}

const ctExtra = {
  '00281052': { vr: 'DS', Value: [-1024] },
  '00281053': { vr: 'DS', Value: [1] },
  '00281050': { vr: 'DS', Value: [40] },
  '00281051': { vr: 'DS', Value: [400] },
};

function url(sop: string): string {
  return `${srv.url}/studies/${study}/series/${series}/instances/${sop}`;
}

async function get(u: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(u, { headers: { 'x-test-user': 'a', ...headers } });
}

async function image(res: Response): Promise<{ buf: Buffer; meta: Meta; raw: Buffer }> {
  assert.equal(res.status, 200, await res.clone().text());
  const buf = Buffer.from(await res.arrayBuffer());
  const meta = await sharp(buf).metadata();
  const raw = await sharp(buf).greyscale().raw().toBuffer();
  return { buf, meta, raw };
}

async function problem(res: Response, status: number): Promise<string> {
  const body = await res.text();
  assert.equal(res.status, status, body);
  assert.match(res.headers.get('content-type') ?? '', /application\/problem\+json/);
  return (JSON.parse(body) as { detail?: string }).detail ?? '';
}

before(async () => {
  srv = await startTestServer({ rendering: { workers: 1 } });
  const common = { studyUid: study, seriesUid: series, modality: 'CT', rows: H, cols: W };
  const files = [
    makeInstance({ ...common, sopUid: sops.ct, pixelBytes: ctPixels(), extra: ctExtra }),
    makeInstance({
      ...common,
      sopUid: sops.mono1,
      pixelBytes: ctPixels(),
      extra: { ...ctExtra, '00280004': { vr: 'CS', Value: ['MONOCHROME1'] } },
    }),
    makeInstance({
      ...common,
      sopUid: sops.rgb,
      modality: 'OT',
      bitsAllocated: 8,
      pixelBytes: Uint8Array.from({ length: W * H * 3 }, (_, i) =>
        i % 3 === 0 ? 255 : i % 3 === 1 ? 0 : (i >> 8) & 0xff,
      ),
      extra: {
        '00280002': { vr: 'US', Value: [3] },
        '00280004': { vr: 'CS', Value: ['RGB'] },
        '00280006': { vr: 'US', Value: [0] },
      },
    }),
    makeInstance({ ...common, sopUid: sops.multi, frames: 3, pixelBytes: ctPixels(3), extra: ctExtra }),
  ];
  const r = await stow(srv.url, 'a', files);
  assert.equal(r.status, 200, JSON.stringify(r.json));
});

after(async () => {
  await srv.close();
});

test('rendered: JPEG and PNG at the viewport size; windows change pixels; MONOCHROME1 inverts; RGB', async (t) => {
  const t0 = performance.now();
  const jpeg = await image(await get(`${url(sops.ct)}/rendered?viewport=128,128`));
  const cold = performance.now() - t0;
  assert.equal(jpeg.meta.format, 'jpeg');
  assert.equal(jpeg.meta.width, 128);
  assert.equal(jpeg.meta.height, 96); // 256×192 scaled to fit 128×128
  const t1 = performance.now();
  await image(await get(`${url(sops.ct)}/rendered?viewport=128,128`));
  t.diagnostic(
    `CT 256×192 rendered JPEG: cold ${cold.toFixed(1)} ms, cached ${(performance.now() - t1).toFixed(1)} ms`,
  );

  const png = await image(await get(`${url(sops.ct)}/rendered`, { accept: 'image/png' }));
  assert.equal(png.meta.format, 'png');
  assert.equal(png.meta.width, W);
  assert.equal(png.meta.height, H);
  const gif = await image(
    await get(`${url(sops.ct)}/frames/1/rendered?viewport=64,64`, { accept: 'image/gif' }),
  );
  assert.equal(gif.meta.format, 'gif');

  // header window 40/400 vs a bone window: different pixels
  const a = (await image(await get(`${url(sops.ct)}/rendered?window=40,400`, { accept: 'image/png' }))).raw;
  const b = (
    await image(await get(`${url(sops.ct)}/rendered?window=500,2000,linear`, { accept: 'image/png' }))
  ).raw;
  assert.ok(!a.equals(b), 'two windows give different pixels');
  assert.ok(a.equals(png.raw), 'the header window is 40/400');
  // left edge (-1024 HU) is black in MONOCHROME2, white in MONOCHROME1
  const m1 = (await image(await get(`${url(sops.mono1)}/rendered`, { accept: 'image/png' }))).raw;
  assert.equal(png.raw[0], 0);
  assert.equal(m1[0], 255);
  for (let i = 0; i < png.raw.length; i += 97)
    assert.ok(Math.abs(png.raw[i]! + m1[i]! - 255) <= 1, `inverted at ${i}`);

  const rgb = await get(`${url(sops.rgb)}/rendered`, { accept: 'image/png' });
  assert.equal(rgb.status, 200);
  const rgbRaw = await sharp(Buffer.from(await rgb.arrayBuffer()))
    .raw()
    .toBuffer({ resolveWithObject: true });
  assert.equal(rgbRaw.info.channels, 3);
  assert.deepEqual([...rgbRaw.data.subarray(0, 2)], [255, 0]);
});

test('rendered: frames, viewport crop, series/study multipart, WADO-URI', async () => {
  const f2 = await image(await get(`${url(sops.multi)}/frames/2/rendered`, { accept: 'image/png' }));
  const f1 = await image(await get(`${url(sops.multi)}/frames/1/rendered`, { accept: 'image/png' }));
  assert.ok(!f1.raw.equals(f2.raw));
  const both = await parseMultipart(
    await get(`${url(sops.multi)}/frames/1,2/rendered`, { accept: 'multipart/related; type="image/png"' }),
  );
  assert.equal(both.length, 2);
  assert.ok((await sharp(both[1]!.body).greyscale().raw().toBuffer()).equals(f2.raw));
  const crop = await image(await get(`${url(sops.ct)}/rendered?viewport=50,50,0,0,100,100`));
  assert.equal(crop.meta.width, 50);
  assert.equal(crop.meta.height, 50);

  const parts = await parseMultipart(
    await get(`${srv.url}/studies/${study}/series/${series}/rendered?viewport=32,32`),
  );
  assert.equal(parts.length, 4);
  for (const p of parts) assert.equal((await sharp(p.body).metadata()).format, 'jpeg');
  const st = await parseMultipart(
    await get(`${srv.url}/studies/${study}/rendered`, { accept: 'multipart/related; type="image/png"' }),
  );
  assert.equal(st.length, 4);

  const q = `requestType=WADO&studyUID=${study}&seriesUID=${series}&objectUID=${sops.multi}`;
  const wj = await image(
    await get(`${srv.url}/wado?${q}&contentType=image/jpeg&rows=64&columns=64&frameNumber=2`),
  );
  assert.equal(wj.meta.format, 'jpeg');
  assert.equal(wj.meta.width, 64);
  const wp = await image(
    await get(`${srv.url}/wado?${q}&contentType=image/png&windowCenter=40&windowWidth=400&frameNumber=2`),
  );
  assert.ok(wp.raw.equals(f2.raw));
  const wdef = await image(await get(`${srv.url}/wado?${q}`));
  assert.equal(wdef.meta.format, 'jpeg');
  await problem(await get(`${srv.url}/wado?${q}&contentType=image/png&windowCenter=40`), 400);
  await problem(await get(`${srv.url}/wado?${q}&contentType=image/png&frameNumber=4`), 400);
  await problem(await get(`${srv.url}/wado?${q}&contentType=text/html`), 406);
});

test('thumbnails at every level; cache hit gives identical bytes; ETag / 304', async (t) => {
  const paths = [
    `/studies/${study}/thumbnail`,
    `/studies/${study}/series/${series}/thumbnail`,
    `/studies/${study}/series/${series}/instances/${sops.ct}/thumbnail`,
    `/studies/${study}/series/${series}/instances/${sops.multi}/frames/3/thumbnail`,
  ];
  for (const p of paths) {
    const t0 = performance.now();
    const r1 = await image(await get(`${srv.url}${p}`));
    const cold = performance.now() - t0;
    assert.equal(r1.meta.format, 'jpeg', p);
    assert.ok(Math.max(r1.meta.width, r1.meta.height) === 128, p);
    const t1 = performance.now();
    const res2 = await get(`${srv.url}${p}`);
    const r2 = await image(res2);
    t.diagnostic(
      `thumbnail ${p.split('/').slice(-2).join('/')}: cold ${cold.toFixed(1)} ms, cached ${(performance.now() - t1).toFixed(1)} ms`,
    );
    assert.ok(r1.buf.equals(r2.buf), 'cached bytes are identical');
    const etag = res2.headers.get('etag');
    assert.ok(etag !== null);
    const nm = await get(`${srv.url}${p}`, { 'if-none-match': etag });
    assert.equal(nm.status, 304);
  }
  const png = await image(await get(`${srv.url}${paths[2]}?viewport=64,64`, { accept: 'image/png' }));
  assert.equal(png.meta.format, 'png');
  assert.equal(png.meta.width, 64);
  const s = srv.handle.stats();
  assert.ok(s.renderedHits > 0 && s.renderedBytes > 0);
});

test('bad parameters → 400, unsupported Accept → 406, unknown → 404', async () => {
  for (const q of [
    'window=abc',
    'window=40',
    'window=40,0',
    'window=40,400,sigmoid',
    'viewport=0,0',
    'viewport=a,b',
    'quality=200',
    'quality=0',
  ]) {
    const d = await problem(await get(`${url(sops.ct)}/rendered?${q}`), 400);
    assert.ok(d.length > 0, q);
  }
  await problem(await get(`${url(sops.ct)}/rendered?viewport=10,10,200,0,100,100`), 400);
  await problem(await get(`${url(sops.ct)}/frames/0/rendered`), 400);
  await problem(await get(`${url(sops.ct)}/frames/2/rendered`), 400);
  await problem(await get(`${url(sops.multi)}/frames/4/thumbnail`), 400);
  await problem(await get(`${url(sops.ct)}/rendered`, { accept: 'application/dicom' }), 406);
  await problem(await get(`${url(sops.ct)}/thumbnail`, { accept: 'image/webp' }), 406);
  await problem(await get(`${url(makeUid())}/rendered`), 404);
  await problem(await get(`${url(sops.ct)}/rendered`, { 'x-test-user': 'b' }), 404);
});

// ---- samples ----

interface Stored {
  name: string;
  study: string;
  series: string;
  sop: string;
}

async function stowFile(file: string, user = 'a'): Promise<Stored | undefined> {
  const r = await stow(srv.url, user, [readFileSync(file)]);
  if (r.status !== 200) {
    return undefined;
  }
  const ref = (r.json['00081199']?.Value as Record<string, { Value?: unknown[] }>[])[0]!;
  const m = /studies\/([\d.]+)\/series\/([\d.]+)\/instances\/([\d.]+)$/.exec(
    String(ref['00081190']?.Value?.[0]),
  )!;
  return { name: file.split('/').pop()!, study: m[1]!, series: m[2]!, sop: m[3]! };
}

const pathOf = (s: Stored): string => `${srv.url}/studies/${s.study}/series/${s.series}/instances/${s.sop}`;

test(
  'samples: every transfer syntax renders to a valid image',
  { skip: !present && 'no ../shared/dicom-samples' },
  async (t) => {
    const files = readdirSync(TS_DIR)
      .filter((n) => n.endsWith('.dcm'))
      .sort();
    const outcomes: string[] = [];
    for (const n of files) {
      const s = await stowFile(join(TS_DIR, n));
      if (s === undefined) {
        // refused by STOW (cannot be indexed): prove the codec path on the file itself
        await initCodecs();
        const b = readFileSync(join(TS_DIR, n));
        const r = runJob({
          op: 'render',
          part10: b.buffer.slice(b.byteOffset, b.byteOffset + b.length),
          frame: 0,
        });
        assert.ok('rgba' in r);
        const png = await sharp(Buffer.from(r.rgba), {
          raw: { width: r.width, height: r.height, channels: 4 },
        })
          .png()
          .toBuffer();
        assert.equal((await sharp(png).metadata()).width, r.width);
        outcomes.push(`${n}: not storable via STOW; codec renders ${r.width}×${r.height}`);
        continue;
      }
      const t0 = performance.now();
      const res = await get(`${pathOf(s)}/rendered`, { accept: 'image/png' });
      const ms = performance.now() - t0;
      if (n.startsWith('deflated-image-frame')) {
        // Deflated Image Frame Compression (1.2.840.10008.1.2.8.1) has no decoder here
        await problem(res, 501);
        outcomes.push(`${n}: 501 (no decoder)`);
        continue;
      }
      const img = await image(res);
      assert.equal(img.meta.format, 'png', n);
      assert.ok((img.meta.width ?? 0) > 0, n);
      outcomes.push(`${n}: ${img.meta.width}×${img.meta.height} ${ms.toFixed(0)} ms`);
    }
    t.diagnostic(outcomes.join('\n'));
  },
);

test(
  'samples: wg04 CT2 lossless encodings render identical pixels; transcoded frames equal CT2_UNC',
  { skip: !present && 'no ../shared/dicom-samples' },
  async (t) => {
    const dir = join(TS_DIR, 'wg04-CT2-same-image');
    const unc = await stowFile(join(dir, 'CT2_UNC.dcm'));
    assert.ok(unc !== undefined);
    const ref = await image(await get(`${pathOf(unc)}/rendered`, { accept: 'image/png' }));
    const uncRes = await get(`${pathOf(unc)}/frames/1`, {
      accept: 'multipart/related; type="application/octet-stream"; transfer-syntax=*',
    });
    const rawRef = (await parseMultipart(uncRes))[0]!.body;
    const lines: string[] = [];
    for (const n of [
      'CT2_J2KI.dcm',
      'CT2_JLSL.dcm',
      'CT2_JPLL.dcm',
      'CT2_RLE.dcm',
      'CT2_J2KR.dcm',
      'CT2_JLSN.dcm',
    ]) {
      // J2KR = reversible (lossless), J2KI = irreversible, JLSN = near-lossless
      const lossless = !n.includes('J2KI') && !n.includes('JLSN');
      const s = await stowFile(join(dir, n));
      assert.ok(s !== undefined, n);
      const png = await image(await get(`${pathOf(s)}/rendered`, { accept: 'image/png' }));
      if (lossless) assert.ok(png.raw.equals(ref.raw), `${n} renders the same pixels as CT2_UNC`);
      const t0 = performance.now();
      const res = await get(`${pathOf(s)}/frames/1`, {
        accept: 'multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.1',
      });
      assert.equal(res.status, 200, n);
      assert.match(res.headers.get('content-type') ?? '', /transfer-syntax=1\.2\.840\.10008\.1\.2\.1/);
      const parts = await parseMultipart(res);
      assert.match(parts[0]!.headers['content-type'] ?? '', /transfer-syntax=1\.2\.840\.10008\.1\.2\.1/);
      assert.equal(parts[0]!.body.length, rawRef.length, n);
      if (lossless) assert.ok(parts[0]!.body.equals(rawRef), `${n} transcodes to CT2_UNC's bytes`);
      lines.push(`${n}: transcode ${(performance.now() - t0).toFixed(1)} ms`);
      // transfer-syntax=* still gets the stored codestream
      const native = await get(`${pathOf(s)}/frames/1`, {
        accept: 'multipart/related; type="application/octet-stream"; transfer-syntax=*',
      });
      assert.doesNotMatch(
        native.headers.get('content-type') ?? '',
        /transfer-syntax=1\.2\.840\.10008\.1\.2\.1(;|$)/,
      );
      await native.arrayBuffer();
      const single = await get(`${pathOf(s)}/frames/1`, {
        accept: 'application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1',
      });
      assert.equal(single.status, 200);
      assert.equal(Buffer.from(await single.arrayBuffer()).length, rawRef.length);
    }
    t.diagnostic(lines.join('\n'));
  },
);

test(
  'samples: a big J2K image is timed; corrupt codestreams give problem+json and the server keeps serving',
  { skip: !present && 'no ../shared/dicom-samples' },
  async (t) => {
    const big = readdirSync(join(SAMPLES, 'modalities/cr')).filter((n) => n.endsWith('.dcm'));
    for (const n of big) {
      const s = await stowFile(join(SAMPLES, 'modalities/cr', n));
      if (s === undefined) continue;
      const t0 = performance.now();
      const res = await get(`${pathOf(s)}/rendered`);
      const cold = performance.now() - t0;
      if (res.status !== 200) {
        t.diagnostic(`CR ${n}: ${res.status} ${await res.text()}`);
        continue;
      }
      const meta = await sharp(Buffer.from(await res.arrayBuffer())).metadata();
      const t1 = performance.now();
      await (await get(`${pathOf(s)}/rendered`)).arrayBuffer();
      const t2 = performance.now();
      await (await get(`${pathOf(s)}/thumbnail`)).arrayBuffer();
      t.diagnostic(
        `CR ${n} ${meta.width}×${meta.height}: rendered cold ${cold.toFixed(0)} ms, cached ${(t2 - t1).toFixed(1)} ms, thumbnail ${(performance.now() - t2).toFixed(0)} ms`,
      );
    }
    // JPEGLossless_bad: whatever the decoder makes of it, a clean answer
    const bad = await stowFile(join(SAMPLES, 'invalid/JPEGLossless_bad.dcm'), 'b');
    if (bad !== undefined) {
      const res = await get(`${pathOf(bad)}/rendered`, { 'x-test-user': 'b' });
      t.diagnostic(`JPEGLossless_bad.dcm rendered → ${res.status}`);
      if (res.status !== 200) await problem(res, res.status);
      else await res.arrayBuffer();
    }
    // a JPEG-LS and a J2K codestream with their start overwritten by garbage
    for (const n of ['CT2_JLSL.dcm', 'CT2_J2KR.dcm']) {
      const buf = readFileSync(join(TS_DIR, 'wg04-CT2-same-image', n));
      const sig = n.includes('JLS') ? Buffer.from([0xff, 0xd8, 0xff]) : Buffer.from([0xff, 0x4f, 0xff, 0x51]);
      const at = buf.indexOf(sig, 132);
      assert.ok(at > 0);
      for (let i = at; i < Math.min(buf.length - 16, at + 4096); i++) buf[i] = (i * 31 + 7) & 0xff;
      const r = await stow(srv.url, 'b', [buf]);
      assert.equal(r.status, 200);
      const ref = (r.json['00081199']?.Value as Record<string, { Value?: unknown[] }>[])[0]!;
      const u = String(ref['00081190']?.Value?.[0]);
      const res = await get(`${u}/rendered`, { 'x-test-user': 'b' });
      const detail = await problem(res, 500);
      assert.match(detail, /cannot be decoded/);
      const tr = await get(`${u}/frames/1`, {
        'x-test-user': 'b',
        accept: 'multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.1',
      });
      await problem(tr, 500);
      t.diagnostic(`corrupt ${n}: ${detail}`);
    }
    // still serving
    const ok = await image(await get(`${url(sops.ct)}/rendered?viewport=16,16`));
    assert.equal(ok.meta.width, 16);
  },
);
