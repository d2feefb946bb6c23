/**
 * The access policy: who may see which hospitals' data, and who may do what. Every protocol adapter
 * resolves its caller to a scope here; the index applies the scope to every query.
 *
 * - API tokens and DIMSE AEs act for one hospital: a member hospital's see their own hospital; the
 *   center's see every hospital.
 * - Users (session cookie): center staff (a user of the center hospital holding a center role:
 *   system_admin, center_radiologist, center_qc_manager) see every hospital; auditors see every
 *   hospital read-only; everyone else sees their own hospital. A user who must change their password
 *   may only use /api/auth/*; disabled users and expired sessions are unauthenticated.
 * - Cookie-authenticated state-changing requests need the session's CSRF token (X-CSRF-Token).
 * - Privileges (write_preliminary, review, sign) follow from the radiologist's grade by the grade rules
 *   (data): `can(caller, 'sign', report)`.
 */
import type { FastifyRequest } from 'fastify';
import type { AccessScope, Hospital, HospitalRepository } from '../archive/ports.ts';
import { HuiyingError } from '../errors.ts';
import type { ApiTokenRepository } from './api-tokens.ts';
import { CENTER_ROLES, type Grade, type Role } from '../accounts/model.ts';
import {
  csrfMatches,
  type AuthenticatedSession,
  type RequestMeta,
  type VerifiedUser,
} from '../accounts/service.ts';
import type { UserRecord } from '../accounts/repository.ts';

export function scopeOf(hospital: Hospital): AccessScope {
  return hospital.isCenter ? { kind: 'all' } : { kind: 'hospitals', hospitalIds: [hospital.id] };
}

export interface HttpCaller {
  scope: AccessScope;
  /** the hospital the caller acts for (STOW-RS stores for it) */
  hospitalId?: number;
  /** set when the caller is a logged-in user */
  user?: UserCaller;
}

/** A logged-in user as the policy sees them. */
export interface UserCaller {
  userId: number;
  username: string;
  hospitalId: number;
  roles: readonly Role[];
  grade: Grade | null;
  /** from the grade rules */
  privileges: readonly string[];
  scope: AccessScope;
  /** auditors (without another role that gives access): may read, never change */
  readOnly: boolean;
  mustChangePassword: boolean;
}

/** Roles that read and change clinical data (an auditor holding one of them is not read-only). */
const DATA_ROLES: readonly Role[] = [
  'system_admin',
  'center_radiologist',
  'center_qc_manager',
  'member_technologist',
  'member_clinician',
];

/** The policy for users: scope and read-only from hospital and roles. */
export function callerOfUser(
  user: {
    id: number;
    username: string;
    hospitalId: number;
    roles: readonly Role[];
    grade: Grade | null;
    mustChangePassword: boolean;
  },
  hospital: Hospital,
  privileges: readonly string[],
): UserCaller {
  const centerStaff = hospital.isCenter && user.roles.some((r) => CENTER_ROLES.includes(r));
  const auditor = user.roles.includes('auditor');
  const scope: AccessScope =
    centerStaff || auditor ? { kind: 'all' } : { kind: 'hospitals', hospitalIds: [hospital.id] };
  return {
    userId: user.id,
    username: user.username,
    hospitalId: hospital.id,
    roles: user.roles,
    grade: user.grade,
    privileges: user.grade === null ? [] : privileges,
    scope,
    readOnly: auditor && !user.roles.some((r) => DATA_ROLES.includes(r)),
    mustChangePassword: user.mustChangePassword,
  };
}

export type Action = 'read' | 'change' | 'write_preliminary' | 'review' | 'sign' | 'manage_users';

/** Anything that belongs to one hospital (a study, a report, a user). */
export interface HospitalResource {
  hospitalId: number;
}

export function inScope(scope: AccessScope, hospitalId: number): boolean {
  return scope.kind === 'all' || scope.hospitalIds.includes(hospitalId);
}

/**
 * May `caller` do `action` on `resource`? Reading needs the resource in scope; changing also a caller
 * that is not read-only; reporting actions (write_preliminary, review, sign) need the radiologist role
 * and the privilege from the grade rules; managing users needs system_admin (any hospital) or
 * hospital_admin (its own hospital).
 */
