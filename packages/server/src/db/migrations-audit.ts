/**
 * Migration `0004_audit`: the append-only audit trail (see audit/repository.ts).
 *
 * - `audit_events`: one row per audited event. `id` is assigned by the writer (chain head + 1), so ids are
 *   gapless and monotonic; `hash = sha256(prev_hash || canonical JSON of the row without hash)`.
 * - `audit_chain_head`: exactly one row (id 1) holding the id and hash of the newest event. Every append
 *   first updates this row inside its transaction: on PostgreSQL that takes the row lock (several nodes
 *   keep one chain), on SQLite it takes the write lock before the head is read. It also lets `verify`
 *   detect a truncated tail.
 */
import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import type { DialectName } from './migrations.ts';

/* eslint-disable @typescript-eslint/no-explicit-any -- migrations build a schema that does not exist yet */
type AnyDb = Kysely<any>;
/* eslint-enable @typescript-eslint/no-explicit-any */

/** prev_hash of the very first event */
export const AUDIT_GENESIS_HASH = '0'.repeat(64);

export interface AuditEventsTable {
  id: number;
  /** ISO-8601 with milliseconds, UTC */
  at: string;
  /** user | api_token | ae | system | anonymous */
  actor_type: string;
  actor_id: string | null;
  actor_name: string | null;
  /** the actor's hospital */
  hospital_id: number | null;
  /** IP address, or `AE@IP` for DIMSE */
  source: string | null;
  /** dimse | dicomweb | http | cli */
  protocol: string;
  action: string;
  /** success | failure | denied */
  outcome: string;
  /** status code / short detail (HTTP status, DIMSE status hex, reject reason) */
  status: string | null;
  /** the patient's hospital (a Patient ID is only meaningful with its hospital) */
  patient_hospital_id: number | null;
  patient_id: string | null;
  study_uid: string | null;
  /** free text: report id, "12 instances", … */
  object: string | null;
  /** small JSON object */
  detail: string | null;
  prev_hash: string;
  hash: string;
}

export interface AuditChainHeadTable {
  id: number;
  last_id: number;
  last_hash: string;
  updated_at: string;
}

export function auditMigration(dialect: DialectName): Migration {
  const text = dialect === 'postgres' ? sql`text collate "C"` : sql`text`;
  const big = dialect === 'postgres' ? 'bigint' : 'integer';
  return {
    async up(db: AnyDb): Promise<void> {
      await db.schema
        .createTable('audit_events')
        .addColumn('id', big, (c) => c.primaryKey())
        .addColumn('at', text, (c) => c.notNull())
        .addColumn('actor_type', text, (c) => c.notNull())
        .addColumn('actor_id', text)
        .addColumn('actor_name', text)
        .addColumn('hospital_id', big)
        .addColumn('source', text)
        .addColumn('protocol', text, (c) => c.notNull())
        .addColumn('action', text, (c) => c.notNull())
        .addColumn('outcome', text, (c) => c.notNull())
        .addColumn('status', text)
        .addColumn('patient_hospital_id', big)
        .addColumn('patient_id', text)
        .addColumn('study_uid', text)
        .addColumn('object', text)
        .addColumn('detail', text)
        .addColumn('prev_hash', text, (c) => c.notNull().unique())
        .addColumn('hash', text, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('audit_events_at').on('audit_events').column('at').execute();
      await db.schema
        .createIndex('audit_events_actor')
        .on('audit_events')
        .columns(['actor_id', 'id'])
        .execute();
      await db.schema
        .createIndex('audit_events_action')
        .on('audit_events')
        .columns(['action', 'id'])
        .execute();
      await db.schema
        .createIndex('audit_events_patient')
        .on('audit_events')
        .columns(['patient_id', 'id'])
        .execute();
      await db.schema
        .createIndex('audit_events_study')
        .on('audit_events')
        .columns(['study_uid', 'id'])
        .execute();

      await db.schema
        .createTable('audit_chain_head')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('last_id', big, (c) => c.notNull())
        .addColumn('last_hash', text, (c) => c.notNull())
        .addColumn('updated_at', text, (c) => c.notNull())
        .execute();
      await db
        .insertInto('audit_chain_head')
        .values({ id: 1, last_id: 0, last_hash: AUDIT_GENESIS_HASH, updated_at: new Date().toISOString() })
        .execute();
    },
    async down(db: AnyDb): Promise<void> {
      await db.schema.dropTable('audit_chain_head').execute();
      await db.schema.dropTable('audit_events').execute();
    },
  };
}
