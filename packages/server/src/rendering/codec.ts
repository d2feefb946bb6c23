/**
 * The pixel work itself, free of server imports so it runs in a worker thread or inline: decode one
 * frame and apply Modality LUT, VOI (request or header window, VOI LUT), MONOCHROME1 inversion and
 * colour (RGB/YBR/palette) with dcmjs-imaging, giving RGBA; or decode one frame's codestream to raw
 * native pixels (transcoding to Explicit VR Little Endian). The WASM codecs are initialised once per
 * thread.
 */
import { createRequire } from 'node:module';
import type dcmjsImagingModule from 'dcmjs-imaging';

// dcmjs-imaging (≈16 MB resident with its WASM codecs) is loaded on first use: decoding runs in the
// render workers, so the main thread of a server that never renders never loads it.
let imagingModule: typeof dcmjsImagingModule | undefined;
function imaging(): typeof dcmjsImagingModule {
  imagingModule ??= createRequire(import.meta.url)('dcmjs-imaging') as typeof dcmjsImagingModule;
  return imagingModule;
}

let ready: Promise<void> | undefined;

/** Initialise the WASM codecs once (per thread). */
export function initCodecs(): Promise<void> {
  ready ??= (async () => {
    imaging().log.setLevel('silent');
    try {
      // dcmjs (bundled with dcmjs-imaging) logs parse warnings ("Invalid vr type …") to the console
      const req = createRequire(createRequire(import.meta.url).resolve('dcmjs-imaging'));
      type Logger = { setLevel?: (l: string) => void; getLogger?: (n: string) => Logger };
      const dcmjs = req('dcmjs') as { log?: Logger };
      dcmjs.log?.setLevel?.('silent');
      for (const name of ['validation.dcmjs', 'AsyncDicomReader'])
        dcmjs.log?.getLogger?.(name).setLevel?.('silent');
    } catch {
      // not fatal: only console noise
    }
    await imaging().NativePixelDecoder.initializeAsync({ logNativeDecodersMessages: false });
  })();
  return ready;
}

export interface RenderJob {
  op: 'render';
  /** a Part 10 file holding the header and (normally) just the wanted frame */
  part10: ArrayBuffer;
  /** 0-based frame inside `part10` */
  frame: number;
  /** override of the transfer syntax dcmjs-imaging should assume (retired JPEG UIDs) */
  transferSyntax?: string;
  window?: { center: number; width: number };
}

export interface RenderResult {
  width: number;
  height: number;
  rgba: ArrayBuffer;
  /** true when the image is grayscale (the RGBA channels are equal) */
  grayscale: boolean;
}

export interface DecodeJob {
  op: 'decode';
  transferSyntax: string;
  attrs: FrameAttrs;
  /** the frame's codestream (fragments concatenated) */
  data: ArrayBuffer;
}

export interface FrameAttrs {
  rows: number;
  columns: number;
  bitsAllocated: number;
  bitsStored: number;
  samplesPerPixel: number;
  pixelRepresentation: number;
  planarConfiguration: number;
  photometricInterpretation: string;
}

export interface DecodeResult {
  raw: ArrayBuffer;
}

export type Job = RenderJob | DecodeJob;

/** The transfer syntaxes whose frames we can decode. */
const JPEG = new Set([
  '1.2.840.10008.1.2.4.50',
  '1.2.840.10008.1.2.4.51',
  '1.2.840.10008.1.2.4.57',
  '1.2.840.10008.1.2.4.70',
]);
const JPEG_RETIRED = /^1\.2\.840\.10008\.1\.2\.4\.(5[2-9]|6[0-6])$/;
const JPEG_LS = new Set(['1.2.840.10008.1.2.4.80', '1.2.840.10008.1.2.4.81']);
const J2K = new Set([
  '1.2.840.10008.1.2.4.90',
  '1.2.840.10008.1.2.4.91',
  '1.2.840.10008.1.2.4.201',
  '1.2.840.10008.1.2.4.202',
  '1.2.840.10008.1.2.4.203',
]);
const JXL = new Set(['1.2.840.10008.1.2.4.110', '1.2.840.10008.1.2.4.111', '1.2.840.10008.1.2.4.112']);
const RLE = '1.2.840.10008.1.2.5';
const NATIVE = new Set([
  '1.2.840.10008.1.2',
  '1.2.840.10008.1.2.1',
  '1.2.840.10008.1.2.2',
  '1.2.840.10008.1.2.1.99',
]);

