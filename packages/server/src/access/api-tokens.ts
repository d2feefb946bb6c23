/**
 * API tokens: bearer credentials for machine clients (another hospital's system calling DICOMweb), each
 * scoped to one hospital and revocable. Only the SHA-256 of a token is stored; the token is shown once.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Schema } from '../db/schema.ts';
import { HuiyingError } from '../errors.ts';

export interface ApiToken {
  id: number;
  hospitalId: number;
  name: string;
  createdAt: string;
  revokedAt?: string;
  lastUsedAt?: string;
}

const PREFIX = 'hy_';

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export class ApiTokenRepository {
  readonly #db: Kysely<Schema>;
  constructor(db: Kysely<Schema>) {
    this.#db = db;
  }

  /** Create a token; the returned `token` is the only time it is visible. */
  async create(hospitalId: number, name: string): Promise<{ token: string; record: ApiToken }> {
    if (name.trim() === '') throw new HuiyingError('invalid-input', 'a token needs a name');
    const token = `${PREFIX}${randomBytes(32).toString('base64url')}`;
    const createdAt = new Date().toISOString();
    const row = await this.#db
      .insertInto('api_tokens')
      .values({
        hospital_id: hospitalId,
        name: name.trim(),
        token_hash: hashToken(token),
        created_at: createdAt,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return { token, record: { id: Number(row.id), hospitalId, name: name.trim(), createdAt } };
  }

  async list(): Promise<ApiToken[]> {
    const rows = await this.#db.selectFrom('api_tokens').selectAll().orderBy('id').execute();
    return rows.map((r) => ({
      id: Number(r.id),
      hospitalId: Number(r.hospital_id),
      name: r.name,
      createdAt: r.created_at,
      ...(r.revoked_at !== null ? { revokedAt: r.revoked_at } : {}),
      ...(r.last_used_at !== null ? { lastUsedAt: r.last_used_at } : {}),
    }));
  }

  async revoke(id: number): Promise<void> {
    const r = await this.#db
      .updateTable('api_tokens')
      .set({ revoked_at: new Date().toISOString() })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) === 0) throw new HuiyingError('not-found', `no active token ${id}`);
  }

  /** The hospital of a valid (not revoked) token, or undefined. */
  async resolve(token: string): Promise<{ id: number; hospitalId: number } | undefined> {
    if (!token.startsWith(PREFIX) || token.length > 200) return undefined;
    const row = await this.#db
      .selectFrom('api_tokens')
      .select(['id', 'hospital_id'])
      .where('token_hash', '=', hashToken(token))
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return row === undefined ? undefined : { id: Number(row.id), hospitalId: Number(row.hospital_id) };
  }
}
