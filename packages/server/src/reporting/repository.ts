/**
 * The reporting store over Kysely (same code on SQLite and PostgreSQL). Every change to a report is a
 * conditional UPDATE on `reports.version` (optimistic lock) inside a transaction with the version rows it
 * touches; signed versions are inserted together with their delivery outbox rows, so a signed version is
 * never without its deliveries and vice versa.
 */
import type { Kysely, Selectable, Transaction } from 'kysely';
import type { Schema } from '../db/schema.ts';
import type { ReportVersionsTable, ReportsTable } from '../db/migrations-reporting.ts';
import { HuiyingError } from '../errors.ts';
import type {
  ChannelConfig,
  ChannelKind,
  DeliveryChannel,
  HeaderField,
  OutboxEntry,
  OutboxState,
  Phrase,
  Report,
  ReportContent,
  ReportHeaderConfig,
  ReportStatus,
  ReportTemplate,
  ReportVersion,
  TemplateInput,
  TemplateScope,
  VersionKind,
} from './model.ts';
import type { NewOutbox, NewVersion, OutboxQuery, ReportStore } from './ports.ts';

type Db = Kysely<Schema> | Transaction<Schema>;

function isUniqueViolation(e: unknown): boolean {
  const m = e instanceof Error ? e.message : String(e);
  return /UNIQUE constraint|duplicate key/i.test(m);
}

