/**
 * Live exam events (ExamChangeEvent) for the worklists of every server node.
 *
 * - `InProcessEventBus`: one node (SQLite, or tests). `publish` calls every local listener synchronously;
 *   a listener that throws is logged and never stops the others.
 * - `PgEventBus`: several nodes on one PostgreSQL database. `publish` delivers locally at once and sends
 *   `pg_notify('huiying_events', <json>)` (batched: every event published in the same event-loop turn
 *   goes out in one statement, in order). A dedicated connection LISTENs and delivers the other nodes'
 *   events locally; each node has a random id in the payload and skips its own events.
 *
 *   When the LISTEN connection drops (database restart, network, pg_terminate_backend) it is reopened with
 *   exponential backoff (250 ms … 30 s, jittered). Events sent while it is down are LOST for this node —
 *   PostgreSQL does not queue notifications for a session that is not listening. Every node also numbers
 *   its events, so a receiver notices a gap (a failed NOTIFY on the sender, a lost connection here). In
 *   both cases the bus tells its `onResync` listeners, and the SSE route sends `event: resync` so that the
 *   browsers refetch their worklists (browsers also refetch whenever their EventSource reconnects).
 *
 *   A NOTIFY payload must stay below 8000 bytes: an event is always small (ids, status, time), but the
 *   free-text `change` is trimmed to 64 characters and anything still too big is delivered only locally
 *   (with a warning) rather than failing the publisher.
 *
 * `openEventBus({dialect, databaseUrl, log})` picks the bus for the database.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { ExamChangeEvent } from '../ris/model.ts';
import { isExamStatus } from '../ris/model.ts';
import type { EventBus } from '../ris/ports.ts';
import type { Log } from '../logger.ts';
import { messageOf } from '../errors.ts';
import type { DialectName } from '../db/database.ts';

export type ExamListener = (event: ExamChangeEvent) => void;

/** Why subscribers should refetch: events may have been lost. */
export interface ResyncNotice {
  reason: 'reconnected' | 'gap';
  /** the node whose events were missed (gap) */
  nodeId?: string;
}

/** A bus that can tell its subscribers that events may have been lost (so they refetch). */
export interface LiveEventBus extends EventBus {
  /** this node's id (random per process) */
  readonly nodeId: string;
  /** called when events may have been lost; returns the unsubscribe function */
  onResync(listener: (notice: ResyncNotice) => void): () => void;
  /** local listeners (for metrics) */
  listenerCount(): number;
  /** counters for metrics and tests */
  stats(): EventBusStats;
}

export interface EventBusStats {
  kind: 'in-process' | 'postgres';
  nodeId: string;
  listeners: number;
  published: number;
  /** events received from other nodes and delivered locally */
  received: number;
  /** events that could not be sent to other nodes (NOTIFY failed, queue full, too big) */
  sendFailures: number;
  /** times the LISTEN connection was re-established after a drop */
  reconnects: number;
  /** PostgreSQL: is the LISTEN connection up */
  listening: boolean;
}

export const EVENT_CHANNEL = 'huiying_events';
/** PostgreSQL refuses NOTIFY payloads of 8000 bytes or more */
export const MAX_PAYLOAD_BYTES = 7999;
const MAX_CHANGE_CHARS = 64;

function newNodeId(): string {
  return randomBytes(8).toString('hex');
}

/** Local fan-out shared by both buses. */
class Fanout {
  readonly #listeners = new Set<ExamListener>();
  readonly #resync = new Set<(n: ResyncNotice) => void>();
  readonly #log: Log;

  constructor(log: Log) {
    this.#log = log;
  }

