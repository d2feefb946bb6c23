/**
 * The SQLite index writer thread (see index-writer.ts): owns its own better-sqlite3 connection to the
 * archive file and runs KyselyArchiveIndex.indexInstances for each batch posted by the main thread, so
 * the statements and the commit's fsync never block the main event loop.
 *
 * Protocol: out `{ id: 0, ok: true, results: [] }` once the connection is open (ready);
 * in `{ kind: 'index', id, batch, policy }` → out `{ id, ok: true, results }` or
 * `{ id, ok: false, message }`; in `{ kind: 'close' }` → the connection is closed and the thread ends.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openSqliteKysely } from '../db/database.ts';
import { KyselyArchiveIndex } from './index-kysely.ts';
import type { WriterData, WriterReply, WriterRequest } from './index-writer.ts';

const port = parentPort;
if (port === null) throw new Error('index-writer.worker.ts must run as a worker thread');
const data = workerData as WriterData;
const db = openSqliteKysely(data.path, { syncFull: data.syncFull });
const index = new KyselyArchiveIndex({ db, dialect: 'sqlite' });
port.postMessage({ id: 0, ok: true, results: [] } satisfies WriterReply); // ready (id 0)
/** batches being indexed (their transactions queue on the single connection) */
const running = new Set<Promise<void>>();

port.on('message', (msg: WriterRequest) => {
  if (msg.kind === 'close') {
    // batches posted before 'close' are answered first; then the connection is closed (WAL checkpoint)
    void Promise.allSettled([...running])
      .then(() => db.destroy())
      .finally(() => port.close());
    return;
  }
  const done = index.indexInstances(msg.batch, msg.policy).then(
    (results) => port.postMessage({ id: msg.id, ok: true, results } satisfies WriterReply),
    (err: unknown) =>
      port.postMessage({
        id: msg.id,
        ok: false,
        message: err instanceof Error ? err.message : String(err),
      } satisfies WriterReply),
  );
  running.add(done);
  void done.finally(() => running.delete(done));
});