function parseObject(s: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(s);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function versionOf(r: Selectable<ReportVersionsTable>): ReportVersion {
  return {
    id: r.id,
    reportId: r.report_id,
    number: r.number,
    kind: r.kind as VersionKind,
    findings: r.findings,
    impression: r.impression,
    recommendation: r.recommendation,
    positive: r.positive === 1,
    critical: r.critical === 1,
    structured: parseObject(r.structured),
    addendum: r.addendum,
    author: { userId: r.author_id, name: r.author_name },
    reviewer: r.reviewer_id === null ? null : { userId: r.reviewer_id, name: r.reviewer_name ?? '' },
    reviewOpinion: r.review_opinion,
    signedBy: r.signed_by === null ? null : { userId: r.signed_by, name: r.signed_by_name ?? '' },
    signedAt: r.signed_at,
    contentHash: r.content_hash,
    reason: r.reason,
    basedOn: r.based_on,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

function versionRow(
  reportId: number,
  number: number,
  v: NewVersion,
  now: string,
): Omit<ReportVersionsTable, 'id'> {
  return {
    report_id: reportId,
    number,
    kind: v.kind,
    findings: v.findings,
    impression: v.impression,
    recommendation: v.recommendation,
    positive: v.positive ? 1 : 0,
    critical: v.critical ? 1 : 0,
    structured: JSON.stringify(v.structured),
    addendum: v.addendum,
    author_id: v.author.userId,
    author_name: v.author.name,
    reviewer_id: v.reviewer?.userId ?? null,
    reviewer_name: v.reviewer?.name ?? null,
    review_opinion: v.reviewOpinion,
    signed_by: v.signedBy?.userId ?? null,
    signed_by_name: v.signedBy?.name ?? null,
    signed_at: v.signedAt,
    content_hash: v.hash === undefined ? null : v.hash(number),
    reason: v.reason,
    based_on: v.basedOn,
    created_at: now,
    updated_at: now,
  };
}

function templateOf(r: Selectable<Schema['report_templates']>): ReportTemplate {
  return {
    id: r.id,
    scope: r.scope as TemplateScope,
    hospitalId: r.hospital_id,
    ownerId: r.owner_id,
    modality: r.modality,
    bodyPart: r.body_part,
    name: r.name,
    findings: r.findings,
    impression: r.impression,
    recommendation: r.recommendation,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

function channelOf(r: Selectable<Schema['delivery_channels']>): DeliveryChannel {
  return {
    id: r.id,
    hospitalId: r.hospital_id,
    kind: r.kind as ChannelKind,
    name: r.name,
    config: parseObject(r.config) as unknown as ChannelConfig,
    enabled: r.enabled === 1,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export function outboxOf(r: Selectable<Schema['delivery_outbox']>): OutboxEntry {
  return {
    id: r.id,
    reportVersionId: r.report_version_id,
    reportId: r.report_id,
    hospitalId: r.hospital_id,
    channelId: r.channel_id,
    channelKind: r.channel_kind as OutboxEntry['channelKind'],
    target: r.target,
    idempotencyKey: r.idempotency_key,
    state: r.state as OutboxState,
    attempts: r.attempts,
    nextAt: r.next_at,
    leaseUntil: r.lease_until,
    lastError: r.last_error,
    receipt: r.receipt,
    ackedAt: r.acked_at,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export class ReportRepository implements ReportStore {
  readonly #db: Kysely<Schema>;
  constructor(db: Kysely<Schema>) {
    this.#db = db;
  }

  async #report(db: Db, row: Selectable<ReportsTable> | undefined): Promise<Report | undefined> {
    if (row === undefined) return undefined;
    const ids = [row.current_version_id, row.signed_version_id].filter((x): x is number => x !== null);
    const versions =
      ids.length === 0
        ? []
        : (await db.selectFrom('report_versions').selectAll().where('id', 'in', ids).execute()).map(
            versionOf,
          );
    const current = versions.find((v) => v.id === row.current_version_id) ?? null;
    const signed = versions.find((v) => v.id === row.signed_version_id) ?? null;
    return {
      id: row.id,
      examId: row.exam_id,
      hospitalId: row.hospital_id,
      status: row.status as ReportStatus,
      authorId: row.author_id,
      positive: row.positive === 1,
      critical: row.critical === 1,
      version: row.version,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
      submittedAt: row.submitted_at,
      signedAt: row.signed_at,
      draft: current?.kind === 'draft' ? current : null,
      current,
      signed,
    };
  }

  async #must(db: Db, reportId: number): Promise<Report> {
    const r = await this.#report(
      db,
      await db.selectFrom('reports').selectAll().where('id', '=', reportId).executeTakeFirst(),
    );
    if (r === undefined) throw new HuiyingError('not-found', `no report ${reportId}`);
    return r;
  }

  /** bump the report's version iff it is still `expected`; else conflict */
  async #lock(
    db: Db,
    reportId: number,
    expected: number,
    set: Partial<Omit<ReportsTable, 'id'>>,
  ): Promise<void> {
    const res = await db
      .updateTable('reports')
      .set({ ...set, version: expected + 1 })
      .where('id', '=', reportId)
      .where('version', '=', expected)
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) !== 1) {
      const cur = await db
        .selectFrom('reports')
        .select(['version', 'status'])
        .where('id', '=', reportId)
        .executeTakeFirst();
      if (cur === undefined) throw new HuiyingError('not-found', `no report ${reportId}`);
      throw new HuiyingError(
        'conflict',
        `报告已被他人修改，请刷新后重试 — the report was changed meanwhile (version ${cur.version}, you had ${expected}); reload it`,
        { detail: { currentVersion: cur.version, status: cur.status } },
      );
    }
  }

  async #nextNumber(db: Db, reportId: number): Promise<number> {
    const r = await db
      .selectFrom('report_versions')
      .select((eb) => eb.fn.max('number').as('n'))
      .where('report_id', '=', reportId)
      .executeTakeFirst();
    return Number(r?.n ?? 0) + 1;
  }

  byExam(examId: number): Promise<Report | undefined> {
    return this.#db
      .selectFrom('reports')
      .selectAll()
      .where('exam_id', '=', examId)
      .executeTakeFirst()
      .then((row) => this.#report(this.#db, row));
  }

  byId(reportId: number): Promise<Report | undefined> {
    return this.#db
      .selectFrom('reports')
      .selectAll()
      .where('id', '=', reportId)
      .executeTakeFirst()
      .then((row) => this.#report(this.#db, row));
  }

  async version(versionId: number): Promise<ReportVersion | undefined> {
    const r = await this.#db
      .selectFrom('report_versions')
      .selectAll()
      .where('id', '=', versionId)
      .executeTakeFirst();
    return r === undefined ? undefined : versionOf(r);
  }

  async versions(reportId: number): Promise<ReportVersion[]> {
    const rows = await this.#db
      .selectFrom('report_versions')
      .selectAll()
      .where('report_id', '=', reportId)
      .orderBy('number')
      .execute();
    return rows.map(versionOf);
  }

  async create(examId: number, hospitalId: number, draft: NewVersion, now: string): Promise<Report> {
    try {
      return await this.#db.transaction().execute(async (tx) => {
        const rep = await tx
          .insertInto('reports')
          .values({
            exam_id: examId,
            hospital_id: hospitalId,
            status: 'draft',
            current_version_id: null,
            signed_version_id: null,
            author_id: null,
            positive: draft.positive ? 1 : 0,
            critical: draft.critical ? 1 : 0,
            version: 1,
            created_at: now,
            updated_at: now,
            submitted_at: null,
            signed_at: null,
          })
          .returning('id')
          .executeTakeFirstOrThrow();
        const v = await tx
          .insertInto('report_versions')
          .values(versionRow(rep.id, 1, draft, now))
          .returning('id')
          .executeTakeFirstOrThrow();
        await tx.updateTable('reports').set({ current_version_id: v.id }).where('id', '=', rep.id).execute();
        return this.#must(tx, rep.id);
      });
    } catch (e) {
      if (isUniqueViolation(e))
        throw new HuiyingError('conflict', `exam ${examId} already has a report; reload it`);
      throw e;
    }
  }

  async updateDraft(
    reportId: number,
    expectedVersion: number,
    c: ReportContent,
    author: { userId: number; name: string },
    now: string,
  ): Promise<Report> {
    return this.#db.transaction().execute(async (tx) => {
      const before = await this.#must(tx, reportId);
      if (before.draft === null)
        throw new HuiyingError(
          'conflict',
          `报告当前没有可编辑的草稿 — report ${reportId} has no working draft (status ${before.status})`,
        );
      await this.#lock(tx, reportId, expectedVersion, {
        updated_at: now,
        positive: c.positive ? 1 : 0,
        critical: c.critical ? 1 : 0,
      });
      await tx
        .updateTable('report_versions')
        .set({
          findings: c.findings,
          impression: c.impression,
          recommendation: c.recommendation,
          positive: c.positive ? 1 : 0,
          critical: c.critical ? 1 : 0,
          structured: JSON.stringify(c.structured),
          author_id: author.userId,
          author_name: author.name,
          updated_at: now,
        })
        .where('id', '=', before.draft.id)
        .where('kind', '=', 'draft')
        .execute();
      return this.#must(tx, reportId);
    });
  }

  async addDraft(reportId: number, expectedVersion: number, draft: NewVersion, now: string): Promise<Report> {
    return this.#db.transaction().execute(async (tx) => {
      await this.#lock(tx, reportId, expectedVersion, { updated_at: now, status: 'draft' });
      const n = await this.#nextNumber(tx, reportId);
      const v = await tx
        .insertInto('report_versions')
        .values(versionRow(reportId, n, draft, now))
        .returning('id')
        .executeTakeFirstOrThrow();
      await tx.updateTable('reports').set({ current_version_id: v.id }).where('id', '=', reportId).execute();
      return this.#must(tx, reportId);
    });
  }

  async submitDraft(
    reportId: number,
    expectedVersion: number,
    authorId: number,
    now: string,
  ): Promise<Report> {
    return this.#db.transaction().execute(async (tx) => {
      const before = await this.#must(tx, reportId);
      if (before.draft === null)
        throw new HuiyingError(
          'conflict',
          `report ${reportId} has no draft to submit (status ${before.status})`,
        );
      await this.#lock(tx, reportId, expectedVersion, {
        status: 'preliminary',
        submitted_at: now,
        updated_at: now,
        author_id: before.authorId ?? authorId,
      });
      await tx
        .updateTable('report_versions')
        .set({ kind: 'preliminary', updated_at: now })
        .where('id', '=', before.draft.id)
        .where('kind', '=', 'draft')
        .execute();
      return this.#must(tx, reportId);
    });
  }

  async setStatus(
    reportId: number,
    expectedVersion: number,
    from: readonly string[],
    to: ReportStatus,
    now: string,
  ): Promise<Report> {
    return this.#db.transaction().execute(async (tx) => {
      const before = await this.#must(tx, reportId);
      if (!from.includes(before.status))
        throw new HuiyingError(
          'conflict',
          `report ${reportId} is ${before.status}, expected ${from.join('/')}`,
        );
      await this.#lock(tx, reportId, expectedVersion, { status: to, updated_at: now });
      return this.#must(tx, reportId);
    });
  }

  async insertSigned(
    reportId: number,
    expectedVersion: number,
    v: NewVersion,
    outbox: NewOutbox[],
    now: string,
  ): Promise<{ report: Report; version: ReportVersion }> {
    return this.#db.transaction().execute(async (tx) => {
      await this.#lock(tx, reportId, expectedVersion, {
        status: 'signed',
        signed_at: v.signedAt,
        updated_at: now,
        positive: v.positive ? 1 : 0,
        critical: v.critical ? 1 : 0,
      });
      const rep = await tx
        .selectFrom('reports')
        .select(['hospital_id'])
        .where('id', '=', reportId)
        .executeTakeFirstOrThrow();
      const n = await this.#nextNumber(tx, reportId);
      const row = await tx
        .insertInto('report_versions')
        .values(versionRow(reportId, n, v, now))
        .returningAll()
        .executeTakeFirstOrThrow();
      await tx
        .updateTable('reports')
        .set({ current_version_id: row.id, signed_version_id: row.id })
        .where('id', '=', reportId)
        .execute();
      for (const o of outbox) {
        await tx
          .insertInto('delivery_outbox')
          .values({
            report_version_id: row.id,
            report_id: reportId,
            hospital_id: rep.hospital_id,
            channel_id: o.channelId,
            channel_kind: o.channelKind,
            target: o.target,
            idempotency_key: `${row.id}:${o.keySuffix}`,
            state: 'pending',
            attempts: 0,
            next_at: now,
            lease_until: null,
            last_error: null,
            receipt: null,
            acked_at: null,
            created_at: now,
            updated_at: now,
          })
          .execute();
      }
      return { report: await this.#must(tx, reportId), version: versionOf(row) };
    });
  }

  // ------------------------------------------------------------------------------ templates/phrases

  async templates(q: {
    hospitalId?: number;
    ownerId?: number;
    modality?: string;
    bodyPart?: string;
  }): Promise<ReportTemplate[]> {
    let s = this.#db.selectFrom('report_templates').selectAll();
    s = s.where((eb) =>
      eb.or([
        eb('scope', '=', 'center'),
        ...(q.hospitalId !== undefined
          ? [eb.and([eb('scope', '=', 'hospital'), eb('hospital_id', '=', q.hospitalId)])]
          : [eb('scope', '=', 'hospital')]),
        ...(q.ownerId !== undefined
          ? [eb.and([eb('scope', '=', 'personal'), eb('owner_id', '=', q.ownerId)])]
          : []),
      ]),
    );
    if (q.modality !== undefined)
      s = s.where((eb) => eb.or([eb('modality', '=', q.modality ?? ''), eb('modality', 'is', null)]));
    if (q.bodyPart !== undefined)
      s = s.where((eb) => eb.or([eb('body_part', '=', q.bodyPart ?? ''), eb('body_part', 'is', null)]));
    const rows = await s.orderBy('modality').orderBy('body_part').orderBy('name').orderBy('id').execute();
    return rows.map(templateOf);
  }

  async template(id: number): Promise<ReportTemplate | undefined> {
    const r = await this.#db
      .selectFrom('report_templates')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return r === undefined ? undefined : templateOf(r);
  }

  async createTemplate(t: TemplateInput & { ownerId: number | null }, now: string): Promise<ReportTemplate> {
    const r = await this.#db
      .insertInto('report_templates')
      .values({
        scope: t.scope,
        hospital_id: t.hospitalId ?? null,
        owner_id: t.ownerId,
        modality: t.modality,
        body_part: t.bodyPart,
        name: t.name,
        findings: t.findings,
        impression: t.impression,
        recommendation: t.recommendation,
        created_at: now,
        updated_at: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return templateOf(r);
  }

  async updateTemplate(id: number, t: Partial<TemplateInput>, now: string): Promise<ReportTemplate> {
    const r = await this.#db
      .updateTable('report_templates')
      .set({
        ...(t.modality !== undefined ? { modality: t.modality } : {}),
        ...(t.bodyPart !== undefined ? { body_part: t.bodyPart } : {}),
        ...(t.name !== undefined ? { name: t.name } : {}),
        ...(t.findings !== undefined ? { findings: t.findings } : {}),
        ...(t.impression !== undefined ? { impression: t.impression } : {}),
        ...(t.recommendation !== undefined ? { recommendation: t.recommendation } : {}),
        updated_at: now,
      })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
    if (r === undefined) throw new HuiyingError('not-found', `no template ${id}`);
    return templateOf(r);
  }

  async deleteTemplate(id: number): Promise<void> {
    await this.#db.deleteFrom('report_templates').where('id', '=', id).execute();
  }

  async phrases(q: { hospitalId?: number; ownerId?: number }): Promise<Phrase[]> {
    const rows = await this.#db
      .selectFrom('report_phrases')
      .selectAll()
      .where((eb) =>
        eb.or([
          eb('scope', '=', 'center'),
          ...(q.hospitalId !== undefined
            ? [eb.and([eb('scope', '=', 'hospital'), eb('hospital_id', '=', q.hospitalId)])]
            : [eb('scope', '=', 'hospital')]),
          ...(q.ownerId !== undefined
            ? [eb.and([eb('scope', '=', 'personal'), eb('owner_id', '=', q.ownerId)])]
            : []),
        ]),
      )
      .orderBy('category')
      .orderBy('id')
      .execute();
    return rows.map((r) => ({
      id: r.id,
      scope: r.scope as TemplateScope,
      hospitalId: r.hospital_id,
      ownerId: r.owner_id,
      category: r.category,
      text: r.text,
      createdAt: r.created_at,
    }));
  }

  async phrase(id: number): Promise<Phrase | undefined> {
    const r = await this.#db.selectFrom('report_phrases').selectAll().where('id', '=', id).executeTakeFirst();
    return r === undefined
      ? undefined
      : {
          id: r.id,
          scope: r.scope as TemplateScope,
          hospitalId: r.hospital_id,
          ownerId: r.owner_id,
          category: r.category,
          text: r.text,
          createdAt: r.created_at,
        };
  }

  async createPhrase(
    p: {
      scope: TemplateScope;
      hospitalId: number | null;
      ownerId: number | null;
      category: string;
      text: string;
    },
    now: string,
  ): Promise<Phrase> {
    const r = await this.#db
      .insertInto('report_phrases')
      .values({
        scope: p.scope,
        hospital_id: p.hospitalId,
        owner_id: p.ownerId,
        category: p.category,
        text: p.text,
        created_at: now,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return { id: r.id, ...p, createdAt: now };
  }

  async deletePhrase(id: number): Promise<void> {
    await this.#db.deleteFrom('report_phrases').where('id', '=', id).execute();
  }

  // ---------------------------------------------------------------------------------------- header

  async header(hospitalId: number): Promise<ReportHeaderConfig | undefined> {
    const r = await this.#db
      .selectFrom('report_headers')
      .selectAll()
      .where('hospital_id', '=', hospitalId)
      .executeTakeFirst();
    if (r === undefined) return undefined;
    const c = parseObject(r.config);
    return {
      hospitalId,
      lines: Array.isArray(c.lines) ? c.lines.map(String) : [],
      logoPngBase64: typeof c.logoPngBase64 === 'string' ? c.logoPngBase64 : null,
      fields: Array.isArray(c.fields) ? (c.fields.map(String) as HeaderField[]) : [],
      footer: typeof c.footer === 'string' ? c.footer : '',
      updatedAt: r.updated_at,
    };
  }

  async setHeader(
    h: Omit<ReportHeaderConfig, 'updatedAt'>,
    by: string,
    now: string,
  ): Promise<ReportHeaderConfig> {
    const config = JSON.stringify({
      lines: h.lines,
      logoPngBase64: h.logoPngBase64,
      fields: h.fields,
      footer: h.footer,
    });
    await this.#db
      .insertInto('report_headers')
      .values({ hospital_id: h.hospitalId, config, updated_at: now, updated_by: by })
      .onConflict((oc) => oc.column('hospital_id').doUpdateSet({ config, updated_at: now, updated_by: by }))
      .execute();
    return { ...h, updatedAt: now };
  }

  // -------------------------------------------------------------------------------------- channels

  async channels(hospitalId?: number): Promise<DeliveryChannel[]> {
    let s = this.#db.selectFrom('delivery_channels').selectAll();
    if (hospitalId !== undefined) s = s.where('hospital_id', '=', hospitalId);
    return (await s.orderBy('id').execute()).map(channelOf);
  }

  async channel(id: number): Promise<DeliveryChannel | undefined> {
    const r = await this.#db
      .selectFrom('delivery_channels')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return r === undefined ? undefined : channelOf(r);
  }

  async createChannel(
    c: { hospitalId: number; kind: ChannelKind; name: string; config: ChannelConfig; enabled: boolean },
    now: string,
  ): Promise<DeliveryChannel> {
    const r = await this.#db
      .insertInto('delivery_channels')
      .values({
        hospital_id: c.hospitalId,
        kind: c.kind,
        name: c.name,
        config: JSON.stringify(c.config),
        enabled: c.enabled ? 1 : 0,
        created_at: now,
        updated_at: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return channelOf(r);
  }

  async updateChannel(
    id: number,
    c: Partial<{ name: string; config: ChannelConfig; enabled: boolean }>,
    now: string,
  ): Promise<DeliveryChannel> {
    const r = await this.#db
      .updateTable('delivery_channels')
      .set({
        ...(c.name !== undefined ? { name: c.name } : {}),
        ...(c.config !== undefined ? { config: JSON.stringify(c.config) } : {}),
        ...(c.enabled !== undefined ? { enabled: c.enabled ? 1 : 0 } : {}),
        updated_at: now,
      })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
    if (r === undefined) throw new HuiyingError('not-found', `no delivery channel ${id}`);
    return channelOf(r);
  }

  async deleteChannel(id: number): Promise<void> {
    // outbox rows keep their target text; the channel id stays as a dangling reference for history
    await this.#db.updateTable('delivery_channels').set({ enabled: 0 }).where('id', '=', id).execute();
  }

  // ---------------------------------------------------------------------------------------- outbox

  async outbox(q: OutboxQuery): Promise<OutboxEntry[]> {
    let s = this.#db.selectFrom('delivery_outbox').selectAll();
    if (q.hospitalIds !== undefined)
      s = s.where('hospital_id', 'in', q.hospitalIds.length > 0 ? q.hospitalIds : [-1]);
    if (q.state !== undefined && q.state.length > 0) s = s.where('state', 'in', q.state);
    if (q.reportId !== undefined) s = s.where('report_id', '=', q.reportId);
    const rows = await s
      .orderBy('id', 'desc')
      .limit(Math.min(q.limit ?? 100, 1000))
      .offset(q.offset ?? 0)
      .execute();
    return rows.map(outboxOf);
  }

  async outboxEntry(id: number): Promise<OutboxEntry | undefined> {
    const r = await this.#db
      .selectFrom('delivery_outbox')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return r === undefined ? undefined : outboxOf(r);
  }

  async retryOutbox(id: number, now: string): Promise<OutboxEntry> {
    const r = await this.#db
      .updateTable('delivery_outbox')
      .set({ state: 'pending', next_at: now, lease_until: null, updated_at: now })
      .where('id', '=', id)
      .where('state', 'in', ['failed', 'pending'])
      .returningAll()
      .executeTakeFirst();
    if (r === undefined) {
      const cur = await this.outboxEntry(id);
      if (cur === undefined) throw new HuiyingError('not-found', `no delivery ${id}`);
      throw new HuiyingError(
        'conflict',
        `delivery ${id} is ${cur.state}; only failed or pending ones can be retried`,
      );
    }
    return outboxOf(r);
  }
}
