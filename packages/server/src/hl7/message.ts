/**
 * HL7 v2 message helpers over @medplum/core `Hl7Message`: parsing (any of CR, LF, CRLF between
 * segments), field access with escape sequences decoded, HL7 date/time (DTM/TS) parsing, and building
 * acknowledgements (MSH + MSA + ERR, HL7 2.5 style) that the receiver or the sender parses back.
 */
import { Hl7Message, type Hl7Segment } from '@medplum/core';

export type AckCode = 'AA' | 'AE' | 'AR';

/** Parse message text; segments may be separated by CR, LF or CRLF. Throws on text that is not HL7. */
export function parseHl7(text: string): Hl7Message {
  const normalized = text
    .replace(/\r\n|\n/g, '\r')
    .split('\r')
    .filter((s) => s.trim() !== '')
    .join('\r');
  if (!normalized.startsWith('MSH') || normalized.length < 8)
    throw new Error('the message does not start with an MSH segment');
  return Hl7Message.parse(normalized);
}

/** Encoding characters of a message (MSH-1, MSH-2). */
export interface Delimiters {
  field: string;
  component: string;
  repetition: string;
  escape: string;
  subcomponent: string;
}

export function delimitersOf(msg: Hl7Message): Delimiters {
  const c = msg.context;
  return {
    field: c.fieldSeparator,
    component: c.componentSeparator,
    repetition: c.repetitionSeparator,
    escape: c.escapeCharacter,
    subcomponent: c.subcomponentSeparator,
  };
}

export const DEFAULT_DELIMITERS: Delimiters = {
  field: '|',
  component: '^',
  repetition: '~',
  escape: '\\',
  subcomponent: '&',
};

/** Decode HL7 escape sequences (\F\ \S\ \T\ \R\ \E\ \X..\ \.br\ …) in a component value. */
export function unescapeHl7(value: string, d: Delimiters = DEFAULT_DELIMITERS): string {
  const e = d.escape;
  if (e === '' || !value.includes(e)) return value;
  let out = '';
  let i = 0;
  while (i < value.length) {
    const ch = value[i]!;
    if (ch !== e) {
      out += ch;
      i++;
      continue;
    }
    const end = value.indexOf(e, i + 1);
    if (end < 0) {
      out += value.slice(i);
      break;
    }
    const seq = value.slice(i + 1, end);
    switch (seq) {
      case 'F':
        out += d.field;
        break;
      case 'S':
        out += d.component;
        break;
      case 'T':
        out += d.subcomponent;
        break;
      case 'R':
        out += d.repetition;
        break;
      case 'E':
        out += d.escape;
        break;
      case '.br':
        out += '\n';
        break;
      default:
        if (/^X[0-9A-Fa-f]{2,}$/.test(seq) && seq.length % 2 === 1) {
          // hexadecimal data: bytes as Latin-1 (rarely used; the text is already decoded)
          out += Buffer.from(seq.slice(1), 'hex').toString('latin1');
        } else if (/^\.(sp|in|ti|sk|ce|fi|nf)/.test(seq) || /^[HNCM]/.test(seq)) {
          // formatting / highlighting / charset switching: dropped
        } else {
          out += e + seq + e;
        }
    }
    i = end + 1;
  }
  return out;
}

/** Escape a value for a field of a message we build. */
export function escapeHl7(value: string, d: Delimiters = DEFAULT_DELIMITERS): string {
  let out = '';
  for (const ch of value) {
    if (ch === d.escape) out += `${d.escape}E${d.escape}`;
    else if (ch === d.field) out += `${d.escape}F${d.escape}`;
    else if (ch === d.component) out += `${d.escape}S${d.escape}`;
    else if (ch === d.subcomponent) out += `${d.escape}T${d.escape}`;
    else if (ch === d.repetition) out += `${d.escape}R${d.escape}`;
    else if (ch === '\r' || ch === '\n') out += `${d.escape}.br${d.escape}`;
    else out += ch;
  }
  return out;
}

/**
 * A segment's field as repetitions × components (1-based components; raw, still escaped). A field
 * beyond the end of the segment is empty.
 */
