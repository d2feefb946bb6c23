/**
 * Reading stored instances for WADO-RS: the header as DICOM JSON (metadata, with BulkDataURIs instead of
 * large binary values), the pixel data layout (native frame offsets, encapsulated fragments) and byte
 * ranges — from any BlobStore (positional reads on a folder store, range requests otherwise). Results are
 * cached in byte-bounded LRUs keyed by the stored blob (instance id + key + size), so a replaced instance
 * is never served from a stale entry.
 */
import { open, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import {
  decodeDatasetDetailed,
  DicomParseError,
  readPart10,
  transferSyntaxInfo,
  type DicomJson,
} from '@huiying/dicom';
import type { InstanceLocation } from '../archive/ports.ts';
import type { BlobStore } from '../storage/blob-store.ts';
import { BlobNotFoundError } from '../storage/blob-store.ts';
import { HuiyingError, messageOf } from '../errors.ts';

/** Placeholder for `<scheme>://<host><prefix>` inside cached metadata; replaced per request. */
export const BASE_PLACEHOLDER = '@@HUIYING_DICOMWEB_BASE@@';

/** Binary values larger than this are given as BulkDataURI in metadata. */
const MAX_INLINE_BINARY = 1024;
const MAX_HEADER = 64 * 1024 * 1024;

export class Lru<V> {
  readonly #map = new Map<string, { v: V; size: number }>();
  #bytes = 0;
  readonly #max: number;
  hits = 0;
  misses = 0;
  constructor(maxBytes: number) {
    this.#max = maxBytes;
  }
  get(k: string): V | undefined {
    const e = this.#map.get(k);
    if (e === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.#map.delete(k);
    this.#map.set(k, e);
    return e.v;
  }
  set(k: string, v: V, size: number): void {
    const old = this.#map.get(k);
    if (old !== undefined) {
      this.#bytes -= old.size;
      this.#map.delete(k);
    }
    if (size > this.#max) return;
    this.#map.set(k, { v, size });
    this.#bytes += size;
    for (const [key, e] of this.#map) {
      if (this.#bytes <= this.#max) break;
      this.#map.delete(key);
      this.#bytes -= e.size;
    }
  }
  get bytes(): number {
    return this.#bytes;
  }
  clear(): void {
    this.#map.clear();
    this.#bytes = 0;
  }
}

/** Random access to one blob. */
interface ByteSource {
  read(start: number, length: number): Promise<Buffer>;
  close(): Promise<void>;
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream as AsyncIterable<Buffer | string>) {
    chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
  }
  return Buffer.concat(chunks);
}

function blobError(err: unknown, key: string): HuiyingError {
  if (err instanceof HuiyingError) return err;
  if (err instanceof BlobNotFoundError) {
    return new HuiyingError('internal', `stored instance is missing from the blob store (${key})`, {
      cause: err,
    });
  }
  return new HuiyingError('unavailable', `storage read failed: ${messageOf(err)}`, { cause: err });
}

async function openSource(blobs: BlobStore, key: string, size: number): Promise<ByteSource> {
  const local = blobs.localPath?.(key);
  if (local !== undefined) {
    let fh: FileHandle;
    try {
      fh = await open(local, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw blobError(new BlobNotFoundError(key), key);
      throw blobError(err, key);
    }
    return {
      async read(start, length) {
        const n = Math.max(0, Math.min(length, size - start));
        const buf = Buffer.allocUnsafe(n);
        let pos = 0;
        while (pos < n) {
          const { bytesRead } = await fh.read(buf, pos, n - pos, start + pos);
          if (bytesRead === 0) break;
          pos += bytesRead;
        }
        return buf.subarray(0, pos);
      },
      close: () => fh.close(),
    };
  }
  return {
    async read(start, length) {
      const n = Math.max(0, Math.min(length, size - start));
      if (n === 0) return Buffer.alloc(0);
      try {
        return await collect(await blobs.get(key, { start, end: start + n - 1 }));
      } catch (err) {
        throw blobError(err, key);
      }
    },
    close: () => Promise.resolve(),
  };
}

/**
 * Stream a blob (or a byte range of it). A folder store is read directly (1 MiB reads, and the file
 * handle closes when the consumer stops early); other stores through BlobStore.get.
 */
export async function blobStream(
  blobs: BlobStore,
  key: string,
  range?: { start: number; end?: number },
): Promise<Readable> {
  const local = blobs.localPath?.(key);
  try {
    if (local !== undefined) {
      const fh = await open(local, 'r').catch((e: unknown) => {
        throw (e as NodeJS.ErrnoException).code === 'ENOENT' ? new BlobNotFoundError(key) : e;
      });
      // Bound every read by the bytes wanted: a read stream without `end` allocates a full
      // highWaterMark buffer per read (two per small file, one just to see EOF), which made
      // multi-instance retrieval of small instances GC-bound.
      const start = range?.start ?? 0;
      const end = range?.end ?? (await fh.stat()).size - 1;
      return fh.createReadStream({
        start,
        end: Math.max(start, end),
        highWaterMark: Math.min(1024 * 1024, Math.max(64 * 1024, end - start + 1)),
        autoClose: true,
      });
    }
    return await blobs.get(key, range);
  } catch (err) {
    throw blobError(err, key);
  }
}

export function cacheKey(loc: InstanceLocation): string {
  return `${loc.instanceId}:${loc.size}:${loc.blobKey}`;
}

export function instancePath(loc: InstanceLocation): string {
  return `/studies/${loc.studyInstanceUid}/series/${loc.seriesInstanceUid}/instances/${loc.sopInstanceUid}`;
}

export interface PixelElement {
  tag: string;
  vr: string;
  /** file offset of the element's value */
  valueOffset: number;
  /** undefined length (encapsulated) → undefined */
  valueLength: number | undefined;
}

export interface InstanceHeader {
  transferSyntaxUid: string;
  /** JSON model without pixel data; BulkDataURIs carry BASE_PLACEHOLDER */
  dataset: DicomJson;
  pixel?: PixelElement;
}

/** Parse the header (up to the pixel data) of a stored instance, reading as little as needed. */
export async function readInstanceHeader(
  blobs: BlobStore,
  loc: InstanceLocation,
  defaultCharset: string | undefined,
): Promise<InstanceHeader> {
  const src = await openSource(blobs, loc.blobKey, loc.size);
  try {
    let want = Math.min(loc.size, 64 * 1024);
    let buf = await src.read(0, want);
    const base = `${BASE_PLACEHOLDER}${instancePath(loc)}/bulkdata/`;
    for (;;) {
      const complete = buf.length >= loc.size;
      try {
        const p10 = readPart10(buf);
        const ts = transferSyntaxInfo(p10.transferSyntaxUid);
        if (ts.deflated && !complete) throw new NeedMore();
        const r = decodeDatasetDetailed(buf, {
          transferSyntax: p10.transferSyntaxUid,
          offset: p10.datasetOffset,
          stopBeforeTag: 0x7fe00008,
          ...(ts.deflated
            ? {}
            : {
                maxInlineBinary: MAX_INLINE_BINARY,
                bulkDataUri: ({ tag, offset, length }) => `${base}${tag}?offset=${offset}&length=${length}`,
              }),
          ...(defaultCharset !== undefined ? { defaultCharset } : {}),
        });
        if (!complete && r.stoppedAt === undefined) throw new NeedMore();
        const header: InstanceHeader = { transferSyntaxUid: p10.transferSyntaxUid, dataset: r.dataset };
        if (r.stoppedAt !== undefined && !ts.deflated) {
          const el = await pixelElementAt(src, buf, r.stoppedAt.offset, ts.explicitVr, ts.littleEndian);
          if (el !== undefined) {
            if (!ts.explicitVr) {
              const bits = r.dataset['00280100']?.Value?.[0];
              el.vr = el.tag === '7FE00010' ? (typeof bits === 'number' && bits > 8 ? 'OW' : 'OB') : 'OF';
            }
            header.pixel = el;
          }
        }
        return header;
      } catch (err) {
        const truncated = err instanceof NeedMore || (err instanceof DicomParseError && err.truncated);
        if (!truncated || complete) {
          if (err instanceof NeedMore)
            throw new HuiyingError('internal', 'stored instance header unreadable');
          throw new HuiyingError('internal', `stored instance cannot be parsed: ${messageOf(err)}`, {
            cause: err,
          });
        }
        if (want >= MAX_HEADER) throw new HuiyingError('internal', 'stored instance header exceeds 64 MiB');
        want = Math.min(loc.size, want * 4, MAX_HEADER);
        const more = await src.read(buf.length, want - buf.length);
        buf = Buffer.concat([buf, more]);
      }
    }
  } finally {
    await src.close();
  }
}

class NeedMore extends Error {}

async function pixelElementAt(
  src: ByteSource,
  buf: Buffer,
  offset: number,
  explicit: boolean,
  le: boolean,
): Promise<PixelElement | undefined> {
  let b = buf.subarray(offset, offset + 12);
  if (b.length < 12) b = await src.read(offset, 12);
  if (b.length < 8) return undefined;
  const u16 = (o: number): number => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
  const u32 = (o: number): number => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const tag = `${u16(0).toString(16).padStart(4, '0')}${u16(2).toString(16).padStart(4, '0')}`.toUpperCase();
  if (!tag.startsWith('7FE0')) return undefined;
  if (explicit) {
    if (b.length < 12) return undefined;
    const vr = b.toString('latin1', 4, 6);
    const len = u32(8);
    return { tag, vr, valueOffset: offset + 12, valueLength: len === 0xffffffff ? undefined : len };
  }
  const len = u32(4);
  return { tag, vr: 'OW', valueOffset: offset + 8, valueLength: len === 0xffffffff ? undefined : len };
}

export interface PixelLayout {
  transferSyntaxUid: string;
  encapsulated: boolean;
  numberOfFrames: number;
  /** native: bytes per frame (0 when BitsAllocated is 1) */
  frameSize: number;
  valueOffset: number;
  valueLength: number;
  /** encapsulated: each frame's fragments as [fileOffset, length] */
  frames?: [number, number][][];
}

function num(ds: DicomJson, tag: string): number | undefined {
  const v = ds[tag]?.Value?.[0];
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && /^\s*\d+\s*$/.test(v)) return Number(v);
  return undefined;
}

/** The pixel data layout of an instance (frames). Throws not-found when it has no pixel data. */
export async function readPixelLayout(
  blobs: BlobStore,
  loc: InstanceLocation,
  header: InstanceHeader,
): Promise<PixelLayout> {
  const px = header.pixel;
  if (px === undefined) {
    if (transferSyntaxInfo(header.transferSyntaxUid).deflated) {
      throw new HuiyingError('unsupported', 'frames of deflated instances are not supported', {
        detail: { status: 406 },
      });
    }
    throw new HuiyingError('not-found', 'the instance has no pixel data');
  }
  const ds = header.dataset;
  const numberOfFrames = num(ds, '00280008') ?? 1;
  const rows = num(ds, '00280010') ?? 0;
  const cols = num(ds, '00280011') ?? 0;
  const samples = num(ds, '00280002') ?? 1;
  const bits = num(ds, '00280100') ?? 16;
  const ts = transferSyntaxInfo(header.transferSyntaxUid);
  if (px.valueLength !== undefined) {
    // YBR_FULL_422 native: two samples per pixel on average (PS3.3 C.7.6.3.1.2)
    const pi = ds['00280004']?.Value?.[0];
    const perPixel = pi === 'YBR_FULL_422' && samples === 3 ? 2 : samples;
    const frameBits = rows * cols * perPixel * bits;
    const frameSize = frameBits % 8 === 0 ? frameBits / 8 : 0;
    return {
      transferSyntaxUid: header.transferSyntaxUid,
      encapsulated: false,
      numberOfFrames,
      frameSize,
      valueOffset: px.valueOffset,
      valueLength: px.valueLength,
    };
  }
  if (!ts.encapsulated && !ts.littleEndian) {
    throw new HuiyingError('internal', 'native pixel data with undefined length');
  }
  // encapsulated: item headers (FFFE,E000) until the sequence delimiter (FFFE,E0DD)
  const src = await openSource(blobs, loc.blobKey, loc.size);
  const items: [number, number][] = [];
  let pos = px.valueOffset;
  try {
    for (;;) {
      const h = await src.read(pos, 8);
      if (h.length < 8) break; // truncated: use what we have
      const group = h.readUInt16LE(0);
      const elem = h.readUInt16LE(2);
      const len = h.readUInt32LE(4);
      if (group !== 0xfffe) throw new HuiyingError('internal', 'malformed encapsulated pixel data');
      if (elem === 0xe0dd) break;
      if (elem !== 0xe000 || len === 0xffffffff) {
        throw new HuiyingError('internal', 'malformed encapsulated pixel data');
      }
      items.push([pos + 8, len]);
      pos += 8 + len;
    }
    if (items.length === 0) throw new HuiyingError('internal', 'encapsulated pixel data without items');
    const botItem = items[0]!;
    const data = items.slice(1);
    const bot: number[] = [];
    if (botItem[1] > 0) {
      const b = await src.read(botItem[0], botItem[1]);
      for (let o = 0; o + 4 <= b.length; o += 4) bot.push(b.readUInt32LE(o));
    }
    let frames: [number, number][][] | undefined;
    if (numberOfFrames <= 1) frames = [data];
    else if (bot.length === numberOfFrames && data.length > 0) {
      const first = data[0]![0] - 8;
      frames = bot.map((start, k) => {
        const end = k + 1 < bot.length ? bot[k + 1]! : Infinity;
        return data.filter(([off]) => off - 8 - first >= start && off - 8 - first < end);
      });
    } else if (data.length === numberOfFrames) frames = data.map((f) => [f]);
    else if ((frames = await splitByStartMarkers(src, data, numberOfFrames)) !== undefined) {
      // no Basic Offset Table: frames found by their codestream start markers (JPEG SOI, J2K SOC)
    } else {
      throw new HuiyingError(
        'unsupported',
        `cannot map ${data.length} fragments to ${numberOfFrames} frames without a Basic Offset Table`,
        { detail: { status: 501 } },
      );
    }
    return {
      transferSyntaxUid: header.transferSyntaxUid,
      encapsulated: true,
      numberOfFrames,
      frameSize: 0,
      valueOffset: px.valueOffset,
      valueLength: pos - px.valueOffset,
      frames,
    };
  } finally {
    await src.close();
  }
}

/**
 * Group fragments into frames when there is no Basic Offset Table: a fragment that begins with a JPEG SOI
 * (FF D8) or a JPEG 2000 SOC (FF 4F FF 51) starts a frame. Undefined unless that yields `count` frames.
 */
async function splitByStartMarkers(
  src: ByteSource,
  data: [number, number][],
  count: number,
): Promise<[number, number][][] | undefined> {
  if (data.length > 100000) return undefined;
  const out: [number, number][][] = [];
  for (const f of data) {
    const h = await src.read(f[0], 4);
    const start =
      (h[0] === 0xff && h[1] === 0xd8) || (h[0] === 0xff && h[1] === 0x4f && h[2] === 0xff && h[3] === 0x51);
    if (start) out.push([f]);
    else if (out.length > 0) out[out.length - 1]!.push(f);
    else return undefined;
  }
  return out.length === count ? out : undefined;
}

/** Byte ranges [fileOffset, length] of frame `n` (1-based). */
export function frameRanges(layout: PixelLayout, n: number): [number, number][] {
  if (!Number.isInteger(n) || n < 1 || n > layout.numberOfFrames) {
    throw new HuiyingError(
      'not-found',
      `frame ${n} does not exist (the instance has ${layout.numberOfFrames})`,
    );
  }
  if (layout.encapsulated) return layout.frames![n - 1] ?? [];
  if (layout.frameSize === 0) {
    throw new HuiyingError(
      'unsupported',
      'frames of 1-bit pixel data that do not end on a byte boundary are not supported',
      {
        detail: { status: 501 },
      },
    );
  }
  const start = layout.valueOffset + (n - 1) * layout.frameSize;
  if ((n - 1) * layout.frameSize + layout.frameSize > layout.valueLength) {
    throw new HuiyingError('not-found', `frame ${n} lies beyond the pixel data`);
  }
  return [[start, layout.frameSize]];
}
