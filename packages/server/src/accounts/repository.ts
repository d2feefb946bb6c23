/**
 * Accounts persistence over Kysely (SQLite and PostgreSQL): users, sessions and grade rules. No policy
 * here (see service.ts); times are passed in so that tests can move the clock.
 */
import type { Kysely, Selectable } from 'kysely';
import type { Schema, UsersTable } from '../db/schema.ts';
import { HuiyingError } from '../errors.ts';
import { isGrade, isRole, type Grade, type Role, type User } from './model.ts';

export interface UserRecord extends User {
  passwordHash: string;
  failedLogins: number;
}

function toUser(r: Selectable<UsersTable>): UserRecord {
  return {
    id: Number(r.id),
    hospitalId: Number(r.hospital_id),
    username: r.username,
    displayName: r.display_name,
    roles: r.roles.split(',').filter(isRole),
    grade: r.grade !== null && isGrade(r.grade) ? r.grade : null,
    mustChangePassword: r.must_change_password !== 0,
    disabled: r.disabled !== 0,
    lockedUntil: r.locked_until,
    passwordChangedAt: r.password_changed_at,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    passwordHash: r.password_hash,
    failedLogins: Number(r.failed_logins),
  };
}

/** The public view of a user record (no hash, no counters). */
export function publicUser(u: UserRecord): User {
  const { passwordHash: _h, failedLogins: _f, ...rest } = u;
  return rest;
}

function isUniqueViolation(e: unknown): boolean {
  const m = e instanceof Error ? e.message : String(e);
  return /UNIQUE constraint|duplicate key/i.test(m);
}

export class UserRepository {
  readonly #db: Kysely<Schema>;
  constructor(db: Kysely<Schema>) {
    this.#db = db;
  }

  async count(): Promise<number> {
    const r = await this.#db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  async create(
    u: {
      hospitalId: number;
      username: string;
      displayName: string;
      passwordHash: string;
      roles: Role[];
      grade: Grade | null;
      mustChangePassword: boolean;
    },
    now: Date,
  ): Promise<UserRecord> {
    const t = now.toISOString();
    try {
      const row = await this.#db
        .insertInto('users')
        .values({
          hospital_id: u.hospitalId,
          username: u.username.toLowerCase(),
          display_name: u.displayName,
          password_hash: u.passwordHash,
          roles: [...new Set(u.roles)].join(','),
          grade: u.grade,
          must_change_password: u.mustChangePassword ? 1 : 0,
          disabled: 0,
          failed_logins: 0,
          locked_until: null,
          password_changed_at: u.mustChangePassword ? null : t,
          created_at: t,
          updated_at: t,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      const created = await this.byId(Number(row.id));
      if (created === undefined) throw new HuiyingError('internal', 'user vanished after insert');
      return created;
    } catch (e) {
      if (isUniqueViolation(e))
        throw new HuiyingError('conflict', `username ${u.username.toLowerCase()} is taken`, { cause: e });
      throw e;
    }
  }

  async byId(id: number): Promise<UserRecord | undefined> {
    const r = await this.#db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
    return r === undefined ? undefined : toUser(r);
  }

  async byUsername(username: string): Promise<UserRecord | undefined> {
    const r = await this.#db
      .selectFrom('users')
      .selectAll()
      .where('username', '=', username.toLowerCase())
      .executeTakeFirst();
    return r === undefined ? undefined : toUser(r);
  }

  async list(filter: { hospitalId?: number } = {}): Promise<UserRecord[]> {
    let q = this.#db.selectFrom('users').selectAll().orderBy('id');
    if (filter.hospitalId !== undefined) q = q.where('hospital_id', '=', filter.hospitalId);
    return (await q.execute()).map(toUser);
  }

  async update(
    id: number,
    change: { displayName?: string; roles?: Role[]; grade?: Grade | null; disabled?: boolean },
    now: Date,
  ): Promise<UserRecord> {
    const r = await this.#db
      .updateTable('users')
      .set({
        ...(change.displayName !== undefined ? { display_name: change.displayName } : {}),
        ...(change.roles !== undefined ? { roles: [...new Set(change.roles)].join(',') } : {}),
        ...(change.grade !== undefined ? { grade: change.grade } : {}),
        ...(change.disabled !== undefined
          ? { disabled: change.disabled ? 1 : 0, failed_logins: 0, locked_until: null }
          : {}),
        updated_at: now.toISOString(),
      })
      .where('id', '=', id)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) === 0) throw new HuiyingError('not-found', `no user ${id}`);
    const u = await this.byId(id);
    if (u === undefined) throw new HuiyingError('not-found', `no user ${id}`);
    return u;
  }

