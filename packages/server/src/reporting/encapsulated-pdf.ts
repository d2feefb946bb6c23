/**
 * DICOM Encapsulated PDF (SOP Class 1.2.840.10008.5.1.4.1.1.104.1) of a signed report version: same Study
 * Instance UID as the exam's study, one report series per report (modality DOC), one instance per signed
 * version. The UIDs are derived from the report and the version (2.25 + a SHA-256 prefix), so every resend
 * of the same version carries the same SOP Instance UID and a receiver keeps one copy.
 */
import { createHash } from 'node:crypto';
import {
  encodeDataset,
  EXPLICIT_VR_LITTLE_ENDIAN,
  parsePersonName,
  writePart10,
  type DicomJson,
} from '@huiying/dicom';
import type { Exam } from '../ris/model.ts';
import type { ReportVersion } from './model.ts';

export const ENCAPSULATED_PDF_STORAGE = '1.2.840.10008.5.1.4.1.1.104.1';

/** A UID under 2.25 derived from a seed (deterministic, ≤ 44 characters). */
export function derivedUid(seed: string): string {
  const h = createHash('sha256').update(seed, 'utf8').digest();
  // 128 bits, as in a UUID-derived 2.25 UID (PS3.5 B.2)
  const hex = h.subarray(0, 16).toString('hex');
  return `2.25.${BigInt(`0x${hex}`).toString()}`;
}

export function reportSeriesUid(studyUid: string, reportId: number): string {
  return derivedUid(`huiying:report-series:${studyUid}:${reportId}`);
}

export function reportInstanceUid(v: ReportVersion): string {
  return derivedUid(`huiying:report-instance:${v.reportId}:${v.id}:${v.contentHash ?? ''}`);
}

function dicomDate(iso: string, tzOffsetHours = 8): { date: string; time: string } {
  const t = new Date(Date.parse(iso) + tzOffsetHours * 3600_000).toISOString();
  return { date: t.slice(0, 10).replace(/-/g, ''), time: t.slice(11, 19).replace(/:/g, '') };
}

function s(v: string | null | undefined): { Value?: unknown[] } {
  return v === null || v === undefined || v === '' ? {} : { Value: [v] };
}

/** The data set (DICOM JSON model) of the Encapsulated PDF. */
export function encapsulatedPdfDataset(exam: Exam, v: ReportVersion, pdf: Buffer): DicomJson {
  if (exam.studyInstanceUid === null)
    throw new Error(`exam ${exam.accessionNumber} has no linked study; no Encapsulated PDF`);
  const signed = dicomDate(v.signedAt ?? v.updatedAt);
  const studied = dicomDate(exam.examinedAt ?? exam.registeredAt);
  // the value of OB must have even length
  const doc = pdf.length % 2 === 0 ? pdf : Buffer.concat([pdf, Buffer.from([0])]);
  const title =
    v.kind === 'correction'
      ? '影像诊断报告（更正）'
      : v.kind === 'addendum'
        ? '影像诊断报告（补充）'
        : '影像诊断报告';
  return {
    '00080005': { vr: 'CS', Value: ['ISO_IR 192'] },
    '00080012': { vr: 'DA', Value: [signed.date] },
    '00080013': { vr: 'TM', Value: [signed.time] },
    '00080016': { vr: 'UI', Value: [ENCAPSULATED_PDF_STORAGE] },
    '00080018': { vr: 'UI', Value: [reportInstanceUid(v)] },
    '00080020': { vr: 'DA', Value: [studied.date] },
    '00080023': { vr: 'DA', Value: [signed.date] },
    '0008002A': { vr: 'DT', Value: [`${signed.date}${signed.time}`] },
    '00080030': { vr: 'TM', Value: [studied.time] },
    '00080033': { vr: 'TM', Value: [signed.time] },
    '00080050': { vr: 'SH', ...s(exam.accessionNumber) },
    '00080060': { vr: 'CS', Value: ['DOC'] },
    '00080064': { vr: 'CS', Value: ['WSD'] },
    '00080070': { vr: 'LO', Value: ['Huiying'] },
    '00080090': { vr: 'PN' },
    '00081030': {
      vr: 'LO',
      ...s(
        exam.examItems
          .map((i) => i.name)
          .join('、')
          .slice(0, 64),
      ),
    },
    '0008103E': { vr: 'LO', Value: ['影像诊断报告'] },
    '00100010': { vr: 'PN', Value: [parsePersonName(exam.patient.name)] },
    '00100020': { vr: 'LO', Value: [exam.patient.patientId] },
    '00100021': { vr: 'LO', ...s(exam.patient.issuer) },
    '00100030': { vr: 'DA', ...s(exam.patient.birthDate) },
    '00100040': { vr: 'CS', ...s(exam.patient.sex) },
    '0020000D': { vr: 'UI', Value: [exam.studyInstanceUid] },
    '0020000E': { vr: 'UI', Value: [reportSeriesUid(exam.studyInstanceUid, v.reportId)] },
    '00200010': { vr: 'SH' },
    '00200011': { vr: 'IS', Value: [9000] },
    '00200013': { vr: 'IS', Value: [v.number] },
    '00280301': { vr: 'CS', Value: ['YES'] },
    '0040A043': { vr: 'SQ' },
    '00420010': { vr: 'ST', Value: [title] },
    '00420011': { vr: 'OB', InlineBinary: doc.toString('base64') },
    '00420012': { vr: 'LO', Value: ['application/pdf'] },
  };
}

/** A Part-10 file (for the archive). */
export function encapsulatedPdfPart10(exam: Exam, v: ReportVersion, pdf: Buffer): Uint8Array {
  return writePart10(encapsulatedPdfDataset(exam, v, pdf), EXPLICIT_VR_LITTLE_ENDIAN, {
    charset: 'ISO_IR 192',
  });
}

/** The data set alone in a transfer syntax (for C-STORE). */
export function encapsulatedPdfDatasetBytes(
  exam: Exam,
  v: ReportVersion,
  pdf: Buffer,
  transferSyntax: string,
): Uint8Array {
  return encodeDataset(encapsulatedPdfDataset(exam, v, pdf), { transferSyntax, charset: 'ISO_IR 192' });
}
