/** Hospitals and Application Entities over Kysely (SQLite or PostgreSQL). */
import type { Kysely, Selectable } from 'kysely';
import type { ApplicationEntitiesTable, HospitalsTable, Schema } from '../db/schema.ts';
import type { AeRepository, ApplicationEntity, Hospital, HospitalRepository } from './ports.ts';

function toHospital(r: Selectable<HospitalsTable>): Hospital {
  const h: Hospital = {
    id: Number(r.id),
    code: r.code,
    name: r.name,
    isCenter: Number(r.is_center) === 1,
    createdAt: r.created_at,
    requireUserIdentity: Number(r.require_user_identity) === 1,
  };
  if (r.default_charset !== null) h.defaultCharset = r.default_charset;
  return h;
}

function toAe(r: Selectable<ApplicationEntitiesTable>): ApplicationEntity {
  const ae: ApplicationEntity = {
    id: Number(r.id),
    aeTitle: r.ae_title,
    hospitalId: Number(r.hospital_id),
    createdAt: r.created_at,
  };
  if (r.host !== null) ae.host = r.host;
  if (r.port !== null) ae.port = Number(r.port);
  if (r.description !== null) ae.description = r.description;
  return ae;
}

export class KyselyHospitalRepository implements HospitalRepository {
  readonly #db: Kysely<Schema>;
  constructor(db: Kysely<Schema>) {
    this.#db = db;
  }

  async create(h: {
    code: string;
    name: string;
    isCenter?: boolean;
    defaultCharset?: string;
    requireUserIdentity?: boolean;
  }): Promise<Hospital> {
    const row = await this.#db
      .insertInto('hospitals')
      .values({
        code: h.code,
        name: h.name,
        is_center: h.isCenter === true ? 1 : 0,
        default_charset: h.defaultCharset ?? null,
        require_user_identity: h.requireUserIdentity === true ? 1 : 0,
        created_at: new Date().toISOString(),
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toHospital(row);
  }

  async list(): Promise<Hospital[]> {
    const rows = await this.#db.selectFrom('hospitals').selectAll().orderBy('code').execute();
    return rows.map(toHospital);
  }

  async byCode(code: string): Promise<Hospital | undefined> {
    const r = await this.#db.selectFrom('hospitals').selectAll().where('code', '=', code).executeTakeFirst();
    return r === undefined ? undefined : toHospital(r);
  }

  async byId(id: number): Promise<Hospital | undefined> {
    const r = await this.#db.selectFrom('hospitals').selectAll().where('id', '=', id).executeTakeFirst();
    return r === undefined ? undefined : toHospital(r);
  }

  /** Added: change name / center flag / default charset (CLI `hospital update`). */
  async update(
    code: string,
    changes: {
      name?: string;
      isCenter?: boolean;
      defaultCharset?: string | null;
      requireUserIdentity?: boolean;
    },
  ): Promise<Hospital | undefined> {
    const set: Partial<{
      name: string;
      is_center: number;
      default_charset: string | null;
      require_user_identity: number;
    }> = {};
    if (changes.name !== undefined) set.name = changes.name;
    if (changes.isCenter !== undefined) set.is_center = changes.isCenter ? 1 : 0;
    if (changes.defaultCharset !== undefined) set.default_charset = changes.defaultCharset;
    if (changes.requireUserIdentity !== undefined)
      set.require_user_identity = changes.requireUserIdentity ? 1 : 0;
    if (Object.keys(set).length > 0) {
      await this.#db.updateTable('hospitals').set(set).where('code', '=', code).execute();
    }
    return this.byCode(code);
  }
}

export class KyselyAeRepository implements AeRepository {
  readonly #db: Kysely<Schema>;
  constructor(db: Kysely<Schema>) {
    this.#db = db;
  }

  async create(ae: {
    aeTitle: string;
    hospitalId: number;
    host?: string;
    port?: number;
    description?: string;
  }): Promise<ApplicationEntity> {
    const row = await this.#db
      .insertInto('application_entities')
      .values({
        ae_title: ae.aeTitle,
        hospital_id: ae.hospitalId,
        host: ae.host ?? null,
        port: ae.port ?? null,
        description: ae.description ?? null,
        created_at: new Date().toISOString(),
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toAe(row);
  }

  async list(): Promise<ApplicationEntity[]> {
    const rows = await this.#db.selectFrom('application_entities').selectAll().orderBy('ae_title').execute();
    return rows.map(toAe);
  }

  async byTitle(aeTitle: string): Promise<ApplicationEntity | undefined> {
    const r = await this.#db
      .selectFrom('application_entities')
      .selectAll()
      .where('ae_title', '=', aeTitle)
      .executeTakeFirst();
    return r === undefined ? undefined : toAe(r);
  }

  async remove(aeTitle: string): Promise<void> {
    await this.#db.deleteFrom('application_entities').where('ae_title', '=', aeTitle).execute();
  }
}
