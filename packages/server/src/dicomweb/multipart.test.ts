import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MultipartReader } from './multipart.ts';
import { negotiate, parseAccept } from './media.ts';
import { HuiyingError } from '../errors.ts';

function* chunked(buf: Buffer, size: number): Generator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

async function parse(
  buf: Buffer,
  size: number,
  limits = { maxPartBytes: 1e9, maxTotalBytes: 1e9 },
): Promise<Buffer[]> {
  const r = new MultipartReader(chunked(buf, size), 'b0und', limits);
  const out: Buffer[] = [];
  for await (const p of r.parts()) {
    const cs: Buffer[] = [];
    for await (const c of p.body) cs.push(c);
    out.push(Buffer.concat(cs));
  }
  return out;
}

const body = Buffer.concat([
  Buffer.from('preamble\r\n--b0und\r\nContent-Type: application/dicom\r\n\r\n'),
  Buffer.from('first\r\n--b0un not a boundary\r\n-b0und'),
  Buffer.from('\r\n--b0und  \r\n\r\n'),
  Buffer.from(''),
  Buffer.from('\r\n--b0und\r\ncontent-type: application/dicom\r\n\r\nthird'),
  Buffer.from('\r\n--b0und--\r\nepilogue'),
]);

test('multipart: boundaries split across every chunk size; padding, empty parts, epilogue', async () => {
  for (const size of [1, 2, 3, 7, 13, 64, 100000]) {
    const parts = await parse(body, size);
    assert.deepEqual(
      parts.map((p) => p.toString()),
      ['first\r\n--b0un not a boundary\r\n-b0und', '', 'third'],
      `chunk size ${size}`,
    );
  }
});

test('multipart: unconsumed bodies are drained; limits and truncation fail', async () => {
  const r = new MultipartReader(chunked(body, 5), 'b0und', { maxPartBytes: 1e9, maxTotalBytes: 1e9 });
  let n = 0;
  for await (const p of r.parts()) {
    void p;
    n++;
  }
  assert.equal(n, 3);
  await assert.rejects(parse(body, 4, { maxPartBytes: 10, maxTotalBytes: 1e9 }), (e: unknown) => {
    return e instanceof HuiyingError && e.detail?.status === 413;
  });
  await assert.rejects(parse(body, 4, { maxPartBytes: 1e9, maxTotalBytes: 50 }), /exceeds the limit/);
  await assert.rejects(parse(body.subarray(0, body.length - 30), 4), /malformed multipart body/);
  await assert.rejects(parse(Buffer.from('no boundary here'), 4), /no boundary found/);
});

test('Accept: q-values, type and transfer-syntax parameters, 406', () => {
  const offers = [
    { kind: 'multipart' as const, partType: 'image/jpeg', transferSyntax: '1.2.840.10008.1.2.4.50' },
    {
      kind: 'multipart' as const,
      partType: 'application/octet-stream',
      transferSyntax: '1.2.840.10008.1.2.4.50',
    },
  ];
  assert.equal(
    negotiate(parseAccept('multipart/related; type=application/octet-stream; transfer-syntax=*'), offers)
      .offer.partType,
    'application/octet-stream',
  );
  assert.equal(negotiate(parseAccept(undefined), offers).offer.partType, 'image/jpeg');
  assert.equal(
    negotiate(
      parseAccept(
        'multipart/related; type="application/octet-stream"; q=0.2, multipart/related; type="image/jpeg"; q=0.8',
      ),
      offers,
    ).offer.partType,
    'image/jpeg',
  );
  assert.throws(
    () =>
      negotiate(
        parseAccept('multipart/related; type="image/jpeg"; transfer-syntax=1.2.840.10008.1.2.4.70'),
        offers,
      ),
    (e: unknown) => e instanceof HuiyingError && e.detail?.status === 406,
  );
  assert.throws(() => parseAccept('not a media type'), /malformed/);
  assert.equal(parseAccept('a/b; q=0, c/d').length, 1);
});

test('multipart: a slow consumer of one part never reads the next part (STOW concurrency)', async () => {
  const a = Buffer.alloc(300_000, 0x61);
  const b = Buffer.alloc(300_000, 0x62);
  const whole = Buffer.concat([
    Buffer.from('--b0und\r\n\r\n'),
    a,
    Buffer.from('\r\n--b0und\r\n\r\n'),
    b,
    Buffer.from('\r\n--b0und--\r\n'),
  ]);
  const r = new MultipartReader(chunked(whole, 65536), 'b0und', { maxPartBytes: 1e9, maxTotalBytes: 1e9 });
  const consumers: Promise<Buffer>[] = [];
  for await (const p of r.parts()) {
    // like STOW: consume in the background, move on as soon as the last bytes were handed out
    consumers.push(
      (async () => {
        const cs: Buffer[] = [];
        for await (const c of p.body) {
          cs.push(c);
          await new Promise((res) => setTimeout(res, 2));
        }
        return Buffer.concat(cs);
      })(),
    );
    await p.bodyDone;
  }
  const [ra, rb] = await Promise.all(consumers);
  assert.ok(ra?.equals(a), `part 1: ${ra?.length} bytes`);
  assert.ok(rb?.equals(b), `part 2: ${rb?.length} bytes`);
});
