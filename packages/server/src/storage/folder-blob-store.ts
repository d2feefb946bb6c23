/**
 * Blob store in a local folder. Keys are relative paths (`<hospital>/<study>/<series>/<sop>.dcm`, chosen
 * by the caller); a key that is absolute, empty, has `.`/`..` segments, backslashes or NUL is rejected.
 * Writes go to a temp file in the target directory, are fsynced, renamed into place, and the directory
 * is fsynced, so a blob is either absent or complete after a crash.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  createReadStream,
  createWriteStream,
  fdatasync,
  openSync,
  renameSync,
  writeSync,
} from 'node:fs';
import { promisify } from 'node:util';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';

const fdatasyncAsync = promisify(fdatasync);
import { dirname, join, resolve, sep } from 'node:path';
import { PassThrough, Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BlobNotFoundError, type BlobStore, type KnownContent, type PutResult } from './blob-store.ts';

export class InvalidBlobKeyError extends Error {
  constructor(key: string, why: string) {
    super(`invalid blob key ${JSON.stringify(key)}: ${why}`);
    this.name = 'InvalidBlobKeyError';
  }
}

/** Validates a blob key (shared by the stores): relative, `/`-separated, no traversal. */
export function checkBlobKey(key: string): string {
  if (key === '' || key.length > 1024) throw new InvalidBlobKeyError(key, 'empty or too long');
  if (key.includes('\0') || key.includes('\\')) throw new InvalidBlobKeyError(key, 'NUL or backslash');
  if (key.startsWith('/')) throw new InvalidBlobKeyError(key, 'absolute');
  for (const seg of key.split('/')) {
    if (seg === '' || seg === '.' || seg === '..') throw new InvalidBlobKeyError(key, `segment "${seg}"`);
  }
  return key;
}

function isNotFound(e: unknown): boolean {
  return (e as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

async function fsyncFile(path: string): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export class FolderBlobStore implements BlobStore {
  readonly root: string;
  readonly description: string;
  readonly #createdDirs = new Set<string>();

  readonly #sync: boolean;

  /** `sync: false` skips fsync of files and directories (acknowledged once written to the OS). */
  constructor(root: string, options: { sync?: boolean } = {}) {
    this.root = resolve(root);
    this.description = `folder:${root}`;
    this.#sync = options.sync ?? true;
  }

  localPath(key: string): string {
    const p = join(this.root, ...checkBlobKey(key).split('/'));
    if (!p.startsWith(this.root.endsWith(sep) ? this.root : this.root + sep)) {
      throw new InvalidBlobKeyError(key, 'outside the store');
    }
    return p;
  }

  async #ensureDir(dir: string): Promise<void> {
    if (this.#createdDirs.has(dir)) return;
    await mkdir(dir, { recursive: true });
    this.#createdDirs.add(dir);
  }

  async putFile(key: string, sourcePath: string, known?: KnownContent): Promise<PutResult> {
    // same filesystem: rename (no copy); otherwise copy through putStream
    const target = this.localPath(key);
    const dir = dirname(target);
    await this.#ensureDir(dir);
    let size: number;
    let sha256: string;
    if (known !== undefined) {
      ({ size, sha256 } = known);
      if (this.#sync && !known.synced) await fsyncFile(sourcePath);
    } else {
      const hash = createHash('sha256');
      size = 0;
      const fh = await open(sourcePath, 'r+');
      try {
        for await (const chunk of fh.createReadStream({ autoClose: false })) {
          hash.update(chunk as Buffer);
          size += (chunk as Buffer).length;
        }
        if (this.#sync) await fh.sync();
      } finally {
        await fh.close();
      }
      sha256 = hash.digest('hex');
    }
    try {
      await rename(sourcePath, target);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EXDEV') throw e;
      const result = await this.putStream(key, createReadStream(sourcePath));
      await rm(sourcePath, { force: true });
      return result;
    }
    if (this.#sync) await fsyncDir(dir);
    return { key, size, sha256 };
  }

  async putBuffer(
    key: string,
    data: Uint8Array,
    known?: { size: number; sha256: string },
  ): Promise<PutResult> {
    const target = this.localPath(key);
    const dir = dirname(target);
    await this.#ensureDir(dir);
    const tmp = join(dir, `.tmp-${randomBytes(6).toString('hex')}`);
    // Writing a few MiB into the page cache is cheaper inline than through the thread pool (one hop per
    // open/write/close); only the fsyncs, which may take milliseconds, go to the thread pool.
    let fd: number | undefined = openSync(tmp, 'wx');
    try {
      for (let off = 0; off < data.length;) off += writeSync(fd, data, off, data.length - off);
      if (this.#sync) await fdatasyncAsync(fd);
      closeSync(fd);
      fd = undefined;
      renameSync(tmp, target);
      if (this.#sync) await fsyncDir(dir);
    } catch (e) {
      if (fd !== undefined) closeSync(fd);
      await rm(tmp, { force: true });
      throw e;
    }
    return {
      key,
      size: known?.size ?? data.length,
      sha256: known?.sha256 ?? createHash('sha256').update(data).digest('hex'),
    };
  }

  async putStream(key: string, data: Readable): Promise<PutResult> {
    const target = this.localPath(key);
    const dir = dirname(target);
    await this.#ensureDir(dir);
    const tmp = join(dir, `.tmp-${randomBytes(6).toString('hex')}`);
    const hash = createHash('sha256');
    let size = 0;
    const tap = new Transform({
      transform(chunk: Buffer, _enc, cb): void {
        hash.update(chunk);
        size += chunk.length;
        cb(null, chunk);
      },
    });
    try {
      const out = createWriteStream(tmp, { flags: 'wx' });
      await pipeline(data, tap, out);
      if (this.#sync) await fsyncFile(tmp);
      await rename(tmp, target);
      if (this.#sync) await fsyncDir(dir);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
    return { key, size, sha256: hash.digest('hex') };
  }

  async get(key: string, range?: { start: number; end?: number }): Promise<Readable> {
    const p = this.localPath(key);
    const fh = await open(p, 'r').catch((e: unknown) => {
      throw isNotFound(e) ? new BlobNotFoundError(key) : e;
    });
    const opts: { start?: number; end?: number } = {};
    if (range !== undefined) {
      opts.start = range.start;
      if (range.end !== undefined) opts.end = range.end;
    }
    const rs = fh.createReadStream({ ...opts, autoClose: true });
    // surface errors through a PassThrough so callers get a plain Readable
    const pt = new PassThrough();
    rs.on('error', (e) => pt.destroy(e));
    return rs.pipe(pt);
  }

  async stat(key: string): Promise<{ size: number } | undefined> {
    try {
      const st = await stat(this.localPath(key));
      return st.isFile() ? { size: st.size } : undefined;
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  async delete(key: string): Promise<void> {
    await rm(this.localPath(key), { force: true });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
