/**
 * Specific Character Set (0008,0005) handling: decoding text bytes of the charset-sensitive VRs
 * (SH, LO, UC, ST, LT, UT, PN) and encoding outgoing strings.
 *
 * Decoding:
 * - fast paths for pure ASCII, ISO_IR 100 (true ISO 8859-1, like DCMTK, not windows-1252), ISO_IR 192,
 *   GB18030 and GBK (WHATWG decoders from Node's ICU);
 * - everything else — the other single-byte ISO_IR sets and all `ISO 2022 …` code-extension
 *   combinations (IR 58, 87, 159, 149, 13, 6, 100, …) — goes to dicom-character-set, which resets to
 *   the first value's repertoire at delimiters as PS3.5 6.1.2.5.3 requires (PN: `^` `=`; all: `\` CR LF
 *   FF TAB).
 * - The whole value is decoded first and only then split on `\` (and PN on `=`): in GBK/GB18030 a
 *   trail byte may be 0x5C, so splitting raw bytes would cut characters.
 *
 * The per-hospital default charset and the "GBK bytes labelled Latin-1" repair: see
 * {@link repairDecision}.
 */
import { convertBytes } from 'dicom-character-set';
import iconv from 'iconv-lite';
import { TextDecoder } from 'node:util';

/** The VRs whose text is encoded with the Specific Character Set (PS3.5 6.1.2.3). */
export const CHARSET_VRS: ReadonlySet<string> = new Set(['SH', 'LO', 'UC', 'ST', 'LT', 'UT', 'PN']);

export class CharsetError extends Error {
  override name = 'CharsetError';
}

/** Split a (0008,0005) value into its terms, trimmed. `\ISO 2022 IR 58` → ['', 'ISO 2022 IR 58']. */
export function charsetTerms(scs: string | readonly (string | null)[] | undefined): string[] {
  if (scs === undefined) return [];
  const arr = typeof scs === 'string' ? scs.split('\\') : scs.map((s) => s ?? '');
  const terms = arr.map((t) =>
    t
      .trim()
      .toUpperCase()
      .replace(/_IR(?=\d)/, '_IR '),
  );
  while (terms.length > 0 && terms[terms.length - 1] === '' && terms.length > 1) terms.pop();
  if (terms.length === 1 && terms[0] === '') return [];
  return terms;
}

/** Canonical (0008,0005) string form of a charset term list (`\ISO 2022 IR 58`). */
export function charsetString(scs: string | readonly (string | null)[] | undefined): string {
  return charsetTerms(scs).join('\\');
}

const latin1 = (b: Uint8Array): string =>
  Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');

const decoders = new Map<string, TextDecoder>();
function decoder(label: string, fatal = false): TextDecoder {
  const key = `${label}|${fatal}`;
  let d = decoders.get(key);
  if (!d) {
    d = new TextDecoder(label, { fatal, ignoreBOM: true });
    decoders.set(key, d);
  }
  return d;
}

function isAscii(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    if (c >= 0x80 || c === 0x1b) return false;
  }
  return true;
}

function hasHighBytes(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i]! >= 0x80) return true;
  return false;
}

/**
 * Decode the bytes of one text element value (all its values, `\` included) with the declared
 * Specific Character Set, strictly as declared (no repair). Unknown terms fall back to Latin-1.
 */
export function decodeText(
  bytes: Uint8Array,
  scs: string | readonly (string | null)[] | undefined,
  vr = 'LO',
): string {
  if (bytes.length === 0) return '';
  if (isAscii(bytes)) return latin1(bytes);
  const terms = charsetTerms(scs);
  if (terms.length <= 1) {
    switch (terms[0] ?? '') {
      case '':
      case 'ISO_IR 6':
      case 'ISO 2022 IR 6':
      case 'ISO_IR 100':
        return latin1(bytes);
      case 'ISO_IR 192':
        return decoder('utf-8').decode(bytes);
      case 'GB18030':
        return decoder('gb18030').decode(bytes);
      case 'GBK':
        return decoder('gbk').decode(bytes);
    }
  }
  if (terms.length > 1 && (terms[0] === 'GB18030' || terms[0] === 'GBK' || terms[0] === 'ISO_IR 192')) {
    // non-extension multi-byte sets cannot be combined; use the first (as dicom-character-set does)
    return decodeText(bytes, terms[0], vr);
  }
  try {
    return convertBytes(terms.join('\\'), bytes, { vr });
  } catch {
    return latin1(bytes);
  }
}