export function rawField(seg: Hl7Segment | undefined, n: number): string[][] {
  if (seg === undefined) return [];
  // MSH: fields[0] is the name and getField(n) is fields[n - 1] (MSH-1 is the separator itself)
  const last = seg.name === 'MSH' ? seg.fields.length : seg.fields.length - 1;
  if (n > last || n < 1) return [];
  const f = seg.getField(n);
  const reps = f.components;
  if (reps.length === 1 && reps[0]!.length === 1 && reps[0]![0] === '') return [];
  return reps;
}

/**
 * Component `c` (1-based) of repetition `r` (0-based) of field `n`, sub-component `s` (1-based; 0 = the
 * whole component), unescaped and trimmed; '' when absent.
 */
export function comp(
  seg: Hl7Segment | undefined,
  n: number,
  c = 1,
  r = 0,
  d: Delimiters = DEFAULT_DELIMITERS,
  s = 0,
): string {
  const reps = rawField(seg, n);
  let v = reps[r]?.[c - 1] ?? '';
  if (s > 0) v = v.split(d.subcomponent)[s - 1] ?? '';
  return unescapeHl7(v, d).trim();
}

/** The whole field (first repetition, components joined by the component separator), unescaped. */
export function fieldText(
  seg: Hl7Segment | undefined,
  n: number,
  d: Delimiters = DEFAULT_DELIMITERS,
): string {
  const reps = rawField(seg, n);
  const first = reps[0];
  if (first === undefined) return '';
  return unescapeHl7(first.join(d.component), d).trim();
}

// ------------------------------------------------------------------------------------------ dates

export interface ParsedDtm {
  /** YYYYMMDD */
  date: string;
  /** ISO-8601 UTC instant (when the value has at least a date); times without offset use `defaultOffset` */
  iso: string;
}

const DTM_RE =
  /^(\d{4})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,4}))?)?)?)?)?)?([+-]\d{4})?$/;

/**
 * Parse an HL7 DTM/TS (`YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]`). Undefined when the value is not a
 * valid date/time (month 13, 30 February, hour 25…). `defaultOffset` (`+08:00`) applies without a zone.
 */
export function parseDtm(value: string, defaultOffset = '+08:00'): ParsedDtm | undefined {
  const m = DTM_RE.exec(value.trim());
  if (m === null) return undefined;
  const [, y, mo = '01', d = '01', h = '00', mi = '00', s = '00', frac = '', zone] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  if (month < 1 || month > 12 || day < 1) return undefined;
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (day > daysInMonth) return undefined;
  if (Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) return undefined;
  let offset = defaultOffset;
  if (zone !== undefined) {
    const zh = Number(zone.slice(1, 3));
    const zm = Number(zone.slice(3, 5));
    if (zh > 14 || zm > 59) return undefined;
    offset = `${zone.slice(0, 3)}:${zone.slice(3, 5)}`;
  }
  const ms = frac === '' ? '000' : frac.padEnd(3, '0').slice(0, 3);
  const t = Date.parse(`${y}-${mo}-${d}T${h}:${mi}:${s}.${ms}${offset}`);
  if (Number.isNaN(t)) return undefined;
  return { date: `${y}${mo}${d}`, iso: new Date(t).toISOString() };
}

/** Current time as HL7 DTM with offset, e.g. 20260101120000.123+0800. */
export function nowDtm(now = new Date()): string {
  const off = -now.getTimezoneOffset();
  const local = new Date(now.getTime() + off * 60000);
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  const sign = off >= 0 ? '+' : '-';
  const a = Math.abs(off);
  return (
    `${local.getUTCFullYear()}${p(local.getUTCMonth() + 1)}${p(local.getUTCDate())}` +
    `${p(local.getUTCHours())}${p(local.getUTCMinutes())}${p(local.getUTCSeconds())}.${p(local.getUTCMilliseconds(), 3)}` +
    `${sign}${p(Math.floor(a / 60))}${p(a % 60)}`
  );
}

// ------------------------------------------------------------------------------------------- acks

/** HL7 table 0357 (message error condition codes) used in ERR-3. */
export const HL7_ERROR_TEXT: Readonly<Record<string, string>> = {
  '0': 'Message accepted',
  '100': 'Segment sequence error',
  '101': 'Required field missing',
  '102': 'Data type error',
  '103': 'Table value not found',
  '200': 'Unsupported message type',
  '201': 'Unsupported event code',
  '202': 'Unsupported processing id',
  '203': 'Unsupported version id',
  '204': 'Unknown key identifier',
  '205': 'Duplicate key identifier',
  '206': 'Application record locked',
  '207': 'Application internal error',
};

