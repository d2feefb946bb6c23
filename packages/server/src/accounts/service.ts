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
import type { AuditEventInput, AuditOutcome, AuditProtocol } from '../audit/types.ts';

/** Where authentication and admin events go (the archive's AuditLog; tests may pass a spy). */
export interface AuditRecorder {
  record(event: AuditEventInput): unknown;
}

/** Where a request came from (for the audit trail). */
export interface RequestMeta {
  ip?: string;
  userAgent?: string;
  /** where the credentials came in (default http); `source` overrides `ip` in the audit trail (AE@IP) */
  protocol?: AuditProtocol;
  source?: string;
}

/** A user whose username/password were verified (HTTP Basic, DIMSE user identity). */
export interface VerifiedUser {
  user: UserRecord;
  privileges: string[];
}

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
  /** for the audit trail: the actor's username (or OS user for the CLI) */
  username?: string;
  /** for the audit trail: IP address, or 'local' for the CLI */
  source?: string;
  /** 'cli': the command line acting as a system administrator (audited as actor `cli`) */
  via?: 'http' | 'cli';
}

/** The command line as an administrator (every hospital, audited as the system actor `cli`). */
export function cliActor(osUser?: string): Actor {
  return {
    userId: 0,
    hospitalId: 0,
    roles: ['system_admin'],
    ...(osUser !== undefined ? { username: osUser } : {}),
    source: 'local',
    via: 'cli',
  };
}

/** A printable, bounded form of an attempted username (never the password). */
function attempted(username: string): string {
  // eslint-disable-next-line no-control-regex -- control characters must not reach the log
  return username.replace(/[\u0000-\u001f\u007f]/g, '?').slice(0, 100);
}