  deliver(event: ExamChangeEvent): void {
    // a copy: a listener may unsubscribe (itself or another) while we iterate
    for (const l of [...this.#listeners]) {
      if (!this.#listeners.has(l)) continue;
      try {
        l(event);
      } catch (err) {
        this.#log('warn', 'exam event listener failed', { error: messageOf(err), examId: event.examId });
      }
    }
  }

  resync(notice: ResyncNotice): void {
    for (const l of [...this.#resync]) {
      try {
        l(notice);
      } catch (err) {
        this.#log('warn', 'resync listener failed', { error: messageOf(err) });
      }
    }
  }

  subscribe(listener: ExamListener): () => void {
    // a function subscribed twice gets its own entry each time
    const wrapped: ExamListener = (e) => listener(e);
    this.#listeners.add(wrapped);
    return () => {
      this.#listeners.delete(wrapped);
    };
  }

  onResync(listener: (n: ResyncNotice) => void): () => void {
    const wrapped = (n: ResyncNotice): void => listener(n);
    this.#resync.add(wrapped);
    return () => {
      this.#resync.delete(wrapped);
    };
  }

  get size(): number {
    return this.#listeners.size;
  }

  clear(): void {
    this.#listeners.clear();
    this.#resync.clear();
  }
}

/** One node: synchronous fan-out to local listeners. */
export class InProcessEventBus implements LiveEventBus {
  readonly nodeId = newNodeId();
  readonly #fanout: Fanout;
  #closed = false;
  #published = 0;

  constructor(opts: { log?: Log } = {}) {
    this.#fanout = new Fanout(opts.log ?? (() => undefined));
  }

  publish(event: ExamChangeEvent): void {
    if (this.#closed) return;
    this.#published++;
    this.#fanout.deliver(event);
  }

  subscribe(listener: ExamListener): () => void {
    return this.#fanout.subscribe(listener);
  }

  onResync(listener: (notice: ResyncNotice) => void): () => void {
    return this.#fanout.onResync(listener);
  }

  listenerCount(): number {
    return this.#fanout.size;
  }

  stats(): EventBusStats {
    return {
      kind: 'in-process',
      nodeId: this.nodeId,
      listeners: this.#fanout.size,
      published: this.#published,
      received: 0,
      sendFailures: 0,
      reconnects: 0,
      listening: !this.#closed,
    };
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#fanout.clear();
    return Promise.resolve();
  }
}

// ------------------------------------------------------------------------------------------ wire format

/** What goes through NOTIFY: node id, the node's sequence number, the event. */
interface Envelope {
  n: string;
  s: number;
  e: ExamChangeEvent;
}

/** The NOTIFY payload of an event, trimmed to fit; undefined when it cannot fit. */
export function encodeEnvelope(nodeId: string, seq: number, event: ExamChangeEvent): string | undefined {
  const e: ExamChangeEvent = {
    type: 'exam',
    examId: event.examId,
    hospitalId: event.hospitalId,
    status: event.status,
    change: event.change.length > MAX_CHANGE_CHARS ? event.change.slice(0, MAX_CHANGE_CHARS) : event.change,
    version: event.version,
    at: event.at,
  };
  const payload = JSON.stringify({ n: nodeId, s: seq, e } satisfies Envelope);
  return Buffer.byteLength(payload, 'utf8') <= MAX_PAYLOAD_BYTES ? payload : undefined;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A received payload, validated (anyone with database access can NOTIFY on the channel). */
export function decodeEnvelope(payload: string): Envelope | undefined {
  let v: unknown;
  try {
    v = JSON.parse(payload);
  } catch {
    return undefined;
  }
  if (!isRecord(v) || typeof v.n !== 'string' || typeof v.s !== 'number' || !isRecord(v.e)) return undefined;
  const e = v.e;
  if (
    e.type !== 'exam' ||
    !Number.isSafeInteger(e.examId) ||
    !Number.isSafeInteger(e.hospitalId) ||
    typeof e.status !== 'string' ||
    !isExamStatus(e.status) ||
    typeof e.change !== 'string' ||
    !Number.isSafeInteger(e.version) ||
    typeof e.at !== 'string'
  )
    return undefined;
  return {
    n: v.n,
    s: v.s,
    e: {
      type: 'exam',
      examId: e.examId as number,
      hospitalId: e.hospitalId as number,
      status: e.status,
      change: e.change,
      version: e.version as number,
      at: e.at,
    },
  };
}

// ------------------------------------------------------------------------------------------ PostgreSQL

export interface PgEventBusOptions {
  databaseUrl: string;
  log?: Log;
  /** default huiying_events */
  channel?: string;
  /** default: random */
  nodeId?: string;
  /** first reconnect delay (default 250 ms); doubles up to maxReconnectMs (default 30 s) */
  reconnectMs?: number;
  maxReconnectMs?: number;
  /** the LISTEN connection is checked with `SELECT 1` this often (default 30 s; 0 = never) */
  healthCheckMs?: number;
  /** events waiting for NOTIFY beyond this are dropped (counted as send failures); default 10,000 */
  maxQueue?: number;
  /** events per NOTIFY statement (default 200) */
  batchSize?: number;
}

const CHANNEL_RE = /^[a-z_][a-z0-9_]{0,62}$/;

export class PgEventBus implements LiveEventBus {
  readonly nodeId: string;
  readonly #fanout: Fanout;
  readonly #log: Log;
  readonly #url: string;
  readonly #channel: string;
  readonly #reconnectMs: number;
  readonly #maxReconnectMs: number;
  readonly #healthCheckMs: number;
  readonly #maxQueue: number;
  readonly #batchSize: number;
  /** for NOTIFY; a pool so that a broken connection is replaced on the next send */
  readonly #pool: pg.Pool;

  #closed = false;
  #closing = false;
  #seq = 0;
  #queue: string[] = [];
  #flushing: Promise<void> | undefined;
  #flushScheduled = false;

  #listener: pg.Client | undefined;
  #listening = false;
  #everListened = false;
  #attempt = 0;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #healthTimer: NodeJS.Timeout | undefined;
  #connecting: Promise<void> | undefined;
  readonly #ready: Promise<void>;
  #resolveReady: () => void = () => undefined;
  /** last sequence number seen per sending node (gap detection) */
  readonly #lastSeq = new Map<string, { seq: number; at: number }>();

  #published = 0;
  #received = 0;
  #sendFailures = 0;
  #reconnects = 0;

  constructor(opts: PgEventBusOptions) {
    this.nodeId = opts.nodeId ?? newNodeId();
    this.#log = opts.log ?? (() => undefined);
    this.#fanout = new Fanout(this.#log);
    this.#url = opts.databaseUrl;
    this.#channel = opts.channel ?? EVENT_CHANNEL;
    if (!CHANNEL_RE.test(this.#channel)) throw new Error(`bad event channel name ${this.#channel}`);
    this.#reconnectMs = opts.reconnectMs ?? 250;
    this.#maxReconnectMs = opts.maxReconnectMs ?? 30_000;
    this.#healthCheckMs = opts.healthCheckMs ?? 30_000;
    this.#maxQueue = opts.maxQueue ?? 10_000;
    this.#batchSize = opts.batchSize ?? 200;
    this.#pool = new pg.Pool({
      connectionString: this.#url,
      max: 1,
      idleTimeoutMillis: 60_000,
      connectionTimeoutMillis: 10_000,
    });
    // an idle connection's error (server restart) must not crash the process; the next send reports it
    this.#pool.on('error', () => undefined);
    this.#ready = new Promise((resolve) => {
      this.#resolveReady = resolve;
    });
    this.#connect();
  }

  /** Resolves once this node LISTENs (the first time); events of other nodes arrive from then on. */
  ready(): Promise<void> {
    return this.#ready;
  }

  publish(event: ExamChangeEvent): void {
    if (this.#closed) return;
    this.#published++;
    this.#fanout.deliver(event);
    const payload = encodeEnvelope(this.nodeId, ++this.#seq, event);
    if (payload === undefined) {
      // never happens for a well-formed event; other nodes will see a gap and resync
      this.#sendFailures++;
      this.#log('warn', 'exam event too large for NOTIFY; delivered on this node only', {
        examId: event.examId,
      });
      return;
    }
    if (this.#queue.length >= this.#maxQueue) {
      this.#sendFailures++;
      this.#queue.shift();
    }
    this.#queue.push(payload);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      // everything published in this turn goes out together
      setImmediate(() => {
        this.#flushScheduled = false;
        void this.#flush();
      });
    }
  }

  subscribe(listener: ExamListener): () => void {
    return this.#fanout.subscribe(listener);
  }

  onResync(listener: (notice: ResyncNotice) => void): () => void {
    return this.#fanout.onResync(listener);
  }

  listenerCount(): number {
    return this.#fanout.size;
  }

  stats(): EventBusStats {
    return {
      kind: 'postgres',
      nodeId: this.nodeId,
      listeners: this.#fanout.size,
      published: this.#published,
      received: this.#received,
      sendFailures: this.#sendFailures,
      reconnects: this.#reconnects,
      listening: this.#listening,
    };
  }

  /** The backend pid of the LISTEN connection (tests kill it with pg_terminate_backend). */
  listenerPid(): number | undefined {
    // `processID` is set by pg once connected (not in its type declarations)
    const c = this.#listener as unknown as { processID?: number | null } | undefined;
    return this.#listening ? (c?.processID ?? undefined) : undefined;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closing = true;
    // send what is queued before closing (one attempt: an unreachable database must not delay shutdown)
    while (this.#queue.length > 0 || this.#flushing !== undefined) await this.#flush();
    this.#closed = true;
    this.#fanout.clear();
    clearTimeout(this.#reconnectTimer);
    clearInterval(this.#healthTimer);
    await this.#connecting?.catch(() => undefined);
    const c = this.#listener;
    this.#listener = undefined;
    this.#listening = false;
    if (c !== undefined) await c.end().catch(() => undefined);
    await this.#pool.end().catch(() => undefined);
    this.#resolveReady();
  }

  // -------------------------------------------------------------------- sending

  #flush(): Promise<void> {
    if (this.#flushing !== undefined) return this.#flushing;
    if (this.#queue.length === 0) return Promise.resolve();
    this.#flushing = (async () => {
      try {
        while (this.#queue.length > 0) {
          const batch = this.#queue.splice(0, this.#batchSize);
          try {
            // one statement, notifications in array order (ordinality)
            await this.#pool.query(
              'select pg_notify($1, p) from unnest($2::text[]) with ordinality as t(p, i) order by i',
              [this.#channel, batch],
            );
          } catch (err) {
            this.#sendFailures += batch.length;
            this.#log('warn', 'exam events not sent to other nodes (NOTIFY failed)', {
              error: messageOf(err),
              events: batch.length,
            });
            if (this.#closing) {
              this.#sendFailures += this.#queue.length;
              this.#queue = [];
            }
          }
        }
      } finally {
        this.#flushing = undefined;
      }
    })();
    return this.#flushing;
  }

  // -------------------------------------------------------------------- listening

  #connect(): void {
    if (this.#closed) return;
    const client = new pg.Client({
      connectionString: this.#url,
      keepAlive: true,
      connectionTimeoutMillis: 10_000,
    });
    this.#listener = client;
    let failed = false;
    const fail = (err: unknown): void => {
      if (failed) return;
      failed = true;
      this.#onListenerLost(client, err);
    };
    client.on('error', fail);
    client.on('end', () => fail(new Error('connection ended')));
    client.on('notification', (msg) => {
      if (msg.channel === this.#channel && msg.payload !== undefined) this.#onPayload(msg.payload);
    });
    this.#connecting = (async () => {
      try {
        await client.connect();
        await client.query(`LISTEN ${this.#channel}`);
        if (this.#closed || failed) return;
        const wasUp = this.#everListened;
        this.#listening = true;
        this.#everListened = true;
        this.#attempt = 0;
        this.#startHealthCheck(client);
        if (wasUp) {
          this.#reconnects++;
          this.#log('info', 'event bus: LISTEN connection re-established', { nodeId: this.nodeId });
          // events sent while we were away are lost: subscribers must refetch
          this.#fanout.resync({ reason: 'reconnected' });
        } else {
          this.#log('debug', 'event bus: listening', { nodeId: this.nodeId, channel: this.#channel });
        }
        this.#resolveReady();
      } catch (err) {
        fail(err);
      } finally {
        this.#connecting = undefined;
      }
    })();
  }

  #startHealthCheck(client: pg.Client): void {
    clearInterval(this.#healthTimer);
    if (this.#healthCheckMs <= 0) return;
    this.#healthTimer = setInterval(() => {
      if (client !== this.#listener || !this.#listening) return;
      // a connection that silently died (network partition) never reports an error: ask it something
      const timeout = setTimeout(() => {
        this.#log('warn', 'event bus: LISTEN connection does not answer; reconnecting');
        this.#onListenerLost(client, new Error('health check timed out'));
      }, 10_000);
      client.query('select 1').then(
        () => clearTimeout(timeout),
        () => clearTimeout(timeout), // the error event handles it
      );
    }, this.#healthCheckMs);
    this.#healthTimer.unref();
  }

  #onListenerLost(client: pg.Client, err: unknown): void {
    if (client !== this.#listener) return;
    this.#listener = undefined;
    const wasListening = this.#listening;
    this.#listening = false;
    clearInterval(this.#healthTimer);
    // the connection may still be half-open: drop it for good
    const raw = client as pg.Client & { connection?: { stream?: { destroy(): void } } };
    client.end().catch(() => undefined);
    raw.connection?.stream?.destroy();
    if (this.#closed) return;
    const delay = Math.min(this.#maxReconnectMs, this.#reconnectMs * 2 ** this.#attempt);
    this.#attempt = Math.min(this.#attempt + 1, 20);
    const jittered = Math.round(delay * (0.75 + Math.random() * 0.5));
    this.#log(wasListening ? 'warn' : 'debug', 'event bus: LISTEN connection lost; reconnecting', {
      error: messageOf(err),
      inMs: jittered,
      nodeId: this.nodeId,
    });
    this.#reconnectTimer = setTimeout(() => this.#connect(), jittered);
    this.#reconnectTimer.unref();
  }

  #onPayload(payload: string): void {
    if (this.#closed) return;
    const env = decodeEnvelope(payload);
    if (env === undefined) {
      this.#log('warn', 'event bus: malformed notification ignored', { bytes: payload.length });
      return;
    }
    if (env.n === this.nodeId) return; // our own, already delivered locally
    const now = Date.now();
    const last = this.#lastSeq.get(env.n);
    this.#lastSeq.set(env.n, { seq: env.s, at: now });
    if (last === undefined) this.#pruneNodes(now);
    this.#received++;
    this.#fanout.deliver(env.e);
    if (last !== undefined && env.s > last.seq + 1) {
      this.#log('warn', 'event bus: events of another node were lost', {
        from: env.n,
        missed: env.s - last.seq - 1,
      });
      this.#fanout.resync({ reason: 'gap', nodeId: env.n });
    }
  }

  /** Forget nodes not heard of for an hour (restarted nodes get a new id). */
  #pruneNodes(now: number): void {
    if (this.#lastSeq.size < 64) return;
    for (const [id, v] of this.#lastSeq) if (now - v.at > 3_600_000) this.#lastSeq.delete(id);
  }
}

// ------------------------------------------------------------------------------------------ choosing

export interface OpenEventBusOptions {
  dialect: DialectName;
  /** the database URL (PostgreSQL: the LISTEN/NOTIFY connections use it) */
  databaseUrl: string;
  log?: Log;
}

/** SQLite: one node, in-process. PostgreSQL: LISTEN/NOTIFY across every node on the database. */
export function openEventBus(opts: OpenEventBusOptions): LiveEventBus {
  if (opts.dialect === 'postgres')
    return new PgEventBus({
      databaseUrl: opts.databaseUrl,
      ...(opts.log !== undefined ? { log: opts.log } : {}),
    });
  return new InProcessEventBus(opts.log !== undefined ? { log: opts.log } : {});
}
