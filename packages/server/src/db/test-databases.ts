/**
 * Test helper: fresh databases for suites that run the same cases on SQLite and PostgreSQL.
 * PostgreSQL databases are created as `huiying_test_<pid>_<random>` through `pgAdminUrl()` and dropped
 * by `close()`; when the server is unreachable the PostgreSQL variant carries a skip reason.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { pgAdminUrl } from '../testing/peers.ts';
import { openDatabase, type DatabaseHandle, type DialectName } from './database.ts';

export interface TestDatabaseKind {
  dialect: DialectName;
  /** false, or why the variant is skipped */
  skip: false | string;
  /** a fresh, migrated database; its close() also deletes it */
  open(): Promise<DatabaseHandle>;
}

let pgCheck: Promise<false | string> | undefined;

/** false when PostgreSQL answers at pgAdminUrl(), else a skip reason. */
export function needPostgres(): Promise<false | string> {
  pgCheck ??= (async () => {
    const client = new pg.Client({ connectionString: pgAdminUrl(), connectionTimeoutMillis: 3000 });
    try {
      await client.connect();
      await client.query('select 1');
      return false;
    } catch (e) {
      return `PostgreSQL not reachable at ${pgAdminUrl()}: ${e instanceof Error ? e.message : String(e)}`;
    } finally {
      await client.end().catch(() => undefined);
    }
  })();
  return pgCheck;
}

async function adminQuery(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: pgAdminUrl() });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

export async function openTestSqlite(): Promise<DatabaseHandle> {
  const dir = await mkdtemp(join(tmpdir(), 'huiying-db-'));
  const h = await openDatabase(join(dir, 'index.sqlite'));
  return {
    ...h,
    close: async () => {
      await h.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The URL of a new empty PostgreSQL database (UTF8) and a function that drops it. */
export async function createTestPostgresDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `huiying_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  await adminQuery(`create database ${name} encoding 'UTF8' template template0`);
  const url = new URL(pgAdminUrl());
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () => adminQuery(`drop database if exists ${name} with (force)`),
  };
}

export async function openTestPostgres(): Promise<DatabaseHandle> {
  const { url, drop } = await createTestPostgresDatabase();
  let h: DatabaseHandle;
  try {
    h = await openDatabase(url);
  } catch (e) {
    await drop();
    throw e;
  }
  return {
    ...h,
    close: async () => {
      await h.close();
      await drop();
    },
  };
}

/** Both dialects, PostgreSQL with its skip reason resolved. */
export async function testDatabaseKinds(): Promise<TestDatabaseKind[]> {
  return [
    { dialect: 'sqlite', skip: false, open: openTestSqlite },
    { dialect: 'postgres', skip: await needPostgres(), open: openTestPostgres },
  ];
}
