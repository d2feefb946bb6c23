/**
 * DICOM Part 10 files: File Meta Information (group 0002) reading and writing, and detection of
 * data sets stored without preamble / File Meta.
 */
import { randomUUID } from 'node:crypto';
import { decodeDatasetDetailed, encodeDataset, type DicomJson } from './codec.ts';
import { DicomParseError } from './errors.ts';
import { EXPLICIT_VR_BIG_ENDIAN, EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN } from './uids.ts';

/** Implementation Class UID of Huiying (a 2.25 UUID-derived UID, PS3.5 B.2). */
export const HUIYING_IMPLEMENTATION_CLASS_UID = '2.25.160712498317626470592342217133232374786';
export const HUIYING_IMPLEMENTATION_VERSION_NAME = 'HUIYING_010';

export interface FileMeta {
  /**
   * transfer syntax of the data set: (0002,0010), or — for files without File Meta or without (0002,0010)
   * — the one guessed from the data set (then `transferSyntaxInferred` is true)
   */
  transferSyntaxUid: string;
  transferSyntaxInferred: boolean;
  mediaStorageSopClassUid?: string;
  mediaStorageSopInstanceUid?: string;
  implementationClassUid?: string;
  implementationVersionName?: string;
  sourceApplicationEntityTitle?: string;
  /** (0002,0000) as written (not trusted for parsing: the group is read element by element) */
  groupLength?: number;
  /** all group 0002 elements */
  elements: DicomJson;
}

export interface Part10Info {
  meta: FileMeta;
  /** offset of the first data set byte */
  datasetOffset: number;
  hasPreamble: boolean;
  hasFileMeta: boolean;
  /** transfer syntax of the data set: from the File Meta, or inferred from the data set's first bytes */
  transferSyntaxUid: string;
  transferSyntaxInferred: boolean;
}

const KNOWN_VRS =
  /^(AE|AS|AT|CS|DA|DS|DT|FD|FL|IS|LO|LT|OB|OD|OF|OL|OV|OW|PN|SH|SL|SQ|SS|ST|SV|TM|UC|UI|UL|UN|UR|US|UT|UV)$/;

function str(json: DicomJson, key: string): string | undefined {
  const v = json[key]?.Value?.[0];
  return typeof v === 'string' ? v : undefined;
}

/**
 * Guess the encoding of a raw data set (no File Meta) from its first element: explicit when bytes 4–5
 * are a VR, big endian when the group reads smaller as BE. The first group must look like the start of
 * a data set (0000–0030 group numbers; ACR-NEMA files start with (0008,0000) or (0008,0005)…), else the
 * input is rejected as not DICOM.
 */
export function guessRawTransferSyntax(bytes: Uint8Array, offset = 0, afterFileMeta = false): string {
  if (bytes.length - offset < 8) {
    throw new DicomParseError('not a DICOM data set: fewer than 8 bytes', { offset, truncated: true });
  }
  const gLE = bytes[offset]! | (bytes[offset + 1]! << 8);
  const gBE = (bytes[offset]! << 8) | bytes[offset + 1]!;
  const vr = String.fromCharCode(bytes[offset + 4]!, bytes[offset + 5]!);
  const explicit = KNOWN_VRS.test(vr);
  const le = !explicit || gLE <= gBE;
  const group = le ? gLE : gBE;
  if (!afterFileMeta && (group > 0x0030 || group % 2 === 1)) {
    throw new DicomParseError(
      `not a DICOM file: no "DICM" marker and the first bytes are not a data set (group 0x${group.toString(16)})`,
      { offset },
    );
  }
  if (!explicit) return IMPLICIT_VR_LITTLE_ENDIAN;
  return le ? EXPLICIT_VR_LITTLE_ENDIAN : EXPLICIT_VR_BIG_ENDIAN;
}

/**
 * Read the preamble and File Meta of a Part 10 file (or a prefix of it). Handles files without
 * preamble (`DICM` at 0 or group 0002 at 0) and raw data sets without File Meta (the transfer syntax is
 * then guessed, see {@link guessRawTransferSyntax}). The File Meta is read element by element while the
 * group is 0002 — (0002,0000) is not trusted (it is often wrong). A File Meta without Transfer Syntax UID
 * also falls back to guessing. Throws {@link DicomParseError}.
 */
