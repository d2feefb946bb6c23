/**
 * The durable delivery outbox: every signed report version has one row per channel (created in the same
 * transaction as the version, reporting/repository.ts `insertSigned`). A worker on every node:
 *
 * - claims due rows with a conditional UPDATE (`state = pending AND next_at <= now`, or a `delivering` row
 *   whose lease expired because its node died): only one node wins a row; the claim increments `attempts`,
 *   which fences the completion (a node whose lease expired cannot overwrite a newer attempt);
 * - delivers through the row's channel, then marks it delivered (with the receiver's receipt) or pending
 *   again with exponential backoff (5 s · 2^n, at most 1 h) and the error; after `maxAttempts` it is failed
 *   (visible to administrators, who can retry it). Permanent errors (bad configuration, invalid input)
 *   fail at once;
 * - survives restarts: all state is in the database; a row claimed by a killed process is reclaimed when
 *   its lease expires and delivered again with the same idempotency key (HL7 MSH-10, FHIR identifier,
 *   DICOM SOP Instance UID), so the receiver can recognise the repeat.
 */
import type { Kysely } from 'kysely';
import type { Schema } from '../db/schema.ts';
import { HuiyingError, messageOf } from '../errors.ts';
import type { Log } from '../logger.ts';
import type { OutboxEntry } from '../reporting/model.ts';
import { outboxOf } from '../reporting/repository.ts';

export interface DeliveryResult {
  /** what the receiver answered: ACK MSA, HTTP status + Location, DIMSE status */
  receipt: string;
}

/** Delivers one outbox row; throws on failure (HuiyingError 'invalid-input'/'not-found'/'unsupported' =
 *  permanent, anything else is retried). */
export type Deliver = (entry: OutboxEntry) => Promise<DeliveryResult>;

export interface OutboxWorkerOptions {
  db: Kysely<Schema>;
  deliver: Deliver;
  log?: Log;
  now?: () => Date;
  /** poll period when idle, ms (default 5000; 0 = no timer, call runOnce) */
  pollMs?: number;
  /** a claim is valid this long, ms (default 120 000) */
  leaseMs?: number;
  /** attempts before a row is failed (default 12) */
  maxAttempts?: number;
  /** first retry delay, ms (default 5000) */
  backoffMs?: number;
  /** longest retry delay, ms (default 1 h) */
  maxBackoffMs?: number;
  /** rows delivered concurrently (default 4) */
  concurrency?: number;
}

const PERMANENT = new Set(['invalid-input', 'not-found', 'unsupported', 'forbidden']);

export class OutboxWorker {
  readonly #db: Kysely<Schema>;
  readonly #deliver: Deliver;
  readonly #log: Log;
  readonly #pollMs: number;
  readonly #leaseMs: number;
  readonly #maxAttempts: number;
  readonly #backoffMs: number;
  readonly #maxBackoffMs: number;
  readonly #concurrency: number;
  now: () => Date;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<number> | undefined;
  #again = false;
  #stopped = false;

  constructor(o: OutboxWorkerOptions) {
    this.#db = o.db;
    this.#deliver = o.deliver;
    this.#log = o.log ?? (() => undefined);
    this.now = o.now ?? (() => new Date());
    this.#pollMs = o.pollMs ?? 5000;
    this.#leaseMs = o.leaseMs ?? 120_000;
    this.#maxAttempts = o.maxAttempts ?? 12;
    this.#backoffMs = o.backoffMs ?? 5000;
    this.#maxBackoffMs = o.maxBackoffMs ?? 3600_000;
    this.#concurrency = o.concurrency ?? 4;
  }

  /** Start polling (and deliver what is due now). */
  start(): void {
    this.#stopped = false;
    this.kick();
  }

