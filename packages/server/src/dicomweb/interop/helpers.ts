/**
 * Shared support for the DICOMweb interoperability tests: a real Huiying server with an API token, the
 * sample corpus, a minimal XMLHttpRequest over fetch (for the browser-only `dicomweb-client`), and an
 * independent Part-10 walker that finds UIDs and pixel data without using the server's own parser.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { startTestServer, type TestServer } from '../../testing/test-server.ts';
import { samplesDir } from '../../testing/peers.ts';

export { needSamples, samplesDir } from '../../testing/peers.ts';

// ---------------------------------------------------------------------------------------------------
// server + token
// ---------------------------------------------------------------------------------------------------

export interface InteropServer {
  srv: TestServer;
  /** http://127.0.0.1:<port>/dicomweb */
  url: string;
  token: string;
  auth: { Authorization: string };
  stop(): Promise<void>;
}

export async function startInteropServer(
  env: Record<string, string> = {},
  hospital = 'INTEROP',
): Promise<InteropServer> {
  const srv = await startTestServer(env);
  const h = await srv.hospital(hospital, { name: '互操作测试医院' });
  const { token } = await srv.server.archive.tokens.create(h.id, 'interop-tests');
  return {
    srv,
    url: `http://127.0.0.1:${srv.httpPort}/dicomweb`,
    token,
    auth: { Authorization: `Bearer ${token}` },
    stop: () => srv.stop(),
  };
}

// ---------------------------------------------------------------------------------------------------
// sample corpus
// ---------------------------------------------------------------------------------------------------

function walk(dir: string, out: string[]): void {
  for (const n of readdirSync(dir).sort()) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (n.endsWith('.dcm') || !n.includes('.')) out.push(p);
  }
}

/** Every file of modalities/, transfer-syntaxes/ and charsets/ (absolute paths, sorted). */
export function sampleFiles(folders = ['modalities', 'transfer-syntaxes', 'charsets']): string[] {
  const root = samplesDir();
  if (root === undefined) return [];
  const out: string[] = [];
  for (const f of folders) walk(join(root, f), out);
  return out;
}

// ---------------------------------------------------------------------------------------------------
// XMLHttpRequest over fetch (only what dicomweb-client uses)
// ---------------------------------------------------------------------------------------------------

type XhrBody = ArrayBuffer | ArrayBufferView | string | null | undefined;

export class FetchXMLHttpRequest {
  static readonly UNSENT = 0;
  static readonly OPENED = 1;
  static readonly DONE = 4;
  readyState = 0;
  status = 0;
  statusText = '';
  responseType: '' | 'arraybuffer' | 'json' | 'text' = '';
  response: unknown = null;
  responseText = '';
  withCredentials = false;
  onreadystatechange: (() => void) | null = null;
  onload: (() => void) | null = null;
  onerror: ((err: unknown) => void) | null = null;
  onloadstart: (() => void) | null = null;
  onloadend: (() => void) | null = null;
  onprogress: ((ev: { loaded: number; total: number; lengthComputable: boolean }) => void) | null = null;
  #method = 'GET';
  #url = '';
  #headers = new Headers();
  #resHeaders: Headers | undefined;

  open(method: string, url: string): void {
    this.#method = method.toUpperCase();
    this.#url = url;
    this.readyState = 1;
  }

  setRequestHeader(name: string, value: string): void {
    this.#headers.append(name, value);
  }

  getResponseHeader(name: string): string | null {
    return this.#resHeaders?.get(name) ?? null;
  }

