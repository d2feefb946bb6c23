/**
 * Reporting domain model: a report per exam, its versions (draft → preliminary → final, then addenda and
 * corrections), templates, phrases, the per-hospital report header and delivery channels.
 *
 * Life cycle (exam state in brackets, changed through RisService.transition):
 *   draft (matched) ──submit──► preliminary (reported) ──approve+sign──► final (reviewed)
 *                                     │ return with 审查意见 → new draft (matched) → resubmit
 *   draft (matched) ──submit, review not required, author may sign──► preliminary + final (reviewed)
 *   final ──addendum (补充) / correction (更正, reason)──► new signed version (exam stays reviewed)
 *
 * A version other than the working draft never changes (API and database triggers).
 */
import { createHash } from 'node:crypto';

export const VERSION_KINDS = ['draft', 'preliminary', 'final', 'addendum', 'correction'] as const;
export type VersionKind = (typeof VERSION_KINDS)[number];
export const SIGNED_KINDS: readonly VersionKind[] = ['final', 'addendum', 'correction'];

/** draft: being written; preliminary: submitted, awaiting review; signing: approval in progress;
 *  signed: a signed version exists */
export type ReportStatus = 'draft' | 'preliminary' | 'signing' | 'signed';

/** The editable content of a report. */
export interface ReportContent {
  /** 影像所见 */
  findings: string;
  /** 诊断意见 */
  impression: string;
  /** 建议 */
  recommendation: string;
  /** 阳性 */
  positive: boolean;
  /** 危急值 */
  critical: boolean;
  /** structured fields (e.g. BI-RADS, Lung-RADS), a flat JSON object */
  structured: Record<string, unknown>;
}

export interface ReportVersion extends ReportContent {
  id: number;
  reportId: number;
  number: number;
  kind: VersionKind;
  addendum: string | null;
  author: { userId: number; name: string };
  reviewer: { userId: number; name: string } | null;
  /** 审查意见 (on the draft that a return created) */
  reviewOpinion: string | null;
  signedBy: { userId: number; name: string } | null;
  signedAt: string | null;
  contentHash: string | null;
  /** why (correction) */
  reason: string | null;
  basedOn: number | null;
  createdAt: string;
  updatedAt: string;
}

export interface Report {
  id: number;
  examId: number;
  hospitalId: number;
  status: ReportStatus;
  authorId: number | null;
  positive: boolean;
  critical: boolean;
  /** optimistic lock: every change increments it */
  version: number;
  createdAt: string;
  updatedAt: string;
  submittedAt: string | null;
  signedAt: string | null;
  /** the working draft, if any */
  draft: ReportVersion | null;
  /** the newest version (draft included) */
  current: ReportVersion | null;
  /** the newest signed version */
  signed: ReportVersion | null;
}

/** The user doing something in reporting (from the session caller). */
export interface Reporter {
  userId: number;
  name: string;
  grade: string | null;
  /** privileges from the grade rules (write_preliminary, review, sign) */
  privileges: readonly string[];
  /** holds center_radiologist (reporting actions need it) */
  radiologist: boolean;
  /** for attribution in the exam history / audit */
  source?: string;
}

export const EMPTY_CONTENT: ReportContent = {
  findings: '',
  impression: '',
  recommendation: '',
  positive: false,
  critical: false,
  structured: {},
};

