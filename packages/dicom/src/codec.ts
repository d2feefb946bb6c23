/**
 * Data set codec. The in-memory form is the DICOM JSON model (PS3.18 F.2):
 * - keys are 8 upper-case hex digits (`00100010`), in ascending order;
 * - text VRs: `Value` is an array of strings (trimmed of padding); an empty value inside a multi-valued
 *   element is `null`; a zero-length element has no `Value`;
 * - PN: `Value` items are `{ Alphabetic?, Ideographic?, Phonetic? }` (empty groups omitted);
 * - IS/DS: numbers (a value that is not a valid number — seen in the field, e.g. IS `1A` — is kept as
 *   its string, so nothing is lost);
 * - US/SS/UL/SL/FL/FD: numbers; SV/UV: numbers when exactly representable, else decimal strings;
 *   AT: `GGGGEEEE` strings;
 * - SQ: `Value` is an array of nested DicomJson items;
 * - OB/OW/OD/OF/OL/OV/UN: `InlineBinary` (base64, little endian), or — when larger than
 *   `maxInlineBinary` — `BulkDataURI` from the `bulkDataUri` callback, or neither (value skipped);
 *   encapsulated (undefined-length) pixel data is never inlined.
 * Elements with VR UN whose tag is a public dictionary tag are re-interpreted with the dictionary VR
 * (their value is implicit VR little endian, PS3.5 6.2.2), so `gdcmconv`-style all-UN files still index.
 */
import { inflateRawSync, constants as zlibConstants } from 'node:zlib';
import {
  CHARSET_VRS,
  charsetTerms,
  decodeText,
  encodeText,
  repairCandidate,
  repairDecision,
} from './charset.ts';
import { dictionaryVr, formatTag, isKnownPublicTag, tagToHex } from './dictionary.ts';
import { DicomParseError } from './errors.ts';
import { transferSyntaxInfo, EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN } from './uids.ts';

export { DicomParseError } from './errors.ts';

export interface PersonName {
  Alphabetic?: string;
  Ideographic?: string;
  Phonetic?: string;
}

export interface DicomElement {
  vr: string;
  Value?: unknown[];
  InlineBinary?: string;
  BulkDataURI?: string;
}

export type DicomJson = Record<string /* 8 upper hex tag */, DicomElement>;

export interface DecodeOptions {
  /** transfer syntax of the bytes (from the File Meta or the presentation context) */
  transferSyntax: string;
  /** per-hospital default charset, e.g. 'GB18030' (see charset.ts `repairDecision`) */
  defaultCharset?: string;
  /** stop (at top level) before the first element whose tag is ≥ this one, e.g. 0x7FE00008 */
  stopBeforeTag?: number | string;
  /** byte offset in `bytes` where the data set starts (default 0) */
  offset?: number;
  /** cap on the inflated size of a deflated data set (default 512 MiB) */
  maxBytes?: number;
  /** binary values longer than this are not inlined (default: no limit) */
  maxInlineBinary?: number;
  /** called for a binary value that is not inlined; return a BulkDataURI or undefined */
  bulkDataUri?: (info: { tag: string; offset: number; length: number }) => string | undefined;
  /**
   * For deflated syntaxes: accept a truncated deflate stream (used by header readers given only a file
   * prefix). Default false: a truncated stream is an error.
   */
  partialDeflate?: boolean;
  /** stop (at top level) before the first element outside this group (part10.ts reads group 0002) */
  onlyGroup?: number;
}

export interface DecodeResult {
  dataset: DicomJson;
  /** offset just after the last parsed element (in `bytes`; for deflated syntaxes in the inflated data) */
  endOffset: number;
  /** set when parsing stopped at `stopBeforeTag`: that element's tag and offset */
  stoppedAt?: { tag: string; offset: number };
  /** true when text was decoded with `defaultCharset` instead of the declared charset */
  charsetRepaired: boolean;
}

