/**
 * The reporting REST API as the web application sees it (packages/server/src/reporting/routes.ts,
 * docs/reporting.md). The JSON shapes are type-only imports of the server's domain model, so the contract
 * cannot drift; every URL of the reporting API is written in this file only.
 */
import { api, ApiError } from '../api.ts';
import type {
  ChannelKind,
  DeliveryChannel,
  HeaderField,
  OutboxEntry,
  OutboxState,
  Phrase,
  Report,
  ReportContent,
  ReportHeaderConfig,
  ReportStatus,
  ReportTemplate,
  ReportVersion,
  TemplateScope,
  VersionKind,
} from '../../../server/src/reporting/model.ts';
import type { DiffPart } from '../../../server/src/reporting/diff.ts';

export type {
  ChannelKind,
  DeliveryChannel,
  DiffPart,
  HeaderField,
  OutboxEntry,
  OutboxState,
  Phrase,
  Report,
  ReportContent,
  ReportHeaderConfig,
  ReportStatus,
  ReportTemplate,
  ReportVersion,
  TemplateScope,
  VersionKind,
};

/** mirror of HEADER_FIELDS in the server's model (order = print order) */
export const HEADER_FIELDS: readonly HeaderField[] = [
  'patientName',
  'sex',
  'age',
  'patientId',
  'accessionNumber',
  'modality',
  'bodyPart',
  'examItems',
  'requestingDepartment',
  'requestingPhysician',
  'patientClass',
  'clinicalDiagnosis',
  'examDate',
  'reportDate',
];
export const SIGNED_KINDS: readonly VersionKind[] = ['final', 'addendum', 'correction'];
export const OUTBOX_STATES: readonly OutboxState[] = ['pending', 'delivering', 'delivered', 'failed'];

export interface VersionDiff {
  findings: DiffPart[];
  impression: DiffPart[];
  recommendation: DiffPart[];
}

/** a version with its diff against the previous one (GET …/report/versions) */
export interface VersionWithDiff extends ReportVersion {
  diff: VersionDiff | null;
  hashValid: boolean | null;
}

export interface ReportState {
  report: Report | null;
  examStatus: string;
  may: { write: boolean; review: boolean; sign: boolean };
  /** for a report not yet submitted: will the submission need a review? */
  reviewRequired: boolean | null;
}

export interface RevisionStats {
  examId: number;
  reportId: number;
  preliminary: ReportVersion | null;
  final: ReportVersion | null;
  modified: boolean;
  findingsRatio: number;
  impressionRatio: number;
  overallRatio: number;
  returns: number;
}

const base = (examId: number): string => `/api/exams/${examId}/report`;

