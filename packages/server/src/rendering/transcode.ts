/**
 * Transcoding a stored instance to a complete Part 10 file in Explicit VR Little Endian (WADO-RS
 * retrieve with `transfer-syntax=1.2.840.10008.1.2.1`): new File Meta, the data set (every element,
 * private ones and sequences included) decoded from the stored syntax (implicit/explicit, little/big
 * endian, deflated) and re-encoded, and Pixel Data as a native OB/OW value — compressed frames decoded
 * one by one through the decoder pool, native big-endian words swapped, native little-endian bytes
 * copied from the blob store.
 *
 * `prepareTranscode` does everything that can fail before a byte is sent (header parse, pixel layout,
 * decodability; for a single instance also the first frame) and computes the exact size; `body()` then
 * streams: header bytes, each frame as it is decoded (two decodes in flight), trailing elements. A
 * corrupt codestream in a later frame fails the stream midway (the connection is cut): HTTP offers no
 * way to report it once the status line is out.
 */
import {
  buildFileMeta,
  canEncodeText,
  charsetTerms,
  decodeDataset,
  encodeDataset,
  isSupportedTargetCharset,
  readPart10,
  transferSyntaxInfo,
  type DicomJson,
} from '@huiying/dicom';
import type { InstanceLocation } from '../archive/ports.ts';
import type { BlobStore } from '../storage/blob-store.ts';
import { HuiyingError, messageOf } from '../errors.ts';
import {
  blobStream,
  frameRanges,
  readInstanceHeader,
  readPixelLayout,
  type PixelLayout,
} from '../dicomweb/instances.ts';
import { isDecodableCodestream, type FrameAttrs } from './codec.ts';
import { CodecError, type RenderPool } from './pool.ts';

export const EXPLICIT_LE = '1.2.840.10008.1.2.1';
export const IMPLICIT_LE = '1.2.840.10008.1.2';
const BIG_ENDIAN = '1.2.840.10008.1.2.2';
/** deflated files are inflated in memory; larger ones are refused */
const MAX_DEFLATED = 512 * 1024 * 1024;
const MAX_TAIL = 16 * 1024 * 1024;

export interface TranscodeDeps {
  blobs: BlobStore;
  pool: RenderPool;
}

export interface PreparedTranscode {
  transferSyntaxUid: string;
  size: number;
  body: () => Promise<AsyncIterable<Buffer> | Iterable<Buffer>>;
}

/** Whether an instance stored in `stored` can be sent as `target` (explicit or implicit VR LE). */
export function canTranscodeTo(stored: string, target: string): boolean {
  if (stored === target) return true;
  if (target !== EXPLICIT_LE && target !== IMPLICIT_LE) return false;
  const info = transferSyntaxInfo(stored);
  if (!info.encapsulated) return true;
  return isDecodableCodestream(stored);
}

async function collect(s: AsyncIterable<Buffer | string>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
  return Buffer.concat(chunks);
}

async function readRange(blobs: BlobStore, key: string, start: number, length: number): Promise<Buffer> {
  if (length <= 0) return Buffer.alloc(0);
  return collect((await blobStream(blobs, key, { start, end: start + length - 1 })) as AsyncIterable<Buffer>);
}

function num(ds: DicomJson, tag: string, dflt: number): number {
  const v = ds[tag]?.Value?.[0];
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return dflt;
}

function str(ds: DicomJson, tag: string): string {
  const v = ds[tag]?.Value?.[0];
  return typeof v === 'string' ? v.trim() : '';
}

function cannot(loc: InstanceLocation, why: string, status = 406): HuiyingError {
  return new HuiyingError(
    'unsupported',
    `instance ${loc.sopInstanceUid} stored as ${loc.transferSyntaxUid} cannot be sent as Explicit VR Little Endian: ${why}`,
    { detail: { status } },
  );
}

/** (0008,0005) of the output: the original when the encoder can write every text value in it. */
function outputCharset(ds: DicomJson): string | undefined {
  const own = (ds['00080005']?.Value ?? []).map((v) => (typeof v === 'string' ? v : ''));
  // none: the encoder writes none for ASCII data sets, ISO_IR 192 otherwise (a hospital default decoded)
  if (own.length === 0) return undefined;
  const terms = charsetTerms(own);
  const iso2022 = terms.some((t) => t.startsWith('ISO 2022'));
  if (!isSupportedTargetCharset(terms)) return 'ISO_IR 192';
  if (iso2022) {
    // the encoder's ISO 2022 escapes must round-trip every string; otherwise fall back to UTF-8
    if (!allEncodable(ds, own)) return 'ISO_IR 192';
  }
  return own.join('\\');
}

function allEncodable(ds: DicomJson, charset: string[]): boolean {
  for (const el of Object.values(ds)) {
    for (const v of el.Value ?? []) {
      if (el.vr === 'SQ') {
        if (v !== null && typeof v === 'object' && !allEncodable(v as DicomJson, charset)) return false;
      } else if (typeof v === 'string') {
        if (!canEncodeText(v, charset, el.vr)) return false;
      } else if (el.vr === 'PN' && v !== null && typeof v === 'object') {
        for (const g of Object.values(v as Record<string, unknown>))
          if (typeof g === 'string' && !canEncodeText(g, charset, 'PN')) return false;
      }
    }
  }
  return true;
}

