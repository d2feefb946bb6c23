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

function encodeValue(vr: Vr, v: unknown): Buffer {
  switch (vr) {
    case 'US': {
      const b = Buffer.alloc(2);
      b.writeUInt16LE(Number(v) & 0xffff, 0);
      return b;
    }
    case 'AT': {
      const tags = v as number[];
      const b = Buffer.alloc(4 * tags.length);
      tags.forEach((t, i) => {
        b.writeUInt16LE((t >>> 16) & 0xffff, 4 * i);
        b.writeUInt16LE(t & 0xffff, 4 * i + 2);
      });
      return b;
    }
    case 'UI': {
      const s = String(v);
      return Buffer.from(s.length % 2 === 1 ? s + '\0' : s, 'latin1');
    }
    case 'AE':
    case 'LO': {
      let s = String(v);
      if (vr === 'AE') s = s.slice(0, 16);
      else s = s.replace(/[\\\r\n]/g, ' ').slice(0, 64);
      return Buffer.from(s.length % 2 === 1 ? s + ' ' : s, 'latin1');
    }
  }
}

/** Encode a command set (with its (0000,0000) group length), elements in ascending tag order. */
export function encodeCommand(cmd: Command): Buffer {
  const parts: Buffer[] = [];
  let len = 0;
  const rec = cmd as unknown as Record<string, unknown>;
  for (const [el, key, vr] of fields) {
    const v = rec[key];
    if (v === undefined) continue;
    const value = encodeValue(vr, v);
    const h = Buffer.alloc(8);
    h.writeUInt16LE(0x0000, 0);
    h.writeUInt16LE(el, 2);
    h.writeUInt32LE(value.length, 4);
    parts.push(h, value);
    len += 8 + value.length;
  }
  const gl = Buffer.alloc(12);
  gl.writeUInt32LE(0x00000000, 0);
  gl.writeUInt32LE(4, 4);
  gl.writeUInt32LE(len, 8);
  return Buffer.concat([gl, ...parts], 12 + len);
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