const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);
const KNOWN_VRS = new Set([
  'AE', 'AS', 'AT', 'CS', 'DA', 'DS', 'DT', 'FD', 'FL', 'IS', 'LO', 'LT', 'OB', 'OD', 'OF', 'OL', 'OV', 'OW',
  'PN', 'SH', 'SL', 'SQ', 'SS', 'ST', 'SV', 'TM', 'UC', 'UI', 'UL', 'UN', 'UR', 'US', 'UT', 'UV',
]); // prettier-ignore
const BINARY_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'UN']);
const SINGLE_VALUE_TEXT = new Set(['LT', 'ST', 'UT', 'UR']);
const TEXT_VRS = new Set([
  'AE',
  'AS',
  'CS',
  'DA',
  'DS',
  'DT',
  'IS',
  'LO',
  'LT',
  'PN',
  'SH',
  'ST',
  'TM',
  'UC',
  'UI',
  'UR',
  'UT',
]);

const ITEM = 0xfffee000;
const ITEM_DELIM = 0xfffee00d;
const SEQ_DELIM = 0xfffee0dd;
const UNDEFINED = 0xffffffff;
const MAX_DEPTH = 64;

export function isBinaryVr(vr: string): boolean {
  return BINARY_VRS.has(vr);
}

interface Pending {
  bytes: Uint8Array;
  vr: string;
  assign: (s: string) => void;
}

interface Scope {
  scs: string[] | undefined;
  pending: Pending[];
}

interface Ctx {
  bytes: Uint8Array;
  view: DataView;
  le: boolean;
  explicit: boolean;
  opts: DecodeOptions;
  stopBefore: number | undefined;
  repaired: boolean;
  stoppedAt?: { tag: string; offset: number };
}

function parseTagOption(t: number | string | undefined): number | undefined {
  if (t === undefined) return undefined;
  if (typeof t === 'number') return t >>> 0;
  return parseInt(t.replace(/[^0-9a-fA-F]/g, ''), 16) >>> 0;
}

/** Decode a data set; see {@link DecodeResult}. */
export function decodeDatasetDetailed(input: Uint8Array, options: DecodeOptions): DecodeResult {
  const info = transferSyntaxInfo(options.transferSyntax);
  let bytes = input;
  let start = options.offset ?? 0;
  if (info.deflated) {
    const max = options.maxBytes ?? 512 * 1024 * 1024;
    try {
      const out = inflateRawSync(input.subarray(start), {
        maxOutputLength: max,
        ...(options.partialDeflate ? { finishFlush: zlibConstants.Z_SYNC_FLUSH } : {}),
      });
      bytes = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
    } catch (e) {
      throw new DicomParseError(`cannot inflate deflated data set: ${(e as Error).message}`, {
        offset: start,
      });
    }
    start = 0;
  }
  const ctx: Ctx = {
    bytes,
    view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    le: info.littleEndian,
    explicit: info.explicitVr,
    opts: options,
    stopBefore: parseTagOption(options.stopBeforeTag),
    repaired: false,
  };
  const dataset: DicomJson = {};
  const scope: Scope = { scs: undefined, pending: [] };
  const r = parseElements(ctx, start, bytes.length, dataset, scope, 0, false);
  resolveScope(ctx, scope);
  const result: DecodeResult = { dataset, endOffset: r.offset, charsetRepaired: ctx.repaired };
  if (ctx.stoppedAt) result.stoppedAt = ctx.stoppedAt;
  return result;
}

/** Decode a data set (no File Meta) into the DICOM JSON model. Throws {@link DicomParseError}. */
export function decodeDataset(bytes: Uint8Array, options: DecodeOptions): DicomJson {
  return decodeDatasetDetailed(bytes, options).dataset;
}

function resolveScope(ctx: Ctx, scope: Scope): void {
  if (scope.pending.length === 0) return;
  const def = ctx.opts.defaultCharset;
  if (
    repairDecision(
      scope.scs,
      def,
      scope.pending.map((p) => p.bytes),
    )
  ) {
    ctx.repaired = true;
    for (const p of scope.pending) p.assign(decodeText(p.bytes, def, p.vr));
  }
}

