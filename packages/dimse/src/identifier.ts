/**
 * The one dataset the network layer writes itself: the identifier of a final C-MOVE/C-GET response
 * holding Failed SOP Instance UID List (0008,0058), in the context's transfer syntax.
 */
import { TransferSyntax } from './uids.ts';

const isImplicit = (ts: string): boolean => ts === TransferSyntax.ImplicitVRLittleEndian;
const isBigEndian = (ts: string): boolean => ts === TransferSyntax.ExplicitVRBigEndian;

/** Encode (0008,0058) UI with the given UIDs (truncated to fit a 16-bit length in explicit VR). */
export function encodeFailedUidList(uids: string[], transferSyntax: string): Buffer {
  let value = '';
  for (const u of uids) {
    const next = value === '' ? u : `${value}\\${u}`;
    if (!isImplicit(transferSyntax) && next.length > 65534) break;
    value = next;
  }
  if (value.length % 2 === 1) value += '\0';
  const v = Buffer.from(value, 'latin1');
  if (isImplicit(transferSyntax)) {
    const h = Buffer.alloc(8);
    h.writeUInt16LE(0x0008, 0);
    h.writeUInt16LE(0x0058, 2);
    h.writeUInt32LE(v.length, 4);
    return Buffer.concat([h, v]);
  }
  const h = Buffer.alloc(8);
  const be = isBigEndian(transferSyntax);
  if (be) {
    h.writeUInt16BE(0x0008, 0);
    h.writeUInt16BE(0x0058, 2);
  } else {
    h.writeUInt16LE(0x0008, 0);
    h.writeUInt16LE(0x0058, 2);
  }
  h.write('UI', 4, 'latin1');
  if (be) h.writeUInt16BE(v.length, 6);
  else h.writeUInt16LE(v.length, 6);
  return Buffer.concat([h, v]);
}

const longVrs = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);

/**
 * Failed SOP Instance UID List from a (flat, little endian) identifier; undefined when absent or when
 * the identifier cannot be walked (undefined lengths before the element).
 */
export function readFailedUidList(ds: Uint8Array, transferSyntax: string): string[] | undefined {
  if (isBigEndian(transferSyntax)) return undefined;
  const b = Buffer.from(ds.buffer, ds.byteOffset, ds.byteLength);
  const implicit = isImplicit(transferSyntax);
  let off = 0;
  while (off + 8 <= b.length) {
    const group = b.readUInt16LE(off);
    const el = b.readUInt16LE(off + 2);
    let len: number;
    let hdr: number;
    if (implicit) {
      len = b.readUInt32LE(off + 4);
      hdr = 8;
    } else {
      const vr = b.toString('latin1', off + 4, off + 6);
      if (longVrs.has(vr)) {
        if (off + 12 > b.length) return undefined;
        len = b.readUInt32LE(off + 8);
        hdr = 12;
      } else {
        len = b.readUInt16LE(off + 6);
        hdr = 8;
      }
    }
    if (len === 0xffffffff || off + hdr + len > b.length) return undefined;
    if (group === 0x0008 && el === 0x0058) {
      const s = b.toString('latin1', off + hdr, off + hdr + len).replace(/[\0 ]+$/, '');
      return s === '' ? [] : s.split('\\');
    }
    if (group > 0x0008) return undefined;
    off += hdr + len;
  }
  return undefined;
}
