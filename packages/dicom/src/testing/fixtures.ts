/**
 * Test fixtures: realistic Part 10 files built in memory with the package's own encoder, so tests of any
 * package can make DICOM files (incl. Chinese character sets) without ../shared/dicom-samples.
 * Import from `@huiying/dicom/testing`.
 */
import type { DicomJson } from '../codec.ts';
import { encodeDataset } from '../codec.ts';
import { buildFileMeta, makeUid } from '../part10.ts';
import { EXPLICIT_VR_LITTLE_ENDIAN } from '../uids.ts';

export { makeUid } from '../part10.ts';

const MODALITY_SOP_CLASS: Record<string, string> = {
  CT: '1.2.840.10008.5.1.4.1.1.2',
  MR: '1.2.840.10008.5.1.4.1.1.4',
  CR: '1.2.840.10008.5.1.4.1.1.1',
  DX: '1.2.840.10008.5.1.4.1.1.1.1',
  MG: '1.2.840.10008.5.1.4.1.1.1.2',
  US: '1.2.840.10008.5.1.4.1.1.6.1',
  NM: '1.2.840.10008.5.1.4.1.1.20',
  PT: '1.2.840.10008.5.1.4.1.1.128',
  XA: '1.2.840.10008.5.1.4.1.1.12.1',
  OT: '1.2.840.10008.5.1.4.1.1.7',
};

export interface MakeInstanceOptions {
  /** full DICOM form, e.g. `Zhang^San=张^三` */
  patientName?: string;
  patientId?: string;
  issuerOfPatientId?: string;
  patientBirthDate?: string;
  patientSex?: string;
  studyUid?: string;
  seriesUid?: string;
  sopUid?: string;
  /** default from modality (CT → CT Image Storage…), Secondary Capture otherwise */
  sopClassUid?: string;
  modality?: string;
  /** (0008,0005): 'ISO_IR 192' | 'GB18030' | 'GBK' | '\\ISO 2022 IR 58' (or 'ISO 2022 IR 58') | 'ISO_IR 100' | … */
  charset?: string;
  studyDate?: string;
  studyTime?: string;
  studyDescription?: string;
  seriesDescription?: string;
  accessionNumber?: string;
  institutionName?: string;
  referringPhysicianName?: string;
  bodyPartExamined?: string;
  studyId?: string;
  seriesNumber?: number;
  instanceNumber?: number;
  rows?: number;
  cols?: number;
  frames?: number;
  /** 8 or 16 (default 16) */
  bitsAllocated?: number;
  /** implicit or explicit VR LE (default explicit) */
  transferSyntax?: string;
  /** raw native pixel bytes (default: a deterministic gradient of the right size) */
  pixelBytes?: Uint8Array;
  /** extra/override elements in the JSON model */
  extra?: DicomJson;
  sourceAeTitle?: string;
}

function s(v: string | undefined): { Value?: unknown[] } {
  return v === undefined || v === '' ? {} : { Value: [v] };
}

/** The data set (JSON model) of {@link makeInstance}, without pixel data encoding concerns. */
export function makeDataset(o: MakeInstanceOptions = {}): DicomJson {
  const modality = o.modality ?? 'CT';
  const rows = o.rows ?? 8;
  const cols = o.cols ?? 8;
  const frames = o.frames ?? 1;
  const bits = o.bitsAllocated ?? 16;
  const bytesPerPixel = bits / 8;
  const size = rows * cols * frames * bytesPerPixel;
  let pixels = o.pixelBytes;
  if (!pixels) {
    pixels = new Uint8Array(size);
    for (let i = 0; i < size; i++) pixels[i] = (i * 7 + (i >> 8)) & 0xff;
  }
  const studyUid = o.studyUid ?? makeUid();
  const ds: DicomJson = {
    '00080008': { vr: 'CS', Value: ['ORIGINAL', 'PRIMARY', 'AXIAL'] },
    '00080016': {
      vr: 'UI',
      Value: [o.sopClassUid ?? MODALITY_SOP_CLASS[modality] ?? MODALITY_SOP_CLASS.OT!],
    },
    '00080018': { vr: 'UI', Value: [o.sopUid ?? makeUid()] },
    '00080020': { vr: 'DA', ...s(o.studyDate ?? '20260101') },
    '00080030': { vr: 'TM', ...s(o.studyTime ?? '120000') },
    '00080050': { vr: 'SH', ...s(o.accessionNumber) },
    '00080060': { vr: 'CS', Value: [modality] },
    '00080070': { vr: 'LO', Value: ['HUIYING TEST'] },
    '00080080': { vr: 'LO', ...s(o.institutionName) },
    '00080090': {
      vr: 'PN',
      ...(o.referringPhysicianName ? { Value: [pnObject(o.referringPhysicianName)] } : {}),
    },
    '00081030': { vr: 'LO', ...s(o.studyDescription) },
    '0008103E': { vr: 'LO', ...s(o.seriesDescription) },
    '00100010': { vr: 'PN', ...(o.patientName ? { Value: [pnObject(o.patientName)] } : {}) },
    '00100020': { vr: 'LO', ...s(o.patientId ?? 'TEST001') },
    '00100030': { vr: 'DA', ...s(o.patientBirthDate) },
    '00100040': { vr: 'CS', ...s(o.patientSex) },
    '00180015': { vr: 'CS', ...s(o.bodyPartExamined) },
    '0020000D': { vr: 'UI', Value: [studyUid] },
    '0020000E': { vr: 'UI', Value: [o.seriesUid ?? makeUid()] },
    '00200010': { vr: 'SH', ...s(o.studyId ?? '1') },
    '00200011': { vr: 'IS', Value: [o.seriesNumber ?? 1] },
    '00200013': { vr: 'IS', Value: [o.instanceNumber ?? 1] },
    '00280002': { vr: 'US', Value: [1] },
    '00280004': { vr: 'CS', Value: ['MONOCHROME2'] },
    '00280010': { vr: 'US', Value: [rows] },
    '00280011': { vr: 'US', Value: [cols] },
    '00280100': { vr: 'US', Value: [bits] },
    '00280101': { vr: 'US', Value: [bits === 16 ? 12 : 8] },
    '00280102': { vr: 'US', Value: [bits === 16 ? 11 : 7] },
    '00280103': { vr: 'US', Value: [0] },
    '7FE00010': { vr: bits === 8 ? 'OB' : 'OW', InlineBinary: Buffer.from(pixels).toString('base64') },
  };
  if (frames > 1) ds['00280008'] = { vr: 'IS', Value: [frames] };
  if (o.issuerOfPatientId) ds['00100021'] = { vr: 'LO', Value: [o.issuerOfPatientId] };
  if (o.charset !== undefined && o.charset !== '') {
    ds['00080005'] = {
      vr: 'CS',
      Value: o.charset.startsWith('ISO 2022 IR 58')
        ? [null, o.charset]
        : o.charset.split('\\').map((v) => v || null),
    };
  }
  Object.assign(ds, o.extra ?? {});
  return ds;
}