function need(ctx: Ctx, off: number, n: number, end: number, tag: number | undefined, what: string): void {
  if (off + n > end) {
    throw new DicomParseError(`truncated: ${what} needs ${n} bytes, ${Math.max(0, end - off)} remain`, {
      offset: off,
      ...(tag !== undefined ? { tag } : {}),
      truncated: end >= ctx.bytes.length,
    });
  }
}

function readTag(ctx: Ctx, off: number): number {
  const g = ctx.view.getUint16(off, ctx.le);
  const e = ctx.view.getUint16(off + 2, ctx.le);
  return ((g << 16) | e) >>> 0;
}

/**
 * Parse elements from `off` until `end`, or (when `untilItemDelim`) until an item delimitation item.
 */
function parseElements(
  ctx: Ctx,
  off: number,
  end: number,
  out: DicomJson,
  scope: Scope,
  depth: number,
  untilItemDelim: boolean,
): { offset: number } {
  if (depth > MAX_DEPTH)
    throw new DicomParseError(`sequences nested deeper than ${MAX_DEPTH}`, { offset: off });
  while (off < end) {
    if (depth === 0 && !untilItemDelim && isZeroPadding(ctx.bytes, off, end)) return { offset: end };
    need(ctx, off, 8, end, undefined, 'element header');
    const tag = readTag(ctx, off);
    if (tag === ITEM_DELIM) {
      if (untilItemDelim) return { offset: off + 8 };
      throw new DicomParseError('unexpected item delimitation item', { offset: off, tag });
    }
    if (tag === ITEM || tag === SEQ_DELIM) {
      throw new DicomParseError('unexpected item / sequence delimiter outside a sequence', {
        offset: off,
        tag,
      });
    }
    if (
      depth === 0 &&
      ((ctx.stopBefore !== undefined && tag >= ctx.stopBefore) ||
        (ctx.opts.onlyGroup !== undefined && tag >>> 16 !== ctx.opts.onlyGroup))
    ) {
      ctx.stoppedAt = { tag: tagToHex(tag), offset: off };
      return { offset: off };
    }
    let vr: string;
    let len: number;
    let hdr: number;
    if (ctx.explicit) {
      const c0 = ctx.bytes[off + 4]!;
      const c1 = ctx.bytes[off + 5]!;
      vr = String.fromCharCode(c0, c1);
      if (!KNOWN_VRS.has(vr)) {
        throw new DicomParseError(`invalid VR bytes 0x${c0.toString(16)} 0x${c1.toString(16)}`, {
          offset: off,
          tag,
        });
      }
      if (LONG_VRS.has(vr)) {
        need(ctx, off, 12, end, tag, 'element header');
        len = ctx.view.getUint32(off + 8, ctx.le);
        hdr = 12;
      } else {
        len = ctx.view.getUint16(off + 6, ctx.le);
        hdr = 8;
      }
    } else {
      len = ctx.view.getUint32(off + 4, ctx.le);
      vr = dictionaryVr(tag);
      hdr = 8;
    }
    const valStart = off + hdr;
    const key = tagToHex(tag);
    if (len === UNDEFINED) {
      if (vr === 'SQ' || vr === 'UN') {
        // UN with undefined length is an implicit VR LE sequence (PS3.5 6.2.2)
        const sub: Ctx = vr === 'UN' && ctx.explicit ? { ...ctx, explicit: false, le: true } : ctx;
        const items: DicomJson[] = [];
        const r = parseSequence(sub, valStart, end, items, scope, depth, true, tag);
        if (sub !== ctx) ctx.repaired ||= sub.repaired;
        out[key] = items.length ? { vr: 'SQ', Value: items } : { vr: 'SQ' };
        off = r;
        continue;
      }
      if (vr === 'OB' || vr === 'OW') {
        off = skipEncapsulated(ctx, valStart, end, tag);
        out[key] = { vr: 'OB' };
        continue;
      }
      throw new DicomParseError(`undefined length is not allowed for VR ${vr}`, { offset: off, tag });
    }
    if (valStart + len > end) {
      throw new DicomParseError(
        `value of ${formatTag(tag)} declares ${len} bytes but only ${Math.max(0, end - valStart)} remain`,
        { offset: off, tag, truncated: end >= ctx.bytes.length },
      );
    }
    const valEnd = valStart + len;
    if (vr === 'SQ') {
      const items: DicomJson[] = [];
      parseSequence(ctx, valStart, valEnd, items, scope, depth, false, tag);
      out[key] = items.length ? { vr: 'SQ', Value: items } : { vr: 'SQ' };
    } else if (vr === 'UN' && isKnownPublicTag(tag) && dictionaryVr(tag) !== 'UN') {
      // re-interpret with the dictionary VR (value is implicit VR LE)
      const realVr = dictionaryVr(tag);
      const sub: Ctx = { ...ctx, explicit: false, le: true };
      if (realVr === 'SQ') {
        const items: DicomJson[] = [];
        parseSequence(sub, valStart, valEnd, items, scope, depth, false, tag);
        out[key] = items.length ? { vr: 'SQ', Value: items } : { vr: 'SQ' };
      } else {
        out[key] = decodeValue(sub, realVr, tag, valStart, len, scope);
      }
      ctx.repaired ||= sub.repaired;
    } else {
      out[key] = decodeValue(ctx, vr, tag, valStart, len, scope);
      if (tag === 0x00080005) {
        const v = out[key].Value;
        scope.scs = charsetTerms((v ?? []).map((x) => (typeof x === 'string' ? x : '')));
      }
    }
    off = valEnd;
  }
  if (untilItemDelim) {
    throw new DicomParseError('truncated: item has no item delimitation item', {
      offset: off,
      truncated: true,
    });
  }
  return { offset: off };
}