// ---------------------------------------------------------------------------------------------
// Default charset and repair of mislabelled GBK
// ---------------------------------------------------------------------------------------------

/** Charsets that "declare nothing beyond ASCII": the default charset applies to their high bytes. */
function declaresNothing(terms: string[]): boolean {
  return (
    terms.length === 0 || (terms.length === 1 && (terms[0] === 'ISO_IR 6' || terms[0] === 'ISO 2022 IR 6'))
  );
}

function isLatin1Label(terms: string[]): boolean {
  return terms.length === 1 && (terms[0] === 'ISO_IR 100' || terms[0] === 'ISO 2022 IR 100');
}

function plausibleCjk(cp: number): boolean {
  return (
    (cp >= 0x2e80 && cp <= 0x9fff) || // radicals, CJK punctuation, kana, bopomofo, Ext A, URO
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe30 && cp <= 0xfe4f) ||
    (cp >= 0xff00 && cp <= 0xffef) || // full-width forms
    (cp >= 0x2000 && cp <= 0x206f) || // general punctuation (“”…—)
    (cp >= 0x2100 && cp <= 0x27bf) || // letterlike, arrows, math, box drawing, circled numbers
    (cp >= 0x0391 && cp <= 0x03c9) || // Greek (GB 2312 row 6)
    (cp >= 0x0401 && cp <= 0x0451) || // Cyrillic (GB 2312 row 7)
    cp === 0x00b7 ||
    cp === 0x00d7 ||
    cp === 0x00f7 ||
    cp >= 0x20000 // CJK Ext B+
  );
}

/**
 * True when `bytes` are a well-formed GB18030 byte string whose multi-byte sequences look like Chinese
 * text rather than Latin-1 text:
 * - every byte ≥ 0x80 belongs to a valid 2- or 4-byte GB18030 sequence (0x80 and 0xFF never occur);
 * - a 2-byte sequence whose lead is ≥ 0xA1 must have a trail ≥ 0x80: a Latin-1 letter/symbol
 *   (0xA1–0xFF) followed by an ASCII byte (`Mü` `ller`, `25°C`) is the signature of Latin-1 text.
 *   Leads 0x81–0xA0 are C1 controls / NBSP in Latin-1, never plausible text, so any GBK trail is accepted;
 * - every decoded non-ASCII character is CJK (ideographs incl. Ext A/B, CJK/full-width punctuation) or
 *   one of the Greek/Cyrillic/symbol rows of GB 2312.
 * At least one byte ≥ 0x80 is required.
 */
export function looksLikeGb18030(bytes: Uint8Array): boolean {
  let sawHigh = false;
  const n = bytes.length;
  for (let i = 0; i < n;) {
    const b = bytes[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    sawHigh = true;
    if (b === 0x80 || b === 0xff || i + 1 >= n) return false;
    const t = bytes[i + 1]!;
    if (t >= 0x30 && t <= 0x39) {
      if (i + 3 >= n) return false;
      const b3 = bytes[i + 2]!;
      const b4 = bytes[i + 3]!;
      if (b3 < 0x81 || b3 > 0xfe || b4 < 0x30 || b4 > 0x39) return false;
      i += 4;
      continue;
    }
    if (t < 0x40 || t === 0x7f || t === 0xff) return false;
    if (b >= 0xa1 && t < 0x80) return false;
    i += 2;
  }
  if (!sawHigh) return false;
  let text: string;
  try {
    text = decoder('gb18030', true).decode(bytes);
  } catch {
    return false;
  }
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    if (cp >= 0x80 && !plausibleCjk(cp)) return false;
  }
  return true;
}

