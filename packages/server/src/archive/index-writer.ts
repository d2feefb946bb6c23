/**
 * SQLite index with its writes off the main thread.
 *
 * better-sqlite3 is synchronous: an index transaction (its ~10 statements and, in sync mode `full`, the
 * fsync of the WAL on commit) would block the event loop, and with it every DICOM association. Here
 * indexInstances() posts each batch (one message per batch) to a worker thread that owns its own
 * connection to the same database file and runs the unchanged KyselyArchiveIndex code there; the results
 * come back by structured clone. Reads (query, locate, findInstance) stay on the main thread's connection
 * and see every committed batch (WAL).
 *
 * A batch that fails in the worker rejects with the error's message (the group committer then retries the
 * items one by one). If the thread dies, the calls in flight are rejected and the next call starts a new
 * thread. close() lets in-flight batches finish, then closes the worker's connection and ends the thread.
 */
import { Worker } from 'node:worker_threads';
import { sql } from 'kysely';
import type { DatabaseHandle } from '../db/database.ts';
import { KyselyArchiveIndex, createIndexServices, type IndexServices } from './index-kysely.ts';
import type { DuplicatePolicy, IndexInstance, IndexResult } from './ports.ts';

/** workerData of index-writer.worker.ts */
export interface WriterData {
  path: string;
  syncFull: boolean;
}

export type WriterRequest =
  { kind: 'index'; id: number; batch: IndexInstance[]; policy: DuplicatePolicy } | { kind: 'close' };

export type WriterReply =
  { id: number; ok: true; results: IndexResult[] } | { id: number; ok: false; message: string };

interface Call {
  resolve: (r: IndexResult[]) => void;
  reject: (e: Error) => void;
}

const WORKER_URL = new URL('./index-writer.worker.ts', import.meta.url);
const CLOSE_TIMEOUT_MS = 10_000;

export interface WorkerIndexOptions {
  /** the worker's connection uses `synchronous = FULL` (else NORMAL) */
  syncFull?: boolean;
}

/** KyselyArchiveIndex whose indexInstances() runs in a worker thread (SQLite file databases only). */
export class WorkerArchiveIndex extends KyselyArchiveIndex {
  readonly #data: WriterData;
  #worker: Worker | undefined;
  #lastError: string | undefined;
  #exited: Promise<void> = Promise.resolve();
  #ready: Promise<void> = Promise.resolve();
  readonly #calls = new Map<number, Call>();
  #nextId = 1;
  #closing = false;
  #closed: Promise<void> | undefined;

  constructor(handle: DatabaseHandle, options: WorkerIndexOptions = {}) {
    super(handle);
    if (handle.dialect !== 'sqlite' || handle.sqlitePath === undefined || handle.sqlitePath === ':memory:') {
      throw new Error('the index writer worker needs a SQLite database file');
    }
    this.#data = { path: handle.sqlitePath, syncFull: options.syncFull === true };
    this.#start(); // boot the thread now, not on the first ingest
  }