function elementHeader(tag: number, vr: string, len: number, explicit: boolean): Buffer {
  const h = Buffer.alloc(explicit ? 12 : 8);
  h.writeUInt16LE(tag >>> 16, 0);
  h.writeUInt16LE(tag & 0xffff, 2);
  if (explicit) {
    h.write(vr, 4, 'latin1');
    h.writeUInt32LE(len, 8);
  } else h.writeUInt32LE(len, 4);
  return h;
}

function swapWords(b: Buffer, size: number): Buffer {
  if (size === 2) return b.swap16();
  if (size === 4) return b.swap32();
  if (size === 8) return b.swap64();
  return b;
}

/**
 * Check and size the transcoding of `loc` to `target` (Explicit or Implicit VR LE). Throws a
 * HuiyingError (406/500) when it cannot be done; `firstFrame` also decodes frame 1 up front so a corrupt
 * codestream is reported before the response starts.
 */
export async function prepareTranscode(
  deps: TranscodeDeps,
  loc: InstanceLocation,
  target: string = EXPLICIT_LE,
  opts: { firstFrame?: boolean; defaultCharset?: string } = {},
): Promise<PreparedTranscode> {
  const { blobs, pool } = deps;
  const stored = loc.transferSyntaxUid;
  const explicit = target === EXPLICIT_LE;
  if (target !== EXPLICIT_LE && target !== IMPLICIT_LE) throw cannot(loc, `no encoder for ${target}`);
  let info;
  try {
    info = transferSyntaxInfo(stored);
  } catch (err) {
    throw cannot(loc, messageOf(err));
  }
  if (info.encapsulated && !isDecodableCodestream(stored)) {
    throw cannot(loc, 'its pixel data codec is not supported for decoding');
  }

  // --- the data set up to the Pixel Data, decoded with every value inline
  const header = await readInstanceHeader(blobs, loc, opts.defaultCharset);
  const dflt = opts.defaultCharset !== undefined ? { defaultCharset: opts.defaultCharset } : {};
  let ds: DicomJson;
  let layout: PixelLayout | undefined;
  let tail: DicomJson = {};
  let pixelVr = 'OW';
  try {
    if (info.deflated) {
      if (loc.size > MAX_DEFLATED) throw cannot(loc, 'deflated instance too large to transcode', 413);
      const whole = await readRange(blobs, loc.blobKey, 0, loc.size);
      const p10 = readPart10(whole);
      ds = decodeDataset(whole, {
        transferSyntax: p10.transferSyntaxUid,
        offset: p10.datasetOffset,
        ...dflt,
      });
    } else {
      const px = header.pixel;
      const end = px?.tag === '7FE00010' ? px.valueOffset : loc.size;
      const head = await readRange(blobs, loc.blobKey, 0, end);
      const p10 = readPart10(head);
      ds = decodeDataset(head, {
        transferSyntax: p10.transferSyntaxUid,
        offset: p10.datasetOffset,
        stopBeforeTag: 0x7fe00010,
        ...dflt,
      });
      if (px?.tag === '7FE00010') {
        layout = await readPixelLayout(blobs, loc, header);
        pixelVr = layout.encapsulated ? (num(ds, '00280100', 16) > 8 ? 'OW' : 'OB') : px.vr;
        // elements after the Pixel Data (rare; Data Set Trailing Padding is dropped)
        const after = layout.valueOffset + layout.valueLength + (layout.encapsulated ? 8 : 0);
        if (after < loc.size && loc.size - after <= MAX_TAIL) {
          const rest = await readRange(blobs, loc.blobKey, after, loc.size - after);
          try {
            tail = decodeDataset(rest, { transferSyntax: stored });
          } catch {
            tail = {};
          }
          delete tail.FFFCFFFC;
        }
      }
    }
  } catch (err) {
    if (err instanceof HuiyingError) throw err;
    throw cannot(loc, `the stored data set cannot be parsed (${messageOf(err)})`, 500);
  }
  delete ds['7FE00010'];

  const attrs: FrameAttrs = {
    rows: num(ds, '00280010', 0),
    columns: num(ds, '00280011', 0),
    bitsAllocated: num(ds, '00280100', 16),
    bitsStored: num(ds, '00280101', num(ds, '00280100', 16)),
    samplesPerPixel: num(ds, '00280002', 1),
    pixelRepresentation: num(ds, '00280103', 0),
    planarConfiguration: num(ds, '00280006', 0),
    photometricInterpretation: str(ds, '00280004'),
  };

  // --- what the decoders change
  if (layout?.encapsulated) {
    const pi = attrs.photometricInterpretation;
    const jpegLossy = stored === '1.2.840.10008.1.2.4.50' || stored === '1.2.840.10008.1.2.4.51';
    const j2k = /^1\.2\.840\.10008\.1\.2\.4\.(9[01]|20[123])$/.test(stored);
    if ((jpegLossy && pi.startsWith('YBR')) || (j2k && (pi === 'YBR_ICT' || pi === 'YBR_RCT'))) {
      ds['00280004'] = { vr: 'CS', Value: ['RGB'] };
    }
    if (attrs.samplesPerPixel > 1) ds['00280006'] = { vr: 'US', Value: [0] };
  }

  let dataset: Buffer;
  try {
    const charset = outputCharset(ds);
    dataset = Buffer.from(
      encodeDataset(ds, { transferSyntax: target, ...(charset !== undefined ? { charset } : {}) }),
    );
  } catch (err) {
    throw cannot(loc, `the data set cannot be re-encoded (${messageOf(err)})`, 500);
  }
  let tailBytes = Buffer.alloc(0);
  if (Object.keys(tail).length > 0) {
    try {
      tailBytes = Buffer.from(encodeDataset(tail, { transferSyntax: target, charset: '' }));
    } catch {
      tailBytes = Buffer.alloc(0);
    }
  }
  const cls = ds['00080016']?.Value?.[0];
  const sopClassUid = typeof cls === 'string' && cls !== '' ? cls : loc.sopClassUid;
  const meta = Buffer.from(
    buildFileMeta({ sopClassUid, sopInstanceUid: loc.sopInstanceUid, transferSyntaxUid: target }),
  );

  if (layout === undefined) {
    // no Pixel Data (or deflated: it is already inside `dataset`)
    const all = Buffer.concat([meta, dataset, tailBytes]);
    return {
      transferSyntaxUid: target,
      size: all.length,
      body: () => Promise.resolve([all]),
    };
  }

  const lay = layout;
  const frames = lay.numberOfFrames;
  let pixelLength: number;
  if (lay.encapsulated) {
    const frameSize = (attrs.rows * attrs.columns * attrs.samplesPerPixel * attrs.bitsAllocated) / 8;
    if (!Number.isInteger(frameSize) || frameSize <= 0) throw cannot(loc, 'unsupported pixel geometry', 500);
    pixelLength = frameSize * frames;
  } else {
    pixelLength = lay.valueLength;
  }
  const pad = pixelLength % 2 === 1 ? Buffer.alloc(1) : Buffer.alloc(0);
  const head = Buffer.concat([
    meta,
    dataset,
    elementHeader(0x7fe00010, pixelVr, pixelLength + pad.length, explicit),
  ]);

  const decodeFrame = async (n: number): Promise<Buffer> => {
    const ranges = frameRanges(lay, n);
    const data = Buffer.concat(
      await Promise.all(ranges.map(([o, l]) => readRange(blobs, loc.blobKey, o, l))),
    );
    const ab = new ArrayBuffer(data.length);
    new Uint8Array(ab).set(data);
    try {
      const r = await pool.decode({ op: 'decode', transferSyntax: stored, attrs, data: ab });
      return Buffer.from(r.raw);
    } catch (err) {
      if (err instanceof CodecError) {
        throw new HuiyingError(
          'internal',
          `frame ${n} of instance ${loc.sopInstanceUid} (${stored}) cannot be decoded: ${err.message}`,
          { cause: err, detail: { status: 500 } },
        );
      }
      throw err;
    }
  };
  let first: Buffer | undefined;
  if (lay.encapsulated && opts.firstFrame === true) first = await decodeFrame(1);

  const swap = !lay.encapsulated && stored === BIG_ENDIAN;
  const wordSize = pixelVr === 'OW' ? 2 : pixelVr === 'OF' || pixelVr === 'OL' ? 4 : pixelVr === 'OD' ? 8 : 1;

  async function* stream(): AsyncGenerator<Buffer> {
    yield head;
    if (lay.encapsulated) {
      // two frames in flight: the next decode runs while the current one is written
      let next: Promise<Buffer> | undefined = first !== undefined ? Promise.resolve(first) : decodeFrame(1);
      first = undefined;
      for (let n = 1; n <= frames; n++) {
        const cur: Promise<Buffer> = next!;
        next = n < frames ? decodeFrame(n + 1) : undefined;
        // a rejected look-ahead is re-thrown when awaited; avoid an unhandled rejection meanwhile
        next?.catch(() => undefined);
        yield await cur;
      }
    } else if (swap && wordSize > 1) {
      const chunk = 4 * 1024 * 1024;
      for (let o = 0; o < lay.valueLength; o += chunk) {
        const len = Math.min(chunk, lay.valueLength - o);
        yield swapWords(await readRange(blobs, loc.blobKey, lay.valueOffset + o, len), wordSize);
      }
    } else if (lay.valueLength > 0) {
      yield* (await blobStream(blobs, loc.blobKey, {
        start: lay.valueOffset,
        end: lay.valueOffset + lay.valueLength - 1,
      })) as AsyncIterable<Buffer>;
    }
    if (pad.length > 0) yield pad;
    if (tailBytes.length > 0) yield tailBytes;
  }

  return {
    transferSyntaxUid: target,
    size: head.length + pixelLength + pad.length + tailBytes.length,
    body: () => Promise.resolve(stream()),
  };
}
