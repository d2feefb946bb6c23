/**
 * Cache of rendered images, thumbnails and transcoded frames: a byte-bounded in-memory LRU, plus an
 * optional byte-bounded folder (`<dataDir>/cache/rendered/…`). Keys carry the stored blob's identity
 * (instance id, size, blob key), so a replaced instance never hits a stale entry.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Lru } from '../dicomweb/instances.ts';

export interface CachedImage {
  body: Buffer;
  mediaType: string;
  etag: string;
}

export interface RenderCacheOptions {
  memoryBytes: number;
  /** folder for the disk tier; none when absent */
  dir?: string;
  diskBytes?: number;
}

function digest(key: string): string {
  return createHash('sha1').update(key).digest('hex');
}

export class RenderCache {
  readonly #mem: Lru<CachedImage>;
  readonly #dir: string | undefined;
  readonly #diskMax: number;
  /** disk entries in LRU order: file name → size */
  readonly #disk = new Map<string, number>();
  #diskBytes = 0;
  #diskReady: Promise<void> | undefined;
  hits = 0;
  misses = 0;

  constructor(opts: RenderCacheOptions) {
    this.#mem = new Lru<CachedImage>(opts.memoryBytes);
    this.#dir = opts.dir;
    this.#diskMax = opts.diskBytes ?? 1024 * 1024 * 1024;
  }

  get memoryBytes(): number {
    return this.#mem.bytes;
  }

  async #loadDisk(): Promise<void> {
    const dir = this.#dir;
    if (dir === undefined) return;
    this.#diskReady ??= (async () => {
      await mkdir(dir, { recursive: true });
      const names = (await readdir(dir)).filter((n) => n.endsWith('.bin'));
      const entries = await Promise.all(
        names.map(async (n) => {
          try {
            const st = await stat(join(dir, n));
            return { n, size: st.size, t: st.mtimeMs };
          } catch {
            return undefined;
          }
        }),
      );
      for (const e of entries.filter((x) => x !== undefined).sort((a, b) => a.t - b.t)) {
        this.#disk.set(e.n, e.size);
        this.#diskBytes += e.size;
      }
    })();
    await this.#diskReady;
  }

  async get(key: string): Promise<CachedImage | undefined> {
    const m = this.#mem.get(key);
    if (m !== undefined) {
      this.hits++;
      return m;
    }
    if (this.#dir !== undefined) {
      await this.#loadDisk();
      const name = `${digest(key)}.bin`;
      if (this.#disk.has(name)) {
        try {
          const buf = await readFile(join(this.#dir, name));
          // layout: 4-byte header length, JSON {key, mediaType, etag}, body
          const hl = buf.readUInt32LE(0);
          const head = JSON.parse(buf.toString('utf8', 4, 4 + hl)) as {
            key: string;
            mediaType: string;
            etag: string;
          };
          if (head.key === key) {
            const img: CachedImage = {
              body: buf.subarray(4 + hl),
              mediaType: head.mediaType,
              etag: head.etag,
            };
            const size = this.#disk.get(name)!;
            this.#disk.delete(name);
            this.#disk.set(name, size);
            this.#mem.set(key, img, img.body.length + 200);
            this.hits++;
            return img;
          }
        } catch {
          this.#forget(name);
        }
      }
    }
    this.misses++;
    return undefined;
  }

  #forget(name: string): void {
    const size = this.#disk.get(name);
    if (size === undefined) return;
    this.#disk.delete(name);
    this.#diskBytes -= size;
    if (this.#dir !== undefined) void unlink(join(this.#dir, name)).catch(() => undefined);
  }

  /** Store (memory now; disk in the background, errors ignored). */
  set(key: string, img: CachedImage): void {
    this.#mem.set(key, img, img.body.length + 200);
    const dir = this.#dir;
    if (dir === undefined) return;
    void (async () => {
      await this.#loadDisk();
      const name = `${digest(key)}.bin`;
      const head = Buffer.from(JSON.stringify({ key, mediaType: img.mediaType, etag: img.etag }));
      const len = Buffer.alloc(4);
      len.writeUInt32LE(head.length);
      const data = Buffer.concat([len, head, img.body]);
      if (data.length > this.#diskMax) return;
      const tmp = join(dir, `${name}.${process.pid}.tmp`);
      await writeFile(tmp, data);
      await rename(tmp, join(dir, name));
      const old = this.#disk.get(name);
      if (old !== undefined) {
        this.#disk.delete(name);
        this.#diskBytes -= old;
      }
      this.#disk.set(name, data.length);
      this.#diskBytes += data.length;
      for (const n of this.#disk.keys()) {
        if (this.#diskBytes <= this.#diskMax) break;
        this.#forget(n);
      }
    })().catch(() => undefined);
  }

  clear(): void {
    this.#mem.clear();
  }
}
