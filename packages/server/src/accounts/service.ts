/**
 * Authentication and account administration: login with throttling and temporary lockout, sessions with
 * idle and absolute expiry, CSRF tokens bound to the session, password changes and the admin operations
 * (system administrators: every user; hospital administrators: their own hospital's users only).
 *
 * Session token: 32 random bytes in the cookie; the database keeps its SHA-256 as the session id. The
 * CSRF token is HMAC-SHA256(session token, "csrf"): the server can hand it out again (GET /me) without
 * storing it, and only its hash is stored.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { HospitalRepository } from '../archive/ports.ts';
import { HuiyingError } from '../errors.ts';
import {
  assertPasswordPolicy,
  dummyVerify,
  hashPassword,
  MAX_PASSWORD_LENGTH,
  temporaryPassword,
  verifyPassword,
} from './passwords.ts';
import { isGrade, isRole, USERNAME_RE, type Grade, type Role, type User } from './model.ts';
import {
  GradeRuleRepository,
  publicUser,
  SessionRepository,
  UserRepository,
  type SessionRecord,
  type UserRecord,
} from './repository.ts';
import type { Kysely } from 'kysely';
import type { Schema } from '../db/schema.ts';

export const MAX_FAILED_LOGINS = 5;
export const LOCKOUT_MS = 15 * 60_000;
export const SESSION_IDLE_MS = 30 * 60_000;
export const SESSION_ABSOLUTE_MS = 12 * 60 * 60_000;
/** last_seen_at is written at most this often */
const TOUCH_EVERY_MS = 60_000;
export const MAX_DISPLAY_NAME = 100;

const INVALID_LOGIN = 'invalid username or password, or the account is temporarily locked';

export function sha256(s: string): string {
  return createHash('sha256').update(s, 'utf8').digest('hex');
}

export function csrfTokenOf(sessionToken: string): string {
  return createHmac('sha256', sessionToken).update('huiying csrf', 'utf8').digest('base64url');
}