function isZeroPadding(bytes: Uint8Array, off: number, end: number): boolean {
  // trailing zero bytes after the data set (seen in the field): treat as end of data
  if (bytes[off] !== 0 || bytes[off + 1] !== 0 || bytes[off + 2] !== 0 || bytes[off + 3] !== 0) return false;
  for (let i = off; i < end; i++) if (bytes[i] !== 0) return false;
  return true;
}

function parseSequence(
  ctx: Ctx,
  off: number,
  end: number,
  items: DicomJson[],
  parentScope: Scope,
  depth: number,
  undefinedLength: boolean,
  seqTag: number,
): number {
  while (undefinedLength || off < end) {
    need(ctx, off, 8, end, seqTag, 'sequence item header');
    const tag = readTag(ctx, off);
    const len = ctx.view.getUint32(off + 4, ctx.le);
    if (tag === SEQ_DELIM) {
      if (undefinedLength) return off + 8;
      throw new DicomParseError('sequence delimiter in a defined-length sequence', {
        offset: off,
        tag: seqTag,
      });
    }
    if (tag !== ITEM) {
      throw new DicomParseError(`expected an item tag in sequence, found ${formatTag(tag)}`, {
        offset: off,
        tag: seqTag,
      });
    }
    const item: DicomJson = {};
    // items inherit the charset; an item declaring (0008,0005) gets its own repair scope
    const scope: Scope = { scs: parentScope.scs, pending: [] };
    const start = off + 8;
    if (len === UNDEFINED) {
      off = parseElements(ctx, start, end, item, scope, depth + 1, true).offset;
    } else {
      let itemEnd = start + len;
      if (itemEnd > end) {
        // an item overrunning its defined-length sequence (seen in DICOMDIRs edited in place) is clamped
        // to the sequence, as DCMTK does; overrunning the input is truncation
        if (end >= ctx.bytes.length) {
          throw new DicomParseError(`item declares ${len} bytes but only ${end - start} remain`, {
            offset: off,
            tag: seqTag,
            truncated: true,
          });
        }
        itemEnd = end;
      }
      parseElements(ctx, start, itemEnd, item, scope, depth + 1, false);
      off = itemEnd;
    }
    if (scope.scs === parentScope.scs) parentScope.pending.push(...scope.pending);
    else resolveScope(ctx, scope);
    items.push(item);
  }
  return off;
}

