/**
 * HL7 v2 character sets (MSH-18, HL7 table 0211) for messages from member hospitals' HIS.
 *
 * - MSH-18 is read from the raw bytes of the MSH segment, which is ASCII in every encoding we accept;
 *   only its first repetition (the default character set of the message) is used.
 * - Absent MSH-18 → the sending hospital's default charset (`hospitals.default_charset`, the DICOM term
 *   such as `GB18030`, `GBK`, `ISO_IR 192`) → UTF-8.
 * - Decoding is strict: bytes that are not valid in the charset (e.g. GB18030 bytes labelled UTF-8) are an
 *   error; the caller rejects the message and keeps the raw bytes.
 * - The acknowledgement is encoded in the message's charset.
 */
import iconv from 'iconv-lite';
import { TextDecoder } from 'node:util';

export interface Hl7Charset {
  /** the canonical HL7 table 0211 name, e.g. `UNICODE UTF-8`, `GB 18030-2000`, `8859/1` */
  hl7: string;
  /** the iconv-lite / WHATWG encoding name */
  encoding: string;
}

const UTF8: Hl7Charset = { hl7: 'UNICODE UTF-8', encoding: 'utf-8' };
const GB18030: Hl7Charset = { hl7: 'GB 18030-2000', encoding: 'gb18030' };
const GBK: Hl7Charset = { hl7: 'GBK', encoding: 'gbk' };

/** Labels (upper-cased, spaces/underscores/hyphens removed) → charset. */
const LABELS = new Map<string, Hl7Charset>([
  ['UNICODEUTF8', UTF8],
  ['UTF8', UTF8],
  ['ISOIR192', UTF8], // DICOM term (hospital default)
  ['GB180302000', GB18030],
  ['GB180302005', GB18030],
  ['GB18030', GB18030],
  ['GBK', GBK],
  ['CP936', GBK],
  ['GB2312', { hl7: 'GB 2312', encoding: 'gb2312' }],
  ['ISOIR58', { hl7: 'GB 2312', encoding: 'gb2312' }],
  ['ASCII', { hl7: 'ASCII', encoding: 'ascii' }],
  ['ISOIR6', { hl7: 'ASCII', encoding: 'ascii' }],
  ['BIG5', { hl7: 'BIG-5', encoding: 'big5' }],
  ['88591', { hl7: '8859/1', encoding: 'latin1' }],
  ['ISOIR100', { hl7: '8859/1', encoding: 'latin1' }],
  ['ISO88591', { hl7: '8859/1', encoding: 'latin1' }],
  ['LATIN1', { hl7: '8859/1', encoding: 'latin1' }],
  ['88592', { hl7: '8859/2', encoding: 'iso-8859-2' }],
  ['88593', { hl7: '8859/3', encoding: 'iso-8859-3' }],
  ['88594', { hl7: '8859/4', encoding: 'iso-8859-4' }],
  ['88595', { hl7: '8859/5', encoding: 'iso-8859-5' }],
  ['88596', { hl7: '8859/6', encoding: 'iso-8859-6' }],
  ['88597', { hl7: '8859/7', encoding: 'iso-8859-7' }],
  ['88598', { hl7: '8859/8', encoding: 'iso-8859-8' }],
  ['88599', { hl7: '8859/9', encoding: 'iso-8859-9' }],
  ['885915', { hl7: '8859/15', encoding: 'iso-8859-15' }],
]);

/** The charset of an HL7 (table 0211) or DICOM label; undefined when we do not support it. */
export function charsetOf(label: string): Hl7Charset | undefined {
  const key = label.toUpperCase().replace(/[\s_\-/]/g, '');
  return LABELS.get(key);
}

export const DEFAULT_CHARSET: Hl7Charset = UTF8;

export interface MshPeek {
  /** field separator (MSH-1) and encoding characters (MSH-2) */
  fieldSeparator: string;
  /** MSH fields by HL7 number (index 1 = MSH-1); components not split; read as Latin-1 */
  fields: string[];
}

/**
 * The MSH segment of raw message bytes, read as Latin-1 (no decoding needed for the ASCII fields we want:
 * MSH-3/4 identifiers, MSH-9, MSH-10, MSH-18). Undefined when the bytes do not start with an MSH segment.
 */