export const reportApi = {
  get: (examId: number) => api<ReportState>('GET', base(examId)),
  saveDraft: (examId: number, version: number | undefined, content: Partial<ReportContent>) =>
    api<{ report: Report }>('PUT', `${base(examId)}/draft`, {
      ...(version !== undefined ? { version } : {}),
      ...content,
    }),
  submit: (examId: number, version: number) =>
    api<{ report: Report; signed: ReportVersion | null; reviewRequired: boolean }>(
      'POST',
      `${base(examId)}/submit`,
      { version },
    ),
  approve: (examId: number, version: number, edits: Partial<ReportContent>) =>
    api<{ report: Report; signed: ReportVersion }>('POST', `${base(examId)}/approve`, { version, ...edits }),
  returnReport: (examId: number, version: number, opinion: string) =>
    api<{ report: Report }>('POST', `${base(examId)}/return`, { version, opinion }),
  addendum: (examId: number, version: number, text: string) =>
    api<{ report: Report; signed: ReportVersion }>('POST', `${base(examId)}/addendum`, { version, text }),
  correction: (examId: number, version: number, content: Partial<ReportContent>, reason: string) =>
    api<{ report: Report; signed: ReportVersion }>('POST', `${base(examId)}/correction`, {
      version,
      reason,
      ...content,
    }),
  versions: (examId: number) =>
    api<{ report: Report; versions: VersionWithDiff[] }>('GET', `${base(examId)}/versions`),
  diff: (examId: number, from: number, to: number) =>
    api<VersionDiff & { from: ReportVersion; to: ReportVersion }>(
      'GET',
      `${base(examId)}/diff?from=${from}&to=${to}`,
    ),
  revision: (examId: number) => api<RevisionStats>('GET', `${base(examId)}/revision`),
  /** the PDF (a signed version, the newest signed one, or a watermarked preview of the draft) */
  pdfUrl: (examId: number, versionNumber?: number) =>
    `${base(examId)}/pdf${versionNumber !== undefined ? `?version=${versionNumber}` : ''}`,

  templates: (q: { modality?: string | null; bodyPart?: string | null; hospitalId?: number } = {}) => {
    const p = new URLSearchParams();
    if (q.modality != null && q.modality !== '') p.set('modality', q.modality);
    if (q.bodyPart != null && q.bodyPart !== '') p.set('bodyPart', q.bodyPart);
    if (q.hospitalId !== undefined) p.set('hospitalId', String(q.hospitalId));
    const qs = p.toString();
    return api<{ templates: ReportTemplate[] }>('GET', `/api/report-templates${qs !== '' ? `?${qs}` : ''}`);
  },
  createTemplate: (t: TemplateBody) => api<{ template: ReportTemplate }>('POST', '/api/report-templates', t),
  updateTemplate: (id: number, t: Partial<TemplateBody>) =>
    api<{ template: ReportTemplate }>('PATCH', `/api/report-templates/${id}`, t),
  deleteTemplate: (id: number) => api<undefined>('DELETE', `/api/report-templates/${id}`),
  phrases: () => api<{ phrases: Phrase[] }>('GET', '/api/report-phrases'),
  createPhrase: (p: { scope: TemplateScope; hospitalId?: number; category: string; text: string }) =>
    api<{ phrase: Phrase }>('POST', '/api/report-phrases', p),
  deletePhrase: (id: number) => api<undefined>('DELETE', `/api/report-phrases/${id}`),

  header: (hospitalId: number) =>
    api<{ header: ReportHeaderConfig; fields: HeaderField[] }>(
      'GET',
      `/api/admin/hospitals/${hospitalId}/report-header`,
    ),
  setHeader: (
    hospitalId: number,
    h: { lines: string[]; logoPngBase64: string | null; fields: HeaderField[]; footer: string },
  ) => api<{ header: ReportHeaderConfig }>('PUT', `/api/admin/hospitals/${hospitalId}/report-header`, h),

  outbox: (q: { state?: OutboxState[]; hospitalId?: number; limit?: number; offset?: number }) => {
    const p = new URLSearchParams();
    if (q.state !== undefined && q.state.length > 0) p.set('state', q.state.join(','));
    if (q.hospitalId !== undefined) p.set('hospitalId', String(q.hospitalId));
    p.set('limit', String(q.limit ?? 100));
    if (q.offset !== undefined) p.set('offset', String(q.offset));
    return api<{ entries: OutboxEntry[] }>('GET', `/api/admin/delivery/outbox?${p.toString()}`);
  },
  retry: (id: number) => api<{ entry: OutboxEntry }>('POST', `/api/admin/delivery/outbox/${id}/retry`),
  channels: (hospitalId?: number) =>
    api<{ channels: DeliveryChannel[] }>(
      'GET',
      `/api/admin/delivery/channels${hospitalId !== undefined ? `?hospitalId=${hospitalId}` : ''}`,
    ),
};

export interface TemplateBody {
  scope: TemplateScope;
  hospitalId?: number;
  modality: string | null;
  bodyPart: string | null;
  name: string;
  findings: string;
  impression: string;
  recommendation: string;
}

export const isConflict = (err: unknown): boolean => err instanceof ApiError && err.status === 409;

/** The server's bilingual messages are "中文 — English": show the part for the current language. */
export function localMessage(err: unknown, lang: string): string {
  const msg = err instanceof Error ? err.message : String(err);
  const i = msg.indexOf(' — ');
  if (i < 0) return msg;
  return lang === 'en' ? msg.slice(i + 3) : msg.slice(0, i);
}

export function contentOf(v: ReportVersion | null | undefined): ReportContent {
  return {
    findings: v?.findings ?? '',
    impression: v?.impression ?? '',
    recommendation: v?.recommendation ?? '',
    positive: v?.positive ?? false,
    critical: v?.critical ?? false,
    structured: v?.structured ?? {},
  };
}

export function sameContent(a: ReportContent, b: ReportContent): boolean {
  return (
    a.findings === b.findings &&
    a.impression === b.impression &&
    a.recommendation === b.recommendation &&
    a.positive === b.positive &&
    a.critical === b.critical &&
    JSON.stringify(a.structured) === JSON.stringify(b.structured)
  );
}
