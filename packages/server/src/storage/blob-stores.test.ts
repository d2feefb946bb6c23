/** The same BlobStore cases against the folder store and the S3 store (in-process s3rver). */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import S3rver from 's3rver';
import { BlobNotFoundError, type BlobStore } from './blob-store.ts';
import { FolderBlobStore, InvalidBlobKeyError } from './folder-blob-store.ts';
import { openBlobStore } from './open-blob-store.ts';

async function readAll(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

interface Kind {
  name: string;
  setup(): Promise<{ store: BlobStore; teardown: () => Promise<void> }>;
}

const kinds: Kind[] = [
  {
    name: 'folder',
    async setup() {
      const dir = await mkdtemp(join(tmpdir(), 'huiying-blobs-'));
      const store = await openBlobStore(`file://${dir}/blobs`, '/nonexistent');
      return { store, teardown: () => rm(dir, { recursive: true, force: true }) };
    },
  },
  {
    name: 's3',
    async setup() {
      const dir = await mkdtemp(join(tmpdir(), 'huiying-s3rver-'));
      const server = new S3rver({
        address: '127.0.0.1',
        port: 0,
        silent: true,
        directory: dir,
        configureBuckets: [{ name: 'huiying-test' }],
      });
      const addr = await server.run();
      const store = await openBlobStore(
        `s3://huiying-test/archive?endpoint=http://127.0.0.1:${addr.port}&region=us-east-1&accessKeyId=S3RVER&secretAccessKey=S3RVER&forcePathStyle=true`,
        '/nonexistent',
      );
      return {
        store,
        async teardown() {
          await store.close();
          await server.close();
          await rm(dir, { recursive: true, force: true });
        },
      };
    },
  },
];

for (const kind of kinds) {
  describe(`BlobStore: ${kind.name}`, () => {
    let store: BlobStore;
    let teardown: () => Promise<void>;
    let work: string;
    before(async () => {
      ({ store, teardown } = await kind.setup());
      work = await mkdtemp(join(tmpdir(), 'huiying-blobsrc-'));
    });
    after(async () => {
      await teardown();
      await rm(work, { recursive: true, force: true });
    });

    test('putFile stores the bytes, returns size and sha256, consumes the source', async () => {
      const data = randomBytes(100_000);
      const src = join(work, 'a.dcm');
      await writeFile(src, data);
      const r = await store.putFile('H1/1.2.3/1.2.3.4/1.2.3.4.5.dcm', src);
      assert.deepEqual(r, { key: 'H1/1.2.3/1.2.3.4/1.2.3.4.5.dcm', size: data.length, sha256: sha(data) });
      assert.deepEqual(await readAll(await store.get(r.key)), data);
      await assert.rejects(readFile(src), { code: 'ENOENT' });
    });

    test('putBuffer stores the bytes, overwrites, and leaves no temp file behind', async () => {
      const data = randomBytes(70_000);
      const r = await store.putBuffer('H1/9.8/9.8.7/9.8.7.6.dcm', data);
      assert.deepEqual(r, { key: 'H1/9.8/9.8.7/9.8.7.6.dcm', size: data.length, sha256: sha(data) });
      assert.deepEqual(await readAll(await store.get(r.key)), data);
      const next = randomBytes(10);
      await store.putBuffer(r.key, next, { size: 10, sha256: sha(next) });
      assert.deepEqual(await readAll(await store.get(r.key)), next);
      const local = store.localPath?.(r.key);
      if (local !== undefined) {
        const names = await readdir(join(local, '..'));
        assert.deepEqual(names, ['9.8.7.6.dcm']);
      }
    });

    test('putStream, full and range get, stat, overwrite, delete', async () => {
      const data = Buffer.from('0123456789abcdefghij');
      const r = await store.putStream('H1/s/x.dcm', Readable.from([data.subarray(0, 7), data.subarray(7)]));
      assert.equal(r.sha256, sha(data));
      assert.equal(r.size, 20);
      assert.deepEqual(await store.stat('H1/s/x.dcm'), { size: 20 });
      assert.equal((await readAll(await store.get('H1/s/x.dcm', { start: 2, end: 5 }))).toString(), '2345');
      assert.equal((await readAll(await store.get('H1/s/x.dcm', { start: 15 }))).toString(), 'fghij');
      await store.putStream('H1/s/x.dcm', Readable.from([Buffer.from('new')]));
      assert.equal((await readAll(await store.get('H1/s/x.dcm'))).toString(), 'new');
      await store.delete('H1/s/x.dcm');
      assert.equal(await store.stat('H1/s/x.dcm'), undefined);
      await store.delete('H1/s/x.dcm'); // idempotent
    });

    test('missing blob: get rejects with BlobNotFoundError, stat is undefined', async () => {
      await assert.rejects(store.get('H1/none.dcm'), BlobNotFoundError);
      await assert.rejects(store.get('H1/none.dcm', { start: 0, end: 3 }), BlobNotFoundError);
      assert.equal(await store.stat('H1/none.dcm'), undefined);
    });

    test('20 MB stream is byte-identical with the right sha256', async () => {
      const parts: Buffer[] = [];
      for (let i = 0; i < 20; i++) parts.push(randomBytes(1024 * 1024));
      const all = Buffer.concat(parts);
      const r = await store.putStream('H2/big/big.dcm', Readable.from(parts));
      assert.equal(r.size, all.length);
      assert.equal(r.sha256, sha(all));
      const back = await readAll(await store.get('H2/big/big.dcm'));
      assert.equal(back.length, all.length);
      assert.ok(back.equals(all), 'content differs');
      const mid = await readAll(await store.get('H2/big/big.dcm', { start: 10_000_000, end: 10_000_999 }));
      assert.ok(mid.equals(all.subarray(10_000_000, 10_001_000)));
    });

    test('traversal and malformed keys are rejected', async () => {
      for (const key of [
        '../x.dcm',
        'a/../../x.dcm',
        '/etc/passwd',
        'a//b',
        'a/./b',
        'a\\..\\b',
        '',
        'a\0b',
      ]) {
        await assert.rejects(
          store.putStream(key, Readable.from([Buffer.from('x')])),
          InvalidBlobKeyError,
          key,
        );
        await assert.rejects(store.get(key), InvalidBlobKeyError, key);
      }
    });

    test('a failing source stream stores nothing', async () => {
      const bad = new Readable({
        read() {
          this.push(Buffer.from('partial'));
          this.destroy(new Error('peer aborted'));
        },
      });
      await assert.rejects(store.putStream('H1/fail/f.dcm', bad), /peer aborted/);
      assert.equal(await store.stat('H1/fail/f.dcm'), undefined);
    });
  });
}

test('openBlobStore: relative path resolves against dataDir; unsupported schemes rejected', async () => {
  const s = await openBlobStore('blobs', '/data/huiying');
  assert.ok(s instanceof FolderBlobStore);
  assert.equal(s.description, 'folder:/data/huiying/blobs');
  await assert.rejects(openBlobStore('ftp://x/y', '/d'), /unsupported/);
  assert.equal(
    (await openBlobStore('s3://bk?endpoint=http://127.0.0.1:1', '/d')).description,
    's3://bk@http://127.0.0.1:1',
  );
});