function validUtf8Multibyte(bytes: Uint8Array): boolean {
  if (!hasHighBytes(bytes)) return false;
  try {
    decoder('utf-8', true).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

function validIn(charset: string, bytes: Uint8Array): boolean {
  const t = charsetTerms(charset)[0] ?? '';
  if (t === 'ISO_IR 192') return validUtf8Multibyte(bytes);
  if (t === 'GB18030' || t === 'GBK') {
    try {
      decoder('gb18030', true).decode(bytes);
      return true;
    } catch {
      return false;
    }
  }
  return true;
}

/**
 * Decide whether a data set's text should be decoded with the per-hospital `defaultCharset` instead of
 * its declared (0008,0005). Called with the bytes of every charset-sensitive value holding a byte ≥ 0x80
 * in the scope (the data set, or a sequence item that declares its own charset); the decision applies to
 * all of them, so a data set is never half-repaired.
 *
 * - no default configured → never;
 * - declared charset absent / empty / ISO_IR 6 (i.e. declares ASCII only, so its high bytes are
 *   non-conformant anyway) → use the default when every value is valid in it (strict decode);
 * - declared ISO_IR 100 and default GB18030 or GBK → use the default only when every value passes
 *   {@link looksLikeGb18030} (no plausible Latin-1 text);
 *   declared ISO_IR 100 and default ISO_IR 192 → use it when every value is valid multi-byte UTF-8;
 * - any other declared charset → never (it is trusted).
 */
export function repairDecision(
  declared: string | readonly (string | null)[] | undefined,
  defaultCharset: string | undefined,
  highByteValues: readonly Uint8Array[],
): boolean {
  if (!defaultCharset || highByteValues.length === 0) return false;
  const terms = charsetTerms(declared);
  const def = charsetTerms(defaultCharset)[0] ?? '';
  if (declaresNothing(terms)) return highByteValues.every((b) => validIn(def, b));
  if (isLatin1Label(terms)) {
    if (def === 'GB18030' || def === 'GBK') return highByteValues.every(looksLikeGb18030);
    if (def === 'ISO_IR 192') return highByteValues.every(validUtf8Multibyte);
  }
  return false;
}

/** True when the repair/default logic could apply to values in this declared charset. */
export function repairCandidate(declared: string | readonly (string | null)[] | undefined): boolean {
  const terms = charsetTerms(declared);
  return declaresNothing(terms) || isLatin1Label(terms);
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

const SINGLE_BYTE: Record<string, string> = {
  'ISO_IR 100': 'latin1',
  'ISO_IR 101': 'iso-8859-2',
  'ISO_IR 109': 'iso-8859-3',
  'ISO_IR 110': 'iso-8859-4',
  'ISO_IR 144': 'iso-8859-5',
  'ISO_IR 127': 'iso-8859-6',
  'ISO_IR 126': 'iso-8859-7',
  'ISO_IR 138': 'iso-8859-8',
  'ISO_IR 148': 'iso-8859-9',
  'ISO_IR 166': 'tis-620',
  'ISO_IR 203': 'iso-8859-15',
};

interface Iso2022Set {
  esc: number[];
  plane: 'G0' | 'G1';
  /** bytes for one char, or undefined when the set cannot encode it */
  encode: (ch: string) => number[] | undefined;
}

function iconvPair(label: string, ch: string, want: number, minByte: number): number[] | undefined {
  const b = iconv.encode(ch, label);
  if (b.length !== want) return undefined;
  for (const x of b) if (x < minByte) return undefined;
  if (iconv.decode(b, label) !== ch) return undefined;
  return [...b];
}

const ISO2022: Record<string, Iso2022Set> = {
  'ISO 2022 IR 58': {
    esc: [0x1b, 0x24, 0x29, 0x41],
    plane: 'G1',
    encode: (c) => iconvPair('gb2312', c, 2, 0xa1),
  },
  'ISO 2022 IR 149': {
    esc: [0x1b, 0x24, 0x29, 0x43],
    plane: 'G1',
    encode: (c) => iconvPair('euc-kr', c, 2, 0xa1),
  },
  'ISO 2022 IR 87': {
    esc: [0x1b, 0x24, 0x42],
    plane: 'G0',
    encode: (c) => iconvPair('euc-jp', c, 2, 0xa1)?.map((x) => x - 0x80),
  },
  'ISO 2022 IR 159': {
    esc: [0x1b, 0x24, 0x28, 0x44],
    plane: 'G0',
    encode: (c) => {
      const b = iconv.encode(c, 'euc-jp');
      if (b.length !== 3 || b[0] !== 0x8f || iconv.decode(b, 'euc-jp') !== c) return undefined;
      return [b[1]! - 0x80, b[2]! - 0x80];
    },
  },
  'ISO 2022 IR 13': {
    esc: [0x1b, 0x29, 0x49],
    plane: 'G1',
    encode: (c) => {
      const cp = c.codePointAt(0)!;
      return cp >= 0xff61 && cp <= 0xff9f ? [cp - 0xff61 + 0xa1] : undefined;
    },
  },
  'ISO 2022 IR 100': {
    esc: [0x1b, 0x2d, 0x41],
    plane: 'G1',
    encode: (c) => {
      const cp = c.codePointAt(0)!;
      return cp >= 0xa0 && cp <= 0xff ? [cp] : undefined;
    },
  },
};

function encodeIso2022(str: string, terms: string[], vr: string): Uint8Array {
  const out: number[] = [];
  const first = terms[0] ?? '';
  const initialG1 = first === 'ISO 2022 IR 13' || first === 'ISO 2022 IR 100' ? first : undefined;
  // ISO 2022 IR 13 as first value has JIS X 0201 romaji in G0 (ESC ( J), else ASCII (ESC ( B)
  const g0Reset = first === 'ISO 2022 IR 13' ? [0x1b, 0x28, 0x4a] : [0x1b, 0x28, 0x42];
  let g0: string | undefined; // undefined = the initial G0 set
  let g1 = initialG1;
  const delimiters = vr === 'PN' ? '^=\\\r\n\f\t' : '\\\r\n\f\t';
  const sets = terms.filter((t) => ISO2022[t] !== undefined);
  for (const ch of str) {
    const cp = ch.codePointAt(0)!;
    if (cp < 0x80) {
      if (g0 !== undefined) {
        out.push(...g0Reset); // back to the initial G0 set
        g0 = undefined;
      }
      if (delimiters.includes(ch)) g1 = initialG1;
      out.push(cp);
      continue;
    }
    let done = false;
    // prefer the set already invoked, then the declared order
    const order = [g0, g1, ...sets].filter((s): s is string => s !== undefined);
    for (const name of order) {
      const set = ISO2022[name]!;
      const bytes = set.encode(ch);
      if (!bytes) continue;
      if (set.plane === 'G0' && g0 !== name) {
        out.push(...set.esc);
        g0 = name;
      } else if (set.plane === 'G1' && g1 !== name) {
        out.push(...set.esc);
        g1 = name;
      }
      out.push(...bytes);
      done = true;
      break;
    }
    if (!done)
      throw new CharsetError(`character ${JSON.stringify(ch)} cannot be encoded in ${terms.join('\\')}`);
  }
  if (g0 !== undefined) out.push(...g0Reset);
  return Uint8Array.from(out);
}

/**
 * Encode a string (all values of one element, `\`-joined; PN with `^` `=`) in the target charset.
 * Supported: default repertoire (ASCII), ISO_IR 192, GB18030, GBK, the single-byte ISO_IR sets, and
 * ISO 2022 code extensions IR 6/58/87/159/149/13/100: an escape sequence designates the set before each
 * run that needs it; after each delimiter (`\` CR LF FF TAB, and `^` `=` for PN) the first value's
 * repertoire is active again, so the escape is repeated before the next run (PS3.5 6.1.2.5.3; this is
 * byte-for-byte what DCMTK writes and what the PS3.5 Annex J examples show). G0 sets (IR 87/159) are
 * switched back to ASCII with `ESC ( B` before any ASCII character and at the end of the value.
 * Throws {@link CharsetError} when a character cannot be represented.
 */
export function encodeText(
  str: string,
  targetCharset: string | readonly (string | null)[] | undefined,
  vr = 'LO',
): Uint8Array {
  const terms = charsetTerms(targetCharset);
  let ascii = true;
  for (let i = 0; i < str.length; i++) {
    if (str.charCodeAt(i) >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return Buffer.from(str, 'latin1');
  const fail = (): never => {
    throw new CharsetError(
      `${JSON.stringify(str)} cannot be encoded in ${terms.join('\\') || 'the default repertoire'}`,
    );
  };
  if (terms.length > 1 || (terms[0] ?? '').startsWith('ISO 2022')) return encodeIso2022(str, terms, vr);
  const t = terms[0] ?? '';
  if (t === '' || t === 'ISO_IR 6') return fail();
  if (t === 'ISO_IR 192') return new Uint8Array(Buffer.from(str, 'utf8'));
  if (t === 'GB18030' || t === 'GBK') {
    const label = t === 'GBK' ? 'gbk' : 'gb18030';
    const b = iconv.encode(str, label);
    if (decoder(label).decode(b) !== str) return fail();
    if (t === 'GBK') {
      // GBK has no 4-byte sequences (those are GB18030-only: Ext A/B ideographs, …)
      for (let i = 0; i < b.length; i++) {
        if (b[i]! >= 0x81) {
          if (b[i + 1]! >= 0x30 && b[i + 1]! <= 0x39) return fail();
          i++;
        }
      }
    }
    return new Uint8Array(b);
  }
  const label = SINGLE_BYTE[t];
  if (!label) throw new CharsetError(`unsupported target charset ${t}`);
  const b = iconv.encode(str, label);
  if (iconv.decode(b, label) !== str) return fail();
  return new Uint8Array(b);
}

/** True when `str` can be encoded in `charset` (see {@link encodeText}). */
export function canEncodeText(
  str: string,
  charset: string | readonly (string | null)[] | undefined,
  vr = 'LO',
): boolean {
  try {
    encodeText(str, charset, vr);
    return true;
  } catch {
    return false;
  }
}

const SUPPORTED_SINGLE = new Set(['', 'ISO_IR 6', 'ISO 2022 IR 6', 'ISO_IR 192', 'GB18030', 'GBK']);

/** True when {@link encodeText} can encode into this (0008,0005). */
export function isSupportedTargetCharset(charset: string | readonly (string | null)[] | undefined): boolean {
  return charsetTerms(charset).every((t) => SUPPORTED_SINGLE.has(t) || t in SINGLE_BYTE || t in ISO2022);
}

interface JsonLike {
  [tag: string]: { vr: string; Value?: unknown[] };
}

function* stringsOf(values: JsonLike | Iterable<string>): Generator<string> {
  if (typeof (values as Iterable<string>)[Symbol.iterator] === 'function') {
    yield* values as Iterable<string>;
    return;
  }
  for (const [tag, el] of Object.entries(values as JsonLike)) {
    if (tag === '00080005') continue;
    for (const v of el.Value ?? []) {
      if (typeof v === 'string') yield v;
      else if (v && typeof v === 'object') {
        if (el.vr === 'SQ') yield* stringsOf(v as JsonLike);
        else for (const g of Object.values(v as Record<string, unknown>)) if (typeof g === 'string') yield g;
      }
    }
  }
}

/**
 * Choose the (0008,0005) of a response (C-FIND result, worklist item…) so the requester can read it.
 * `response` is the response data set (DICOM JSON; its strings incl. nested items and PN groups are
 * checked) or a list of strings. Returns:
 * - the request's charset (canonical form, e.g. `\ISO 2022 IR 58`) when every string can be encoded in it;
 * - `undefined` when the request declared none and every string is ASCII (write no (0008,0005));
 * - `ISO_IR 192` (UTF-8) otherwise — only when some value cannot be encoded in the request's charset
 *   (or the request's charset is one we cannot encode).
 */
export function chooseResponseCharset(
  response: JsonLike | Iterable<string>,
  requestCharset: string | readonly (string | null)[] | undefined,
): string | undefined {
  const req = charsetString(requestCharset);
  if (isSupportedTargetCharset(req)) {
    let ok = true;
    for (const v of stringsOf(response)) {
      if (!canEncodeText(v, req, 'PN')) {
        ok = false;
        break;
      }
    }
    if (ok) return req === '' ? undefined : req;
  }
  return 'ISO_IR 192';
}