/** JSON with sorted keys (stable hashing). */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
    .join(',')}}`;
}

/** What a signature covers: the exam, the version's identity and content, the signer and the time. */
export interface SignedContent extends ReportContent {
  examId: number;
  reportId: number;
  number: number;
  kind: VersionKind;
  addendum: string | null;
  reason: string | null;
  signedBy: number;
  signedAt: string;
}

export function contentHash(c: SignedContent): string {
  return createHash('sha256').update(canonicalJson(c), 'utf8').digest('hex');
}

/** Recompute a signed version's hash (verification). */
export function signedContentOf(examId: number, v: ReportVersion): SignedContent | undefined {
  if (v.signedBy === null || v.signedAt === null) return undefined;
  return {
    examId,
    reportId: v.reportId,
    number: v.number,
    kind: v.kind,
    findings: v.findings,
    impression: v.impression,
    recommendation: v.recommendation,
    positive: v.positive,
    critical: v.critical,
    structured: v.structured,
    addendum: v.addendum,
    reason: v.reason,
    signedBy: v.signedBy.userId,
    signedAt: v.signedAt,
  };
}

// ------------------------------------------------------------------------------------- templates

export type TemplateScope = 'center' | 'hospital' | 'personal';

export interface ReportTemplate {
  id: number;
  scope: TemplateScope;
  hospitalId: number | null;
  ownerId: number | null;
  modality: string | null;
  bodyPart: string | null;
  name: string;
  findings: string;
  impression: string;
  recommendation: string;
  createdAt: string;
  updatedAt: string;
}

export type TemplateInput = Pick<
  ReportTemplate,
  'scope' | 'modality' | 'bodyPart' | 'name' | 'findings' | 'impression' | 'recommendation'
> & { hospitalId?: number | null };

export interface Phrase {
  id: number;
  scope: TemplateScope;
  hospitalId: number | null;
  ownerId: number | null;
  category: string;
  text: string;
  createdAt: string;
}

// ---------------------------------------------------------------------------------------- header

/** Patient / exam fields the header may show, in this order. */
export const HEADER_FIELDS = [
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
] as const;
export type HeaderField = (typeof HEADER_FIELDS)[number];

export interface ReportHeaderConfig {
  hospitalId: number;
  /** title lines, first one largest: e.g. ["陈村医院", "区域医学影像诊断中心", "CT 检查报告单"] */
  lines: string[];
  /** PNG, base64 (no data: prefix), ≤ 256 KiB */
  logoPngBase64: string | null;
  fields: HeaderField[];
  footer: string;
  updatedAt: string | null;
}

export function defaultHeader(hospitalId: number, hospitalName: string): ReportHeaderConfig {
  return {
    hospitalId,
    lines: [hospitalName, '区域医学影像诊断中心', '影像诊断报告单'],
    logoPngBase64: null,
    fields: [
      'patientName',
      'sex',
      'age',
      'patientId',
      'accessionNumber',
      'modality',
      'examItems',
      'requestingDepartment',
      'examDate',
      'reportDate',
    ],
    footer: '本报告仅供临床参考，需结合临床。 This report is for clinical reference only.',
    updatedAt: null,
  };
}

// -------------------------------------------------------------------------------------- delivery

export type ChannelKind = 'hl7' | 'fhir' | 'dicom';

export interface Hl7ChannelConfig {
  host: string;
  port: number;
  /** GB18030 | UTF-8 (default: the hospital's default charset, else UTF-8) */
  charset?: string;
  receivingApplication?: string;
  receivingFacility?: string;
}

export interface FhirChannelConfig {
  /** base URL, e.g. https://his.example/fhir */
  baseUrl: string;
  /** sent as Authorization header value, e.g. "Bearer abc" */
  authorization?: string;
}

export interface DicomChannelConfig {
  /** a registered AE of the hospital (host + port) */
  aeTitle: string;
}

export type ChannelConfig = Hl7ChannelConfig | FhirChannelConfig | DicomChannelConfig;

export interface DeliveryChannel {
  id: number;
  hospitalId: number;
  kind: ChannelKind;
  name: string;
  config: ChannelConfig;
  enabled: boolean;
  createdAt: string;
  updatedAt: string;
}

export type OutboxState = 'pending' | 'delivering' | 'delivered' | 'failed';

export interface OutboxEntry {
  id: number;
  reportVersionId: number;
  reportId: number;
  hospitalId: number;
  channelId: number | null;
  channelKind: ChannelKind | 'archive';
  target: string;
  idempotencyKey: string;
  state: OutboxState;
  attempts: number;
  nextAt: string;
  leaseUntil: string | null;
  lastError: string | null;
  receipt: string | null;
  ackedAt: string | null;
  createdAt: string;
  updatedAt: string;
}