  getAllResponseHeaders(): string {
    if (this.#resHeaders === undefined) return '';
    let s = '';
    this.#resHeaders.forEach((v, k) => {
      s += `${k}: ${v}\r\n`;
    });
    return s;
  }

  abort(): void {
    // not needed by the tests
  }

  send(body?: XhrBody): void {
    this.onloadstart?.();
    let payload: Uint8Array | string | undefined;
    if (typeof body === 'string') payload = body;
    else if (body instanceof ArrayBuffer) payload = new Uint8Array(body);
    else if (body !== null && body !== undefined)
      payload = new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
    const done = (): void => {
      this.readyState = 4;
      this.onreadystatechange?.();
    };
    fetch(this.#url, { method: this.#method, headers: this.#headers, body: payload ?? null })
      .then(async (res) => {
        this.status = res.status;
        this.statusText = res.statusText;
        this.#resHeaders = res.headers;
        const buf = await res.arrayBuffer();
        this.onprogress?.({ loaded: buf.byteLength, total: buf.byteLength, lengthComputable: true });
        if (this.responseType === 'arraybuffer') this.response = buf;
        else {
          const text = new TextDecoder().decode(buf);
          this.responseText = text;
          if (this.responseType === 'json') {
            try {
              this.response = text === '' ? null : (JSON.parse(text) as unknown);
            } catch {
              this.response = null;
            }
          } else this.response = text;
        }
        done();
        this.onload?.();
        this.onloadend?.();
      })
      .catch((err: unknown) => {
        this.status = 0;
        done();
        this.onerror?.(err);
        this.onloadend?.();
      });
  }
}

/** Install the shim as the global XMLHttpRequest; returns a function that restores the previous one. */
export function installXhr(): () => void {
  const g = globalThis as Record<string, unknown>;
  const prev = g.XMLHttpRequest;
  g.XMLHttpRequest = FetchXMLHttpRequest;
  return () => {
    if (prev === undefined) delete g.XMLHttpRequest;
    else g.XMLHttpRequest = prev;
  };
}

// ---------------------------------------------------------------------------------------------------
// an independent Part-10 walker
// ---------------------------------------------------------------------------------------------------

export interface PixelInfo {
  /** offset of the value in the dataset bytes (after inflation for deflated syntaxes) */
  offset: number;
  length: number;
  encapsulated: boolean;
  /** encapsulated: Basic Offset Table entries (empty when none) */
  bot: number[];
  /** encapsulated: fragment values (without the item headers), after the offset table */
  fragments: Buffer[];
  /** encapsulated: offset of each fragment's item tag relative to the first fragment's item tag */
  fragmentPositions: number[];
}

export interface SampleInfo {
  transferSyntaxUid: string;
  /** bytes of the file after the File Meta Information */
  dataset: Buffer;
  /** the dataset as parsed (inflated for the deflated syntax) */
  parsed: Buffer;
  studyUid?: string;
  seriesUid?: string;
  sopUid?: string;
  modality?: string;
  rows?: number;
  columns?: number;
  samplesPerPixel?: number;
  bitsAllocated?: number;
  numberOfFrames?: number;
  pixel?: PixelInfo;
}

const LONG_VRS = new Set(['OB', 'OW', 'OF', 'OD', 'OL', 'OV', 'SQ', 'UT', 'UN', 'UC', 'UR', 'SV', 'UV']);
const UNDEFINED = 0xffffffff;

