/**
 * Header reading for indexing: File Meta + data set up to (not including) Pixel Data, decoded to the
 * DICOM JSON model, plus the index attributes. Pixel data is never read into memory: a file is read
 * incrementally (64 KiB first, then ×4) until the data set reaches (7FE0,0008) Float Pixel Data,
 * (7FE0,0009) Double Float Pixel Data or (7FE0,0010) Pixel Data, or ends; a header larger than
 * `maxHeaderSize` (64 MiB) is an error.
 */
import { open } from 'node:fs/promises';
import { decodeDatasetDetailed, formatPersonName, type DicomJson } from './codec.ts';
import { DicomParseError } from './errors.ts';
import type { InstanceAttributes } from './index-attributes.ts';
import { readPart10, type FileMeta } from './part10.ts';
import { isValidUid, transferSyntaxInfo } from './uids.ts';

export interface HeaderOptions {
  /** per-hospital default charset (e.g. 'GB18030'), see charset.ts `repairDecision` */
  defaultCharset?: string;
  /** first read size for files (default 64 KiB) */
  initialReadSize?: number;
  /** largest header accepted (default 64 MiB) */
  maxHeaderSize?: number;
  /** binary values longer than this are left out of `dataset` (default 64 KiB) */
  maxInlineBinary?: number;
  /** check the four UIDs (default true) */
  validate?: boolean;
}

export interface HeaderResult {
  meta: FileMeta;
  transferSyntaxUid: string;
  transferSyntaxInferred: boolean;
  /** the data set without pixel data */
  dataset: DicomJson;
  attributes: InstanceAttributes;
  /** true when text was decoded with `defaultCharset` instead of the declared charset */
  charsetRepaired: boolean;
  /** offset of the data set in the file */
  datasetOffset: number;
  /** file offset of the pixel data element, when the data set reached one (not for deflated syntaxes) */
  pixelDataOffset?: number;
  /** bytes of the file that were read */
  bytesRead: number;
}

/** The instance lacks or has malformed identifying UIDs. `problems` lists each one. */
export class InvalidInstanceError extends DicomParseError {
  override name = 'InvalidInstanceError';
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`not indexable: ${problems.join('; ')}`);
    this.problems = problems;
  }
}

class NeedMore extends Error {}

const PIXEL_STOP = 0x7fe00008;

function parseHeader(buf: Uint8Array, complete: boolean, o: HeaderOptions): HeaderResult {
  let p10;
  try {
    p10 = readPart10(buf);
  } catch (e) {
    if (!complete && e instanceof DicomParseError && e.truncated) throw new NeedMore();
    throw e;
  }
  const ts = transferSyntaxInfo(p10.transferSyntaxUid);
  let r;
  try {
    r = decodeDatasetDetailed(buf, {
      transferSyntax: p10.transferSyntaxUid,
      offset: p10.datasetOffset,
      stopBeforeTag: PIXEL_STOP,
      maxInlineBinary: o.maxInlineBinary ?? 64 * 1024,
      partialDeflate: !complete,
      ...(o.defaultCharset ? { defaultCharset: o.defaultCharset } : {}),
    });
  } catch (e) {
    if (!complete && e instanceof DicomParseError && (e.truncated || ts.deflated)) throw new NeedMore();
    throw e;
  }
  if (!complete && !r.stoppedAt) throw new NeedMore();
  const attributes = extractIndexAttributes(r.dataset, p10.meta, o.validate ?? true);
  const result: HeaderResult = {
    meta: p10.meta,
    transferSyntaxUid: p10.transferSyntaxUid,
    transferSyntaxInferred: p10.transferSyntaxInferred,
    dataset: r.dataset,
    attributes,
    charsetRepaired: r.charsetRepaired,
    datasetOffset: p10.datasetOffset,
    bytesRead: buf.length,
  };
  if (r.stoppedAt && !ts.deflated) result.pixelDataOffset = r.stoppedAt.offset;
  return result;
}

/**
 * Read the header from an in-memory buffer. `complete` (default true) says the buffer is the whole
 * file; with `complete: false` (a prefix) a header that does not end inside the buffer throws
 * {@link DicomParseError} with `truncated: true`.
 */
export function readHeaderFromBuffer(
  buf: Uint8Array,
  options: HeaderOptions & { complete?: boolean } = {},
): HeaderResult {
  try {
    return parseHeader(buf, options.complete ?? true, options);
  } catch (e) {
    if (e instanceof NeedMore) {
      throw new DicomParseError('header does not end within the given bytes', {
        offset: buf.length,
        truncated: true,
      });
    }
    throw e;
  }
}

