/**
 * Rendering frames of stored instances to JPEG/PNG/GIF, and decoding compressed frames to native pixels
 * (transcoding to Explicit VR Little Endian). Only the needed frame is read from the blob store: the
 * header bytes (up to the Pixel Data value) plus that frame's bytes (native) or fragments
 * (encapsulated) are spliced into a one-frame Part 10 that dcmjs-imaging decodes and renders (Modality
 * LUT, VOI window/LUT, MONOCHROME1, colour) in a worker thread; sharp then crops, scales and encodes.
 * Results are cached (see cache.ts) under keys that carry the stored blob's identity.
 */
import { createHash } from 'node:crypto';
import type sharpModule from 'sharp';
import { createRequire } from 'node:module';

// sharp (libvips, ≈20 MB resident) is loaded on the first rendered image, not at server start.
let sharpFn: typeof sharpModule | undefined;
function sharp(...args: Parameters<typeof sharpModule>): ReturnType<typeof sharpModule> {
  sharpFn ??= createRequire(import.meta.url)('sharp') as typeof sharpModule;
  return sharpFn(...args);
}
import { transferSyntaxInfo, type DicomJson } from '@huiying/dicom';
import type { InstanceLocation } from '../archive/ports.ts';
import type { BlobStore } from '../storage/blob-store.ts';
import { HuiyingError } from '../errors.ts';
import {
  Lru,
  blobStream,
  cacheKey,
  frameRanges,
  readInstanceHeader,
  readPixelLayout,
  type PixelLayout,
} from '../dicomweb/instances.ts';
import { isDecodableCodestream, renderableSyntax, type FrameAttrs } from './codec.ts';
import { CodecError, RenderPool } from './pool.ts';
import { RenderCache, type CachedImage } from './cache.ts';
import { optionsKey, type ImageType, type RenderOptions } from './params.ts';

export const EXPLICIT_LE = '1.2.840.10008.1.2.1';
const MAX_WHOLE_FILE = 512 * 1024 * 1024;

export interface RendererOptions {
  blobs: BlobStore;
  /** worker threads for decoding (0 = inline on the main thread); default 2 */
  workers?: number;
  /** bytes of rendered images kept in memory (default 128 MiB) */
  cacheBytes?: number;
  /** folder for the disk cache tier (e.g. `<dataDir>/cache/rendered`); none when absent */
  cacheDir?: string;
  cacheDiskBytes?: number;
}

/** What the renderer keeps per stored instance: the header bytes, the frame layout, the image attributes. */
interface Source {
  transferSyntaxUid: string;
  numberOfFrames: number;
  attrs: FrameAttrs;
  /** bytes [0, pixel value offset) of the file; undefined for deflated files (read whole) */
  head?: Buffer;
  layout?: PixelLayout;
}

function num(ds: DicomJson, tag: string, dflt: number): number {
  const v = ds[tag]?.Value?.[0];
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return dflt;
}

function str(ds: DicomJson, tag: string): string | undefined {
  const v = ds[tag]?.Value?.[0];
  return typeof v === 'string' ? v.trim() : undefined;
}

async function collect(s: AsyncIterable<Buffer | string>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
  return Buffer.concat(chunks);
}

function toArrayBuffer(b: Buffer): ArrayBuffer {
  const ab = new ArrayBuffer(b.length);
  new Uint8Array(ab).set(b);
  return ab;
}

function codecFailure(err: unknown, loc: InstanceLocation): never {
  if (err instanceof CodecError) {
    throw new HuiyingError(
      'internal',
      `the pixel data of instance ${loc.sopInstanceUid} (${loc.transferSyntaxUid}) cannot be decoded: ${err.message}`,
      { cause: err, detail: { status: 500 } },
    );
  }
  throw err;
}

export class Renderer {
  readonly #blobs: BlobStore;
  readonly pool: RenderPool;
  readonly cache: RenderCache;
  readonly #sources = new Lru<Source>(32 * 1024 * 1024);

  constructor(opts: RendererOptions) {
    this.#blobs = opts.blobs;
    this.pool = new RenderPool(opts.workers ?? 2);
    this.cache = new RenderCache({
      memoryBytes: opts.cacheBytes ?? 128 * 1024 * 1024,
      ...(opts.cacheDir !== undefined ? { dir: opts.cacheDir } : {}),
      ...(opts.cacheDiskBytes !== undefined ? { diskBytes: opts.cacheDiskBytes } : {}),
    });
  }

  async #read(key: string, start: number, length: number): Promise<Buffer> {
    if (length <= 0) return Buffer.alloc(0);
    const s = await blobStream(this.#blobs, key, { start, end: start + length - 1 });
    return collect(s as AsyncIterable<Buffer>);
  }

