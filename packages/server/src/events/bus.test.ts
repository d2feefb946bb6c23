import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import type { ExamChangeEvent } from '../ris/model.ts';
import type { Log } from '../logger.ts';
import { createTestDatabase, pgSkipReason } from '../testing/pg.ts';
import { pgAdminUrl } from '../testing/peers.ts';
import {
  InProcessEventBus,
  MAX_PAYLOAD_BYTES,
  PgEventBus,
  decodeEnvelope,
  encodeEnvelope,
  openEventBus,
  type ResyncNotice,
} from './bus.ts';

const pgSkip = await pgSkipReason();

function ev(examId: number, over: Partial<ExamChangeEvent> = {}): ExamChangeEvent {
  return {
    type: 'exam',
    examId,
    hospitalId: 1,
    status: 'registered',
    change: 'created',
    version: 1,
    at: '2026-11-26T08:00:00.000Z',
    ...over,
  };
}

/** Waits (polling) until cond() holds; fails after timeoutMs. Not a timing assertion: a liveness bound. */
async function waitFor(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function captureLog(): { log: Log; lines: { level: string; msg: string }[] } {
  const lines: { level: string; msg: string }[] = [];
  return { log: (level, msg) => lines.push({ level, msg }), lines };
}

test('InProcessEventBus: synchronous fan-out; a throwing listener never breaks the others', async () => {
  const { log, lines } = captureLog();
  const bus = new InProcessEventBus({ log });
  const a: number[] = [];
  const b: number[] = [];
  bus.subscribe((e) => a.push(e.examId));
  bus.subscribe(() => {
    throw new Error('boom');
  });
  const offB = bus.subscribe((e) => b.push(e.examId));
  bus.publish(ev(1));
  // synchronous: delivered before publish returns
  assert.deepEqual(a, [1]);
  assert.deepEqual(b, [1]);
  assert.equal(lines.filter((l) => l.level === 'warn').length, 1);
  offB();
  bus.publish(ev(2));
  assert.deepEqual(a, [1, 2]);
  assert.deepEqual(b, [1]);
  assert.equal(bus.listenerCount(), 2);
  assert.equal(bus.stats().published, 2);
  await bus.close();
  bus.publish(ev(3));
  assert.deepEqual(a, [1, 2]);
  assert.equal(bus.listenerCount(), 0);
});

test('InProcessEventBus: the same function subscribed twice gets two deliveries; unsubscribing during delivery', () => {
  const bus = new InProcessEventBus();
  const seen: string[] = [];
  const f = (e: ExamChangeEvent): void => {
    seen.push(`f${e.examId}`);
  };
  const off1 = bus.subscribe(f);
  bus.subscribe(f);
  // a listener that removes a later listener: the removed one is not called any more
  let offLater: () => void = () => undefined;
  bus.subscribe(() => offLater());
  offLater = bus.subscribe((e) => seen.push(`later${e.examId}`));
  bus.publish(ev(1));
  assert.deepEqual(seen, ['f1', 'f1']);
  off1();
  off1(); // idempotent
  bus.publish(ev(2));
  assert.deepEqual(seen, ['f1', 'f1', 'f2']);
});

test('openEventBus: SQLite → in-process', async () => {
  const bus = openEventBus({ dialect: 'sqlite', databaseUrl: 'sqlite::memory:' });
  assert.ok(bus instanceof InProcessEventBus);
  assert.equal(bus.stats().kind, 'in-process');
  await bus.close();
});

test('envelope: round trip, trimming, size limit, validation', () => {
  const p = encodeEnvelope('node1', 7, ev(5, { change: 'x'.repeat(500), status: 'examined' }));
  assert.ok(p !== undefined);
  const d = decodeEnvelope(p);
  assert.ok(d !== undefined);
  assert.equal(d.n, 'node1');
  assert.equal(d.s, 7);
  assert.equal(d.e.examId, 5);
  assert.equal(d.e.status, 'examined');
  assert.equal(d.e.change.length, 64);
  // Chinese survives
  const zh = decodeEnvelope(encodeEnvelope('n', 1, ev(1, { change: '登记' })) ?? '');
  assert.equal(zh?.e.change, '登记');
  // too big for NOTIFY (8000 bytes) → refused
  assert.equal(encodeEnvelope('n', 1, ev(1, { at: '时'.repeat(3000) })), undefined);
  const fits = encodeEnvelope('n', 1, ev(1, { at: 'x'.repeat(7000) }));
  assert.ok(fits !== undefined && Buffer.byteLength(fits) <= MAX_PAYLOAD_BYTES);
  // malformed payloads
  assert.equal(decodeEnvelope('not json'), undefined);
  assert.equal(decodeEnvelope('[]'), undefined);
  assert.equal(decodeEnvelope(JSON.stringify({ n: 'a', s: 1, e: { ...ev(1), status: 'bogus' } })), undefined);
  assert.equal(decodeEnvelope(JSON.stringify({ n: 'a', s: 1, e: { ...ev(1), examId: '1' } })), undefined);
  assert.equal(decodeEnvelope(JSON.stringify({ n: 'a', e: ev(1) })), undefined);
});

async function adminQuery(dbUrl: string, text: string, params: unknown[] = []): Promise<pg.QueryResult> {
  const c = new pg.Client({ connectionString: dbUrl });
  await c.connect();
  try {
    return await c.query(text, params);
  } finally {
    await c.end();
  }
}

test('PgEventBus: two nodes on one PostgreSQL database', { skip: pgSkip }, async (t) => {
  const db = await createTestDatabase('huiying_events');
  const { log: logB, lines: linesB } = captureLog();
  const a = new PgEventBus({ databaseUrl: db.url, nodeId: 'node-a' });
  const b = new PgEventBus({ databaseUrl: db.url, nodeId: 'node-b', log: logB, reconnectMs: 50 });
  try {
    await Promise.all([a.ready(), b.ready()]);
    assert.equal(a.stats().listening, true);
    const onA: ExamChangeEvent[] = [];
    const onB: ExamChangeEvent[] = [];
    a.subscribe((e) => onA.push(e));
    b.subscribe((e) => onB.push(e));
    const resyncB: ResyncNotice[] = [];
    b.onResync((n) => resyncB.push(n));

    await t.test('an event published on A arrives on B exactly once, and once on A', async () => {
      a.publish(ev(1, { hospitalId: 3, change: '登记 created' }));
      // local delivery is synchronous
      assert.deepEqual(
        onA.map((e) => e.examId),
        [1],
      );
      await waitFor(() => onB.length >= 1, 'B to receive event 1');
      assert.deepEqual(onB[0], ev(1, { hospitalId: 3, change: '登记 created' }));
      // a marker from B: when A has it, A has also seen (and skipped) its own earlier notification
      b.publish(ev(2));
      await waitFor(() => onA.some((e) => e.examId === 2), 'A to receive the marker');
      assert.deepEqual(
        onA.map((e) => e.examId),
        [1, 2],
      );
      assert.deepEqual(
        onB.map((e) => e.examId),
        [1, 2],
      );
      assert.equal(b.stats().received, 1);
      assert.equal(a.stats().received, 1);
    });

    await t.test('a burst arrives complete and in order', async () => {
      onB.length = 0;
      for (let i = 0; i < 1000; i++) a.publish(ev(1000 + i, { version: i }));
      await waitFor(() => onB.length >= 1000, 'B to receive the burst');
      assert.deepEqual(
        onB.map((e) => e.examId),
        Array.from({ length: 1000 }, (_, i) => 1000 + i),
      );
      assert.equal(a.stats().sendFailures, 0);
      assert.equal(resyncB.length, 0);
    });

    await t.test(
      'malformed and foreign notifications are ignored; a sequence gap asks for a resync',
      async () => {
        onB.length = 0;
        await adminQuery(db.url, "select pg_notify('huiying_events', $1)", ['{"bogus":true}']);
        // an echo of B's own node id is skipped
        await adminQuery(db.url, "select pg_notify('huiying_events', $1)", [
          encodeEnvelope('node-b', 999, ev(77)),
        ]);
        // a third node: seq 1, then seq 3 (2 lost)
        await adminQuery(db.url, "select pg_notify('huiying_events', $1)", [
          encodeEnvelope('node-c', 1, ev(81)),
        ]);
        await adminQuery(db.url, "select pg_notify('huiying_events', $1)", [
          encodeEnvelope('node-c', 3, ev(83)),
        ]);
        await waitFor(() => onB.length >= 2, 'B to receive node-c events');
        assert.deepEqual(
          onB.map((e) => e.examId),
          [81, 83],
        );
        assert.deepEqual(resyncB, [{ reason: 'gap', nodeId: 'node-c' }]);
        assert.ok(linesB.some((l) => l.msg.includes('malformed')));
        resyncB.length = 0;
      },
    );

    await t.test('an event too big for NOTIFY is delivered locally only', async () => {
      onA.length = 0;
      onB.length = 0;
      const big = ev(90, { at: '时'.repeat(3000) });
      a.publish(big);
      assert.equal(onA.length, 1);
      assert.equal(a.stats().sendFailures, 1);
      a.publish(ev(91));
      await waitFor(() => onB.length >= 1, 'B to receive the next event');
      assert.deepEqual(
        onB.map((e) => e.examId),
        [91],
      );
      // B noticed the hole in A's numbering (the big event took a sequence number)
      assert.deepEqual(resyncB, [{ reason: 'gap', nodeId: 'node-a' }]);
      resyncB.length = 0;
    });

    await t.test(
      'LISTEN connection killed → reconnects, tells subscribers to resync, delivers again',
      async () => {
        const pid = b.listenerPid();
        assert.ok(pid !== undefined);
        const killed = await adminQuery(db.url, 'select pg_terminate_backend($1) as ok', [pid]);
        assert.equal((killed.rows[0] as { ok: boolean } | undefined)?.ok, true);
        await waitFor(() => b.stats().reconnects >= 1 && b.stats().listening, 'B to reconnect');
        assert.notEqual(b.listenerPid(), pid);
        assert.deepEqual(resyncB, [{ reason: 'reconnected' }]);
        assert.ok(linesB.some((l) => l.level === 'warn' && l.msg.includes('LISTEN connection lost')));
        onB.length = 0;
        a.publish(ev(100));
        await waitFor(() => onB.length >= 1, 'B to receive after reconnecting');
        assert.deepEqual(
          onB.map((e) => e.examId),
          [100],
        );
      },
    );

    await t.test('publishing survives a killed NOTIFY connection', async () => {
      // kill every connection of the database except the two LISTEN ones (A's NOTIFY pool connection)
      const keep = [a.listenerPid(), b.listenerPid()];
      await adminQuery(
        db.url,
        'select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid() and not (pid = any($2::int[]))',
        [db.name, keep],
      );
      onB.length = 0;
      // the first send after the kill may fail (the pool notices the dead connection); later ones go through
      a.publish(ev(200));
      await new Promise((r) => setTimeout(r, 50));
      a.publish(ev(201));
      await waitFor(() => onB.some((e) => e.examId === 201), 'B to receive after the pool reconnects');
    });
  } finally {
    await a.close();
    await b.close();
    await db.drop();
  }
});

test(
  'PgEventBus: close() sends what is queued; a node that cannot reach PostgreSQL keeps retrying',
  { skip: pgSkip },
  async () => {
    const db = await createTestDatabase('huiying_events');
    const a = new PgEventBus({ databaseUrl: db.url });
    const b = new PgEventBus({ databaseUrl: db.url });
    try {
      await Promise.all([a.ready(), b.ready()]);
      const onB: number[] = [];
      b.subscribe((e) => onB.push(e.examId));
      a.publish(ev(1));
      a.publish(ev(2));
      await a.close(); // flushes before closing
      await waitFor(() => onB.length >= 2, 'B to receive the flushed events');
      assert.deepEqual(onB, [1, 2]);
      assert.equal(a.stats().listening, false);
    } finally {
      await a.close();
      await b.close();
      await db.drop();
    }
    // unreachable server: no throw, local delivery still works, not listening
    const url = new URL(pgAdminUrl());
    url.port = '1';
    const { log, lines } = captureLog();
    const lonely = new PgEventBus({ databaseUrl: url.toString(), log, reconnectMs: 20, maxReconnectMs: 40 });
    const got: number[] = [];
    lonely.subscribe((e) => got.push(e.examId));
    lonely.publish(ev(5));
    assert.deepEqual(got, [5]);
    await waitFor(() => lines.filter((l) => l.msg.includes('reconnecting')).length >= 2, 'retries');
    assert.equal(lonely.stats().listening, false);
    await lonely.close();
  },
);
