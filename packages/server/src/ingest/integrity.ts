/**
 * Integrity checks on a received instance before it is accepted, beyond the header parse:
 *  - structure: the Pixel Data element (and anything after it) must fit in the file; encapsulated pixel
 *    data must be a well-formed item sequence ending with a Sequence Delimitation Item. Only element and
 *    item headers are read (positional reads), never the pixel data itself.
 *  - values (strict mode): UIDs made of digits and dots, IS/DS values that are numbers.
 * Returns the list of problems (empty = fine).
 */
import { open } from 'node:fs/promises';
import { isValidUid, type DicomJson, type HeaderResult } from '@huiying/dicom';

const IMPLICIT_LE = '1.2.840.10008.1.2';
const EXPLICIT_BE = '1.2.840.10008.1.2.2';
const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);
const MAX_ITEMS = 1_000_000;

/** Random access to the received bytes: a file, or a buffer for instances received in memory. */
export interface ByteSource {
  size: number;
  /** n bytes at pos into a shared scratch buffer, or undefined past the end */
  readAt(pos: number, n: number): Promise<Buffer | undefined>;
}

export async function checkStructure(source: string | Buffer, header: HeaderResult): Promise<string[]> {
  if (header.pixelDataOffset === undefined) return []; // the whole data set was parsed by the header reader
  if (typeof source !== 'string') {
    const buf = source;
    return checkFrom(
      {
        size: buf.length,
        readAt: (pos, n) => Promise.resolve(pos + n <= buf.length ? buf.subarray(pos, pos + n) : undefined),
      },
      header,
    );
  }
  const fh = await open(source, 'r');
  try {
    const size = (await fh.stat()).size;
    const scratch = Buffer.alloc(12);
    return await checkFrom(
      {
        size,
        async readAt(pos, n) {
          if (pos + n > size) return undefined;
          const { bytesRead } = await fh.read(scratch, 0, n, pos);
          return bytesRead === n ? scratch : undefined;
        },
      },
      header,
    );
  } finally {
    await fh.close();
  }
}

async function checkFrom(src: ByteSource, header: HeaderResult): Promise<string[]> {
  const start = header.pixelDataOffset ?? src.size;
  const ts = header.transferSyntaxUid;
  const implicit = ts === IMPLICIT_LE;
  const le = ts !== EXPLICIT_BE;
  const size = src.size;
  const readAt = (pos: number, n: number): Promise<Buffer | undefined> => src.readAt(pos, n);
  let pos = start;
  let first = true;
  while (pos < size) {
    const h = await readAt(pos, 8);
    if (h === undefined) return [`element header cut at offset ${pos}`];
    const group = le ? h.readUInt16LE(0) : h.readUInt16BE(0);
    const element = le ? h.readUInt16LE(2) : h.readUInt16BE(2);
    const tag = `(${group.toString(16).padStart(4, '0')},${element.toString(16).padStart(4, '0')})`;
    let len: number;
    let valueStart: number;
    if (implicit) {
      len = h.readUInt32LE(4);
      valueStart = pos + 8;
    } else {
      const vr = h.toString('latin1', 4, 6);
      if (!/^[A-Z]{2}$/.test(vr)) return [`invalid VR at ${tag} (offset ${pos})`];
      if (LONG_VRS.has(vr)) {
        const h2 = await readAt(pos + 8, 4);
        if (h2 === undefined) return [`element header of ${tag} cut`];
        len = le ? h2.readUInt32LE(0) : h2.readUInt32BE(0);
        valueStart = pos + 12;
      } else {
        len = le ? h.readUInt16LE(6) : h.readUInt16BE(6);
        valueStart = pos + 8;
      }
    }
    if (len === 0xffffffff) {
      if (!first || group !== 0x7fe0) return []; // undefined-length trailing element: not checked further
      const end = await checkFragments(readAt, valueStart, le);
      if (typeof end === 'string') return [end];
      pos = end;
    } else {
      if (valueStart + len > size) {
        return [
          `${first ? 'pixel data' : tag} truncated: declares ${len} bytes, ${size - valueStart} remain`,
        ];
      }
      pos = valueStart + len;
    }
    first = false;
  }
  return [];
}

async function checkFragments(
  readAt: (pos: number, n: number) => Promise<Buffer | undefined>,
  start: number,
  le: boolean,
): Promise<number | string> {
  let pos = start;
  for (let i = 0; i < MAX_ITEMS; i++) {
    const h = await readAt(pos, 8);
    if (h === undefined) return 'encapsulated pixel data truncated (no sequence delimiter)';
    const group = le ? h.readUInt16LE(0) : h.readUInt16BE(0);
    const element = le ? h.readUInt16LE(2) : h.readUInt16BE(2);
    const len = le ? h.readUInt32LE(4) : h.readUInt32BE(4);
    if (group === 0xfffe && element === 0xe0dd) return pos + 8;
    if (group !== 0xfffe || element !== 0xe000) {
      return `malformed encapsulated pixel data: unexpected tag (${group.toString(16)},${element.toString(16)}) at item ${i}`;
    }
    if (len === 0xffffffff) return `pixel data fragment ${i} has undefined length`;
    const next = pos + 8 + len;
    if ((await readAt(next, 0)) === undefined) return `pixel data fragment ${i} truncated`;
    pos = next;
  }
  return 'too many pixel data fragments';
}

/** Value-level checks of the decoded header (strict ingest). */
export function checkValues(ds: DicomJson, path = ''): string[] {
  const problems: string[] = [];
  for (const [tag, el] of Object.entries(ds)) {
    const where = `${path}(${tag.slice(0, 4)},${tag.slice(4)})`;
    const values = el.Value ?? [];
    if (el.vr === 'SQ') {
      values.forEach((item, i) => {
        if (item !== null && typeof item === 'object')
          problems.push(...checkValues(item as DicomJson, `${where}[${i}]`));
      });
    } else if (el.vr === 'UI') {
      for (const v of values) {
        if (typeof v === 'string' && v !== '' && !isValidUid(v))
          problems.push(`${where} UI '${String(v).slice(0, 70)}' is not a valid UID`);
      }
    } else if (el.vr === 'IS' || el.vr === 'DS') {
      for (const v of values) {
        if (typeof v === 'string' && v.trim() !== '' && !Number.isFinite(Number(v)))
          problems.push(`${where} ${el.vr} '${v.slice(0, 20)}' is not a number`);
      }
    }
    if (problems.length >= 5) break;
  }
  return problems;
}
