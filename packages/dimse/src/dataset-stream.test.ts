import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DatasetStream } from './dataset-stream.ts';

const pieces = (): Buffer[] => [
  Buffer.from('abc'),
  Buffer.from('defg'),
  Buffer.from('h'),
  Buffer.from('ijkl'),
];

function filled(s: DatasetStream): DatasetStream {
  for (const p of pieces()) s.pushPiece(p);
  s.push(null);
  return s;
}

test('read() hands out buffered pieces one by one, without copying', async () => {
  const src = pieces();
  const s = new DatasetStream(1 << 20, () => {});
  for (const p of src) s.pushPiece(p);
  s.push(null);
  const got: Buffer[] = [];
  for await (const c of s) got.push(c as Buffer);
  assert.equal(got.length, src.length);
  got.forEach((c, i) => {
    assert.equal(c.buffer, src[i]?.buffer, 'same memory as the pushed piece');
    assert.equal(c.byteOffset, src[i]?.byteOffset);
  });
  assert.equal(Buffer.concat(got).toString(), 'abcdefghijkl');
});

test('read(n), setEncoding, pipe and unshift keep their usual meaning', async () => {
  const a = filled(new DatasetStream(1 << 20, () => {}));
  assert.equal(a.read(5)?.toString(), 'abcde');
  assert.equal(a.read()?.toString(), 'fg', 'rest of the partly read piece');
  assert.equal(a.read()?.toString(), 'h');
  a.unshift(Buffer.from('XY'));
  assert.equal(a.read()?.toString(), 'XYijkl', 'untracked bytes: plain Readable behaviour');

  const b = filled(new DatasetStream(1 << 20, () => {}));
  b.setEncoding('latin1');
  assert.equal(b.read(), 'abcdefghijkl');

  let out = '';
  await pipeline(
    filled(new DatasetStream(1 << 20, () => {})),
    new Writable({
      write(chunk: Buffer, _enc, cb): void {
        out += chunk.toString();
        cb();
      },
    }),
  );
  assert.equal(out, 'abcdefghijkl');
});

test('pushPiece reports backpressure and _read asks for more', () => {
  let asked = 0;
  const s = new DatasetStream(8, () => asked++);
  assert.equal(s.pushPiece(Buffer.alloc(4)), true);
  assert.equal(s.pushPiece(Buffer.alloc(6)), false);
  assert.equal(s.read()?.length, 4);
  assert.equal(s.read()?.length, 6);
  assert.ok(asked > 0);
});