function skipEncapsulated(ctx: Ctx, off: number, end: number, tag: number): number {
  for (;;) {
    need(ctx, off, 8, end, tag, 'fragment header');
    const t = readTag(ctx, off);
    const len = ctx.view.getUint32(off + 4, ctx.le);
    if (t === SEQ_DELIM) return off + 8;
    if (t !== ITEM)
      throw new DicomParseError(`expected a fragment item, found ${formatTag(t)}`, { offset: off, tag });
    if (len === UNDEFINED || off + 8 + len > end) {
      throw new DicomParseError(`fragment declares ${len} bytes but only ${end - off - 8} remain`, {
        offset: off,
        tag,
        truncated: end >= ctx.bytes.length,
      });
    }
    off += 8 + len;
  }
}

const NUMERIC: Record<string, [number, (v: DataView, o: number, le: boolean) => unknown]> = {
  US: [2, (v, o, le) => v.getUint16(o, le)],
  SS: [2, (v, o, le) => v.getInt16(o, le)],
  UL: [4, (v, o, le) => v.getUint32(o, le)],
  SL: [4, (v, o, le) => v.getInt32(o, le)],
  FL: [4, (v, o, le) => v.getFloat32(o, le)],
  FD: [8, (v, o, le) => v.getFloat64(o, le)],
  SV: [8, (v, o, le) => bigToJson(v.getBigInt64(o, le))],
  UV: [8, (v, o, le) => bigToJson(v.getBigUint64(o, le))],
  AT: [
    4,
    (v, o, le) =>
      (
        v.getUint16(o, le).toString(16).padStart(4, '0') +
        v
          .getUint16(o + 2, le)
          .toString(16)
          .padStart(4, '0')
      ).toUpperCase(),
  ],
};

function bigToJson(b: bigint): number | string {
  return b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(b)
    : b.toString();
}

function binaryElement(ctx: Ctx, vr: string, tag: number, start: number, len: number): DicomElement {
  const el: DicomElement = { vr };
  if (len === 0) return el;
  const max = ctx.opts.maxInlineBinary ?? Infinity;
  if (len > max) {
    const uri = ctx.opts.bulkDataUri?.({ tag: tagToHex(tag), offset: start, length: len });
    if (uri !== undefined) el.BulkDataURI = uri;
    return el;
  }
  let buf = Buffer.from(ctx.bytes.buffer, ctx.bytes.byteOffset + start, len);
  if (!ctx.le) {
    const size = vr === 'OW' ? 2 : vr === 'OF' || vr === 'OL' ? 4 : vr === 'OD' || vr === 'OV' ? 8 : 1;
    if (size > 1 && len % size === 0) {
      buf = Buffer.from(buf);
      if (size === 2) buf.swap16();
      else if (size === 4) buf.swap32();
      else buf.swap64();
    }
  }
  el.InlineBinary = buf.toString('base64');
  return el;
}