/** The UID dcmjs-imaging knows for `ts` (retired JPEG processes decode with the baseline/extended codec). */
export function renderableSyntax(ts: string): string | undefined {
  if (NATIVE.has(ts) || JPEG.has(ts) || JPEG_LS.has(ts) || J2K.has(ts) || JXL.has(ts) || ts === RLE)
    return ts;
  if (JPEG_RETIRED.test(ts)) return '1.2.840.10008.1.2.4.51';
  return undefined;
}

export function isDecodableCodestream(ts: string): boolean {
  const t = renderableSyntax(ts);
  return t !== undefined && !NATIVE.has(t);
}

function render(job: RenderJob): RenderResult {
  const image = new (imaging().DicomImage)(job.part10);
  if (job.transferSyntax !== undefined) image.setTransferSyntaxUid(job.transferSyntax);
  const r = image.render({
    frame: job.frame,
    renderOverlays: false,
    calculateHistograms: false,
    ...(job.window !== undefined
      ? { windowLevel: new (imaging().WindowLevel)(job.window.width, job.window.center) }
      : {}),
  });
  return { width: r.width, height: r.height, rgba: r.pixels, grayscale: r.windowLevel !== undefined };
}

interface PixelLike {
  getWidth(): number;
  getHeight(): number;
  getBitsAllocated(): number;
  getBitsStored(): number;
  getSamplesPerPixel(): number;
  getPixelRepresentation(): number;
  getPlanarConfiguration(): number;
  getPhotometricInterpretation(): string;
}

type DecodeFn = (pixel: PixelLike, data: Uint8Array, opts?: Record<string, unknown>) => Uint8Array;

function decoder(name: string): DecodeFn {
  const decoder = imaging().NativePixelDecoder;
  const fn = (decoder as unknown as Record<string, unknown>)[name];
  if (typeof fn !== 'function') throw new Error(`codec ${name} is not available`);
  return (fn as DecodeFn).bind(decoder);
}

function decode(job: DecodeJob): DecodeResult {
  const a = job.attrs;
  const pixel: PixelLike = {
    getWidth: () => a.columns,
    getHeight: () => a.rows,
    getBitsAllocated: () => a.bitsAllocated,
    getBitsStored: () => a.bitsStored,
    getSamplesPerPixel: () => a.samplesPerPixel,
    getPixelRepresentation: () => a.pixelRepresentation,
    getPlanarConfiguration: () => a.planarConfiguration,
    getPhotometricInterpretation: () => a.photometricInterpretation,
  };
  const ts = renderableSyntax(job.transferSyntax);
  const data = new Uint8Array(job.data);
  let out: Uint8Array;
  if (ts === RLE) out = decoder('decodeRle')(pixel, data);
  else if (ts === '1.2.840.10008.1.2.4.50' || ts === '1.2.840.10008.1.2.4.51')
    out = decoder('decodeJpeg')(pixel, data, { convertColorspaceToRgb: true });
  else if (ts !== undefined && JPEG.has(ts)) out = decoder('decodeJpeg')(pixel, data);
  else if (ts !== undefined && JPEG_LS.has(ts)) out = decoder('decodeJpegLs')(pixel, data);
  else if (ts !== undefined && J2K.has(ts)) out = decoder('decodeJpeg2000')(pixel, data);
  else if (ts !== undefined && JXL.has(ts)) out = decoder('decodeJpegXl')(pixel, data);
  else throw new Error(`transfer syntax ${job.transferSyntax} cannot be decoded`);
  const expected = (a.rows * a.columns * a.samplesPerPixel * a.bitsAllocated) / 8;
  if (out.byteLength < expected) {
    throw new Error(`decoded frame has ${out.byteLength} bytes, expected ${expected}`);
  }
  const raw = new Uint8Array(expected);
  raw.set(out.subarray(0, expected));
  return { raw: raw.buffer };
}

/** Run one job (after initCodecs). Throws on undecodable data. */
export function runJob(job: Job): RenderResult | DecodeResult {
  return job.op === 'render' ? render(job) : decode(job);
}