/** Read the header of a file, incrementally (see module comment). */
export async function readHeader(path: string, options: HeaderOptions = {}): Promise<HeaderResult> {
  const fh = await open(path, 'r');
  try {
    const size = (await fh.stat()).size;
    const cap = options.maxHeaderSize ?? 64 * 1024 * 1024;
    let want = Math.min(size, options.initialReadSize ?? 64 * 1024);
    let buf: Buffer = Buffer.alloc(0);
    for (;;) {
      if (want > buf.length) {
        const next = Buffer.allocUnsafe(want);
        buf.copy(next);
        let pos = buf.length;
        while (pos < want) {
          const { bytesRead } = await fh.read(next, pos, want - pos, pos);
          if (bytesRead === 0) break;
          pos += bytesRead;
        }
        buf = next.subarray(0, pos);
      }
      const complete = buf.length >= size;
      try {
        return parseHeader(buf, complete, options);
      } catch (e) {
        if (!(e instanceof NeedMore)) throw e;
        if (buf.length >= cap) {
          throw new DicomParseError(
            `header is larger than ${cap} bytes (no pixel data found before the cap)`,
            {
              offset: buf.length,
            },
          );
        }
        want = Math.min(size, cap, buf.length * 4);
      }
    }
  } finally {
    await fh.close();
  }
}

// ---------------------------------------------------------------------------------------------

const ATTRS: [keyof InstanceAttributes, string][] = [
  ['PatientID', '00100020'],
  ['IssuerOfPatientID', '00100021'],
  ['PatientName', '00100010'],
  ['PatientBirthDate', '00100030'],
  ['PatientBirthTime', '00100032'],
  ['PatientSex', '00100040'],
  ['OtherPatientIDs', '00101000'],
  ['StudyInstanceUID', '0020000D'],
  ['StudyDate', '00080020'],
  ['StudyTime', '00080030'],
  ['AccessionNumber', '00080050'],
  ['StudyID', '00200010'],
  ['StudyDescription', '00081030'],
  ['ReferringPhysicianName', '00080090'],
  ['InstitutionName', '00080080'],
  ['PatientAge', '00101010'],
  ['PatientSize', '00101020'],
  ['PatientWeight', '00101030'],
  ['SeriesInstanceUID', '0020000E'],
  ['Modality', '00080060'],
  ['SeriesNumber', '00200011'],
  ['SeriesDescription', '0008103E'],
  ['SeriesDate', '00080021'],
  ['SeriesTime', '00080031'],
  ['BodyPartExamined', '00180015'],
  ['StationName', '00081010'],
  ['Manufacturer', '00080070'],
  ['PerformedProcedureStepStartDate', '00400244'],
  ['PerformedProcedureStepStartTime', '00400245'],
  ['SOPInstanceUID', '00080018'],
  ['SOPClassUID', '00080016'],
  ['InstanceNumber', '00200013'],
  ['ContentDate', '00080023'],
  ['ContentTime', '00080033'],
  ['AcquisitionDate', '00080022'],
  ['NumberOfFrames', '00280008'],
  ['Rows', '00280010'],
  ['Columns', '00280011'],
  ['BitsAllocated', '00280100'],
  ['SpecificCharacterSet', '00080005'],
];

function valueString(v: unknown, vr: string): string {
  if (v === null || v === undefined) return '';
  if (vr === 'PN') return formatPersonName(v);
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint') return v.toString();
  return JSON.stringify(v);
}

/** The element as one string: values joined with `\` (PN in `A=I=P` form); '' when present but empty. */
export function elementString(json: DicomJson, key: string): string | undefined {
  const el = json[key];
  if (!el) return undefined;
  if (el.vr === 'SQ' || !el.Value) return '';
  return el.Value.map((v) => valueString(v, el.vr)).join('\\');
}

/**
 * Index attributes of an instance (see InstanceAttributes). PN in full `A=I=P` form; multi-valued
 * elements joined with `\`; IssuerOfAccessionNumber from (0008,0051) item 1 (0040,0031). SOP Class /
 * Instance UID fall back to the File Meta's Media Storage UIDs when the data set lacks them.
 * With `validate` (default), throws {@link InvalidInstanceError} listing every missing or malformed UID
 * of SOP Class, SOP Instance, Study Instance and Series Instance UID (≤ 64 chars, digits and dots).
 */
export function extractIndexAttributes(
  json: DicomJson,
  meta?: FileMeta,
  validate = true,
): InstanceAttributes {
  const out: Record<string, string> = {};
  for (const [name, key] of ATTRS) {
    const v = elementString(json, key);
    if (v !== undefined) out[name] = v;
  }
  if (!out.SOPClassUID && meta?.mediaStorageSopClassUid) out.SOPClassUID = meta.mediaStorageSopClassUid;
  if (!out.SOPInstanceUID && meta?.mediaStorageSopInstanceUid)
    out.SOPInstanceUID = meta.mediaStorageSopInstanceUid;
  const issuer = json['00080051']?.Value?.[0] as DicomJson | undefined;
  if (issuer) {
    const v = elementString(issuer, '00400031');
    if (v !== undefined) out.IssuerOfAccessionNumber = v;
  }
  if (validate) {
    const problems: string[] = [];
    for (const name of ['SOPClassUID', 'SOPInstanceUID', 'StudyInstanceUID', 'SeriesInstanceUID']) {
      const v = out[name];
      if (v === undefined || v === '') problems.push(`${name} missing`);
      else if (!isValidUid(v))
        problems.push(`${name} is not a valid UID: ${JSON.stringify(String(v).slice(0, 80))}`);
    }
    if (problems.length) throw new InvalidInstanceError(problems);
  }
  return out as unknown as InstanceAttributes;
}