class Cursor {
  pos = 0;
  readonly b: Buffer;
  le: boolean;
  explicit: boolean;
  constructor(b: Buffer, le: boolean, explicit: boolean) {
    this.b = b;
    this.le = le;
    this.explicit = explicit;
  }
  u16(): number {
    const v = this.le ? this.b.readUInt16LE(this.pos) : this.b.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  u32(): number {
    const v = this.le ? this.b.readUInt32LE(this.pos) : this.b.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
}

interface Element {
  tag: number;
  vr: string;
  length: number;
  valueOffset: number;
}

function readElementHeader(c: Cursor): Element {
  const g = c.u16();
  const e = c.u16();
  const tag = ((g << 16) | e) >>> 0;
  if (g === 0xfffe) {
    const length = c.u32();
    return { tag, vr: '', length, valueOffset: c.pos };
  }
  let vr = 'UN';
  let length: number;
  if (c.explicit) {
    vr = c.b.toString('latin1', c.pos, c.pos + 2);
    c.pos += 2;
    if (LONG_VRS.has(vr)) {
      c.pos += 2;
      length = c.u32();
    } else length = c.u16();
  } else length = c.u32();
  return { tag, vr, length, valueOffset: c.pos };
}

/** Skip the items of an undefined-length sequence (the cursor is at its first item). */
function skipUndefinedSequence(c: Cursor): void {
  for (;;) {
    const el = readElementHeader(c);
    if (el.tag === 0xfffee0dd) return;
    if (el.tag !== 0xfffee000) throw new Error(`unexpected ${el.tag.toString(16)} in a sequence`);
    if (el.length !== UNDEFINED) {
      c.pos += el.length;
      continue;
    }
    // undefined-length item: elements until the item delimiter
    for (;;) {
      const inner = readElementHeader(c);
      if (inner.tag === 0xfffee00d) break;
      skipValue(c, inner);
    }
  }
}

function skipValue(c: Cursor, el: Element): void {
  if (el.length !== UNDEFINED) {
    c.pos += el.length;
    return;
  }
  // undefined length: SQ (or UN holding an implicit VR LE sequence)
  if (el.vr === 'UN') {
    const saved = { le: c.le, explicit: c.explicit };
    c.le = true;
    c.explicit = false;
    skipUndefinedSequence(c);
    c.le = saved.le;
    c.explicit = saved.explicit;
  } else skipUndefinedSequence(c);
}

function metaEnd(file: Buffer): { end: number; transferSyntaxUid: string } {
  let pos = file.toString('latin1', 128, 132) === 'DICM' ? 132 : 0;
  let ts = '1.2.840.10008.1.2';
  for (;;) {
    if (pos + 8 > file.length || file.readUInt16LE(pos) !== 0x0002) break;
    const elem = file.readUInt16LE(pos + 2);
    const vr = file.toString('latin1', pos + 4, pos + 6);
    let len: number;
    let val: number;
    if (LONG_VRS.has(vr)) {
      len = file.readUInt32LE(pos + 8);
      val = pos + 12;
    } else {
      len = file.readUInt16LE(pos + 6);
      val = pos + 8;
    }
    if (elem === 0x0010)
      ts = file
        .toString('latin1', val, val + len)
        .replace(/[\0 ]+$/, '')
        .trim();
    pos = val + len;
  }
  return { end: pos, transferSyntaxUid: ts };
}

function text(b: Buffer, el: Element): string {
  return b
    .toString('latin1', el.valueOffset, el.valueOffset + el.length)
    .replace(/[\0 ]+$/, '')
    .trim();
}

/** Parse a Part-10 file: UIDs, image size and the pixel data's location/fragments. */
export function inspectSample(file: Buffer): SampleInfo {
  const { end, transferSyntaxUid } = metaEnd(file);
  const dataset = file.subarray(end);
  const parsed = transferSyntaxUid === '1.2.840.10008.1.2.1.99' ? inflateRawSync(dataset) : dataset;
  const info: SampleInfo = { transferSyntaxUid, dataset, parsed };
  const c = new Cursor(
    parsed,
    transferSyntaxUid !== '1.2.840.10008.1.2.2',
    transferSyntaxUid !== '1.2.840.10008.1.2',
  );
  const us = (el: Element): number =>
    c.le ? parsed.readUInt16LE(el.valueOffset) : parsed.readUInt16BE(el.valueOffset);
  while (c.pos + 8 <= parsed.length) {
    const el = readElementHeader(c);
    switch (el.tag) {
      case 0x0020000d:
        info.studyUid = text(parsed, el);
        break;
      case 0x0020000e:
        info.seriesUid = text(parsed, el);
        break;
      case 0x00080018:
        info.sopUid = text(parsed, el);
        break;
      case 0x00080060:
        info.modality = text(parsed, el);
        break;
      case 0x00280010:
        info.rows = us(el);
        break;
      case 0x00280011:
        info.columns = us(el);
        break;
      case 0x00280002:
        info.samplesPerPixel = us(el);
        break;
      case 0x00280100:
        info.bitsAllocated = us(el);
        break;
      case 0x00280008:
        info.numberOfFrames = Number(text(parsed, el)) || 1;
        break;
      default:
        break;
    }
    if (el.tag === 0x7fe00010) {
      if (el.length !== UNDEFINED) {
        info.pixel = {
          offset: el.valueOffset,
          length: el.length,
          encapsulated: false,
          bot: [],
          fragments: [],
          fragmentPositions: [],
        };
        return info;
      }
      const pixel: PixelInfo = {
        offset: el.valueOffset,
        length: 0,
        encapsulated: true,
        bot: [],
        fragments: [],
        fragmentPositions: [],
      };
      const item0 = readElementHeader(c);
      for (let i = 0; i + 4 <= item0.length; i += 4) pixel.bot.push(parsed.readUInt32LE(c.pos + i));
      c.pos += item0.length;
      const first = c.pos;
      for (;;) {
        const at = c.pos;
        const it = readElementHeader(c);
        if (it.tag !== 0xfffee000) break;
        pixel.fragmentPositions.push(at - first);
        pixel.fragments.push(parsed.subarray(c.pos, c.pos + it.length));
        c.pos += it.length;
      }
      pixel.length = c.pos - el.valueOffset;
      info.pixel = pixel;
      return info;
    }
    if (el.tag > 0x7fe00010) break;
    skipValue(c, el);
  }
  return info;
}

/** The stored bytes of frame n (1-based) for native pixel data, or undefined if it cannot be sliced. */
export function nativeFrame(s: SampleInfo, n: number): Buffer | undefined {
  const p = s.pixel;
  if (p === undefined || p.encapsulated) return undefined;
  const bits = (s.rows ?? 0) * (s.columns ?? 0) * (s.samplesPerPixel ?? 1) * (s.bitsAllocated ?? 0);
  if (bits === 0 || bits % 8 !== 0) return undefined;
  const size = bits / 8;
  const start = p.offset + (n - 1) * size;
  if (start + size > p.offset + p.length) return undefined;
  return s.parsed.subarray(start, start + size);
}

/** The fragments of frame n (1-based) of encapsulated pixel data, concatenated; undefined if ambiguous. */
export function encapsulatedFrame(s: SampleInfo, n: number): Buffer | undefined {
  const p = s.pixel;
  if (p === undefined || !p.encapsulated) return undefined;
  const frames = s.numberOfFrames ?? 1;
  if (frames === 1) return Buffer.concat(p.fragments);
  if (p.bot.length === frames) {
    const start = p.bot[n - 1]!;
    const end = n < frames ? p.bot[n]! : Infinity;
    const parts = p.fragments.filter((_, i) => {
      const pos = p.fragmentPositions[i]!;
      return pos >= start && pos < end;
    });
    return Buffer.concat(parts);
  }
  if (p.fragments.length === frames) return p.fragments[n - 1];
  return undefined;
}

export const LOSSLESS_ENCAPSULATED = new Set([
  '1.2.840.10008.1.2.5', // RLE
  '1.2.840.10008.1.2.4.57', // JPEG lossless
  '1.2.840.10008.1.2.4.70', // JPEG lossless SV1
  '1.2.840.10008.1.2.4.80', // JPEG-LS lossless
  '1.2.840.10008.1.2.4.90', // JPEG 2000 lossless only
  '1.2.840.10008.1.2.4.201', // HTJ2K lossless
]);

export const NATIVE = new Set(['1.2.840.10008.1.2', '1.2.840.10008.1.2.1', '1.2.840.10008.1.2.2']);

/** RSS of this process in MiB (the server runs in-process). */
export function rssMiB(): number {
  return Math.round(process.memoryUsage().rss / 1024 / 1024);
}