function decodeValue(
  ctx: Ctx,
  vr: string,
  tag: number,
  start: number,
  len: number,
  scope: Scope,
): DicomElement {
  if (BINARY_VRS.has(vr)) return binaryElement(ctx, vr, tag, start, len);
  const num = NUMERIC[vr];
  if (num) {
    const [size, read] = num;
    const n = Math.floor(len / size);
    if (n === 0) return { vr };
    const values: unknown[] = new Array<unknown>(n);
    for (let i = 0; i < n; i++) values[i] = read(ctx.view, start + i * size, ctx.le);
    return { vr, Value: values };
  }
  // text
  const el: DicomElement = { vr };
  if (len === 0) return el;
  const raw = ctx.bytes.subarray(start, start + len);
  const charsetSensitive = CHARSET_VRS.has(vr);
  const assign = (s: string): void => {
    const values = textValues(s, vr);
    if (values === undefined) delete el.Value;
    else el.Value = values;
  };
  assign(charsetSensitive ? decodeText(raw, scope.scs, vr) : latin1(raw));
  if (charsetSensitive && ctx.opts.defaultCharset && repairCandidate(scope.scs) && hasHigh(raw)) {
    scope.pending.push({ bytes: raw, vr, assign });
  }
  return el;
}

function hasHigh(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i]! >= 0x80) return true;
  return false;
}

function latin1(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
}

const TRIM_BOTH = /^[\s\0]+|[\s\0]+$/g;
const TRIM_END = /[\s\0]+$/;

/** Split one decoded element string into JSON-model values; undefined when there is no value. */
export function textValues(s: string, vr: string): unknown[] | undefined {
  if (SINGLE_VALUE_TEXT.has(vr)) {
    const v = s.replace(TRIM_END, '');
    return v === '' ? undefined : [v];
  }
  const parts = s.split('\\');
  const out: unknown[] = parts.map((p) => {
    const t = p.replace(TRIM_BOTH, '');
    if (t === '') return null;
    if (vr === 'PN') return parsePersonName(t);
    if (vr === 'IS' || vr === 'DS') {
      const n = Number(t);
      return t !== '' && Number.isFinite(n) && (vr === 'DS' || /^[+-]?\d+$/.test(t)) ? n : t;
    }
    return t;
  });
  if (out.length === 1 && out[0] === null) return undefined;
  return out;
}

/** `A=I=P` → `{ Alphabetic, Ideographic, Phonetic }` (groups trimmed, empty groups omitted). */
export function parsePersonName(s: string): PersonName {
  const [a, i, p] = s.split('=');
  const pn: PersonName = {};
  const A = a?.trim();
  const I = i?.trim();
  const P = p?.trim();
  if (A) pn.Alphabetic = A;
  if (I) pn.Ideographic = I;
  if (P) pn.Phonetic = P;
  return pn;
}