export function peekMsh(raw: Buffer): MshPeek | undefined {
  let start = 0;
  // tolerate leading whitespace / a BOM
  while (start < raw.length && (raw[start] === 0x0a || raw[start] === 0x0d || raw[start] === 0x20)) start++;
  if (raw.length >= start + 3 && raw[start] === 0xef && raw[start + 1] === 0xbb && raw[start + 2] === 0xbf)
    start += 3;
  if (raw.length < start + 8 || raw.toString('latin1', start, start + 3) !== 'MSH') return undefined;
  let end = start;
  while (end < raw.length && raw[end] !== 0x0d && raw[end] !== 0x0a) end++;
  const seg = raw.toString('latin1', start, end);
  const fs = seg[3]!;
  const parts = seg.split(fs);
  // parts[0] = 'MSH', parts[1] = MSH-2, parts[n-1] = MSH-n; MSH-1 is the separator itself
  const fields = ['', fs, ...parts.slice(1)];
  return { fieldSeparator: fs, fields };
}

/** MSH-18's first repetition (trimmed), '' when absent. */
export function declaredCharset(msh: MshPeek): string {
  const v = msh.fields[18] ?? '';
  const rep = msh.fields[2]?.[1] ?? '~';
  return (v.split(rep)[0] ?? '').trim();
}

export type CharsetResolution =
  { ok: true; charset: Hl7Charset; source: 'msh-18' | 'hospital' | 'default' } | { ok: false; label: string };

/** The charset to decode a message with: MSH-18, else the hospital default, else UTF-8. */
export function resolveCharset(declared: string, hospitalDefault: string | undefined): CharsetResolution {
  if (declared !== '') {
    const c = charsetOf(declared);
    return c === undefined ? { ok: false, label: declared } : { ok: true, charset: c, source: 'msh-18' };
  }
  if (hospitalDefault !== undefined && hospitalDefault !== '') {
    const c = charsetOf(hospitalDefault);
    if (c !== undefined) return { ok: true, charset: c, source: 'hospital' };
  }
  return { ok: true, charset: DEFAULT_CHARSET, source: 'default' };
}

const fatalDecoders = new Map<string, TextDecoder>();

function isAscii(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) if (b[i]! >= 0x80) return false;
  return true;
}

/**
 * Decode strictly: undefined when the bytes are not valid in the charset. ASCII bytes are valid in every
 * charset we support (all are ASCII supersets).
 */
export function decodeStrict(bytes: Buffer, charset: Hl7Charset): string | undefined {
  if (isAscii(bytes)) return bytes.toString('latin1');
  const enc = charset.encoding;
  if (enc === 'ascii') return undefined;
  if (enc === 'latin1') return bytes.toString('latin1');
  // WHATWG decoders with fatal errors for the multi-byte sets (gbk/gb2312 decode as gb18030, a superset)
  const label = enc === 'gbk' || enc === 'gb2312' ? 'gb18030' : enc;
  if (label === 'utf-8' || label === 'gb18030' || label === 'big5') {
    let d = fatalDecoders.get(label);
    if (d === undefined) {
      d = new TextDecoder(label, { fatal: true, ignoreBOM: false });
      fatalDecoders.set(label, d);
    }
    try {
      return d.decode(bytes);
    } catch {
      return undefined;
    }
  }
  return iconv.decode(bytes, enc);
}

/** Decode leniently (invalid bytes → U+FFFD), for storing a rejected message's text. */
export function decodeLenient(bytes: Buffer, charset: Hl7Charset): string {
  return iconv.decode(bytes, charset.encoding === 'ascii' ? 'utf-8' : charset.encoding);
}

/** Encode text in the charset; characters it cannot represent become `?`. */
export function encodeText(text: string, charset: Hl7Charset): Buffer {
  if (charset.encoding === 'utf-8') return Buffer.from(text, 'utf8');
  return iconv.encode(text, charset.encoding);
}

/** A short, readable description of where invalid bytes are (for the error message). */
export function firstInvalidOffset(bytes: Buffer, charset: Hl7Charset): number | undefined {
  // binary search on prefixes would be wrong for multi-byte sets; walk segment by segment instead
  let start = 0;
  for (let i = 0; i <= bytes.length; i++) {
    if (i === bytes.length || bytes[i] === 0x0d) {
      if (decodeStrict(bytes.subarray(start, i), charset) === undefined) return start;
      start = i + 1;
    }
  }
  return undefined;
}
