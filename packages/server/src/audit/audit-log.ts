/**
 * The audit trail as the protocol adapters see it: `record()` never waits for the database. Events go
 * into a bounded in-process queue; one writer drains it in batches (one transaction per batch, like the
 * ingest group committer), so auditing costs the hot paths a push onto an array.
 *
 * Failure policy (PHI system):
 * - when the store fails, every queued and new event is also written to stderr as one `AUDIT {json}` line
 *   (so nothing is lost from the operator's logs), and the writer retries with backoff;
 * - reads of patient data are FAIL-CLOSED: while the store is failing or the queue is full,
 *   `acceptingReads()` is false and DICOMweb answers 503, DIMSE C-FIND/C-MOVE/C-GET answer A700 (out of
 *   resources). The read that discovers the failure has already been served; the next ones are refused;
 * - stores are FAIL-OPEN: C-STORE and STOW-RS always proceed (an instance must never be lost); their
 *   events go to stderr when they cannot be queued.
 */
import { Readable } from 'node:stream';
import type { AuditRepository, PruneResult } from './repository.ts';
import type { AuditEvent, AuditEventInput, AuditSearch, VerifyResult } from './types.ts';

/** Where batches are written (the repository; tests inject failing ones). */
export interface AuditSink {
  append(events: AuditEventInput[]): Promise<unknown>;
}

export interface AuditLogOptions {
  /** most events waiting to be written (default 10 000) */
  maxQueue?: number;
  /** most events per transaction (default 500) */
  batchSize?: number;
  /** first retry delay after a failure, ms (default 500; doubles up to 30 s) */
  retryMs?: number;
  /** the fallback line writer (default: process.stderr) */
  fallback?: (line: string) => void;
  log?: (level: 'debug' | 'info' | 'warn' | 'error', msg: string, extra?: Record<string, unknown>) => void;
}

const CSV_COLUMNS: (keyof AuditEvent)[] = [
  'id',
  'at',
  'actorType',
  'actorId',
  'actorName',
  'hospitalId',
  'source',
  'protocol',
  'action',
  'outcome',
  'status',
  'patientHospitalId',
  'patientId',
  'studyUid',
  'object',
  'detail',
  'prevHash',
  'hash',
];

function csvCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'string' ? v : typeof v === 'number' ? String(v) : JSON.stringify(v);
  // neutralise spreadsheet formulas; quote when needed
  const safe = /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
  return /[",\r\n']/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export class AuditLog {
  readonly #repo: AuditRepository | undefined;
  readonly #sink: AuditSink;
  readonly #maxQueue: number;
  readonly #batchSize: number;
  readonly #retryMs: number;
  readonly #fallback: (line: string) => void;
  readonly #log: NonNullable<AuditLogOptions['log']>;
  #queue: AuditEventInput[] = [];
  readonly #toStderr = new WeakSet<AuditEventInput>();
  #draining: Promise<void> | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #retryDelay: number;
  #broken = false;
  #closed = false;
  #dropped = 0;
  #retentionTimer: NodeJS.Timeout | undefined;

  constructor(repo: AuditRepository | undefined, options: AuditLogOptions & { sink?: AuditSink } = {}) {
    this.#repo = repo;
    const sink = options.sink ?? repo;
    if (sink === undefined) throw new Error('AuditLog needs a repository or a sink');
    this.#sink = sink;
    this.#maxQueue = options.maxQueue ?? 10000;
    this.#batchSize = options.batchSize ?? 500;
    this.#retryMs = options.retryMs ?? 500;
    this.#retryDelay = this.#retryMs;
    this.#fallback = options.fallback ?? ((line) => process.stderr.write(`${line}\n`));
    this.#log = options.log ?? (() => undefined);
  }

  /** Queue an event; false when it could not be queued (it then went to stderr). Never throws. */
  record(event: AuditEventInput): boolean {
    const e: AuditEventInput = { ...event, at: event.at ?? new Date().toISOString() };
    if (this.#closed || this.#queue.length >= this.#maxQueue) {
      this.#dropped++;
      this.#stderr(e);
      return false;
    }
    if (this.#broken) this.#stderr(e);
    this.#queue.push(e);
    this.#kick();
    return true;
  }

  /** false while the store fails or the queue is full: reads of PHI must then be refused. */
  acceptingReads(): boolean {
    return !this.#closed && !this.#broken && this.#queue.length < this.#maxQueue;
  }

  stats(): { queued: number; broken: boolean; dropped: number } {
    return { queued: this.#queue.length, broken: this.#broken, dropped: this.#dropped };
  }

  #stderr(e: AuditEventInput): void {
    if (this.#toStderr.has(e)) return;
    this.#toStderr.add(e);
    try {
      this.#fallback(`AUDIT ${JSON.stringify(e)}`);
    } catch {
      // nowhere left to write
    }
  }

  #kick(): void {
    if (this.#draining !== undefined || this.#retryTimer !== undefined) return;
    this.#draining = new Promise<void>((resolve) => {
      // let the current tick's events join the batch
      setImmediate(() => {
        void this.#drain().finally(() => {
          this.#draining = undefined;
          resolve();
        });
      });
    });
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.slice(0, this.#batchSize);
      try {
        await this.#sink.append(batch);
      } catch (err) {
        if (!this.#broken)
          this.#log('error', 'audit store failing: PHI reads refused until it recovers', {
            error: err instanceof Error ? err.message : String(err),
          });
        this.#broken = true;
        for (const e of this.#queue) this.#stderr(e);
        if (!this.#closed) {
          const delay = this.#retryDelay;
          this.#retryDelay = Math.min(this.#retryDelay * 2, 30000);
          this.#retryTimer = setTimeout(() => {
            this.#retryTimer = undefined;
            this.#kick();
          }, delay);
          this.#retryTimer.unref();
        }
        return;
      }
      this.#queue.splice(0, batch.length);
      if (this.#broken) this.#log('info', 'audit store recovered');
      this.#broken = false;
      this.#retryDelay = this.#retryMs;
    }
  }

  /** Wait until every queued event is written; throws when the store is failing. */
  async flush(): Promise<void> {
    for (;;) {
      if (this.#draining !== undefined) await this.#draining;
      if (this.#queue.length === 0) return;
      if (this.#broken || this.#closed)
        throw new Error(`audit store failing: ${this.#queue.length} events pending`);
      this.#kick();
    }
  }

  /** Stop: write what is queued (once), the rest goes to stderr. */
  async close(): Promise<void> {
    if (this.#retentionTimer !== undefined) clearInterval(this.#retentionTimer);
    if (this.#retryTimer !== undefined) {
      clearTimeout(this.#retryTimer);
      this.#retryTimer = undefined;
      this.#broken = false; // one last attempt
    }
    if (!this.#closed) {
      try {
        await this.flush();
      } catch {
        // reported below
      }
    }
    this.#closed = true;
    for (const e of this.#queue) this.#stderr(e);
    this.#queue = [];
  }

  #repository(): AuditRepository {
    if (this.#repo === undefined) throw new Error('no audit repository');
    return this.#repo;
  }

  search(s: AuditSearch = {}): Promise<AuditEvent[]> {
    return this.#repository().search(s);
  }

  verify(from?: number, to?: number): Promise<VerifyResult> {
    return this.#repository().verify(from, to);
  }

  /** Export matching events (oldest first) as NDJSON or CSV (with a header row). */
  export(s: AuditSearch, format: 'ndjson' | 'csv'): Readable {
    const repo = this.#repository();
    async function* lines(): AsyncGenerator<string> {
      if (format === 'csv') yield `${CSV_COLUMNS.join(',')}\r\n`;
      for await (const e of repo.iterate(s)) {
        yield format === 'csv'
          ? `${CSV_COLUMNS.map((c) => csvCell(e[c])).join(',')}\r\n`
          : `${JSON.stringify(e)}\n`;
      }
    }
    return Readable.from(lines(), { objectMode: false });
  }

  /** Prune events older than `days` days (see repository.ts for how the chain stays verifiable). */
  async prune(days: number, actor: Partial<AuditEventInput> = {}): Promise<PruneResult> {
    await this.flush().catch(() => undefined);
    const before = new Date(Date.now() - days * 86400_000).toISOString();
    return this.#repository().prune(before, actor);
  }

  /** Run the retention prune now and then every `everyMs` (default 6 h). */
  startRetention(days: number, everyMs = 6 * 3600_000): void {
    const run = (): void => {
      this.prune(days, { protocol: 'http' }).then(
        (r) => {
          if (r.pruned > 0) this.#log('info', 'audit retention: events pruned', { ...r });
        },
        (err: unknown) => {
          this.#log('error', 'audit retention prune failed', {
            error: err instanceof Error ? err.message : String(err),
          });
        },
      );
    };
    run();
    this.#retentionTimer = setInterval(run, everyMs);
    this.#retentionTimer.unref();
  }
}
