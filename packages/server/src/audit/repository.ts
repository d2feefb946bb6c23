/**
 * The audit trail's storage: an append-only, hash-chained table (`audit_events`, db/migrations-audit.ts).
 * The repository exposes only append, search/export, verify and the retention prune — no update, no
 * delete of single events.
 *
 * Chain: `hash = sha256(prev_hash || canonicalJson(row without hash))`, where the canonical JSON is the
 * row's columns (snake_case, including `id` and `prev_hash`) with keys sorted and absent values as null.
 * The first event's prev_hash is 64 zeros. Ids are assigned here (head + 1), so they are gapless: a
 * deleted event shows as a missing id, an edited one as a hash mismatch, a reordered one (ids swapped) as a
 * hash mismatch (the id is hashed), a truncated tail as a mismatch with `audit_chain_head`.
 *
 * Serialisation: every append runs in one transaction that first locks the single `audit_chain_head` row
 * (PostgreSQL: `SELECT … FOR UPDATE`, so several nodes append to one chain; SQLite: an UPDATE of that row,
 * which takes the database write lock before the head is read), then inserts the batch and moves the head.
 *
 * Retention: `prune(before)` deletes the oldest events (ids 1..k, all older than `before`) and, in the
 * same transaction, appends a `retention_prune` event whose detail carries `prunedThroughId: k` and
 * `lastPrunedHash` (the hash of event k). `verify` then starts at the oldest remaining event k+1 and
 * checks its prev_hash against that anchor; as the anchor is itself inside the chain (the prune event is
 * hashed like any other), it cannot be changed without breaking the chain from the prune event on.
 */
import { createHash } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { Schema } from '../db/schema.ts';
import type { DialectName } from '../db/migrations.ts';
import { AUDIT_GENESIS_HASH, type AuditEventsTable } from '../db/migrations-audit.ts';
import type { AuditEvent, AuditEventInput, AuditSearch, VerifyResult } from './types.ts';

const INSERT_CHUNK = 200;
const PAGE = 1000;

type Row = AuditEventsTable;

export function canonicalJson(row: Omit<Row, 'hash'>): string {
  const o: Record<string, unknown> = {};
  for (const k of Object.keys(row).sort()) {
    if (k === 'hash') continue;
    const v = (row as unknown as Record<string, unknown>)[k];
    o[k] = v === undefined ? null : v;
  }
  return JSON.stringify(o);
}

export function hashRow(row: Omit<Row, 'hash'>): string {
  return createHash('sha256').update(row.prev_hash, 'utf8').update(canonicalJson(row), 'utf8').digest('hex');
}

function n(v: number | string | null): number | null {
  return v === null ? null : Number(v);
}

/** the row as stored (numbers normalised: a driver may return bigint columns as strings) */
function normalise(r: Row): Row {
  return {
    id: Number(r.id),
    at: r.at,
    actor_type: r.actor_type,
    actor_id: r.actor_id,
    actor_name: r.actor_name,
    hospital_id: n(r.hospital_id),
    source: r.source,
    protocol: r.protocol,
    action: r.action,
    outcome: r.outcome,
    status: r.status,
    patient_hospital_id: n(r.patient_hospital_id),
    patient_id: r.patient_id,
    study_uid: r.study_uid,
    object: r.object,
    detail: r.detail,
    prev_hash: r.prev_hash,
    hash: r.hash,
  };
}