function outcomeOf(err: unknown): AuditOutcome {
  return err instanceof HuiyingError && (err.code === 'forbidden' || err.code === 'not-found')
    ? 'denied'
    : 'failure';
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
  /** the audit trail for logins, logouts, password changes and admin changes (none: not recorded) */
  audit: AuditRecorder | undefined;

  constructor(db: Kysely<Schema>, hospitals: HospitalRepository, audit?: AuditRecorder) {
    this.users = new UserRepository(db);
    this.sessions = new SessionRepository(db);
    this.gradeRules = new GradeRuleRepository(db);
    this.#hospitals = hospitals;
    this.audit = audit;
  }

  #record(e: AuditEventInput): void {
    try {
      this.audit?.record(e);
    } catch {
      // AuditLog.record never throws; a spy might
    }
  }

  #authEvent(
    action: string,
    outcome: AuditOutcome,
    who: { id?: number; username: string; hospitalId?: number } | undefined,
    meta: RequestMeta,
    detail?: Record<string, unknown>,
  ): void {
    this.#record({
      at: this.now().toISOString(),
      actorType: who?.id !== undefined ? 'user' : 'anonymous',
      ...(who?.id !== undefined ? { actorId: String(who.id) } : {}),
      ...(who !== undefined ? { actorName: who.username } : {}),
      ...(who?.hospitalId !== undefined ? { hospitalId: who.hospitalId } : {}),
      ...(meta.source !== undefined
        ? { source: meta.source.slice(0, 100) }
        : meta.ip !== undefined
          ? { source: meta.ip.slice(0, 100) }
          : {}),
      protocol: meta.protocol ?? 'http',
      action,
      outcome,
      ...(detail !== undefined ? { detail } : {}),
    });
  }

  #adminEvent(
    actor: Actor | 'system',
    change: string,
    outcome: AuditOutcome,
    target: { id?: number; username?: string; hospitalId?: number },
    detail: Record<string, unknown> = {},
  ): void {
    const system = actor === 'system' || actor.via === 'cli';
    const a = actor === 'system' ? undefined : actor;
    this.#record({
      at: this.now().toISOString(),
      actorType: system ? 'system' : 'user',
      actorId: actor === 'system' ? 'system' : a?.via === 'cli' ? 'cli' : String(a?.userId),
      ...(a?.username !== undefined ? { actorName: a.username } : {}),
      ...(target.hospitalId !== undefined ? { hospitalId: target.hospitalId } : {}),
      ...(a?.source !== undefined ? { source: a.source } : system ? { source: 'local' } : {}),
      protocol: system ? 'cli' : 'http',
      action: 'admin_change',
      outcome,
      object: `user ${target.username ?? (target.id !== undefined ? `#${target.id}` : '?')}`,
      detail: {
        change,
        ...(target.id !== undefined ? { userId: target.id } : {}),
        ...(target.username !== undefined ? { username: target.username } : {}),
        ...detail,
      },
    });
  }

  /** Run an admin operation and audit it (success, or denied/failure with the error message). */
  async #audited<T extends { user: User } | User>(
    actor: Actor | 'system',
    change: string,
    target: { id?: number; username?: string; hospitalId?: number },
    detail: Record<string, unknown>,
    fn: () => Promise<T>,
  ): Promise<T> {
    let res: T;
    try {
      res = await fn();
    } catch (err) {
      this.#adminEvent(actor, change, outcomeOf(err), target, {
        ...detail,
        error: err instanceof Error ? err.message.slice(0, 200) : String(err),
      });
      throw err;
    }
    const r: { user: User } | User = res;
    const u = 'user' in r ? r.user : r;
    this.#adminEvent(
      actor,
      change,
      'success',
      { id: u.id, username: u.username, hospitalId: u.hospitalId },
      detail,
    );
    return res;
  }

  /**
   * Verify a username/password outside the login form (HTTP Basic, DIMSE user identity) with the login's
   * checks: unknown user, lockout, disabled, wrong password (counted towards the lockout), all audited as
   * `login_failed`. `refuse` may then decline a user whose password is right (e.g. a forced password change
   * pending, no data role): audited as `login_failed` with its reason, not counted towards the lockout.
   * Throws `unauthenticated` with one message for every failure.
   */
  async verifyCredentials(
    username: string,
    password: string,
    meta: RequestMeta,
    refuse?: (user: UserRecord) => Promise<string | undefined> | string | undefined,
  ): Promise<VerifiedUser> {
    const user = await this.#checkPassword(username, password, meta, { method: meta.protocol ?? 'http' });
    const who = { id: user.id, username: user.username, hospitalId: user.hospitalId };
    const reason = refuse === undefined ? undefined : await refuse(user);
    if (reason !== undefined) {
      this.#authEvent('login_failed', 'denied', who, meta, { reason, method: meta.protocol ?? 'http' });
      throw new HuiyingError('unauthenticated', INVALID_LOGIN);
    }
    if (user.failedLogins > 0) await this.users.recordSuccess(user.id);
    this.#authEvent('login', 'success', who, meta, { method: meta.protocol ?? 'http' });
    return {
      user: { ...user, failedLogins: 0, lockedUntil: null },
      privileges: await this.gradeRules.privilegesOf(user.grade),
    };
  }

  /** The login checks; the user whose password is right, else audited and `unauthenticated`. */
  async #checkPassword(
    username: string,
    password: string,
    meta: RequestMeta,
    extra?: Record<string, unknown>,
  ): Promise<UserRecord> {
    const now = this.now();
    const user =
      USERNAME_RE.test(username) && password.length <= MAX_PASSWORD_LENGTH
        ? await this.users.byUsername(username)
        : undefined;
    if (user === undefined) {
      await dummyVerify(password);
      this.#authEvent('login_failed', 'failure', { username: attempted(username) }, meta, {
        reason: 'unknown_user',
        ...extra,
      });
      throw new HuiyingError('unauthenticated', INVALID_LOGIN);
    }
    const who = { id: user.id, username: user.username, hospitalId: user.hospitalId };
    const locked = user.lockedUntil !== null && Date.parse(user.lockedUntil) > now.getTime();
    if (locked || user.disabled) {
      await dummyVerify(password);
      this.#authEvent('login_failed', 'failure', who, meta, {
        reason: locked ? 'locked' : 'disabled',
        ...extra,
      });
      throw new HuiyingError('unauthenticated', INVALID_LOGIN);
    }
    if (!(await verifyPassword(user.passwordHash, password))) {
      const lockUntil = new Date(now.getTime() + LOCKOUT_MS);
      const lockedNow = await this.users.recordFailure(user.id, MAX_FAILED_LOGINS, lockUntil);
      this.#authEvent('login_failed', 'failure', who, meta, { reason: 'wrong_password', ...extra });
      if (lockedNow)
        this.#authEvent('account_locked', 'success', who, meta, {
          failedLogins: MAX_FAILED_LOGINS,
          lockedUntil: lockUntil.toISOString(),
          ...extra,
        });
      throw new HuiyingError('unauthenticated', INVALID_LOGIN);
    }
    return user;
  }

  /** Log in; throws `unauthenticated` with one message for every failure (no username probing). */
  async login(
    username: string,
    password: string,
    meta: RequestMeta = {},
  ): Promise<{ user: User; sessionToken: string; csrfToken: string; expiresAt: string }> {
    const now = this.now();
    const user = await this.#checkPassword(username, password, meta);
    const who = { id: user.id, username: user.username, hospitalId: user.hospitalId };
    await this.users.recordSuccess(user.id);
    this.#authEvent('login', 'success', who, meta);
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

  /** End a session; with `auth`, the logout is audited. */
  async logout(sessionId: string, auth?: AuthenticatedSession, meta: RequestMeta = {}): Promise<void> {
    await this.sessions.revoke(sessionId, this.now());
    if (auth !== undefined)
      this.#authEvent(
        'logout',
        'success',
        { id: auth.user.id, username: auth.user.username, hospitalId: auth.user.hospitalId },
        meta,
      );
  }

  /** Change one's own password (also the forced change); other sessions of the user are revoked. */
  async changePassword(
    auth: AuthenticatedSession,
    current: string,
    next: string,
    meta: RequestMeta = {},
  ): Promise<User> {
    const { user } = auth;
    const who = { id: user.id, username: user.username, hospitalId: user.hospitalId };
    try {
      if (!(await verifyPassword(user.passwordHash, current)))
        throw new HuiyingError('forbidden', 'the current password is wrong');
      assertPasswordPolicy(next, user.username);
      if (current === next) throw new HuiyingError('invalid-input', 'the new password must differ');
    } catch (err) {
      this.#authEvent('password_changed', 'failure', who, meta, {
        reason: err instanceof Error ? err.message.slice(0, 200) : String(err),
      });
      throw err;
    }
    const now = this.now();
    await this.users.setPassword(user.id, await hashPassword(next), false, now);
    await this.sessions.revokeAllOf(user.id, now, auth.session.id);
    this.#authEvent('password_changed', 'success', who, meta, { forced: user.mustChangePassword });
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
    return this.#audited(
      actor,
      'user_create',
      { username: attempted(input.username), hospitalId: input.hospitalId },
      { roles: input.roles, grade: input.grade ?? null },
      () => this.#createUser(actor, input, password),
    );
  }

  async #createUser(
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
    return this.#audited(actor, 'user_update', { id }, { ...change }, () =>
      this.#updateUser(actor, id, change),
    );
  }

  async #updateUser(
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
    return this.#audited(actor, 'user_reset_password', { id }, {}, () => this.#resetPassword(actor, id));
  }

  async #resetPassword(actor: Actor, id: number): Promise<{ user: User; temporaryPassword: string }> {
    const target = await this.#target(actor, id);
    const pw = temporaryPassword();
    const now = this.now();
    await this.users.setPassword(target.id, await hashPassword(pw), true, now);
    await this.sessions.revokeAllOf(target.id, now);
    return { user: await this.#public(id), temporaryPassword: pw };
  }

  async setDisabled(actor: Actor, id: number, disabled: boolean): Promise<User> {
    return this.#audited(actor, disabled ? 'user_disable' : 'user_enable', { id }, {}, () =>
      this.#setDisabled(actor, id, disabled),
    );
  }

  async #setDisabled(actor: Actor, id: number, disabled: boolean): Promise<User> {
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
