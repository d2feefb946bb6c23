/**
 * FHIR R4 DiagnosticReport for a signed report version, referencing the ImagingStudy (Study Instance UID)
 * and the ServiceRequest (accession number, placer order number) by identifier, with the PDF as
 * presentedForm. It is pushed with a conditional create (`If-None-Exist` on the version identifier), so a
 * resend after a lost answer never creates a second resource.
 */
import type { DiagnosticReport, Identifier, Reference, ServiceRequest } from '@medplum/fhirtypes';
import type { Exam } from '../ris/model.ts';
import type { ReportVersion } from './model.ts';
import { displayName } from './pdf.ts';
import { EXT, hospitalSystem, patientSystemOf } from '../fhir/systems.ts';

export const REPORT_VERSION_SYSTEM = 'urn:huiying:report-version';
export const REPORT_SYSTEM = 'urn:huiying:report';

function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function buildDiagnosticReport(
  exam: Exam,
  hospitalCode: string,
  v: ReportVersion,
  key: string,
  pdf?: Buffer,
): DiagnosticReport {
  const accession: Identifier = {
    type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'ACSN' }] },
    system: hospitalSystem(hospitalCode, 'accession'),
    value: exam.accessionNumber,
  };
  const basedOn: Reference<ServiceRequest>[] = [{ type: 'ServiceRequest', identifier: accession }];
  if (exam.placerOrderNumber !== null)
    basedOn.push({
      type: 'ServiceRequest',
      identifier: {
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'PLAC' }] },
        system: hospitalSystem(hospitalCode, 'placer'),
        value: exam.placerOrderNumber,
      },
    });
  const html = [
    `<div xmlns="http://www.w3.org/1999/xhtml">`,
    `<h3>影像所见</h3><p>${escapeXml(v.findings).replace(/\n/g, '<br/>')}</p>`,
    `<h3>诊断意见</h3><p>${escapeXml(v.impression).replace(/\n/g, '<br/>')}</p>`,
    v.recommendation !== ''
      ? `<h3>建议</h3><p>${escapeXml(v.recommendation).replace(/\n/g, '<br/>')}</p>`
      : '',
    v.addendum !== null ? `<h3>补充</h3><p>${escapeXml(v.addendum).replace(/\n/g, '<br/>')}</p>` : '',
    `</div>`,
  ].join('');
  return {
    resourceType: 'DiagnosticReport',
    language: 'zh-CN',
    identifier: [
      { system: REPORT_VERSION_SYSTEM, value: key },
      { system: REPORT_SYSTEM, value: String(v.reportId) },
    ],
    basedOn,
    status: v.kind === 'final' ? 'final' : v.kind === 'addendum' ? 'appended' : 'corrected',
    category: [
      {
        coding: [
          { system: 'http://terminology.hl7.org/CodeSystem/v2-0074', code: 'RAD', display: 'Radiology' },
        ],
      },
    ],
    code: {
      coding: [{ system: 'http://loinc.org', code: '18748-4', display: 'Diagnostic imaging study' }],
      text: exam.examItems.map((i) => i.name).join('、'),
    },
    subject: {
      type: 'Patient',
      identifier: {
        system: patientSystemOf(exam.patient.issuer, hospitalCode),
        value: exam.patient.patientId,
      },
      display: displayName(exam.patient.name),
    },
    ...(exam.examinedAt !== null ? { effectiveDateTime: exam.examinedAt } : {}),
    ...(v.signedAt !== null ? { issued: v.signedAt } : {}),
    performer: v.signedBy === null ? [] : [{ display: v.signedBy.name }],
    resultsInterpreter: [{ display: v.author.name }],
    ...(exam.studyInstanceUid !== null
      ? {
          imagingStudy: [
            {
              type: 'ImagingStudy',
              identifier: { system: 'urn:dicom:uid', value: `urn:oid:${exam.studyInstanceUid}` },
            },
          ],
        }
      : {}),
    conclusion: v.impression,
    extension: [
      { url: `${EXT}report-positive`, valueBoolean: v.positive },
      { url: `${EXT}report-critical`, valueBoolean: v.critical },
      ...(v.reason !== null ? [{ url: `${EXT}correction-reason`, valueString: v.reason }] : []),
    ],
    text: { status: 'generated', div: html },
    ...(pdf !== undefined
      ? {
          presentedForm: [
            {
              contentType: 'application/pdf',
              language: 'zh-CN',
              title: '影像诊断报告',
              data: pdf.toString('base64'),
            },
          ],
        }
      : {}),
  };
}
