/**
 * Opening the archive database: SQLite (default, embedded, better-sqlite3) or PostgreSQL (pg Pool),
 * behind one Kysely<Schema>. Migrations run on open unless `migrate: false`.
 *
 * URL forms: `postgres://…` / `postgresql://…` → PostgreSQL; `sqlite:<path>`, `file:///abs/path`,
 * `:memory:` or a plain path → SQLite.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, sql, type SqliteDatabase } from 'kysely';
import { Migrator } from 'kysely/migration';
import pg from 'pg';
import { migrationProvider, type DialectName } from './migrations.ts';
import type { Schema } from './schema.ts';

export type { DialectName } from './migrations.ts';

export interface DatabaseHandle {
  db: Kysely<Schema>;
  dialect: DialectName;
  /** for logs, without credentials */
  description: string;
  /** SQLite: the database file path (`:memory:` for an in-memory database); undefined on PostgreSQL */
  sqlitePath?: string;
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /** run pending migrations (default true) */
  migrate?: boolean;
  /** PostgreSQL pool size (default 10) */
  poolSize?: number;
}

export function isPostgresUrl(url: string): boolean {
  return url.startsWith('postgres://') || url.startsWith('postgresql://');
}

/** The SQLite file path of a non-PostgreSQL URL. */
export function sqlitePathOf(url: string): string {
  if (url.startsWith('file:')) return fileURLToPath(url);
  if (url.startsWith('sqlite://')) return url.slice('sqlite://'.length);
  if (url.startsWith('sqlite:')) return url.slice('sqlite:'.length);
  return url;
}

/** pg type parsers: int8 (counts, bigserial ids, sizes) as JS numbers; everything else default. */
const pgTypes = {
  getTypeParser(oid: number, format?: 'text' | 'binary'): (value: string) => unknown {
    if (oid === 20) return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format ?? 'text') as (value: string) => unknown;
  },
};

export async function openDatabase(url: string, options: OpenDatabaseOptions = {}): Promise<DatabaseHandle> {
  let handle: DatabaseHandle;
  if (isPostgresUrl(url)) {
    const pool = new pg.Pool({ connectionString: url, max: options.poolSize ?? 10, types: pgTypes });
    // an idle client's error (server restart) must not crash the process; the next query reports it
    pool.on('error', () => undefined);
    const db = new Kysely<Schema>({ dialect: new PostgresDialect({ pool }) });
    const u = new URL(url);
    handle = {
      db,
      dialect: 'postgres',
      description: `postgres://${u.host}${u.pathname}`,
      close: () => db.destroy(),
    };
  } else {
    const path = sqlitePathOf(url);
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    const db = openSqliteKysely(path);
    handle = {
      db,
      dialect: 'sqlite',
      description: `sqlite:${path}`,
      sqlitePath: path,
      close: () => db.destroy(),
    };
  }
  if (options.migrate !== false) {
    try {
      await migrate(handle);
    } catch (e) {
      await handle.close();
      throw e;
    }
  }
  return handle;
}

export interface SqliteConnectionOptions {
  /** `synchronous = FULL` (every WAL commit fsynced) instead of NORMAL */
  syncFull?: boolean;
}

/**
 * One better-sqlite3 connection with the archive's pragmas, behind Kysely with the statement cache. Used
 * for the main connection and by the index writer worker (its own connection to the same file).
 */
export function openSqliteKysely(path: string, options: SqliteConnectionOptions = {}): Kysely<Schema> {
  const sqlite = new BetterSqlite3(path);
  try {
    sqlite.pragma('journal_mode = WAL');
    // WAL + FULL: every commit is fsynced (NORMAL survives a process crash, not a power loss)
    sqlite.pragma(options.syncFull === true ? 'synchronous = FULL' : 'synchronous = NORMAL');
    sqlite.pragma('busy_timeout = 10000');
    sqlite.pragma('foreign_keys = ON');
    // LIKE is case-sensitive on PostgreSQL; make SQLite agree (DICOM wildcard matching is case-sensitive
    // except for person names, which are matched on upper-cased normalized columns anyway)
    sqlite.pragma('case_sensitive_like = ON');
  } catch (e) {
    sqlite.close();
    throw e;
  }
  return new Kysely<Schema>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) });
}

/**
 * SQLite keeps no statistics unless asked: without them the planner picks indexes by shape (e.g. the
 * unique accession index for a member hospital's day). `PRAGMA optimize` gathers what is missing or stale
 * (cheap; the SQLite documentation's advice: on open with 0x10002, then periodically). PostgreSQL's
 * autovacuum analyzes by itself.
 */
export async function optimizeStatistics(handle: DatabaseHandle, first = false): Promise<void> {
  if (handle.dialect !== 'sqlite') return;
  await sql.raw(first ? 'pragma optimize=0x10002' : 'pragma optimize').execute(handle.db);
}

/** Run every pending migration; throws with the failing migration's error. */
export async function migrate(handle: DatabaseHandle): Promise<void> {
  const migrator = new Migrator({ db: handle.db, provider: migrationProvider(handle.dialect) });
  const { error, results } = await migrator.migrateToLatest();
  if (error !== undefined) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName;
    const why = error instanceof Error ? error.message : JSON.stringify(error);
    throw new Error(`database migration ${failed ?? ''} failed: ${why}`, { cause: error });
  }
}

/**
 * Kysely prepares a better-sqlite3 statement for every query it runs; preparing costs more than running
 * the small statements of the ingest path. Cache prepared statements by SQL text (LRU). Statements are
 * only run with all()/run() by Kysely's driver, so sharing one statement between queries is safe.
 */
function withStatementCache(db: BetterSqlite3.Database, max = 512): SqliteDatabase {
  const cache = new Map<string, BetterSqlite3.Statement>();
  return {
    close: () => db.close(),
    prepare(sql: string) {
      let stmt = cache.get(sql);
      if (stmt !== undefined) {
        cache.delete(sql);
        cache.set(sql, stmt);
        return stmt;
      }
      stmt = db.prepare(sql);
      cache.set(sql, stmt);
      if (cache.size > max) {
        const oldest = cache.keys().next().value;
        if (oldest !== undefined) cache.delete(oldest);
      }
      return stmt;
    },
  };
}