/** Constant-time comparison of a presented CSRF token with the session's stored hash. */
export function csrfMatches(presented: string | undefined, storedHash: string): boolean {
  if (presented === undefined || presented.length > 200) return false;
  const a = Buffer.from(sha256(presented), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** A user whose session is valid. */
export interface AuthenticatedSession {
  user: UserRecord;
  session: SessionRecord;
  privileges: string[];
}

/** Who performs an admin operation. */
export interface Actor {
  userId: number;
  hospitalId: number;
  roles: readonly Role[];
}

export interface NewUserInput {
  username: string;
  displayName: string;
  hospitalId: number;
  roles: string[];
  grade?: string | null;
}

export class AccountService {
  readonly users: UserRepository;
  readonly sessions: SessionRepository;
  readonly gradeRules: GradeRuleRepository;
  readonly #hospitals: HospitalRepository;
  /** the clock (tests move it) */
  now: () => Date = () => new Date();

  constructor(db: Kysely<Schema>, hospitals: HospitalRepository) {
    this.users = new UserRepository(db);
    this.sessions = new SessionRepository(db);
    this.gradeRules = new GradeRuleRepository(db);
    this.#hospitals = hospitals;
  }

  /** Log in; throws `unauthenticated` with one message for every failure (no username probing). */
  async login(
    username: string,
    password: string,
    meta: { ip?: string; userAgent?: string } = {},
  ): Promise<{ user: User; sessionToken: string; csrfToken: string; expiresAt: string }> {
    const now = this.now();
    const user =
      USERNAME_RE.test(username) && password.length <= MAX_PASSWORD_LENGTH
        ? await this.users.byUsername(username)
        : undefined;
    if (user === undefined) {
      await dummyVerify(password);
      throw new HuiyingError('unauthenticated', INVALID_LOGIN);
    }
    const locked = user.lockedUntil !== null && Date.parse(user.lockedUntil) > now.getTime();
    if (locked || user.disabled) {
      await dummyVerify(password);
      throw new HuiyingError('unauthenticated', INVALID_LOGIN);
    }
    if (!(await verifyPassword(user.passwordHash, password))) {
      await this.users.recordFailure(user.id, MAX_FAILED_LOGINS, new Date(now.getTime() + LOCKOUT_MS));
      throw new HuiyingError('unauthenticated', INVALID_LOGIN);
    }
    await this.users.recordSuccess(user.id);
    const sessionToken = randomBytes(32).toString('base64url');
    const csrfToken = csrfTokenOf(sessionToken);
    const expiresAt = new Date(now.getTime() + SESSION_ABSOLUTE_MS).toISOString();
    await this.sessions.create({
      id: sha256(sessionToken),
      userId: user.id,
      csrfTokenHash: sha256(csrfToken),
      createdAt: now.toISOString(),
      expiresAt,
      ip: meta.ip?.slice(0, 100) ?? null,
      userAgent: meta.userAgent?.slice(0, 500) ?? null,
    });
    return {
      user: publicUser({ ...user, failedLogins: 0, lockedUntil: null }),
      sessionToken,
      csrfToken,
      expiresAt,
    };
  }

  /** The user of a valid session token, or undefined (unknown, revoked, expired, idle, disabled user). */
  async authenticate(sessionToken: string): Promise<AuthenticatedSession | undefined> {
    if (sessionToken.length === 0 || sessionToken.length > 100) return undefined;
    const now = this.now();
    const session = await this.sessions.byId(sha256(sessionToken));
    if (session === undefined || session.revokedAt !== null) return undefined;
    const t = now.getTime();
    if (Date.parse(session.expiresAt) <= t || Date.parse(session.lastSeenAt) + SESSION_IDLE_MS <= t) {
      await this.sessions.revoke(session.id, now);
      return undefined;
    }
    const user = await this.users.byId(session.userId);
    if (user === undefined || user.disabled) return undefined;
    if (t - Date.parse(session.lastSeenAt) >= TOUCH_EVERY_MS) {
      await this.sessions.touch(session.id, now);
      session.lastSeenAt = now.toISOString();
    }
    return { user, session, privileges: await this.gradeRules.privilegesOf(user.grade) };
  }

  async logout(sessionId: string): Promise<void> {
    await this.sessions.revoke(sessionId, this.now());
  }

  /** Change one's own password (also the forced change); other sessions of the user are revoked. */
  async changePassword(auth: AuthenticatedSession, current: string, next: string): Promise<User> {
    const { user } = auth;
    if (!(await verifyPassword(user.passwordHash, current)))
      throw new HuiyingError('forbidden', 'the current password is wrong');
    assertPasswordPolicy(next, user.username);
    if (current === next) throw new HuiyingError('invalid-input', 'the new password must differ');
    const now = this.now();
    await this.users.setPassword(user.id, await hashPassword(next), false, now);
    await this.sessions.revokeAllOf(user.id, now, auth.session.id);
    return this.#public(user.id);
  }

  // ---- administration ----

  #mayManage(actor: Actor, hospitalId: number): boolean {
    if (actor.roles.includes('system_admin')) return true;
    return actor.roles.includes('hospital_admin') && actor.hospitalId === hospitalId;
  }

  #assertAdmin(actor: Actor): void {
    if (!actor.roles.includes('system_admin') && !actor.roles.includes('hospital_admin'))
      throw new HuiyingError('forbidden', 'user administration needs system_admin or hospital_admin');
  }

  /** Roles a hospital administrator may not grant (they widen access beyond its hospital). */
  #assertRolesGrantable(actor: Actor, roles: readonly Role[]): void {
    if (actor.roles.includes('system_admin')) return;
    const denied = roles.filter((r) => r === 'system_admin' || r === 'auditor');
    if (denied.length > 0)
      throw new HuiyingError('forbidden', `only a system administrator may grant ${denied.join(', ')}`);
  }

  async #target(actor: Actor, id: number): Promise<UserRecord> {
    this.#assertAdmin(actor);
    const u = await this.users.byId(id);
    // another hospital's user is "not found" for a hospital administrator: no probing of ids
    if (u === undefined || !this.#mayManage(actor, u.hospitalId))
      throw new HuiyingError('not-found', `no user ${id}`);
    if (u.roles.includes('system_admin') && !actor.roles.includes('system_admin'))
      throw new HuiyingError('forbidden', 'only a system administrator may change a system administrator');
    return u;
  }

  async #public(id: number): Promise<User> {
    const u = await this.users.byId(id);
    if (u === undefined) throw new HuiyingError('not-found', `no user ${id}`);
    return publicUser(u);
  }

  async listUsers(actor: Actor): Promise<User[]> {
    this.#assertAdmin(actor);
    const all = actor.roles.includes('system_admin');
    return (await this.users.list(all ? {} : { hospitalId: actor.hospitalId })).map(publicUser);
  }

  async getUser(actor: Actor, id: number): Promise<User> {
    return publicUser(await this.#target(actor, id));
  }

  /** Create a user with a temporary password (returned once; must be changed at first login). */
  async createUser(
    actor: Actor | 'system',
    input: NewUserInput,
    password?: string,
  ): Promise<{ user: User; temporaryPassword: string }> {
    if (actor !== 'system') {
      this.#assertAdmin(actor);
      if (!this.#mayManage(actor, input.hospitalId))
        throw new HuiyingError('forbidden', "a hospital administrator manages only its own hospital's users");
    }
    if (!USERNAME_RE.test(input.username))
      throw new HuiyingError(
        'invalid-input',
        'a username has 2-64 characters: letters, digits, ".", "_", "-" (starting with a letter or digit)',
      );
    const displayName = cleanDisplayName(input.displayName);
    const roles = rolesOf(input.roles);
    if (actor !== 'system') this.#assertRolesGrantable(actor, roles);
    const grade = gradeOf(input.grade ?? null);
    if ((await this.#hospitals.byId(input.hospitalId)) === undefined)
      throw new HuiyingError('invalid-input', `no hospital ${input.hospitalId}`);
    const pw = password ?? temporaryPassword();
    if (password !== undefined) assertPasswordPolicy(password, input.username);
    const user = await this.users.create(
      {
        hospitalId: input.hospitalId,
        username: input.username,
        displayName,
        passwordHash: await hashPassword(pw),
        roles,
        grade,
        mustChangePassword: true,
      },
      this.now(),
    );
    return { user: publicUser(user), temporaryPassword: pw };
  }

  async updateUser(
    actor: Actor,
    id: number,
    change: { displayName?: string; roles?: string[]; grade?: string | null },
  ): Promise<User> {
    const target = await this.#target(actor, id);
    const roles = change.roles !== undefined ? rolesOf(change.roles) : undefined;
    if (roles !== undefined) {
      this.#assertRolesGrantable(actor, roles);
      if (
        actor.userId === target.id &&
        target.roles.includes('system_admin') &&
        !roles.includes('system_admin')
      )
        throw new HuiyingError('conflict', 'you cannot remove your own system_admin role');
    }
    await this.users.update(
      id,
      {
        ...(change.displayName !== undefined ? { displayName: cleanDisplayName(change.displayName) } : {}),
        ...(roles !== undefined ? { roles } : {}),
        ...(change.grade !== undefined ? { grade: gradeOf(change.grade) } : {}),
      },
      this.now(),
    );
    return this.#public(id);
  }

  /** A new temporary password (returned once); the user must change it; their sessions end. */
  async resetPassword(actor: Actor, id: number): Promise<{ user: User; temporaryPassword: string }> {
    const target = await this.#target(actor, id);
    const pw = temporaryPassword();
    const now = this.now();
    await this.users.setPassword(target.id, await hashPassword(pw), true, now);
    await this.sessions.revokeAllOf(target.id, now);
    return { user: await this.#public(id), temporaryPassword: pw };
  }

  async setDisabled(actor: Actor, id: number, disabled: boolean): Promise<User> {
    const target = await this.#target(actor, id);
    if (disabled && target.id === actor.userId)
      throw new HuiyingError('conflict', 'you cannot disable your own account');
    const now = this.now();
    await this.users.update(id, { disabled }, now);
    if (disabled) await this.sessions.revokeAllOf(id, now);
    return this.#public(id);
  }
}

function rolesOf(roles: string[]): Role[] {
  const bad = roles.filter((r) => !isRole(r));
  if (bad.length > 0)
    throw new HuiyingError(
      'invalid-input',
      `unknown role(s): ${bad.map((r) => JSON.stringify(r)).join(', ')}`,
    );
  return [...new Set(roles.filter(isRole))];
}

function gradeOf(grade: string | null): Grade | null {
  if (grade === null) return null;
  if (!isGrade(grade)) throw new HuiyingError('invalid-input', `unknown grade ${JSON.stringify(grade)}`);
  return grade;
}

/** Display names: trimmed, 1–100 characters, no control characters. Stored verbatim otherwise. */
function cleanDisplayName(name: string): string {
  const n = name.trim();
  if (n === '' || n.length > MAX_DISPLAY_NAME)
    throw new HuiyingError('invalid-input', `a display name has 1-${MAX_DISPLAY_NAME} characters`);
  // eslint-disable-next-line no-control-regex -- refusing control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(n))
    throw new HuiyingError('invalid-input', 'a display name must not contain control characters');
  return n;
}