export function can(caller: UserCaller, action: Action, resource: HospitalResource): boolean {
  if (caller.mustChangePassword) return false;
  switch (action) {
    case 'read':
      return inScope(caller.scope, resource.hospitalId);
    case 'change':
      return !caller.readOnly && inScope(caller.scope, resource.hospitalId);
    case 'write_preliminary':
    case 'review':
    case 'sign':
      return (
        !caller.readOnly &&
        caller.roles.includes('center_radiologist') &&
        caller.privileges.includes(action) &&
        inScope(caller.scope, resource.hospitalId)
      );
    case 'manage_users':
      return (
        caller.roles.includes('system_admin') ||
        (caller.roles.includes('hospital_admin') && caller.hospitalId === resource.hospitalId)
      );
  }
}

export const SESSION_COOKIE = 'huiying_session';
export const CSRF_HEADER = 'x-csrf-token';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export function isStateChanging(method: string): boolean {
  return !SAFE_METHODS.has(method.toUpperCase());
}

/** The session token from the Cookie header, if any. */
export function sessionTokenOf(req: FastifyRequest): string | undefined {
  const header = req.headers.cookie;
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === SESSION_COOKIE) {
      const v = part.slice(eq + 1).trim();
      return v === '' ? undefined : v;
    }
  }
  return undefined;
}

/** What the policy needs from the accounts module. */
export interface SessionAuthenticator {
  authenticate(sessionToken: string): Promise<AuthenticatedSession | undefined>;
}

export interface SessionCaller extends UserCaller {
  session: AuthenticatedSession;
}

/**
 * The user behind the request's session cookie. Throws `unauthenticated` (no/invalid/expired session,
 * disabled user) or `forbidden` (missing or wrong CSRF token on a state-changing request; a forced
 * password change pending unless `allowMustChange`; a read-only caller changing something).
 */
export async function resolveSessionCaller(
  deps: { sessions: SessionAuthenticator; hospitals: HospitalRepository },
  req: FastifyRequest,
  opts: { allowMustChange?: boolean; allowReadOnlyChange?: boolean } = {},
): Promise<SessionCaller> {
  const token = sessionTokenOf(req);
  if (token === undefined) throw new HuiyingError('unauthenticated', 'not logged in');
  const auth = await deps.sessions.authenticate(token);
  if (auth === undefined) throw new HuiyingError('unauthenticated', 'the session has expired or is invalid');
  const h = await deps.hospitals.byId(auth.user.hospitalId);
  if (h === undefined) throw new HuiyingError('unauthenticated', "the user's hospital no longer exists");
  const caller = callerOfUser(auth.user, h, auth.privileges);
  if (isStateChanging(req.method)) {
    const presented = req.headers[CSRF_HEADER];
    if (typeof presented !== 'string' || !csrfMatches(presented, auth.session.csrfTokenHash))
      throw new HuiyingError('forbidden', 'missing or invalid CSRF token (X-CSRF-Token)');
  }
  if (caller.mustChangePassword && opts.allowMustChange !== true)
    throw new HuiyingError(
      'forbidden',
      'the password must be changed first (POST /api/auth/change-password)',
    );
  if (caller.readOnly && isStateChanging(req.method) && opts.allowReadOnlyChange !== true)
    throw new HuiyingError('forbidden', 'this account has read-only access');
  return { ...caller, session: auth };
}

/** What HTTP Basic and DIMSE user identity need from the accounts module (login checks + audit). */
export interface PasswordVerifier {
  verifyCredentials(
    username: string,
    password: string,
    meta: RequestMeta,
    refuse?: (user: UserRecord) => Promise<string | undefined> | string | undefined,
  ): Promise<VerifiedUser>;
}

/** Does the user hold a role that reads clinical data (service accounts, DIMSE users)? */
export function hasDataRole(roles: readonly Role[]): boolean {
  return roles.some((r) => DATA_ROLES.includes(r));
}

/**
 * Why a user with the right password may still not authenticate without the login form (HTTP Basic,
 * DIMSE): a pending forced password change (only the login form can do it), or no data role.
 */
