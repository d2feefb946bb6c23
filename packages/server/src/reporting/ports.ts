/**
 * What the reporting service needs from outside: its store (reporting/repository.ts over Kysely), the
 * workflow (RisService: exams, states, policy), user names, and a clock. Errors are HuiyingError.
 */
import type {
  ChannelConfig,
  ChannelKind,
  DeliveryChannel,
  OutboxEntry,
  OutboxState,
  Phrase,
  Report,
  ReportContent,
  ReportHeaderConfig,
  ReportTemplate,
  ReportVersion,
  TemplateInput,
  TemplateScope,
  VersionKind,
} from './model.ts';
import type { RisService } from '../ris/ports.ts';

/** A version row to insert (signed or draft). */
export interface NewVersion extends ReportContent {
  kind: VersionKind;
  addendum: string | null;
  author: { userId: number; name: string };
  reviewer: { userId: number; name: string } | null;
  reviewOpinion: string | null;
  signedBy: { userId: number; name: string } | null;
  signedAt: string | null;
  /** computed by the store once the number is known (the hash covers the number) */
  hash?: (number: number) => string;
  reason: string | null;
  basedOn: number | null;
}

/** An outbox row to create with a signed version. */
export interface NewOutbox {
  channelId: number | null;
  channelKind: ChannelKind | 'archive';
  target: string;
  /** the key suffix; the full key is `<version id>:<suffix>` */
  keySuffix: string;
}

export interface OutboxQuery {
  hospitalIds?: number[];
  state?: OutboxState[];
  reportId?: number;
  limit?: number;
  offset?: number;
}

export interface ReportStore {
  byExam(examId: number): Promise<Report | undefined>;
  byId(reportId: number): Promise<Report | undefined>;
  version(versionId: number): Promise<ReportVersion | undefined>;
  versions(reportId: number): Promise<ReportVersion[]>;
  /** a new report with its first draft; conflict when the exam already has a report */
  create(examId: number, hospitalId: number, draft: NewVersion, now: string): Promise<Report>;
  /** replace the working draft's content; conflict on a stale version or when there is no draft */
  updateDraft(
    reportId: number,
    expectedVersion: number,
    content: ReportContent,
    author: { userId: number; name: string },
    now: string,
  ): Promise<Report>;
  /** add a working draft to a report that has none (after a return) */
  addDraft(reportId: number, expectedVersion: number, draft: NewVersion, now: string): Promise<Report>;
  /** draft → preliminary (frozen); report → preliminary */
  submitDraft(reportId: number, expectedVersion: number, authorId: number, now: string): Promise<Report>;
  /** preliminary → signing (claim before the exam transition) */
  setStatus(
    reportId: number,
    expectedVersion: number,
    from: readonly string[],
    to: 'draft' | 'preliminary' | 'signing' | 'signed',
    now: string,
  ): Promise<Report>;
  /** insert a signed version + its outbox rows, report → signed, in one transaction */
  insertSigned(
    reportId: number,
    expectedVersion: number,
    v: NewVersion,
    outbox: NewOutbox[],
    now: string,
  ): Promise<{ report: Report; version: ReportVersion }>;

  templates(q: {
    hospitalId?: number;
    ownerId?: number;
    modality?: string;
    bodyPart?: string;
  }): Promise<ReportTemplate[]>;
  template(id: number): Promise<ReportTemplate | undefined>;
  createTemplate(t: TemplateInput & { ownerId: number | null }, now: string): Promise<ReportTemplate>;
  updateTemplate(id: number, t: Partial<TemplateInput>, now: string): Promise<ReportTemplate>;
  deleteTemplate(id: number): Promise<void>;
  phrases(q: { hospitalId?: number; ownerId?: number }): Promise<Phrase[]>;
  phrase(id: number): Promise<Phrase | undefined>;
  createPhrase(
    p: {
      scope: TemplateScope;
      hospitalId: number | null;
      ownerId: number | null;
      category: string;
      text: string;
    },
    now: string,
  ): Promise<Phrase>;
  deletePhrase(id: number): Promise<void>;

  header(hospitalId: number): Promise<ReportHeaderConfig | undefined>;
  setHeader(h: Omit<ReportHeaderConfig, 'updatedAt'>, by: string, now: string): Promise<ReportHeaderConfig>;

  channels(hospitalId?: number): Promise<DeliveryChannel[]>;
  channel(id: number): Promise<DeliveryChannel | undefined>;
  createChannel(
    c: { hospitalId: number; kind: ChannelKind; name: string; config: ChannelConfig; enabled: boolean },
    now: string,
  ): Promise<DeliveryChannel>;
  updateChannel(
    id: number,
    c: Partial<{ name: string; config: ChannelConfig; enabled: boolean }>,
    now: string,
  ): Promise<DeliveryChannel>;
  deleteChannel(id: number): Promise<void>;

  outbox(q: OutboxQuery): Promise<OutboxEntry[]>;
  outboxEntry(id: number): Promise<OutboxEntry | undefined>;
  /** failed/pending → pending now (administrator retry) */
  retryOutbox(id: number, now: string): Promise<OutboxEntry>;
}

/** The part of the workflow reporting uses. */
export type ReportingRis = Pick<RisService, 'getExam' | 'transition' | 'policy'>;