  async #source(loc: InstanceLocation): Promise<Source> {
    const key = cacheKey(loc);
    const hit = this.#sources.get(key);
    if (hit !== undefined) return hit;
    const header = await readInstanceHeader(this.#blobs, loc, undefined);
    const ds = header.dataset;
    const ts = header.transferSyntaxUid;
    const attrs: FrameAttrs = {
      rows: num(ds, '00280010', 0),
      columns: num(ds, '00280011', 0),
      bitsAllocated: num(ds, '00280100', 16),
      bitsStored: num(ds, '00280101', num(ds, '00280100', 16)),
      samplesPerPixel: num(ds, '00280002', 1),
      pixelRepresentation: num(ds, '00280103', 0),
      planarConfiguration: num(ds, '00280006', 0),
      photometricInterpretation: str(ds, '00280004') ?? 'MONOCHROME2',
    };
    const numberOfFrames = Math.max(1, num(ds, '00280008', 1));
    let src: Source;
    if (transferSyntaxInfo(ts).deflated) {
      if (attrs.rows === 0) throw new HuiyingError('not-found', 'the instance has no pixel data');
      src = { transferSyntaxUid: ts, numberOfFrames, attrs };
    } else {
      if (header.pixel?.tag !== '7FE00010') {
        throw new HuiyingError('not-found', 'the instance has no pixel data to render');
      }
      const layout = await readPixelLayout(this.#blobs, loc, header);
      const head = await this.#read(loc.blobKey, 0, header.pixel.valueOffset);
      src = { transferSyntaxUid: ts, numberOfFrames: layout.numberOfFrames, attrs, head, layout };
    }
    this.#sources.set(key, src, 1000 + (src.head?.length ?? 0) + (src.layout?.frames?.length ?? 0) * 32);
    return src;
  }

  /** Number of frames of a stored image (throws not-found without pixel data). */
  async numberOfFrames(loc: InstanceLocation): Promise<number> {
    return (await this.#source(loc)).numberOfFrames;
  }

  #checkFrame(src: Source, n: number): void {
    if (!Number.isInteger(n) || n < 1 || n > src.numberOfFrames) {
      throw new HuiyingError(
        'invalid-input',
        `frame ${n} does not exist (the instance has ${src.numberOfFrames} frame${src.numberOfFrames === 1 ? '' : 's'})`,
      );
    }
  }

  /** A one-frame Part 10 with frame `n` (1-based), and the index of that frame inside it. */
  async #framePart10(
    loc: InstanceLocation,
    src: Source,
    n: number,
  ): Promise<{ part10: ArrayBuffer; frame: number }> {
    if (src.head === undefined || src.layout === undefined) {
      if (loc.size > MAX_WHOLE_FILE)
        throw new HuiyingError('unsupported', 'deflated instance too large to render');
      return { part10: toArrayBuffer(await this.#read(loc.blobKey, 0, loc.size)), frame: n - 1 };
    }
    const layout = src.layout;
    const ranges = frameRanges(layout, n);
    const pieces = await Promise.all(ranges.map(([o, l]) => this.#read(loc.blobKey, o, l)));
    const head = Buffer.from(src.head);
    if (!layout.encapsulated) {
      const data = pieces[0] ?? Buffer.alloc(0);
      const le = src.transferSyntaxUid !== '1.2.840.10008.1.2.2';
      if (le) head.writeUInt32LE(data.length, head.length - 4);
      else head.writeUInt32BE(data.length, head.length - 4);
      patchFrames(head);
      return { part10: toArrayBuffer(Buffer.concat([head, data])), frame: 0 };
    }
    const item = (len: number): Buffer => {
      const b = Buffer.alloc(8);
      b.writeUInt16LE(0xfffe, 0);
      b.writeUInt16LE(0xe000, 2);
      b.writeUInt32LE(len, 4);
      return b;
    };
    const frag = Buffer.concat(pieces);
    const end = Buffer.from([0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0]);
    const pad = frag.length % 2 === 1 ? Buffer.alloc(1) : Buffer.alloc(0);
    patchFrames(head);
    return {
      part10: toArrayBuffer(Buffer.concat([head, item(0), item(frag.length + pad.length), frag, pad, end])),
      frame: 0,
    };
  }

  /** Render frame `n` (1-based) of `loc`; cached. */
  async render(
    loc: InstanceLocation,
    n: number,
    type: ImageType,
    o: RenderOptions,
  ): Promise<CachedImage & { cached: boolean }> {
    const key = `r|${cacheKey(loc)}|${n}|${type}|${optionsKey(o)}`;
    const hit = await this.cache.get(key);
    if (hit !== undefined) return { ...hit, cached: true };
    const src = await this.#source(loc);
    this.#checkFrame(src, n);
    const ts = renderableSyntax(src.transferSyntaxUid);
    if (ts === undefined) {
      throw new HuiyingError(
        'unsupported',
        `instances stored as ${src.transferSyntaxUid} cannot be rendered`,
        {
          detail: { status: 501 },
        },
      );
    }
    const { part10, frame } = await this.#framePart10(loc, src, n);
    const r = await this.pool
      .render({
        op: 'render',
        part10,
        frame,
        ...(ts !== src.transferSyntaxUid ? { transferSyntax: ts } : {}),
        ...(o.window !== undefined ? { window: o.window } : {}),
      })
      .catch((e: unknown) => codecFailure(e, loc));
    const body = await encode(r.rgba, r.width, r.height, r.grayscale, type, o);
    const img: CachedImage = {
      body,
      mediaType: type,
      etag: `"${createHash('sha1').update(key).digest('base64url')}"`,
    };
    this.cache.set(key, img);
    return { ...img, cached: false };
  }

  /** Whether frames of `loc` stored in `ts` can be transcoded to Explicit VR Little Endian. */
  canTranscode(ts: string): boolean {
    return isDecodableCodestream(ts);
  }

  /** Frame `n` (1-based) decoded to native little-endian pixels; cached. */
  async transcodeFrame(loc: InstanceLocation, n: number): Promise<Buffer> {
    const key = `t|${cacheKey(loc)}|${n}`;
    const hit = await this.cache.get(key);
    if (hit !== undefined) return hit.body;
    const src = await this.#source(loc);
    const layout = src.layout;
    if (layout === undefined || !layout.encapsulated || !isDecodableCodestream(src.transferSyntaxUid)) {
      throw new HuiyingError(
        'unsupported',
        `frames stored as ${src.transferSyntaxUid} cannot be transcoded`,
        {
          detail: { status: 406 },
        },
      );
    }
    const ranges = frameRanges(layout, n);
    const data = Buffer.concat(await Promise.all(ranges.map(([o, l]) => this.#read(loc.blobKey, o, l))));
    const r = await this.pool
      .decode({
        op: 'decode',
        transferSyntax: src.transferSyntaxUid,
        attrs: src.attrs,
        data: toArrayBuffer(data),
      })
      .catch((e: unknown) => codecFailure(e, loc));
    const body = Buffer.from(r.raw);
    this.cache.set(key, { body, mediaType: 'application/octet-stream', etag: '' });
    return body;
  }

  async close(): Promise<void> {
    await this.pool.close();
  }

  clear(): void {
    this.cache.clear();
    this.#sources.clear();
  }
}

/**
 * Make the spliced header describe one frame: Number of Frames (0028,0008) IS → "1 " (same length,
 * space padded). Searched as raw bytes: tag + (explicit "IS" + 2-byte length | implicit 4-byte length).
 */
function patchFrames(head: Buffer): void {
  for (const le of [true, false]) {
    const tag = Buffer.alloc(4);
    if (le) {
      tag.writeUInt16LE(0x0028, 0);
      tag.writeUInt16LE(0x0008, 2);
    } else {
      tag.writeUInt16BE(0x0028, 0);
      tag.writeUInt16BE(0x0008, 2);
    }
    let at = head.indexOf(tag, 132);
    while (at >= 0) {
      let valueAt = -1;
      let len = 0;
      if (head.toString('latin1', at + 4, at + 6) === 'IS') {
        len = le ? head.readUInt16LE(at + 6) : head.readUInt16BE(at + 6);
        valueAt = at + 8;
      } else if (le) {
        len = head.readUInt32LE(at + 4);
        valueAt = at + 8;
      }
      if (valueAt > 0 && len > 0 && len <= 12 && valueAt + len <= head.length) {
        const text = head.toString('latin1', valueAt, valueAt + len);
        if (/^\s*\d+\s*\0?$/.test(text)) {
          head.write('1'.padEnd(len, ' '), valueAt, 'latin1');
          return;
        }
      }
      at = head.indexOf(tag, at + 1);
    }
  }
}

async function encode(
  rgba: ArrayBuffer,
  width: number,
  height: number,
  grayscale: boolean,
  type: ImageType,
  o: RenderOptions,
): Promise<Buffer> {
  let img = sharp(Buffer.from(rgba), { raw: { width, height, channels: 4 } });
  const vp = o.viewport;
  let w = width;
  let h = height;
  if (vp?.region !== undefined) {
    const r = vp.region;
    const left = r.w < 0 ? r.x + r.w : r.x;
    const top = r.h < 0 ? r.y + r.h : r.y;
    const cw = Math.abs(r.w);
    const ch = Math.abs(r.h);
    if (left < 0 || top < 0 || left + cw > width || top + ch > height) {
      throw new HuiyingError(
        'invalid-input',
        `viewport source region lies outside the ${width}×${height} image`,
      );
    }
    img = sharp(await img.extract({ left, top, width: cw, height: ch }).raw().toBuffer(), {
      raw: { width: cw, height: ch, channels: 4 },
    });
    if (r.w < 0) img = img.flop();
    if (r.h < 0) img = img.flip();
    w = cw;
    h = ch;
  }
  if (vp !== undefined) {
    const scale = Math.min(vp.width / w, vp.height / h);
    const tw = Math.max(1, Math.round(w * scale));
    const th = Math.max(1, Math.round(h * scale));
    if (tw !== w || th !== h) img = img.resize(tw, th, { fit: 'fill' });
  }
  img = img.removeAlpha();
  if (grayscale) img = img.toColourspace('b-w');
  if (type === 'image/jpeg') return img.jpeg({ quality: o.quality, mozjpeg: false }).toBuffer();
  if (type === 'image/png') return img.png({ compressionLevel: 6 }).toBuffer();
  return img.gif().toBuffer();
}