export function passwordOnlyRefusal(user: UserRecord): string | undefined {
  if (user.mustChangePassword) return 'must_change_password';
  if (!hasDataRole(user.roles)) return 'no_data_role';
  return undefined;
}

/** `Authorization: Basic base64(username:password)` → the pair, or undefined when malformed. */
export function parseBasic(header: string): { username: string; password: string } | undefined {
  const m = /^Basic\s+([A-Za-z0-9+/=]{1,1400})\s*$/i.exec(header);
  if (m === null) return undefined;
  const decoded = Buffer.from(m[1] ?? '', 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function isLoopback(addr: string | undefined): boolean {
  return addr === '127.0.0.1' || addr === '::1' || addr === '::ffff:127.0.0.1';
}

/**
 * HTTP callers: `Authorization: Bearer <API token>` → the token's hospital; `Authorization: Basic` (service
 * accounts, with `passwords`) → the user, with the login form's lockout and audit, refused while a
 * password change is pending or without a data role; a session cookie → the user. Optionally (development and
 * benchmarks only, off by default) unauthenticated requests from the loopback interface act for a
 * configured hospital.
 */
export function createHttpScopeResolver(deps: {
  tokens: ApiTokenRepository;
  hospitals: HospitalRepository;
  /** session cookies of logged-in users (absent: API tokens only) */
  sessions?: SessionAuthenticator;
  /** HTTP Basic for service accounts (absent: Basic is refused) */
  passwords?: PasswordVerifier;
  loopbackHospitalCode?: string;
}): (req: FastifyRequest) => Promise<HttpCaller> {
  return async (req) => {
    const auth = req.headers.authorization;
    if (auth !== undefined) {
      if (deps.passwords !== undefined && /^Basic\s/i.test(auth)) {
        const creds = parseBasic(auth);
        if (creds === undefined)
          throw new HuiyingError(
            'unauthenticated',
            'malformed Basic credentials (base64 of username:password)',
          );
        const ua = req.headers['user-agent'];
        const v = await deps.passwords.verifyCredentials(
          creds.username,
          creds.password,
          {
            ip: req.ip,
            // the login is audited under the protocol the request speaks
            protocol: req.url.startsWith('/fhir') ? 'fhir' : 'dicomweb',
            ...(ua !== undefined ? { userAgent: ua } : {}),
          },
          passwordOnlyRefusal,
        );
        const h = await deps.hospitals.byId(v.user.hospitalId);
        if (h === undefined)
          throw new HuiyingError('unauthenticated', "the user's hospital no longer exists");
        const user = callerOfUser(v.user, h, v.privileges);
        return { scope: user.scope, hospitalId: user.hospitalId, user };
      }
      const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
      if (m === null)
        throw new HuiyingError(
          'unauthenticated',
          deps.passwords !== undefined
            ? 'unsupported Authorization scheme (use Bearer <API token> or Basic)'
            : 'unsupported Authorization scheme (use Bearer <API token>)',
        );
      const t = await deps.tokens.resolve(m[1] ?? '');
      if (t === undefined) throw new HuiyingError('unauthenticated', 'invalid or revoked API token');
      const h = await deps.hospitals.byId(t.hospitalId);
      if (h === undefined) throw new HuiyingError('unauthenticated', "the token's hospital no longer exists");
      return { scope: scopeOf(h), hospitalId: h.id };
    }
    if (deps.sessions !== undefined && sessionTokenOf(req) !== undefined) {
      const { session: _s, ...user } = await resolveSessionCaller(
        { sessions: deps.sessions, hospitals: deps.hospitals },
        req,
      );
      return { scope: user.scope, hospitalId: user.hospitalId, user };
    }
    if (deps.loopbackHospitalCode !== undefined && isLoopback(req.socket.remoteAddress)) {
      const h = await deps.hospitals.byCode(deps.loopbackHospitalCode);
      if (h !== undefined) return { scope: scopeOf(h), hospitalId: h.id };
    }
    throw new HuiyingError(
      'unauthenticated',
      'authentication required: log in, or Authorization: Bearer <API token>',
    );
  };
}
