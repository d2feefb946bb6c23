/**
 * DIMSE command set codec (PS3.7 E): group 0000, always Implicit VR Little Endian.
 */

export const CommandField = {
  CStoreRq: 0x0001,
  CStoreRsp: 0x8001,
  CGetRq: 0x0010,
  CGetRsp: 0x8010,
  CFindRq: 0x0020,
  CFindRsp: 0x8020,
  CMoveRq: 0x0021,
  CMoveRsp: 0x8021,
  CEchoRq: 0x0030,
  CEchoRsp: 0x8030,
  NEventReportRq: 0x0100,
  NGetRq: 0x0110,
  NSetRq: 0x0120,
  NActionRq: 0x0130,
  NCreateRq: 0x0140,
  NDeleteRq: 0x0150,
  CCancelRq: 0x0fff,
} as const;

/** Command Data Set Type value meaning "no dataset follows". */
export const NO_DATASET = 0x0101;
/** Any other value means a dataset follows; 0x0000 is customary. */
export const HAS_DATASET = 0x0000;

export const Priority = { Medium: 0x0000, High: 0x0001, Low: 0x0002 } as const;

export interface Command {
  commandField: number;
  commandDataSetType: number;
  messageId?: number;
  messageIdBeingRespondedTo?: number;
  affectedSopClassUid?: string;
  requestedSopClassUid?: string;
  affectedSopInstanceUid?: string;
  requestedSopInstanceUid?: string;
  moveDestination?: string;
  priority?: number;
  status?: number;
  offendingElement?: number[];
  errorComment?: string;
  errorId?: number;
  remaining?: number;
  completed?: number;
  failed?: number;
  warning?: number;
  moveOriginatorAeTitle?: string;
  moveOriginatorMessageId?: number;
}

type Vr = 'US' | 'UI' | 'AE' | 'LO' | 'AT';
type Key = Exclude<keyof Command, never>;

const fields: [element: number, key: Key, vr: Vr][] = [
  [0x0002, 'affectedSopClassUid', 'UI'],
  [0x0003, 'requestedSopClassUid', 'UI'],
  [0x0100, 'commandField', 'US'],
  [0x0110, 'messageId', 'US'],
  [0x0120, 'messageIdBeingRespondedTo', 'US'],
  [0x0600, 'moveDestination', 'AE'],
  [0x0700, 'priority', 'US'],
  [0x0800, 'commandDataSetType', 'US'],
  [0x0900, 'status', 'US'],
  [0x0901, 'offendingElement', 'AT'],
  [0x0902, 'errorComment', 'LO'],
  [0x0903, 'errorId', 'US'],
  [0x1000, 'affectedSopInstanceUid', 'UI'],
  [0x1001, 'requestedSopInstanceUid', 'UI'],
  [0x1020, 'remaining', 'US'],
  [0x1021, 'completed', 'US'],
  [0x1022, 'failed', 'US'],
  [0x1023, 'warning', 'US'],
  [0x1030, 'moveOriginatorAeTitle', 'AE'],
  [0x1031, 'moveOriginatorMessageId', 'US'],
];
const byElement = new Map(fields.map((f) => [f[0], f]));

export class CommandError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CommandError';
  }
}

/** A value as written: a number (US), tags (AT) or the latin1 string before padding (UI, AE, LO). */
function normalize(vr: Vr, v: unknown): number | number[] | string {
  switch (vr) {
    case 'US':
      return Number(v) & 0xffff;
    case 'AT':
      return v as number[];
    case 'UI':
      return String(v);
    case 'AE':
      return String(v).slice(0, 16);
    case 'LO':
      return String(v)
        .replace(/[\\\r\n]/g, ' ')
        .slice(0, 64);
  }
}

/** even value length (strings are padded to even length) */
function valueLength(v: number | number[] | string): number {
  return typeof v === 'number' ? 2 : typeof v === 'string' ? v.length + (v.length & 1) : 4 * v.length;
}

const keys = fields.map((f) => f[1]);
const elements = fields.map((f) => f[0]);
const vrs = fields.map((f) => f[2]);

/** Encode a command set (with its (0000,0000) group length), elements in ascending tag order. */
export function encodeCommand(cmd: Command): Buffer {
  return encodeCommandWithHeadroom(cmd, 0);
}

/**
 * encodeCommand into one buffer with `headroom` free bytes in front (where the caller puts the PDU and
 * PDV headers, so that a response goes out as a single write).
 */