export function readPart10(buffer: Uint8Array): Part10Info {
  if (buffer.length === 0) throw new DicomParseError('empty file', { offset: 0, truncated: true });
  const magicAt = (o: number): boolean =>
    buffer.length >= o + 4 &&
    buffer[o] === 0x44 &&
    buffer[o + 1] === 0x49 &&
    buffer[o + 2] === 0x43 &&
    buffer[o + 3] === 0x4d;
  let off = 0;
  let hasPreamble = false;
  if (magicAt(128)) {
    off = 132;
    hasPreamble = true;
  } else if (magicAt(0)) {
    off = 4;
  } else if (buffer.length < 132 && buffer.length >= 128) {
    throw new DicomParseError('file ends inside the preamble', { offset: buffer.length, truncated: true });
  }
  let elements: DicomJson = {};
  let datasetOffset = off;
  const startsWithMeta = buffer.length >= off + 2 && buffer[off] === 0x02 && buffer[off + 1] === 0x00;
  if (startsWithMeta) {
    const r = decodeDatasetDetailed(buffer, {
      transferSyntax: EXPLICIT_VR_LITTLE_ENDIAN,
      offset: off,
      onlyGroup: 0x0002,
    });
    elements = r.dataset;
    datasetOffset = r.endOffset;
  } else if (hasPreamble && buffer.length - off < 8) {
    throw new DicomParseError('file has a preamble and "DICM" but no File Meta and no data set', {
      offset: off,
      truncated: true,
    });
  }
  const meta: FileMeta = { elements, transferSyntaxUid: '', transferSyntaxInferred: false };
  const set = <K extends keyof FileMeta>(k: K, v: FileMeta[K] | undefined): void => {
    if (v !== undefined) meta[k] = v;
  };
  set('mediaStorageSopClassUid', str(elements, '00020002'));
  set('mediaStorageSopInstanceUid', str(elements, '00020003'));
  set('implementationClassUid', str(elements, '00020012'));
  set('implementationVersionName', str(elements, '00020013'));
  set('sourceApplicationEntityTitle', str(elements, '00020016'));
  const gl = elements['00020000']?.Value?.[0];
  if (typeof gl === 'number') meta.groupLength = gl;
  let ts = str(elements, '00020010');
  let inferred = false;
  if (!ts) {
    if (datasetOffset >= buffer.length) {
      throw new DicomParseError('no data set after the File Meta (and no Transfer Syntax UID)', {
        offset: datasetOffset,
        truncated: true,
      });
    }
    ts = guessRawTransferSyntax(buffer, datasetOffset, startsWithMeta);
    inferred = true;
  }
  meta.transferSyntaxUid = ts;
  meta.transferSyntaxInferred = inferred;
  return {
    meta,
    datasetOffset,
    hasPreamble,
    hasFileMeta: startsWithMeta,
    transferSyntaxUid: ts,
    transferSyntaxInferred: inferred,
  };
}

export interface FileMetaOptions {
  sopClassUid: string;
  sopInstanceUid: string;
  transferSyntaxUid: string;
  sourceAeTitle?: string;
  implementationClassUid?: string;
  implementationVersionName?: string;
}

/**
 * 128-byte zero preamble + `DICM` + File Meta group 0002 (explicit VR LE, with a correct (0002,0000)).
 * Prepend it to a data set received over the network (in the same transfer syntax) to get a Part 10 file.
 */
export function buildFileMeta(o: FileMetaOptions): Uint8Array {
  const json: DicomJson = {
    '00020001': { vr: 'OB', InlineBinary: Buffer.from([0, 1]).toString('base64') },
    '00020002': { vr: 'UI', Value: [o.sopClassUid] },
    '00020003': { vr: 'UI', Value: [o.sopInstanceUid] },
    '00020010': { vr: 'UI', Value: [o.transferSyntaxUid] },
    '00020012': { vr: 'UI', Value: [o.implementationClassUid ?? HUIYING_IMPLEMENTATION_CLASS_UID] },
    '00020013': { vr: 'SH', Value: [o.implementationVersionName ?? HUIYING_IMPLEMENTATION_VERSION_NAME] },
  };
  if (o.sourceAeTitle) json['00020016'] = { vr: 'AE', Value: [o.sourceAeTitle] };
  const body = encodeDataset(json, {
    transferSyntax: EXPLICIT_VR_LITTLE_ENDIAN,
    charset: '',
    includeFileMetaGroup: true,
  });
  const out = new Uint8Array(132 + 12 + body.length);
  out.set([0x44, 0x49, 0x43, 0x4d], 128);
  const dv = new DataView(out.buffer);
  dv.setUint16(132, 0x0002, true);
  dv.setUint16(134, 0x0000, true);
  out[136] = 0x55; // 'U'
  out[137] = 0x4c; // 'L'
  dv.setUint16(138, 4, true);
  dv.setUint32(140, body.length, true);
  out.set(body, 144);
  return out;
}

/**
 * A complete Part 10 file from a DICOM JSON data set (for fixtures and small objects). `ts` is implicit
 * or explicit VR LE (the data set is encoded with {@link encodeDataset}); SOP Class/Instance UIDs come
 * from (0008,0016)/(0008,0018).
 */
export function writePart10(
  json: DicomJson,
  ts: string = EXPLICIT_VR_LITTLE_ENDIAN,
  options: { charset?: string; sourceAeTitle?: string } = {},
): Uint8Array {
  const sopClassUid = str(json, '00080016');
  const sopInstanceUid = str(json, '00080018');
  if (!sopClassUid || !sopInstanceUid)
    throw new Error('writePart10: SOPClassUID and SOPInstanceUID are required');
  const meta = buildFileMeta({
    sopClassUid,
    sopInstanceUid,
    transferSyntaxUid: ts,
    ...(options.sourceAeTitle ? { sourceAeTitle: options.sourceAeTitle } : {}),
  });
  const ds = encodeDataset(json, {
    transferSyntax: ts,
    ...(options.charset !== undefined ? { charset: options.charset } : {}),
  });
  const out = new Uint8Array(meta.length + ds.length);
  out.set(meta);
  out.set(ds, meta.length);
  return out;
}

/** A new UID under the 2.25 (UUID-derived) root, PS3.5 B.2. */
export function makeUid(): string {
  return `2.25.${BigInt(`0x${randomUUID().replace(/-/g, '')}`).toString()}`;
}