  /** Deliver due rows soon (called after a signature). */
  kick(): void {
    if (this.#stopped) return;
    if (this.#running !== undefined) {
      this.#again = true;
      return;
    }
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#running = this.runOnce()
      .catch((err: unknown) => {
        this.#log('error', 'delivery: outbox pass failed', { error: messageOf(err) });
        return 0;
      })
      .finally(() => {
        this.#running = undefined;
        if (this.#stopped) return;
        if (this.#again) {
          this.#again = false;
          this.kick();
        } else if (this.#pollMs > 0) {
          this.#timer = setTimeout(() => this.kick(), this.#pollMs);
          this.#timer.unref();
        }
      });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  /** Retry delay after `attempts` failed attempts. */
  backoff(attempts: number): number {
    return Math.min(this.#backoffMs * 2 ** Math.max(attempts - 1, 0), this.#maxBackoffMs);
  }

  /** Claim one row; undefined when another node got it first. */
  async claim(id: number): Promise<OutboxEntry | undefined> {
    const now = this.now();
    const nowIso = now.toISOString();
    const res = await this.#db
      .updateTable('delivery_outbox')
      .set((eb) => ({
        state: 'delivering',
        lease_until: new Date(now.getTime() + this.#leaseMs).toISOString(),
        attempts: eb('attempts', '+', 1),
        updated_at: nowIso,
      }))
      .where('id', '=', id)
      .where((eb) =>
        eb.or([
          eb.and([eb('state', '=', 'pending'), eb('next_at', '<=', nowIso)]),
          eb.and([eb('state', '=', 'delivering'), eb('lease_until', '<', nowIso)]),
        ]),
      )
      .returningAll()
      .executeTakeFirst();
    return res === undefined ? undefined : outboxOf(res);
  }

  /** Ids of due rows (pending and due, or delivering with an expired lease), oldest first. */
  async due(limit: number): Promise<number[]> {
    const nowIso = this.now().toISOString();
    const rows = await this.#db
      .selectFrom('delivery_outbox')
      .select('id')
      .where((eb) =>
        eb.or([
          eb.and([eb('state', '=', 'pending'), eb('next_at', '<=', nowIso)]),
          eb.and([eb('state', '=', 'delivering'), eb('lease_until', '<', nowIso)]),
        ]),
      )
      .orderBy('next_at')
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map((r) => r.id);
  }

  /** One pass: claim and deliver every due row. Returns the number of rows this node attempted. */
  async runOnce(): Promise<number> {
    let attempted = 0;
    for (;;) {
      const ids = await this.due(this.#concurrency * 4);
      if (ids.length === 0) return attempted;
      let claimedAny = false;
      const queue = [...ids];
      const lane = async (): Promise<void> => {
        for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
          const entry = await this.claim(id);
          if (entry === undefined) continue;
          claimedAny = true;
          attempted++;
          await this.#attempt(entry);
        }
      };
      await Promise.all(Array.from({ length: Math.min(this.#concurrency, ids.length) }, lane));
      if (!claimedAny || this.#stopped) return attempted;
    }
  }

  async #attempt(entry: OutboxEntry): Promise<void> {
    let result: DeliveryResult;
    try {
      result = await this.#deliver(entry);
    } catch (err) {
      await this.#failed(entry, err);
      return;
    }
    const at = this.now().toISOString();
    const res = await this.#db
      .updateTable('delivery_outbox')
      .set({
        state: 'delivered',
        acked_at: at,
        receipt: result.receipt.slice(0, 2000),
        last_error: null,
        lease_until: null,
        updated_at: at,
      })
      .where('id', '=', entry.id)
      .where('state', '=', 'delivering')
      .where('attempts', '=', entry.attempts)
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) !== 1)
      this.#log('warn', 'delivery: delivered, but the claim had expired and was taken over', {
        id: entry.id,
      });
    else
      this.#log('info', 'delivery: delivered', {
        id: entry.id,
        channel: entry.channelKind,
        target: entry.target,
      });
  }

  async #failed(entry: OutboxEntry, err: unknown): Promise<void> {
    const now = this.now();
    const permanent = err instanceof HuiyingError && PERMANENT.has(err.code);
    const final = permanent || entry.attempts >= this.#maxAttempts;
    const message = messageOf(err).slice(0, 2000);
    await this.#db
      .updateTable('delivery_outbox')
      .set({
        state: final ? 'failed' : 'pending',
        next_at: new Date(now.getTime() + (final ? 0 : this.backoff(entry.attempts))).toISOString(),
        last_error: message,
        lease_until: null,
        updated_at: now.toISOString(),
      })
      .where('id', '=', entry.id)
      .where('state', '=', 'delivering')
      .where('attempts', '=', entry.attempts)
      .execute();
    this.#log(final ? 'error' : 'warn', final ? 'delivery: failed' : 'delivery: will retry', {
      id: entry.id,
      channel: entry.channelKind,
      target: entry.target,
      attempts: entry.attempts,
      error: message,
    });
  }
}