export function encodeCommandWithHeadroom(cmd: Command, headroom: number): Buffer {
  const rec = cmd as unknown as Record<string, unknown>;
  const vals: (number | number[] | string | undefined)[] = [];
  let len = 0;
  for (let i = 0; i < keys.length; i++) {
    const v = rec[keys[i] ?? ''];
    if (v === undefined) {
      vals.push(undefined);
      continue;
    }
    const n = normalize(vrs[i] ?? 'US', v);
    vals.push(n);
    len += 8 + valueLength(n);
  }
  const b = Buffer.allocUnsafe(headroom + 12 + len);
  let off = headroom;
  b.writeUInt32LE(0x00000000, off);
  b.writeUInt32LE(4, off + 4);
  b.writeUInt32LE(len, off + 8);
  off += 12;
  for (let i = 0; i < vals.length; i++) {
    const v = vals[i];
    if (v === undefined) continue;
    const vlen = valueLength(v);
    b.writeUInt16LE(0x0000, off);
    b.writeUInt16LE(elements[i] ?? 0, off + 2);
    b.writeUInt32LE(vlen, off + 4);
    off += 8;
    if (typeof v === 'number') b.writeUInt16LE(v, off);
    else if (typeof v === 'string') {
      // short ASCII strings: a JS loop beats a call into the native latin1 writer
      for (let k = 0; k < v.length; k++) b[off + k] = v.charCodeAt(k) & 0xff;
      if ((v.length & 1) === 1) b[off + v.length] = vrs[i] === 'UI' ? 0x00 : 0x20;
    } else {
      for (let k = 0; k < v.length; k++) {
        const t = v[k] ?? 0;
        b.writeUInt16LE((t >>> 16) & 0xffff, off + 4 * k);
        b.writeUInt16LE(t & 0xffff, off + 4 * k + 2);
      }
    }
    off += vlen;
  }
  return b;
}

/** Decode a command set; unknown group-0000 elements are ignored. Throws CommandError when malformed. */
export function decodeCommand(b: Uint8Array): Command {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  const out: Record<string, unknown> = {};
  let off = 0;
  while (off < buf.length) {
    if (off + 8 > buf.length) throw new CommandError('truncated command element header');
    const group = buf.readUInt16LE(off);
    const el = buf.readUInt16LE(off + 2);
    const len = buf.readUInt32LE(off + 4);
    if (group !== 0x0000)
      throw new CommandError(`element (${group.toString(16)},${el.toString(16)}) in command set`);
    if (off + 8 + len > buf.length) throw new CommandError('command element overruns the command set');
    const v = buf.subarray(off + 8, off + 8 + len);
    off += 8 + len;
    const f = byElement.get(el);
    if (f === undefined) continue;
    const [, key, vr] = f;
    switch (vr) {
      case 'US':
        if (len !== 2)
          throw new CommandError(`bad length ${len} for (0000,${el.toString(16).padStart(4, '0')})`);
        out[key] = v.readUInt16LE(0);
        break;
      case 'AT': {
        const tags: number[] = [];
        for (let i = 0; i + 4 <= len; i += 4)
          tags.push(((v.readUInt16LE(i) << 16) | v.readUInt16LE(i + 2)) >>> 0);
        out[key] = tags;
        break;
      }
      default:
        out[key] = v.toString('latin1').replace(/^[ \0]+|[ \0]+$/g, '');
    }
  }
  if (typeof out.commandField !== 'number') throw new CommandError('command without Command Field');
  if (typeof out.commandDataSetType !== 'number')
    throw new CommandError('command without Command Data Set Type');
  return out as unknown as Command;
}

export function hasDataset(cmd: Command): boolean {
  return cmd.commandDataSetType !== NO_DATASET;
}

export function isResponse(commandField: number): boolean {
  return (commandField & 0x8000) !== 0;
}

/** Pending statuses (0xFF00, 0xFF01). */
export function isPending(status: number): boolean {
  return status === 0xff00 || status === 0xff01;
}

/** Warning statuses (0x0001, 0x0107, 0x0116, 0xBxxx). */
export function isWarning(status: number): boolean {
  return status === 0x0001 || status === 0x0107 || status === 0x0116 || (status & 0xf000) === 0xb000;
}

/** Success, warning or pending. */
export function isSuccessLike(status: number): boolean {
  return status === 0x0000 || isWarning(status) || isPending(status);
}
