/**
 * The worker-backed SQLite index (index-writer.ts): errors, close with work in flight, restart. The
 * ArchiveIndex cases themselves run through the worker in index-kysely.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import type { DatabaseHandle } from '../db/database.ts';
import { openDatabase } from '../db/database.ts';
import { openTestSqlite } from '../db/test-databases.ts';
import { GroupCommitter } from '../ingest/group-committer.ts';
import { KyselyArchiveIndex } from './index-kysely.ts';
import { openIndexServices, WorkerArchiveIndex, type ClosableIndexServices } from './index-writer.ts';
import type { IndexInstance } from './ports.ts';

let n = 0;
function inst(hospitalId: number, study = '1.2.3.1', series = '1.2.3.1.1'): IndexInstance {
  const sop = `2.25.${process.pid}${++n}`;
  return {
    hospitalId,
    attributes: {
      SOPInstanceUID: sop,
      SOPClassUID: '1.2.840.10008.5.1.4.1.1.2',
      StudyInstanceUID: study,
      SeriesInstanceUID: series,
      Modality: 'CT',
      PatientID: 'P1',
      PatientName: 'Zhang^San=张^三',
    },
    blobKey: `${hospitalId}/${sop}.dcm`,
    size: 100,
    sha256: 'ab'.repeat(32),
    transferSyntaxUid: '1.2.840.10008.1.2.1',
    source: 'dimse',
    receivedAt: '2026-11-26T10:00:00.000Z',
  };
}

describe('WorkerArchiveIndex (SQLite writes in a worker thread)', () => {
  let h: DatabaseHandle;
  let s: ClosableIndexServices;
  let index: WorkerArchiveIndex;
  let A: number;

  before(async () => {
    h = await openTestSqlite();
    s = await openIndexServices(h, { writerWorker: true, syncFull: true });
    assert.ok(s.index instanceof WorkerArchiveIndex);
    index = s.index;
    A = (await s.hospitals.create({ code: 'A', name: 'A' })).id;
  });
  after(async () => {
    await s?.close();
    await h?.close();
  });

  test('batches are committed by the worker and visible to reads on the main connection', async () => {
    const batch = [inst(A), inst(A), inst(A, '1.2.3.2', '1.2.3.2.1')];
    const results = await index.indexInstances(batch, 'keep');
    assert.deepEqual(
      results.map((r) => r.outcome),
      ['stored', 'stored', 'stored'],
    );
    const loc = await index.findInstance(A, batch[2]!.attributes.SOPInstanceUID);
    assert.equal(loc?.instanceId, results[2]!.instanceId);
    const again = await index.indexInstances([batch[0]!], 'keep');
    assert.equal(again[0]?.outcome, 'duplicate-kept');
    assert.equal(index.inFlight, 0);
  });

  test('syncFull: the main connection is FULL too', async () => {
    const r = await sql<{ synchronous: number }>`pragma synchronous`.execute(h.db);
    assert.equal(r.rows[0]?.synchronous, 2);
  });

  test('an error inside the worker rejects only that call; the committer isolates the bad item', async () => {
    const good = inst(A);
    const bad = inst(999_999); // no such hospital: FOREIGN KEY constraint fails in the worker
    const [okRes, badRes] = await Promise.allSettled([
      index.indexInstances([good], 'keep'),
      index.indexInstances([bad], 'keep'),
    ]);
    assert.equal(okRes.status, 'fulfilled');
    assert.equal(badRes.status, 'rejected');
    const reason: unknown = badRes.reason;
    assert.ok(reason instanceof Error);
    assert.match(reason.message, /FOREIGN KEY/);
    assert.ok(await index.findInstance(A, good.attributes.SOPInstanceUID));

    const committer = new GroupCommitter(index, 'keep', 50, 0);
    const items = [inst(A), inst(999_999), inst(A)];
    const settled = await Promise.allSettled(items.map((i) => committer.submit(i)));
    assert.deepEqual(
      settled.map((x) => x.status),
      ['fulfilled', 'rejected', 'fulfilled'],
    );
    for (const i of [items[0]!, items[2]!])
      assert.ok(await index.findInstance(A, i.attributes.SOPInstanceUID));
  });

  test('a terminated worker rejects its in-flight call and is restarted by the next call', async () => {
    const big = Array.from({ length: 2000 }, () => inst(A, '1.2.3.9', '1.2.3.9.1'));
    const pending = index.indexInstances(big, 'keep');
    await index.terminateWriter();
    const outcome = await pending.then(
      () => 'resolved',
      (e: Error) => e.message,
    );
    // killed mid-transaction (rolled back) — or, on a fast machine, finished just before
    if (outcome !== 'resolved') {
      assert.match(outcome, /index writer thread/);
      assert.equal(await index.findInstance(A, big[0]!.attributes.SOPInstanceUID), undefined);
    }
    assert.equal(index.inFlight, 0);
    const after = inst(A);
    const r = await index.indexInstances([after], 'keep');
    assert.equal(r[0]?.outcome, 'stored');
    assert.ok(await index.findInstance(A, after.attributes.SOPInstanceUID));

    await index.terminateWriter(); // idle thread killed: the next call restarts it
    const r2 = await index.indexInstances([inst(A)], 'keep');
    assert.equal(r2[0]?.outcome, 'stored');
  });
});

test('close() lets an in-flight batch commit first, then refuses new work', async () => {
  const h = await openTestSqlite();
  try {
    const s = await openIndexServices(h, { writerWorker: true });
    const A = (await s.hospitals.create({ code: 'A', name: 'A' })).id;
    const batch = Array.from({ length: 500 }, () => inst(A, '1.2.4.1', '1.2.4.1.1'));
    const pending = s.index.indexInstances(batch, 'keep');
    const second = s.index.indexInstances([inst(A)], 'keep');
    await s.close();
    const results = await pending;
    assert.equal(results.length, 500);
    assert.ok(results.every((r) => r.outcome === 'stored'));
    assert.equal((await second)[0]?.outcome, 'stored');
    const last = await s.index.findInstance(A, batch[499]!.attributes.SOPInstanceUID);
    assert.equal(last?.instanceId, results[499]!.instanceId);
    await assert.rejects(s.index.indexInstances([inst(A)], 'keep'), /closed/);
    await s.close(); // idempotent
  } finally {
    await h.close();
  }
});

test('in-memory SQLite falls back to in-thread writes', async () => {
  const h = await openDatabase(':memory:');
  try {
    const s = await openIndexServices(h, { writerWorker: true });
    assert.ok(s.index instanceof KyselyArchiveIndex);
    assert.ok(!(s.index instanceof WorkerArchiveIndex));
    await s.close();
  } finally {
    await h.close();
  }
});
