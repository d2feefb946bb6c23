/**
 * Throw-away PostgreSQL databases for tests, created through pgAdminUrl() (HUIYING_TEST_PG_URL).
 *
 *   const pgSkip = await pgSkipReason();            // top-level await: `skip` needs a value at definition
 *   test('...', { skip: pgSkip }, async () => { const db = await createTestDatabase(); try { ... } finally { await db.drop(); } });
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { pgAdminUrl } from './peers.ts';

export interface TestDatabase {
  /** Connection URL of the new database (same server and user as the admin URL). */
  url: string;
  name: string;
  /** Drops the database, terminating any connection still open on it. */
  drop(): Promise<void>;
}

async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>, timeoutMs = 5000): Promise<T> {
  const client = new pg.Client({ connectionString: pgAdminUrl(), connectionTimeoutMillis: timeoutMs });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** `false` when PostgreSQL answers at pgAdminUrl() within 2 s, else a skip reason. */
export async function pgSkipReason(): Promise<false | string> {
  try {
    await withAdmin((c) => c.query('SELECT 1'), 2000);
    return false;
  } catch (err) {
    return `PostgreSQL not reachable at ${pgAdminUrl()} (${(err as Error).message})`;
  }
}

/** Alias of pgSkipReason(). */
export const needPostgres = pgSkipReason;

/** Creates a uniquely named empty database (`huiying_test_<pid>_<random>`). */
export async function createTestDatabase(prefix = 'huiying_test'): Promise<TestDatabase> {
  const name = `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`.toLowerCase();
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`bad database name ${name}`);
  await withAdmin((c) => c.query(`CREATE DATABASE "${name}"`));
  const url = new URL(pgAdminUrl());
  url.pathname = `/${name}`;
  let dropped = false;
  return {
    url: url.toString(),
    name,
    drop: async () => {
      if (dropped) return;
      dropped = true;
      await withAdmin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
    },
  };
}