  /** Set a new password hash; `mustChange` for temporary passwords (first login, admin reset). */
  async setPassword(id: number, passwordHash: string, mustChange: boolean, now: Date): Promise<void> {
    const t = now.toISOString();
    const r = await this.#db
      .updateTable('users')
      .set({
        password_hash: passwordHash,
        must_change_password: mustChange ? 1 : 0,
        password_changed_at: mustChange ? null : t,
        failed_logins: 0,
        locked_until: null,
        updated_at: t,
      })
      .where('id', '=', id)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) === 0) throw new HuiyingError('not-found', `no user ${id}`);
  }

  /**
   * Count a failed login; at `maxFailures` the account is locked until `lockUntil` and the counter
   * starts again. Returns whether the account is now locked.
   */
  async recordFailure(id: number, maxFailures: number, lockUntil: Date): Promise<boolean> {
    const row = await this.#db
      .updateTable('users')
      .set((eb) => ({ failed_logins: eb('failed_logins', '+', 1) }))
      .where('id', '=', id)
      .returning('failed_logins')
      .executeTakeFirst();
    if (row === undefined || Number(row.failed_logins) < maxFailures) return false;
    await this.#db
      .updateTable('users')
      .set({ failed_logins: 0, locked_until: lockUntil.toISOString() })
      .where('id', '=', id)
      .execute();
    return true;
  }

  async recordSuccess(id: number): Promise<void> {
    await this.#db
      .updateTable('users')
      .set({ failed_logins: 0, locked_until: null })
      .where('id', '=', id)
      .execute();
  }
}

export interface SessionRecord {
  id: string;
  userId: number;
  csrfTokenHash: string;
  createdAt: string;
  lastSeenAt: string;
  expiresAt: string;
  ip: string | null;
  userAgent: string | null;
  revokedAt: string | null;
}

export class SessionRepository {
  readonly #db: Kysely<Schema>;
  constructor(db: Kysely<Schema>) {
    this.#db = db;
  }

  async create(s: Omit<SessionRecord, 'revokedAt' | 'lastSeenAt'>): Promise<void> {
    await this.#db
      .insertInto('sessions')
      .values({
        id: s.id,
        user_id: s.userId,
        csrf_token_hash: s.csrfTokenHash,
        created_at: s.createdAt,
        last_seen_at: s.createdAt,
        expires_at: s.expiresAt,
        ip: s.ip,
        user_agent: s.userAgent,
        revoked_at: null,
      })
      .execute();
  }

  async byId(id: string): Promise<SessionRecord | undefined> {
    const r = await this.#db.selectFrom('sessions').selectAll().where('id', '=', id).executeTakeFirst();
    if (r === undefined) return undefined;
    return {
      id: r.id,
      userId: Number(r.user_id),
      csrfTokenHash: r.csrf_token_hash,
      createdAt: r.created_at,
      lastSeenAt: r.last_seen_at,
      expiresAt: r.expires_at,
      ip: r.ip,
      userAgent: r.user_agent,
      revokedAt: r.revoked_at,
    };
  }

  async touch(id: string, now: Date): Promise<void> {
    await this.#db
      .updateTable('sessions')
      .set({ last_seen_at: now.toISOString() })
      .where('id', '=', id)
      .execute();
  }

  async revoke(id: string, now: Date): Promise<void> {
    await this.#db
      .updateTable('sessions')
      .set({ revoked_at: now.toISOString() })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .execute();
  }

  /** Revoke every live session of a user, except `keep` (the caller's own, after a password change). */
  async revokeAllOf(userId: number, now: Date, keep?: string): Promise<void> {
    let q = this.#db
      .updateTable('sessions')
      .set({ revoked_at: now.toISOString() })
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null);
    if (keep !== undefined) q = q.where('id', '!=', keep);
    await q.execute();
  }
}

/** grade → privileges (data; defaults seeded by the migration). */
export class GradeRuleRepository {
  readonly #db: Kysely<Schema>;
  constructor(db: Kysely<Schema>) {
    this.#db = db;
  }

  async privilegesOf(grade: string | null): Promise<string[]> {
    if (grade === null) return [];
    const rows = await this.#db
      .selectFrom('grade_rules')
      .select('privilege')
      .where('grade', '=', grade)
      .orderBy('privilege')
      .execute();
    return rows.map((r) => r.privilege);
  }

  async list(): Promise<Array<{ grade: string; privilege: string }>> {
    return this.#db
      .selectFrom('grade_rules')
      .select(['grade', 'privilege'])
      .orderBy('grade')
      .orderBy('privilege')
      .execute();
  }

  async grant(grade: string, privilege: string): Promise<void> {
    await this.#db
      .insertInto('grade_rules')
      .values({ grade, privilege })
      .onConflict((oc) => oc.columns(['grade', 'privilege']).doNothing())
      .execute();
  }

  async revoke(grade: string, privilege: string): Promise<void> {
    await this.#db
      .deleteFrom('grade_rules')
      .where('grade', '=', grade)
      .where('privilege', '=', privilege)
      .execute();
  }
}