function toEvent(r: Row): AuditEvent {
  return {
    id: Number(r.id),
    at: r.at,
    actorType: r.actor_type,
    actorId: r.actor_id,
    actorName: r.actor_name,
    hospitalId: n(r.hospital_id),
    source: r.source,
    protocol: r.protocol,
    action: r.action,
    outcome: r.outcome,
    status: r.status,
    patientHospitalId: n(r.patient_hospital_id),
    patientId: r.patient_id,
    studyUid: r.study_uid,
    object: r.object,
    detail: r.detail,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}

const MAX_TEXT = 2000;
const clip = (s: string | undefined): string | null =>
  s === undefined ? null : s.length > MAX_TEXT ? `${s.slice(0, MAX_TEXT)}…` : s;

function rowOf(e: AuditEventInput, id: number, prevHash: string): Row {
  let detail: string | null = null;
  if (e.detail !== undefined) {
    detail = JSON.stringify(e.detail);
    if (detail.length > 8000) detail = JSON.stringify({ truncated: detail.slice(0, 7900) });
  }
  const base: Omit<Row, 'hash'> = {
    id,
    at: e.at ?? new Date().toISOString(),
    actor_type: e.actorType,
    actor_id: clip(e.actorId),
    actor_name: clip(e.actorName),
    hospital_id: e.hospitalId ?? null,
    source: clip(e.source),
    protocol: e.protocol,
    action: e.action,
    outcome: e.outcome,
    status: clip(e.status),
    patient_hospital_id: e.patientHospitalId ?? null,
    patient_id: clip(e.patientId),
    study_uid: clip(e.studyUid),
    object: clip(e.object),
    detail,
    prev_hash: prevHash,
  };
  return { ...base, hash: hashRow(base) };
}

export interface PruneResult {
  pruned: number;
  prunedThroughId?: number;
  lastPrunedHash?: string;
}

export class AuditRepository {
  readonly #db: Kysely<Schema>;
  readonly #dialect: DialectName;

  constructor(db: Kysely<Schema>, dialect: DialectName) {
    this.#db = db;
    this.#dialect = dialect;
  }

  /** Lock the chain head (see the file comment) and return it. */
  async #lockHead(trx: Transaction<Schema>): Promise<{ lastId: number; lastHash: string }> {
    if (this.#dialect === 'sqlite') {
      await trx
        .updateTable('audit_chain_head')
        .set({ updated_at: new Date().toISOString() })
        .where('id', '=', 1)
        .execute();
    }
    let q = trx.selectFrom('audit_chain_head').select(['last_id', 'last_hash']).where('id', '=', 1);
    if (this.#dialect === 'postgres') q = q.forUpdate();
    const h = await q.executeTakeFirst();
    if (h === undefined) throw new Error('audit_chain_head row missing');
    return { lastId: Number(h.last_id), lastHash: h.last_hash };
  }

  async #appendIn(
    trx: Transaction<Schema>,
    head: { lastId: number; lastHash: string },
    events: AuditEventInput[],
  ): Promise<Row[]> {
    const rows: Row[] = [];
    let id = head.lastId;
    let prev = head.lastHash;
    for (const e of events) {
      const r = rowOf(e, ++id, prev);
      rows.push(r);
      prev = r.hash;
    }
    for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
      await trx
        .insertInto('audit_events')
        .values(rows.slice(i, i + INSERT_CHUNK))
        .execute();
    }
    await trx
      .updateTable('audit_chain_head')
      .set({ last_id: id, last_hash: prev, updated_at: new Date().toISOString() })
      .where('id', '=', 1)
      .execute();
    return rows;
  }

  /** Append events (one transaction, in order); returns them as stored. */
  async append(events: AuditEventInput[]): Promise<AuditEvent[]> {
    if (events.length === 0) return [];
    const rows = await this.#db.transaction().execute(async (trx) => {
      const head = await this.#lockHead(trx);
      return this.#appendIn(trx, head, events);
    });
    return rows.map(toEvent);
  }

  /**
   * Delete the events recorded before `before` (ISO time) and record a `retention_prune` event carrying
   * the hash of the last pruned event, in one transaction.
   */
  async prune(before: string, actor: Partial<AuditEventInput> = {}): Promise<PruneResult> {
    return this.#db.transaction().execute(async (trx) => {
      const head = await this.#lockHead(trx);
      const last = await trx
        .selectFrom('audit_events')
        .select(['id', 'hash'])
        .where('at', '<', before)
        .orderBy('id', 'desc')
        .limit(1)
        .executeTakeFirst();
      if (last === undefined) return { pruned: 0 };
      const k = Number(last.id);
      const del = await trx.deleteFrom('audit_events').where('id', '<=', k).executeTakeFirst();
      const pruned = Number(del.numDeletedRows);
      await this.#appendIn(trx, head, [
        {
          actorType: 'system',
          actorId: 'retention',
          protocol: 'cli',
          ...actor,
          action: 'retention_prune',
          outcome: 'success',
          object: `${pruned} events`,
          detail: { prunedThroughId: k, lastPrunedHash: last.hash, before, count: pruned },
        },
      ]);
      return { pruned, prunedThroughId: k, lastPrunedHash: last.hash };
    });
  }

  #filtered(s: AuditSearch) {
    let q = this.#db.selectFrom('audit_events').selectAll();
    if (s.from !== undefined) q = q.where('at', '>=', s.from);
    if (s.to !== undefined) q = q.where('at', '<', s.to);
    if (s.actor !== undefined) {
      const a = s.actor;
      q = q.where((eb) => eb.or([eb('actor_id', '=', a), eb('actor_name', '=', a)]));
    }
    if (s.action !== undefined) q = q.where('action', '=', s.action);
    if (s.outcome !== undefined) q = q.where('outcome', '=', s.outcome);
    if (s.patientId !== undefined) q = q.where('patient_id', '=', s.patientId);
    if (s.studyUid !== undefined) q = q.where('study_uid', '=', s.studyUid);
    if (s.hospitalId !== undefined) {
      const h = s.hospitalId;
      q = q.where((eb) => eb.or([eb('hospital_id', '=', h), eb('patient_hospital_id', '=', h)]));
    }
    return q;
  }

  /** Matching events, newest first. */
  async search(s: AuditSearch = {}): Promise<AuditEvent[]> {
    const limit = Math.min(Math.max(s.limit ?? 100, 1), 10000);
    const rows = await this.#filtered(s)
      .orderBy('id', 'desc')
      .limit(limit)
      .offset(Math.max(s.offset ?? 0, 0))
      .execute();
    return rows.map(toEvent);
  }

  /** Every matching event, oldest first, read in pages (for exports). `limit` caps the total. */
  async *iterate(s: AuditSearch = {}): AsyncGenerator<AuditEvent> {
    let after = 0;
    let left = s.limit ?? Number.POSITIVE_INFINITY;
    let skip = s.offset ?? 0;
    while (left > 0) {
      const rows = await this.#filtered(s).where('id', '>', after).orderBy('id', 'asc').limit(PAGE).execute();
      if (rows.length === 0) return;
      for (const r of rows) {
        after = Number(r.id);
        if (skip > 0) {
          skip--;
          continue;
        }
        if (left-- <= 0) return;
        yield toEvent(r);
      }
      if (rows.length < PAGE) return;
    }
  }

  /** The expected prev_hash of the oldest remaining event `firstId`. */
  async #anchorOf(firstId: number): Promise<string | undefined> {
    if (firstId === 1) return AUDIT_GENESIS_HASH;
    const prunes = await this.#db
      .selectFrom('audit_events')
      .select(['detail'])
      .where('action', '=', 'retention_prune')
      .orderBy('id', 'desc')
      .execute();
    for (const p of prunes) {
      try {
        const d = JSON.parse(p.detail ?? '{}') as { prunedThroughId?: unknown; lastPrunedHash?: unknown };
        if (d.prunedThroughId === firstId - 1 && typeof d.lastPrunedHash === 'string')
          return d.lastPrunedHash;
      } catch {
        // an unparsable detail cannot anchor anything; the chain check reports the altered row
      }
    }
    return undefined;
  }

  /**
   * Recompute the chain over ids [from, to] (default: everything kept) and report the first broken link.
   * Without `to`, the newest event must also match the chain head (a truncated tail is detected).
   */
  async verify(from?: number, to?: number): Promise<VerifyResult> {
    const bounds = await this.#db
      .selectFrom('audit_events')
      .select((eb) => [eb.fn.min('id').as('first'), eb.fn.max('id').as('last')])
      .executeTakeFirst();
    const head = await this.#db
      .selectFrom('audit_chain_head')
      .select(['last_id', 'last_hash'])
      .where('id', '=', 1)
      .executeTakeFirstOrThrow();
    const headId = Number(head.last_id);
    const first = bounds?.first === null || bounds?.first === undefined ? undefined : Number(bounds.first);
    if (first === undefined) {
      return headId === 0
        ? { ok: true, checked: 0 }
        : { ok: false, checked: 0, brokenAt: headId, reason: 'events missing: the table is empty' };
    }
    const start = Math.max(from ?? first, first);
    let expectedPrev: string | undefined;
    if (start === first) {
      expectedPrev = await this.#anchorOf(first);
      if (expectedPrev === undefined)
        return {
          ok: false,
          checked: 0,
          brokenAt: first,
          reason: `events before ${first} missing and no retention_prune event anchors the chain`,
        };
    } else {
      const p = await this.#db
        .selectFrom('audit_events')
        .select('hash')
        .where('id', '=', start - 1)
        .executeTakeFirst();
      if (p === undefined) return { ok: false, checked: 0, brokenAt: start - 1, reason: 'event missing' };
      expectedPrev = p.hash;
    }
    let expectedId = start;
    let checked = 0;
    let lastHash = expectedPrev;
    for (;;) {
      let q = this.#db
        .selectFrom('audit_events')
        .selectAll()
        .where('id', '>=', expectedId)
        .orderBy('id', 'asc')
        .limit(PAGE);
      if (to !== undefined) q = q.where('id', '<=', to);
      const rows = await q.execute();
      for (const raw of rows) {
        const r = normalise(raw);
        if (r.id !== expectedId)
          return { ok: false, checked, brokenAt: expectedId, reason: 'event missing (deleted)' };
        if (r.prev_hash !== lastHash)
          return {
            ok: false,
            checked,
            brokenAt: r.id,
            reason: 'prev_hash does not match the previous event',
          };
        const { hash, ...rest } = r;
        if (hashRow(rest) !== hash)
          return { ok: false, checked, brokenAt: r.id, reason: 'hash mismatch (event altered)' };
        lastHash = hash;
        expectedId++;
        checked++;
      }
      if (rows.length < PAGE) break;
    }
    if (to === undefined && (expectedId - 1 !== headId || lastHash !== head.last_hash)) {
      return {
        ok: false,
        checked,
        brokenAt: expectedId,
        reason: `chain head is event ${headId}: newest events missing (truncated)`,
      };
    }
    return { ok: true, checked, firstId: start, lastId: expectedId - 1 };
  }
}
