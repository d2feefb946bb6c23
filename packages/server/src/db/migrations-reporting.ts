/**
 * Migration `0007_reporting`: reports, their versions, templates, phrases, the per-hospital report header,
 * delivery channels and the durable delivery outbox (see reporting/model.ts and docs/reporting.md).
 *
 * - `reports`: one per exam (unique exam_id); `status` draft | preliminary | signing | signed; `version`
 *   is the optimistic lock of every change to the report (draft edits, submit, review, addenda).
 * - `report_versions`: every version of a report, numbered 1, 2, … per report. Only the working draft
 *   (`kind = 'draft'`) is mutable; submitting turns it into `preliminary`, and from then on the row is
 *   frozen. Signed versions (`final`, `addendum`, `correction`) are inserted signed. Triggers on both
 *   dialects refuse any UPDATE or DELETE of a row whose kind is not `draft`, and any UPDATE of a draft
 *   other than editing it or turning it into a preliminary (no signature fields, no other kind, no move).
 * - `report_templates`: normal-findings templates (center | hospital | personal) by modality/body part.
 * - `report_phrases`: the phrase library (常用语), center-wide, per hospital, or personal.
 * - `report_headers`: the standardized header per hospital (lines, logo, fields shown, footer).
 * - `delivery_channels`: where a hospital's signed reports go: hl7 (ORU^R01 over MLLP), fhir
 *   (DiagnosticReport), dicom (Encapsulated PDF by C-STORE to the hospital's PACS AE).
 * - `delivery_outbox`: one row per (signed version, channel), unique idempotency key; claimed by a
 *   conditional UPDATE (state + lease), retried with backoff, state visible to administrators.
 */