  #start(): Worker {
    const worker = new Worker(WORKER_URL, { workerData: this.#data, name: 'huiying-index-writer' });
    this.#worker = worker;
    this.#lastError = undefined;
    worker.unref(); // referenced only while calls are in flight
    this.#ready = new Promise<void>((resolve, reject) => {
      worker.once('message', () => resolve()); // the first message is 'ready' (id 0)
      worker.once('exit', () => reject(new Error(this.#lastError ?? 'index writer thread exited')));
    });
    this.#ready.catch(() => undefined); // also reported through the calls in flight
    worker.on('message', (reply: WriterReply) => {
      const call = this.#calls.get(reply.id);
      if (call === undefined) return;
      this.#calls.delete(reply.id);
      if (this.#calls.size === 0) worker.unref();
      if (reply.ok) call.resolve(reply.results);
      else call.reject(new Error(reply.message));
    });
    worker.on('error', (err: unknown) => {
      this.#lastError = err instanceof Error ? err.message : String(err);
    });
    this.#exited = new Promise<void>((resolve) => {
      worker.once('exit', (code) => {
        if (this.#worker === worker) this.#worker = undefined;
        const why =
          this.#lastError !== undefined
            ? `index writer thread failed: ${this.#lastError}`
            : `index writer thread exited (code ${code})`;
        const calls = [...this.#calls.values()];
        this.#calls.clear();
        for (const c of calls) c.reject(new Error(why));
        resolve();
      });
    });
    return worker;
  }

  override indexInstances(batch: IndexInstance[], policy: DuplicatePolicy): Promise<IndexResult[]> {
    if (this.#closing) return Promise.reject(new Error('index is closed'));
    if (batch.length === 0) return Promise.resolve([]);
    const worker = this.#worker ?? this.#start(); // restart after a crash
    const id = this.#nextId++;
    return new Promise<IndexResult[]>((resolve, reject) => {
      this.#calls.set(id, { resolve, reject });
      worker.ref();
      worker.postMessage({ kind: 'index', id, batch, policy } satisfies WriterRequest);
    });
  }

  /** Resolves when the current writer thread has opened its connection; rejects if it failed to start. */
  ready(): Promise<void> {
    return this.#ready;
  }

  /** Number of batches posted to the worker and not yet answered. */
  get inFlight(): number {
    return this.#calls.size;
  }

  /** Kill the writer thread (tests, operations): in-flight calls are rejected, the next call restarts it. */
  async terminateWriter(): Promise<void> {
    const worker = this.#worker;
    if (worker === undefined) return;
    await worker.terminate();
    await this.#exited;
  }

  /** Let in-flight batches finish, then close the worker's connection and end the thread. */
  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    this.#closing = true;
    const worker = this.#worker;
    if (worker === undefined) return;
    // the 'close' request queues behind every batch already posted: they are answered first
    worker.ref();
    worker.postMessage({ kind: 'close' } satisfies WriterRequest);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), CLOSE_TIMEOUT_MS);
    });
    const outcome = await Promise.race([this.#exited, timeout]);
    clearTimeout(timer);
    if (outcome === 'timeout') await this.terminateWriter();
  }
}

export interface IndexServiceOptions {
  /** SQLite file databases: run indexInstances in a worker thread (ignored on PostgreSQL and `:memory:`) */
  writerWorker?: boolean;
  /** SQLite: `synchronous = FULL` on the writer and the main connection (sync mode `full`) */
  syncFull?: boolean;
}

export interface ClosableIndexServices extends IndexServices {
  /** ends the writer thread, if any (the database handle is closed by its owner) */
  close(): Promise<void>;
}

/** Whether a writer worker can serve this database (SQLite file). */
export function canUseWriterWorker(handle: DatabaseHandle): boolean {
  return handle.dialect === 'sqlite' && handle.sqlitePath !== undefined && handle.sqlitePath !== ':memory:';
}

/**
 * The index and repositories over an open database, with the SQLite durability setting applied and,
 * when asked and possible, the index writes in a worker thread.
 */
export async function openIndexServices(
  handle: DatabaseHandle,
  options: IndexServiceOptions = {},
): Promise<ClosableIndexServices> {
  if (handle.dialect === 'sqlite' && options.syncFull === true) {
    // the main connection's own (rare) writes: hospitals, AEs, tokens — and every index write without a worker
    await sql`PRAGMA synchronous = FULL`.execute(handle.db);
  }
  const base = createIndexServices(handle);
  if (options.writerWorker !== true || !canUseWriterWorker(handle)) {
    return { ...base, close: () => Promise.resolve() };
  }
  const index = new WorkerArchiveIndex(handle, { syncFull: options.syncFull === true });
  try {
    await index.ready(); // a start failure surfaces here, and the first batch does not wait for the boot
  } catch (e) {
    await index.close();
    throw e;
  }
  return { ...base, index, close: () => index.close() };
}