function pnObject(pn: string): { Alphabetic?: string; Ideographic?: string; Phonetic?: string } {
  const [a, i, p] = pn.split('=');
  const o: { Alphabetic?: string; Ideographic?: string; Phonetic?: string } = {};
  if (a) o.Alphabetic = a;
  if (i) o.Ideographic = i;
  if (p) o.Phonetic = p;
  return o;
}

/**
 * A complete Part 10 file (preamble, File Meta, data set, native pixel data) for tests. Text is written in
 * `charset` (default: ISO_IR 192 when any text is non-ASCII). Note: `'ISO 2022 IR 58'` is written as the
 * conformant `\ISO 2022 IR 58` (first value empty = ASCII) with ESC $ ) A before each GB 2312 run.
 */
export function makeInstance(o: MakeInstanceOptions = {}): Uint8Array {
  const ds = makeDataset(o);
  const ts = o.transferSyntax ?? EXPLICIT_VR_LITTLE_ENDIAN;
  const charsetValue = ds['00080005']?.Value?.map((v) => (typeof v === 'string' ? v : '')).join('\\');
  const body = encodeDataset(ds, {
    transferSyntax: ts,
    ...(charsetValue !== undefined ? { charset: charsetValue } : {}),
  });
  const meta = buildFileMeta({
    sopClassUid: ds['00080016']!.Value![0] as string,
    sopInstanceUid: ds['00080018']!.Value![0] as string,
    transferSyntaxUid: ts,
    ...(o.sourceAeTitle ? { sourceAeTitle: o.sourceAeTitle } : {}),
  });
  const out = new Uint8Array(meta.length + body.length);
  out.set(meta);
  out.set(body, meta.length);
  return out;
}

/** Chinese fixtures: 张^三 in GB18030, 王小明 in GBK, 张^小东 in ISO 2022 IR 58 (with escapes). */
export const CHINESE_FIXTURES = {
  gb18030: (o: MakeInstanceOptions = {}): Uint8Array =>
    makeInstance({
      patientName: 'Zhang^San=张^三',
      patientId: 'SD000001',
      institutionName: '南方医科大学顺德医院',
      studyDescription: '胸部CT平扫',
      modality: 'CT',
      charset: 'GB18030',
      ...o,
    }),
  gbk: (o: MakeInstanceOptions = {}): Uint8Array =>
    makeInstance({
      patientName: '王小明',
      patientId: 'SD000002',
      referringPhysicianName: '欧阳^喆',
      studyDescription: '头颅MRI平扫+增强',
      modality: 'MR',
      charset: 'GBK',
      ...o,
    }),
  iso2022ir58: (o: MakeInstanceOptions = {}): Uint8Array =>
    makeInstance({
      patientName: 'Zhang^XiaoDong=张^小东',
      patientId: 'SD000003',
      studyDescription: '膝关节 正侧位',
      modality: 'CR',
      charset: '\\ISO 2022 IR 58',
      ...o,
    }),
  utf8: (o: MakeInstanceOptions = {}): Uint8Array =>
    makeInstance({
      patientName: 'Li^Si=李^四',
      patientId: 'SD000004',
      modality: 'MR',
      charset: 'ISO_IR 192',
      ...o,
    }),
};