import { sql, type Generated, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import type { DialectName } from './migrations.ts';

/* eslint-disable @typescript-eslint/no-explicit-any -- migrations build a schema that does not exist yet */
type AnyDb = Kysely<any>;
/* eslint-enable @typescript-eslint/no-explicit-any */

export interface ReportsTable {
  id: Generated<number>;
  exam_id: number;
  hospital_id: number;
  /** draft | preliminary | signing | signed */
  status: string;
  /** the newest version row */
  current_version_id: number | null;
  /** the newest signed version row */
  signed_version_id: number | null;
  /** the author of the first preliminary (the reporting radiologist) */
  author_id: number | null;
  positive: number;
  critical: number;
  version: number;
  created_at: string;
  updated_at: string;
  submitted_at: string | null;
  signed_at: string | null;
}

export interface ReportVersionsTable {
  id: Generated<number>;
  report_id: number;
  number: number;
  /** draft | preliminary | final | addendum | correction */
  kind: string;
  findings: string;
  impression: string;
  recommendation: string;
  positive: number;
  critical: number;
  /** JSON object (structured report fields), '{}' when none */
  structured: string;
  /** addendum text (kind addendum) */
  addendum: string | null;
  author_id: number;
  author_name: string;
  reviewer_id: number | null;
  reviewer_name: string | null;
  /** 审查意见 of a returned preliminary (on the draft created by the return) */
  review_opinion: string | null;
  signed_by: number | null;
  signed_by_name: string | null;
  signed_at: string | null;
  /** sha256 hex of the canonical signed content */
  content_hash: string | null;
  /** why (correction) */
  reason: string | null;
  /** the version this one was derived from */
  based_on: number | null;
  created_at: string;
  updated_at: string;
}

export interface ReportTemplatesTable {
  id: Generated<number>;
  /** center | hospital | personal */
  scope: string;
  hospital_id: number | null;
  owner_id: number | null;
  modality: string | null;
  body_part: string | null;
  name: string;
  findings: string;
  impression: string;
  recommendation: string;
  created_at: string;
  updated_at: string;
}

export interface ReportPhrasesTable {
  id: Generated<number>;
  scope: string;
  hospital_id: number | null;
  owner_id: number | null;
  /** e.g. 影像所见 / 诊断意见 / 建议, free grouping */
  category: string;
  text: string;
  created_at: string;
}

export interface ReportHeadersTable {
  hospital_id: number;
  /** JSON ReportHeaderConfig without hospitalId/updatedAt */
  config: string;
  updated_at: string;
  updated_by: string | null;
}

export interface DeliveryChannelsTable {
  id: Generated<number>;
  hospital_id: number;
  /** hl7 | fhir | dicom */
  kind: string;
  name: string;
  /** JSON, per kind */
  config: string;
  enabled: number;
  created_at: string;
  updated_at: string;
}

export interface DeliveryOutboxTable {
  id: Generated<number>;
  report_version_id: number;
  report_id: number;
  hospital_id: number;
  /** delivery_channels.id; null for the archive (our own ingest pipeline) */
  channel_id: number | null;
  /** hl7 | fhir | dicom | archive */
  channel_kind: string;
  /** human-readable target, e.g. 10.0.0.5:2575 or CHENCUN_PACS */
  target: string;
  /** `<version id>:<channel>`, also the HL7 MSH-10 / FHIR identifier / a seed of the DICOM UIDs */
  idempotency_key: string;
  /** pending | delivering | delivered | failed */
  state: string;
  attempts: number;
  next_at: string;
  lease_until: string | null;
  last_error: string | null;
  /** what the receiver answered (ACK MSA, HTTP status, DIMSE status) */
  receipt: string | null;
  acked_at: string | null;
  created_at: string;
  updated_at: string;
}

const IMMUTABLE_MESSAGE = 'report version is signed or submitted and cannot be changed';
const DRAFT_MESSAGE = 'a draft can only become a preliminary report; signed versions are inserted signed';
/** an UPDATE of a draft row that is not "edit the draft" or "submit it" (SQL over old./new.) */
const DRAFT_ESCAPE =
  "new.kind not in ('draft', 'preliminary') or new.signed_at is not null or new.signed_by is not null " +
  'or new.content_hash is not null or new.report_id <> old.report_id or new.number <> old.number';

export function reportingMigration(dialect: DialectName): Migration {
  const text = dialect === 'postgres' ? sql`text collate "C"` : sql`text`;
  const big = dialect === 'postgres' ? 'bigint' : 'integer';
  const pk = dialect === 'postgres' ? 'bigserial' : 'integer';
  return {
    async up(db: AnyDb): Promise<void> {
      await db.schema
        .createTable('reports')
        .addColumn('id', pk, (c) => c.primaryKey())
        .addColumn('exam_id', big, (c) => c.notNull().unique().references('exams.id'))
        .addColumn('hospital_id', big, (c) => c.notNull().references('hospitals.id'))
        .addColumn('status', text, (c) => c.notNull())
        .addColumn('current_version_id', big)
        .addColumn('signed_version_id', big)
        .addColumn('author_id', big)
        .addColumn('positive', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('critical', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('created_at', text, (c) => c.notNull())
        .addColumn('updated_at', text, (c) => c.notNull())
        .addColumn('submitted_at', text)
        .addColumn('signed_at', text)
        .execute();
      await db.schema
        .createIndex('reports_hospital_status')
        .on('reports')
        .columns(['hospital_id', 'status'])
        .execute();

      await db.schema
        .createTable('report_versions')
        .addColumn('id', pk, (c) => c.primaryKey())
        .addColumn('report_id', big, (c) => c.notNull().references('reports.id'))
        .addColumn('number', 'integer', (c) => c.notNull())
        .addColumn('kind', text, (c) => c.notNull())
        .addColumn('findings', text, (c) => c.notNull())
        .addColumn('impression', text, (c) => c.notNull())
        .addColumn('recommendation', text, (c) => c.notNull())
        .addColumn('positive', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('critical', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('structured', text, (c) => c.notNull())
        .addColumn('addendum', text)
        .addColumn('author_id', big, (c) => c.notNull())
        .addColumn('author_name', text, (c) => c.notNull())
        .addColumn('reviewer_id', big)
        .addColumn('reviewer_name', text)
        .addColumn('review_opinion', text)
        .addColumn('signed_by', big)
        .addColumn('signed_by_name', text)
        .addColumn('signed_at', text)
        .addColumn('content_hash', text)
        .addColumn('reason', text)
        .addColumn('based_on', big)
        .addColumn('created_at', text, (c) => c.notNull())
        .addColumn('updated_at', text, (c) => c.notNull())
        .addUniqueConstraint('report_versions_number', ['report_id', 'number'])
        .execute();

      // immutability: only the working draft may change; a draft may be turned into a preliminary or
      // final once (that UPDATE sees OLD.kind = 'draft'); nothing else is ever updated or deleted
      if (dialect === 'sqlite') {
        await sql
          .raw(
            `create trigger report_versions_no_update before update on report_versions
             when old.kind <> 'draft'
             begin select raise(abort, '${IMMUTABLE_MESSAGE}'); end`,
          )
          .execute(db);
        await sql
          .raw(
            `create trigger report_versions_draft_only before update on report_versions
             when old.kind = 'draft' and (${DRAFT_ESCAPE})
             begin select raise(abort, '${DRAFT_MESSAGE}'); end`,
          )
          .execute(db);
        await sql
          .raw(
            `create trigger report_versions_no_delete before delete on report_versions
             when old.kind <> 'draft'
             begin select raise(abort, '${IMMUTABLE_MESSAGE}'); end`,
          )
          .execute(db);
      } else {
        await sql
          .raw(
            `create function report_versions_immutable() returns trigger language plpgsql as $$
             begin
               if old.kind <> 'draft' then
                 raise exception '${IMMUTABLE_MESSAGE}' using errcode = 'integrity_constraint_violation';
               end if;
               if tg_op = 'DELETE' then return old; end if;
               if ${DRAFT_ESCAPE} then
                 raise exception '${DRAFT_MESSAGE}' using errcode = 'integrity_constraint_violation';
               end if;
               return new;
             end $$`,
          )
          .execute(db);
        await sql
          .raw(
            `create trigger report_versions_immutable before update or delete on report_versions
             for each row execute function report_versions_immutable()`,
          )
          .execute(db);
      }

      await db.schema
        .createTable('report_templates')
        .addColumn('id', pk, (c) => c.primaryKey())
        .addColumn('scope', text, (c) => c.notNull())
        .addColumn('hospital_id', big)
        .addColumn('owner_id', big)
        .addColumn('modality', text)
        .addColumn('body_part', text)
        .addColumn('name', text, (c) => c.notNull())
        .addColumn('findings', text, (c) => c.notNull())
        .addColumn('impression', text, (c) => c.notNull())
        .addColumn('recommendation', text, (c) => c.notNull())
        .addColumn('created_at', text, (c) => c.notNull())
        .addColumn('updated_at', text, (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('report_templates_lookup')
        .on('report_templates')
        .columns(['modality', 'body_part'])
        .execute();

      await db.schema
        .createTable('report_phrases')
        .addColumn('id', pk, (c) => c.primaryKey())
        .addColumn('scope', text, (c) => c.notNull())
        .addColumn('hospital_id', big)
        .addColumn('owner_id', big)
        .addColumn('category', text, (c) => c.notNull())
        .addColumn('text', text, (c) => c.notNull())
        .addColumn('created_at', text, (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('report_headers')
        .addColumn('hospital_id', big, (c) => c.primaryKey().references('hospitals.id'))
        .addColumn('config', text, (c) => c.notNull())
        .addColumn('updated_at', text, (c) => c.notNull())
        .addColumn('updated_by', text)
        .execute();

      await db.schema
        .createTable('delivery_channels')
        .addColumn('id', pk, (c) => c.primaryKey())
        .addColumn('hospital_id', big, (c) => c.notNull().references('hospitals.id'))
        .addColumn('kind', text, (c) => c.notNull())
        .addColumn('name', text, (c) => c.notNull())
        .addColumn('config', text, (c) => c.notNull())
        .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('created_at', text, (c) => c.notNull())
        .addColumn('updated_at', text, (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('delivery_channels_hospital')
        .on('delivery_channels')
        .column('hospital_id')
        .execute();

      await db.schema
        .createTable('delivery_outbox')
        .addColumn('id', pk, (c) => c.primaryKey())
        .addColumn('report_version_id', big, (c) => c.notNull().references('report_versions.id'))
        .addColumn('report_id', big, (c) => c.notNull())
        .addColumn('hospital_id', big, (c) => c.notNull())
        .addColumn('channel_id', big)
        .addColumn('channel_kind', text, (c) => c.notNull())
        .addColumn('target', text, (c) => c.notNull())
        .addColumn('idempotency_key', text, (c) => c.notNull().unique())
        .addColumn('state', text, (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('next_at', text, (c) => c.notNull())
        .addColumn('lease_until', text)
        .addColumn('last_error', text)
        .addColumn('receipt', text)
        .addColumn('acked_at', text)
        .addColumn('created_at', text, (c) => c.notNull())
        .addColumn('updated_at', text, (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('delivery_outbox_due')
        .on('delivery_outbox')
        .columns(['state', 'next_at'])
        .execute();
      await db.schema
        .createIndex('delivery_outbox_report')
        .on('delivery_outbox')
        .column('report_id')
        .execute();
    },
    async down(db: AnyDb): Promise<void> {
      for (const t of [
        'delivery_outbox',
        'delivery_channels',
        'report_headers',
        'report_phrases',
        'report_templates',
        'report_versions',
        'reports',
      ]) {
        await db.schema.dropTable(t).execute();
      }
      if (dialect === 'postgres')
        await sql.raw('drop function if exists report_versions_immutable').execute(db);
    },
  };
}
