/**
 * Everything needed to print or deliver one report version: the version, its report and exam, the
 * hospital, the header configuration (or the default one) and the addenda to print; and the PDF.
 */
import type { Hospital, HospitalRepository } from '../archive/ports.ts';
import { HuiyingError } from '../errors.ts';
import type { Exam } from '../ris/model.ts';
import type { RisService } from '../ris/ports.ts';
import { defaultHeader, type Report, type ReportHeaderConfig, type ReportVersion } from './model.ts';
import { renderReportPdf } from './pdf.ts';
import type { ReportStore } from './ports.ts';

export interface VersionDocument {
  version: ReportVersion;
  report: Report;
  exam: Exam;
  hospital: Hospital;
  header: ReportHeaderConfig;
  addenda: ReportVersion[];
}

export interface DocumentDeps {
  store: ReportStore;
  ris: Pick<RisService, 'getExam'>;
  hospitals: HospitalRepository;
}

export async function headerFor(store: ReportStore, hospital: Hospital): Promise<ReportHeaderConfig> {
  return (await store.header(hospital.id)) ?? defaultHeader(hospital.id, hospital.name);
}

export async function loadVersionDocument(deps: DocumentDeps, versionId: number): Promise<VersionDocument> {
  const version = await deps.store.version(versionId);
  if (version === undefined) throw new HuiyingError('not-found', `no report version ${versionId}`);
  const report = await deps.store.byId(version.reportId);
  if (report === undefined) throw new HuiyingError('not-found', `no report ${version.reportId}`);
  const exam = await deps.ris.getExam(report.examId, { kind: 'all' });
  const hospital = await deps.hospitals.byId(report.hospitalId);
  if (hospital === undefined) throw new HuiyingError('not-found', `no hospital ${report.hospitalId}`);
  const all = await deps.store.versions(report.id);
  // addenda signed after the newest final/correction up to this version
  const base = all
    .filter((v) => (v.kind === 'final' || v.kind === 'correction') && v.number <= version.number)
    .pop();
  const addenda = all.filter(
    (v) =>
      v.kind === 'addendum' && v.number <= version.number && (base === undefined || v.number > base.number),
  );
  return { version, report, exam, hospital, header: await headerFor(deps.store, hospital), addenda };
}

export function renderDocument(d: VersionDocument): Promise<Buffer> {
  return renderReportPdf({ header: d.header, exam: d.exam, version: d.version, addenda: d.addenda });
}
