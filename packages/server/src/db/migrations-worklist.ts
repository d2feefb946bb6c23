/**
 * Migration `0008_worklist_indexes`: the worklist at 100,000 exams (bench/worklist-query.ts,
 * docs/benchmarks.md).
 *
 * - The urgency order (`ris/repository.ts` URGENCY_ORDER) as expression indexes, alone and prefixed by
 *   `status` and by `hospital_id`: both databases read the first page in index order and stop instead of
 *   sorting every matching row. The expressions here and in the query must stay identical.
 * - `(read_at_center, status)` for the center's tab counts, `(hospital_id, registered_at)` for a member
 *   hospital's day, `(status, status_at)` for the closed tabs (newest first).
 * - Text search (patient name, patient ID, accession: `exams.search_text`, lower-cased) by trigrams:
 *   PostgreSQL `pg_trgm` GIN index (when the extension can be created; it is a trusted extension, so the
 *   database owner may), SQLite an FTS5 `trigram` table kept in step by triggers. Queries of fewer than
 *   three characters still scan.
 */
import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import type { DialectName } from './migrations.ts';

/* eslint-disable @typescript-eslint/no-explicit-any -- migrations build a schema that does not exist yet */
type AnyDb = Kysely<any>;
/* eslint-enable @typescript-eslint/no-explicit-any */

/** the urgency order's terms, as in the worklist query */
export const URGENCY_TERMS =
  "(case when due_at is null then 1 else 0 end), due_at, (case when priority = 'emergency' then 0 else 1 end), registered_at, id";

export function worklistIndexesMigration(dialect: DialectName): Migration {
  return {
    async up(db: AnyDb): Promise<void> {
      const terms = sql.raw(URGENCY_TERMS);
      await sql`create index exams_urgency on exams (${terms})`.execute(db);
      await sql`create index exams_status_urgency on exams (status, ${terms})`.execute(db);
      await sql`create index exams_hospital_urgency on exams (hospital_id, ${terms})`.execute(db);
      await db.schema
        .createIndex('exams_center_status')
        .on('exams')
        .columns(['read_at_center', 'status'])
        .execute();
      await db.schema
        .createIndex('exams_hospital_registered')
        .on('exams')
        .columns(['hospital_id', 'registered_at'])
        .execute();
      await db.schema.createIndex('exams_status_at').on('exams').columns(['status', 'status_at']).execute();
      if (dialect === 'postgres') {
        await sql`
          do $$
          begin
            create extension if not exists pg_trgm;
          exception when others then
            raise notice 'pg_trgm is not available: worklist text search scans';
          end
          $$`.execute(db);
        await sql`
          do $$
          begin
            if exists (select 1 from pg_extension where extname = 'pg_trgm') then
              execute 'create index exams_search_trgm on exams using gin (search_text gin_trgm_ops)';
            end if;
          end
          $$`.execute(db);
      } else {
        await sql`create virtual table exams_fts using fts5(search_text, content='exams', content_rowid='id', tokenize='trigram')`.execute(
          db,
        );
        await sql`create trigger exams_fts_ai after insert on exams begin
          insert into exams_fts(rowid, search_text) values (new.id, new.search_text);
        end`.execute(db);
        await sql`create trigger exams_fts_ad after delete on exams begin
          insert into exams_fts(exams_fts, rowid, search_text) values ('delete', old.id, old.search_text);
        end`.execute(db);
        await sql`create trigger exams_fts_au after update of search_text on exams begin
          insert into exams_fts(exams_fts, rowid, search_text) values ('delete', old.id, old.search_text);
          insert into exams_fts(rowid, search_text) values (new.id, new.search_text);
        end`.execute(db);
        await sql`insert into exams_fts(exams_fts) values ('rebuild')`.execute(db);
      }
    },
    async down(db: AnyDb): Promise<void> {
      if (dialect === 'postgres') await sql`drop index if exists exams_search_trgm`.execute(db);
      else {
        for (const t of ['exams_fts_ai', 'exams_fts_ad', 'exams_fts_au'])
          await sql`drop trigger if exists ${sql.raw(t)}`.execute(db);
        await sql`drop table if exists exams_fts`.execute(db);
      }
      for (const i of [
        'exams_urgency',
        'exams_status_urgency',
        'exams_hospital_urgency',
        'exams_center_status',
        'exams_hospital_registered',
        'exams_status_at',
      ])
        await db.schema.dropIndex(i).ifExists().execute();
    },
  };
}
