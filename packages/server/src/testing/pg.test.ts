import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { createTestDatabase, pgSkipReason } from './pg.ts';

const pgSkip = await pgSkipReason();

test('createTestDatabase creates a usable database and drop() removes it', { skip: pgSkip }, async () => {
  const db = await createTestDatabase();
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    const r = await client.query<{ db: string }>('SELECT current_database() AS db');
    assert.equal(r.rows[0]?.db, db.name);
    await client.query('CREATE TABLE t (x int)');
  } finally {
    await client.end();
  }
  // an open connection must not block drop()
  const lingering = new pg.Client({ connectionString: db.url });
  await lingering.connect();
  lingering.on('error', () => {}); // terminated by DROP ... WITH (FORCE)
  await db.drop();
  await lingering.end().catch(() => {});
  const admin = new pg.Client({ connectionString: db.url.replace(/\/[^/]*$/, '/postgres') });
  await admin.connect();
  try {
    const r = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [db.name]);
    assert.equal(r.rowCount, 0);
  } finally {
    await admin.end();
  }
});