/** `{ Alphabetic, Ideographic, Phonetic }` → `A=I=P` with trailing empty groups removed. */
export function formatPersonName(pn: PersonName | string | null | undefined): string {
  if (pn === null || pn === undefined) return '';
  if (typeof pn === 'string') return pn;
  const groups = [pn.Alphabetic ?? '', pn.Ideographic ?? '', pn.Phonetic ?? ''];
  while (groups.length > 0 && groups[groups.length - 1] === '') groups.pop();
  return groups.join('=');
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

export interface EncodeOptions {
  /** implicit VR LE or explicit VR LE (default explicit VR LE) */
  transferSyntax?: string;
  /**
   * (0008,0005) to write and to encode text with. When omitted: the data set's own (0008,0005) if
   * present, else none for pure-ASCII data sets and `ISO_IR 192` otherwise.
   */
  charset?: string;
  /** write group 0002 elements too (used by part10.ts to build the File Meta; default false) */
  includeFileMetaGroup?: boolean;
}

function allTextAscii(json: DicomJson): boolean {
  for (const el of Object.values(json)) {
    for (const v of el.Value ?? []) {
      if (typeof v === 'string') {
        for (let i = 0; i < v.length; i++) if (v.charCodeAt(i) >= 0x80) return false;
      } else if (v && typeof v === 'object') {
        if (el.vr === 'SQ') {
          if (!allTextAscii(v as DicomJson)) return false;
        } else if (!/^[\x20-\x7e]*$/.test(formatPersonName(v))) return false;
      }
    }
  }
  return true;
}

class ByteSink {
  chunks: Uint8Array[] = [];
  length = 0;
  push(b: Uint8Array): void {
    this.chunks.push(b);
    this.length += b.length;
  }
  concat(): Uint8Array {
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}

/**
 * Encode a DICOM JSON data set (no File Meta) in implicit or explicit VR little endian. Text is encoded in
 * the chosen charset (see {@link EncodeOptions.charset}) and (0008,0005) is written to match it. Values
 * are padded to even length (UI with NUL, OB/UN with NUL, text with space). Sequences and items are
 * written with defined lengths. Elements with only a BulkDataURI cannot be encoded (error).
 */
export function encodeDataset(json: DicomJson, options: EncodeOptions = {}): Uint8Array {
  const ts = options.transferSyntax ?? EXPLICIT_VR_LITTLE_ENDIAN;
  if (ts !== EXPLICIT_VR_LITTLE_ENDIAN && ts !== IMPLICIT_VR_LITTLE_ENDIAN) {
    throw new Error(`encodeDataset: unsupported transfer syntax ${ts} (implicit or explicit VR LE only)`);
  }
  let charset = options.charset;
  const ds: DicomJson = { ...json };
  if (charset === undefined) {
    const own = ds['00080005']?.Value;
    if (own && own.length) charset = own.map((v) => (typeof v === 'string' ? v : '')).join('\\');
    else charset = allTextAscii(ds) ? '' : 'ISO_IR 192';
  }
  const terms = charsetTerms(charset);
  if (terms.length > 0) ds['00080005'] = { vr: 'CS', Value: terms.map((t) => (t === '' ? null : t)) };
  else delete ds['00080005'];
  const sink = new ByteSink();
  encodeElements(ds, terms, ts === EXPLICIT_VR_LITTLE_ENDIAN, sink, options.includeFileMetaGroup ?? false);
  return sink.concat();
}

function encodeElements(
  ds: DicomJson,
  inheritedTerms: string[],
  explicit: boolean,
  sink: ByteSink,
  includeMeta = false,
): void {
  let terms = inheritedTerms;
  const own = ds['00080005']?.Value;
  if (own) terms = charsetTerms(own.map((v) => (typeof v === 'string' ? v : '')));
  const keys = Object.keys(ds)
    .filter((k) => /^[0-9A-Fa-f]{8}$/.test(k))
    .sort((a, b) => parseInt(a, 16) - parseInt(b, 16));
  for (const key of keys) {
    const el = ds[key]!;
    const tag = parseInt(key, 16) >>> 0;
    if (tag >>> 16 === 0x0002 && !includeMeta) continue; // File Meta goes into part10 meta, not the data set
    encodeElement(tag, el, terms, explicit, sink);
  }
}

function writeHeader(tag: number, vr: string, len: number, explicit: boolean, sink: ByteSink): void {
  const long = LONG_VRS.has(vr);
  const h = new Uint8Array(explicit ? (long ? 12 : 8) : 8);
  const v = new DataView(h.buffer);
  v.setUint16(0, tag >>> 16, true);
  v.setUint16(2, tag & 0xffff, true);
  if (!explicit) {
    v.setUint32(4, len, true);
  } else {
    h[4] = vr.charCodeAt(0);
    h[5] = vr.charCodeAt(1);
    if (long) v.setUint32(8, len, true);
    else {
      if (len > 0xffff) throw new Error(`value of ${formatTag(tag)} (${vr}) is ${len} bytes, over 65534`);
      v.setUint16(6, len, true);
    }
  }
  sink.push(h);
}

function formatDs(n: number): string {
  if (!Number.isFinite(n)) throw new Error(`DS value ${n} is not finite`);
  let s = String(n);
  for (let p = 15; s.length > 16 && p > 0; p--) s = n.toPrecision(p).replace(/\.?0+(e|$)/, '$1');
  return s;
}

function valueToString(v: unknown, vr: string): string {
  if (v === null || v === undefined) return '';
  if (vr === 'PN') return formatPersonName(v);
  if (typeof v === 'number') return vr === 'DS' ? formatDs(v) : String(Math.trunc(v));
  if (typeof v === 'string') return v;
  if (typeof v === 'bigint' || typeof v === 'boolean') return v.toString();
  throw new Error(`cannot encode ${JSON.stringify(v)} as ${vr}`);
}

function encodeElement(
  tag: number,
  el: DicomElement,
  terms: string[],
  explicit: boolean,
  sink: ByteSink,
): void {
  const vr = el.vr;
  if (vr === 'SQ') {
    const items = (el.Value ?? []) as DicomJson[];
    const body = new ByteSink();
    for (const item of items) {
      const itemSink = new ByteSink();
      encodeElements(item, terms, explicit, itemSink);
      const h = new Uint8Array(8);
      const v = new DataView(h.buffer);
      v.setUint16(0, 0xfffe, true);
      v.setUint16(2, 0xe000, true);
      v.setUint32(4, itemSink.length, true);
      body.push(h);
      for (const c of itemSink.chunks) body.push(c);
    }
    writeHeader(tag, 'SQ', body.length, explicit, sink);
    for (const c of body.chunks) sink.push(c);
    return;
  }
  let value: Uint8Array;
  if (BINARY_VRS.has(vr)) {
    if (el.BulkDataURI !== undefined && el.InlineBinary === undefined) {
      throw new Error(`element ${formatTag(tag)} has only a BulkDataURI; resolve it before encoding`);
    }
    value = el.InlineBinary ? new Uint8Array(Buffer.from(el.InlineBinary, 'base64')) : new Uint8Array(0);
  } else if (NUMERIC[vr]) {
    const vals = el.Value ?? [];
    const size = NUMERIC[vr][0];
    value = new Uint8Array(vals.length * size);
    const dv = new DataView(value.buffer);
    vals.forEach((x, i) => {
      const o = i * size;
      switch (vr) {
        case 'US':
          dv.setUint16(o, Number(x), true);
          break;
        case 'SS':
          dv.setInt16(o, Number(x), true);
          break;
        case 'UL':
          dv.setUint32(o, Number(x), true);
          break;
        case 'SL':
          dv.setInt32(o, Number(x), true);
          break;
        case 'FL':
          dv.setFloat32(o, Number(x), true);
          break;
        case 'FD':
          dv.setFloat64(o, Number(x), true);
          break;
        case 'SV':
          dv.setBigInt64(o, BigInt(x as string | number), true);
          break;
        case 'UV':
          dv.setBigUint64(o, BigInt(x as string | number), true);
          break;
        case 'AT': {
          const t = typeof x === 'number' ? x : parseInt(String(x), 16);
          dv.setUint16(o, t >>> 16, true);
          dv.setUint16(o + 2, t & 0xffff, true);
          break;
        }
      }
    });
  } else if (TEXT_VRS.has(vr)) {
    const str = (el.Value ?? []).map((v) => valueToString(v, vr)).join('\\');
    value = CHARSET_VRS.has(vr) ? encodeText(str, terms, vr) : asciiBytes(str, tag);
  } else {
    throw new Error(`cannot encode ${formatTag(tag)}: unknown VR ${vr}`);
  }
  if (value.length % 2 === 1) {
    const padded = new Uint8Array(value.length + 1);
    padded.set(value);
    padded[value.length] = vr === 'UI' || vr === 'OB' || vr === 'UN' ? 0 : 0x20;
    value = padded;
  }
  writeHeader(tag, vr, value.length, explicit, sink);
  sink.push(value);
}

function asciiBytes(s: string, tag: number): Uint8Array {
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) > 0x7e)
      throw new Error(`value of ${formatTag(tag)} must be ASCII: ${JSON.stringify(s)}`);
  }
  return new Uint8Array(Buffer.from(s, 'latin1'));
}