export interface AckError {
  /** HL7 table 0357 code */
  code: string;
  /** user message (ERR-8, MSA-3) */
  message: string;
  /** ERR-2 error location, e.g. `PID^1^7` */
  location?: string;
}

let ackCounter = 0;

/** A control ID for messages we originate (≤ 20 characters, unique per process and time). */
export function newControlId(prefix = 'HY'): string {
  ackCounter = (ackCounter + 1) % 1_000_000;
  return `${prefix}${Date.now().toString(36).toUpperCase()}${String(ackCounter).padStart(6, '0')}`;
}

/** What we need from the received message's MSH to answer it. */
export interface AckContext {
  sendingApplication: string;
  sendingFacility: string;
  receivingApplication: string;
  receivingFacility: string;
  controlId: string;
  trigger: string;
  processingId: string;
  version: string;
  /** MSH-18 of the acknowledgement ('' = not declared) */
  charset: string;
}

/**
 * Build an acknowledgement (segments separated by CR): MSH (sender/receiver swapped, ACK^trigger^ACK),
 * MSA (code, the message's control ID, text), ERR (2.5: ERR-2 location, ERR-3 code^text^HL70357, ERR-4
 * severity E, ERR-8 user message) when there is an error.
 */
export function buildAck(ctx: AckContext, code: AckCode, error?: AckError): string {
  const e = (v: string): string => escapeHl7(v);
  const msh = [
    'MSH',
    '^~\\&',
    e(ctx.receivingApplication || 'HUIYING'),
    e(ctx.receivingFacility),
    e(ctx.sendingApplication),
    e(ctx.sendingFacility),
    nowDtm(),
    '',
    ctx.trigger !== '' ? `ACK^${e(ctx.trigger)}^ACK` : 'ACK',
    newControlId(),
    e(ctx.processingId || 'P'),
    e(ctx.version || '2.5'),
  ];
  if (ctx.charset !== '') msh.push('', '', '', '', '', e(ctx.charset));
  const text = error === undefined ? '' : error.message;
  const segs = [msh.join('|'), ['MSA', code, e(ctx.controlId), e(text)].join('|')];
  if (error !== undefined) {
    const loc = error.location === undefined ? '' : error.location.split('^').map(e).join('^');
    segs.push(
      [
        'ERR',
        '',
        loc,
        `${error.code}^${e(HL7_ERROR_TEXT[error.code] ?? 'Application error')}^HL70357`,
        'E',
        '',
        '',
        '',
        e(error.message),
      ].join('|'),
    );
  }
  return segs.join('\r');
}

/** A parsed acknowledgement. */
export interface ParsedAck {
  /** MSA-1: AA, AE, AR (or CA, CE, CR) */
  code: string;
  /** MSA-2: the control ID of the acknowledged message */
  ackControlId: string;
  /** MSA-3 */
  text: string;
  /** ERR segments: ERR-3 code and ERR-8 (or ERR-3 text) message */
  errors: { code: string; message: string; location: string }[];
  /** MSH-10 of the acknowledgement */
  controlId: string;
  message: Hl7Message;
}

export function parseAck(text: string): ParsedAck {
  const msg = parseHl7(text);
  const d = delimitersOf(msg);
  const msa = msg.getSegment('MSA');
  if (msa === undefined) throw new Error('the answer has no MSA segment');
  const errors = msg.getAllSegments('ERR').map((err) => ({
    code: comp(err, 3, 1, 0, d) || comp(err, 1, 4, 0, d),
    message: comp(err, 8, 1, 0, d) || comp(err, 3, 2, 0, d) || comp(err, 1, 5, 0, d),
    location: fieldText(err, 2, d),
  }));
  return {
    code: comp(msa, 1, 1, 0, d).toUpperCase(),
    ackControlId: comp(msa, 2, 1, 0, d),
    text: comp(msa, 3, 1, 0, d),
    errors,
    controlId: comp(msg.getSegment('MSH'), 10, 1, 0, d),
    message: msg,
  };
}
