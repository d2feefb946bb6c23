/**
 * The audit trail on SQLite and PostgreSQL: append/search/verify, tamper detection, retention prune,
 * concurrency, exports, the failure policy and the retention configuration.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sql } from 'kysely';
import { testDatabaseKinds } from '../db/test-databases.ts';
import type { DatabaseHandle } from '../db/database.ts';
import { AuditRepository } from './repository.ts';
import { AuditLog } from './audit-log.ts';
import { auditConfigFrom } from './config.ts';
import type { AuditEventInput } from './types.ts';

const ev = (i: number, extra: Partial<AuditEventInput> = {}): AuditEventInput => ({
  actorType: 'user',
  actorId: `u${i % 3}`,
  actorName: `用户${i % 3}`,
  hospitalId: 1 + (i % 2),
  source: '10.0.0.1',
  protocol: 'dicomweb',
  action: i % 2 === 0 ? 'query' : 'retrieve',
  outcome: 'success',
  status: '200',
  patientHospitalId: 1,
  patientId: `P${i}`,
  studyUid: `1.2.3.${i}`,
  object: `${i} match(es)`,
  detail: { i, 名: '张三' },
  ...extra,
});

async function text(s: AsyncIterable<unknown>): Promise<string> {
  let out = '';
  for await (const c of s) out += typeof c === 'string' ? c : Buffer.from(c as Uint8Array).toString('utf8');
  return out;
}

for (const kind of await testDatabaseKinds()) {
  describe(`audit trail on ${kind.dialect}`, { skip: kind.skip }, () => {
    const withDb = async (fn: (h: DatabaseHandle, repo: AuditRepository) => Promise<void>): Promise<void> => {
      const h = await kind.open();
      try {
        await fn(h, new AuditRepository(h.db, h.dialect));
      } finally {
        await h.close();
      }
    };

    test('append, search, verify', () =>
      withDb(async (_h, repo) => {
        assert.deepEqual(await repo.verify(), { ok: true, checked: 0 });
        const stored = await repo.append([ev(1), ev(2), ev(3)]);
        assert.deepEqual(
          stored.map((e) => e.id),
          [1, 2, 3],
        );
        assert.equal(stored[0]!.prevHash, '0'.repeat(64));
        assert.equal(stored[1]!.prevHash, stored[0]!.hash);
        await repo.append([ev(4)]);
        const v = await repo.verify();
        assert.deepEqual(v, { ok: true, checked: 4, firstId: 1, lastId: 4 });
        assert.equal((await repo.verify(2, 3)).ok, true);

        const all = await repo.search({});
        assert.deepEqual(
          all.map((e) => e.id),
          [4, 3, 2, 1],
        );
        assert.deepEqual(
          (await repo.search({ action: 'query' })).map((e) => e.id),
          [4, 2],
        );
        assert.deepEqual(
          (await repo.search({ actor: 'u1' })).map((e) => e.id),
          [4, 1],
        );
        assert.deepEqual(
          (await repo.search({ actor: '用户2' })).map((e) => e.id),
          [2],
        );
        assert.deepEqual(
          (await repo.search({ patientId: 'P3' })).map((e) => e.id),
          [3],
        );
        assert.deepEqual(
          (await repo.search({ studyUid: '1.2.3.2' })).map((e) => e.id),
          [2],
        );
        assert.deepEqual(
          (await repo.search({ hospitalId: 2, limit: 1, offset: 1 })).map((e) => e.id),
          [1],
        );
        const t = stored[1]!.at;
        assert.ok((await repo.search({ from: t })).every((e) => e.at >= t));
        assert.equal((await repo.search({ outcome: 'denied' })).length, 0);
        assert.deepEqual(JSON.parse(all[3]!.detail ?? ''), { i: 1, 名: '张三' });
      }));

    test('tamper: an edited event breaks verify at its id', () =>
      withDb(async (h, repo) => {
        await repo.append(Array.from({ length: 10 }, (_, i) => ev(i)));
        await sql`update audit_events set patient_id = 'P999' where id = 6`.execute(h.db);
        const v = await repo.verify();
        assert.equal(v.ok, false);
        assert.equal(!v.ok && v.brokenAt, 6);
        assert.match(!v.ok ? v.reason : '', /altered/);
        // a range before the edit is still intact
        assert.equal((await repo.verify(1, 5)).ok, true);
      }));

    test('tamper: a deleted event breaks verify (middle, first, tail)', () =>
      withDb(async (h, repo) => {
        await repo.append(Array.from({ length: 10 }, (_, i) => ev(i)));
        await sql`delete from audit_events where id = 4`.execute(h.db);
        let v = await repo.verify();
        assert.equal(!v.ok && v.brokenAt, 4);
        await sql`delete from audit_events where id <= 3`.execute(h.db);
        v = await repo.verify();
        assert.equal(!v.ok && v.brokenAt, 5);
        assert.match(!v.ok ? v.reason : '', /retention_prune/);
        await sql`delete from audit_events where id >= 5`.execute(h.db);
        v = await repo.verify();
        assert.equal(v.ok, false);
      }));

    test('tamper: truncated tail and reordered events are detected', () =>
      withDb(async (h, repo) => {
        await repo.append(Array.from({ length: 6 }, (_, i) => ev(i)));
        await sql`delete from audit_events where id = 6`.execute(h.db);
        let v = await repo.verify();
        assert.equal(!v.ok && v.brokenAt, 6);
        assert.match(!v.ok ? v.reason : '', /truncated/);
        // reorder: swap events 2 and 3 (ids exchanged)
        await sql`update audit_events set id = 1000 where id = 2`.execute(h.db);
        await sql`update audit_events set id = 2 where id = 3`.execute(h.db);
        await sql`update audit_events set id = 3 where id = 1000`.execute(h.db);
        v = await repo.verify();
        assert.equal(!v.ok && v.brokenAt, 2);
      }));

    test('retention prune keeps the remaining chain verifiable', () =>
      withDb(async (h, repo) => {
        const old = new Date(Date.now() - 200 * 86400_000).toISOString();
        await repo.append(Array.from({ length: 5 }, (_, i) => ev(i, { at: old })));
        await repo.append(Array.from({ length: 3 }, (_, i) => ev(10 + i)));
        const r = await repo.prune(new Date(Date.now() - 180 * 86400_000).toISOString());
        assert.equal(r.pruned, 5);
        assert.equal(r.prunedThroughId, 5);
        const v = await repo.verify();
        assert.deepEqual(v, { ok: true, checked: 4, firstId: 6, lastId: 9 });
        const [prune] = await repo.search({ action: 'retention_prune' });
        assert.equal(prune?.id, 9);
        assert.equal(
          (JSON.parse(prune?.detail ?? '{}') as { lastPrunedHash?: string }).lastPrunedHash,
          r.lastPrunedHash,
        );
        // nothing older: no-op, no event
        assert.equal((await repo.prune(new Date(Date.now() - 180 * 86400_000).toISOString())).pruned, 0);
        // deleting more than the prune did is detected
        await sql`delete from audit_events where id = 6`.execute(h.db);
        const v2 = await repo.verify();
        assert.equal(!v2.ok && v2.brokenAt, 7);
        // forging the anchor breaks the prune event itself
      }));

    test('retention anchor cannot be forged', () =>
      withDb(async (h, repo) => {
        const old = new Date(Date.now() - 400 * 86400_000).toISOString();
        await repo.append([ev(1, { at: old }), ev(2, { at: old }), ev(3)]);
        await repo.prune(new Date(Date.now() - 180 * 86400_000).toISOString());
        assert.equal((await repo.verify()).ok, true);
        await sql`update audit_events set detail = replace(detail, 'lastPrunedHash', 'x') where action = 'retention_prune'`.execute(
          h.db,
        );
        assert.equal((await repo.verify()).ok, false);
      }));

    test('concurrency: 1000 appends from parallel promises form one intact chain', () =>
      withDb(async (h, repo) => {
        // direct repository appends racing each other (on PostgreSQL: several pool connections)
        await Promise.all(Array.from({ length: 50 }, (_, i) => repo.append([ev(i), ev(i + 1)])));
        // and the queue: 1000 record() calls from parallel promises
        const log = new AuditLog(repo, { batchSize: 64 });
        await Promise.all(
          Array.from({ length: 1000 }, async (_, i) => {
            await Promise.resolve();
            assert.equal(log.record(ev(i)), true);
          }),
        );
        await log.flush();
        await log.close();
        const v = await repo.verify();
        assert.deepEqual(v, { ok: true, checked: 1100, firstId: 1, lastId: 1100 });
        const n = await sql<{ n: number }>`select count(*) as n from audit_events`.execute(h.db);
        assert.equal(Number(n.rows[0]?.n), 1100);
      }));

    test('export as NDJSON and CSV', () =>
      withDb(async (_h, repo) => {
        await repo.append([ev(1), ev(2, { object: '=cmd|x, "quoted"' }), ev(3)]);
        const log = new AuditLog(repo);
        const nd = await text(log.export({ action: 'retrieve' }, 'ndjson'));
        const lines = nd
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as { id: number });
        assert.deepEqual(
          lines.map((l) => l.id),
          [1, 3],
        );
        const csv = await text(log.export({}, 'csv'));
        const rows = csv.trim().split('\r\n');
        assert.equal(rows.length, 4);
        assert.match(rows[0]!, /^id,at,actorType/);
        assert.match(rows[2]!, /"'=cmd\|x, ""quoted"""/);
        await log.close();
      }));
  });
}

describe('audit log queue and failure policy', () => {
  test('a failing store refuses reads, logs events to stderr, and recovers', async () => {
    let failing = true;
    const written: AuditEventInput[] = [];
    const lines: string[] = [];
    const log = new AuditLog(undefined, {
      retryMs: 10,
      fallback: (l) => lines.push(l),
      sink: {
        append(events) {
          if (failing) return Promise.reject(new Error('database is closed'));
          written.push(...events);
          return Promise.resolve();
        },
      },
    });
    assert.equal(log.acceptingReads(), true);
    log.record(ev(1));
    await assert.rejects(log.flush(), /failing/);
    assert.equal(log.acceptingReads(), false);
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /^AUDIT \{/);
    log.record(ev(2)); // logged to stderr right away, kept for the retry
    assert.equal(lines.length, 2);
    failing = false;
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(log.acceptingReads(), true);
    assert.deepEqual(
      written.map((e) => e.patientId),
      ['P1', 'P2'],
    );
    await log.close();
  });

  test('a full queue refuses reads and sends overflow to stderr', async () => {
    const lines: string[] = [];
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const log = new AuditLog(undefined, {
      maxQueue: 3,
      fallback: (l) => lines.push(l),
      sink: { append: () => gate },
    });
    for (let i = 0; i < 3; i++) assert.equal(log.record(ev(i)), true);
    assert.equal(log.acceptingReads(), false);
    assert.equal(log.record(ev(9)), false);
    assert.equal(lines.length, 1);
    release();
    await log.flush();
    assert.equal(log.acceptingReads(), true);
    await log.close();
  });

  test('retention configuration: default 180 days, minimum enforced', () => {
    assert.equal(auditConfigFrom({}).retentionDays, 180);
    assert.equal(auditConfigFrom({ HUIYING_AUDIT_RETENTION_DAYS: '365' }).retentionDays, 365);
    assert.throws(() => auditConfigFrom({ HUIYING_AUDIT_RETENTION_DAYS: '30' }), /minimum of 180 days/);
    assert.throws(() => auditConfigFrom({ HUIYING_AUDIT_RETENTION_DAYS: 'half a year' }), /whole number/);
  });
});
