/**
 * HTTP API of the accounts module:
 *
 *   POST /api/auth/login {username, password}      → 200 {user, csrfToken, mustChangePassword, expiresAt}
 *                                                     + Set-Cookie huiying_session (HttpOnly, SameSite=Strict)
 *   POST /api/auth/logout                           → 204 (session revoked, cookie cleared)
 *   GET  /api/auth/me                               → 200 {user, csrfToken, mustChangePassword, scope, privileges}
 *   POST /api/auth/change-password {current, next}  → 200 {user}
 *
 *   GET    /api/admin/users                         → 200 {users}
 *   POST   /api/admin/users {username, displayName, hospitalId?, roles, grade?}
 *                                                   → 201 {user, temporaryPassword}
 *   GET    /api/admin/users/:id                     → 200 {user}
 *   PATCH  /api/admin/users/:id {displayName?, roles?, grade?}   → 200 {user}
 *   POST   /api/admin/users/:id/reset-password      → 200 {user, temporaryPassword}
 *   POST   /api/admin/users/:id/disable | /enable   → 200 {user}
 *
 * Every state-changing request authenticated by the cookie needs `X-CSRF-Token`. Errors are
 * problem+json (the server's error handler); bodies are limited to 16 KiB (413 beyond).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { HospitalRepository } from '../archive/ports.ts';
import { resolveSessionCaller, SESSION_COOKIE, sessionTokenOf, type SessionCaller } from '../access/scope.ts';
import { GRADES, ROLES } from './model.ts';
import { csrfTokenOf, SESSION_ABSOLUTE_MS, type AccountService, type Actor } from './service.ts';

export interface AccountRoutesOptions {
  accounts: AccountService;
  hospitals: HospitalRepository;
  /** always mark the cookie Secure (behind a TLS-terminating proxy); default: when the request used TLS */
  secureCookies?: boolean;
}

const BODY_LIMIT = 16 * 1024;

const SECURITY_HEADERS: Record<string, string> = {
  'Cache-Control': 'no-store',
  Pragma: 'no-cache',
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Content-Security-Policy': "default-src 'none'; frame-ancestors 'none'",
  'Cross-Origin-Resource-Policy': 'same-origin',
};

const text = (max: number): Record<string, unknown> => ({ type: 'string', minLength: 1, maxLength: max });
const rolesSchema = {
  type: 'array',
  items: { type: 'string', enum: [...ROLES] },
  maxItems: ROLES.length,
  uniqueItems: true,
};
const gradeSchema = { anyOf: [{ type: 'string', enum: [...GRADES] }, { type: 'null' }] };
const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'integer', minimum: 1 } },
};

function cookie(req: FastifyRequest, value: string, maxAgeSeconds: number, forceSecure: boolean): string {
  const secure = forceSecure || req.protocol === 'https';
  return [
    `${SESSION_COOKIE}=${value}`,
    'Path=/',
    'HttpOnly',
    'SameSite=Strict',
    `Max-Age=${maxAgeSeconds}`,
    ...(secure ? ['Secure'] : []),
  ].join('; ');
}

function actorOf(c: SessionCaller, req: FastifyRequest): Actor {
  return {
    userId: c.userId,
    hospitalId: c.hospitalId,
    roles: c.roles,
    username: c.session.user.username,
    source: req.ip,
    via: 'http',
  };
}

export async function registerAccountRoutes(app: FastifyInstance, opts: AccountRoutesOptions): Promise<void> {
  const { accounts } = opts;
  const secure = opts.secureCookies ?? process.env.HUIYING_COOKIE_SECURE === '1';
  const deps = { sessions: accounts, hospitals: opts.hospitals };

  await app.register((r, _opts, done) => {
    r.addHook('onRequest', async (_req, reply) => {
      reply.headers(SECURITY_HEADERS);
    });
    const session = (req: FastifyRequest, allowMustChange = false): Promise<SessionCaller> =>
      resolveSessionCaller(deps, req, { allowMustChange, allowReadOnlyChange: true });

    // ---- /api/auth ----
    r.post<{ Body: { username: string; password: string } }>(
      '/api/auth/login',
      {
        bodyLimit: BODY_LIMIT,
        schema: {
          body: {
            type: 'object',
            required: ['username', 'password'],
            additionalProperties: false,
            properties: { username: text(200), password: text(1024) },
          },
        },
      },
      async (req, reply) => {
        const ua = req.headers['user-agent'];
        const res = await accounts.login(req.body.username, req.body.password, {
          ip: req.ip,
          ...(ua !== undefined ? { userAgent: ua } : {}),
        });
        reply.header(
          'Set-Cookie',
          cookie(req, res.sessionToken, Math.floor(SESSION_ABSOLUTE_MS / 1000), secure),
        );
        return {
          user: res.user,
          csrfToken: res.csrfToken,
          mustChangePassword: res.user.mustChangePassword,
          expiresAt: res.expiresAt,
        };
      },
    );

    r.post('/api/auth/logout', { bodyLimit: BODY_LIMIT }, async (req, reply) => {
      const c = await session(req, true);
      await accounts.logout(c.session.session.id, c.session, { ip: req.ip });
      reply.header('Set-Cookie', cookie(req, '', 0, secure));
      return reply.code(204).send();
    });

    r.get('/api/auth/me', async (req) => {
      const c = await session(req, true);
      const token = sessionTokenOf(req) ?? '';
      const h = await opts.hospitals.byId(c.hospitalId);
      return {
        user: publicOf(c),
        hospital: h === undefined ? null : { id: h.id, code: h.code, name: h.name, isCenter: h.isCenter },
        csrfToken: csrfTokenOf(token),
        mustChangePassword: c.mustChangePassword,
        scope: c.scope,
        readOnly: c.readOnly,
        privileges: c.privileges,
      };
    });

    r.post<{ Body: { current: string; next: string } }>(
      '/api/auth/change-password',
      {
        bodyLimit: BODY_LIMIT,
        schema: {
          body: {
            type: 'object',
            required: ['current', 'next'],
            additionalProperties: false,
            properties: { current: text(1024), next: text(1024) },
          },
        },
      },
      async (req) => {
        const c = await session(req, true);
        const user = await accounts.changePassword(c.session, req.body.current, req.body.next, {
          ip: req.ip,
        });
        return { user };
      },
    );

    // ---- /api/admin/users ----
    r.get('/api/admin/users', async (req) => {
      const c = await session(req);
      return { users: await accounts.listUsers(actorOf(c, req)) };
    });

    r.post<{
      Body: {
        username: string;
        displayName: string;
        hospitalId?: number;
        roles: string[];
        grade?: string | null;
      };
    }>(
      '/api/admin/users',
      {
        bodyLimit: BODY_LIMIT,
        schema: {
          body: {
            type: 'object',
            required: ['username', 'displayName', 'roles'],
            additionalProperties: false,
            properties: {
              username: text(64),
              displayName: text(200),
              hospitalId: { type: 'integer', minimum: 1 },
              roles: rolesSchema,
              grade: gradeSchema,
            },
          },
        },
      },
      async (req, reply) => {
        const c = await session(req);
        const b = req.body;
        const res = await accounts.createUser(actorOf(c, req), {
          username: b.username,
          displayName: b.displayName,
          hospitalId: b.hospitalId ?? c.hospitalId,
          roles: b.roles,
          grade: b.grade ?? null,
        });
        return reply.code(201).send(res);
      },
    );

    r.get<{ Params: { id: number } }>(
      '/api/admin/users/:id',
      { schema: { params: idParams } },
      async (req) => {
        const c = await session(req);
        return { user: await accounts.getUser(actorOf(c, req), req.params.id) };
      },
    );

    r.patch<{
      Params: { id: number };
      Body: { displayName?: string; roles?: string[]; grade?: string | null };
    }>(
      '/api/admin/users/:id',
      {
        bodyLimit: BODY_LIMIT,
        schema: {
          params: idParams,
          body: {
            type: 'object',
            additionalProperties: false,
            minProperties: 1,
            properties: { displayName: text(200), roles: rolesSchema, grade: gradeSchema },
          },
        },
      },
      async (req) => {
        const c = await session(req);
        return { user: await accounts.updateUser(actorOf(c, req), req.params.id, req.body) };
      },
    );

    r.post<{ Params: { id: number } }>(
      '/api/admin/users/:id/reset-password',
      { bodyLimit: BODY_LIMIT, schema: { params: idParams } },
      async (req) => {
        const c = await session(req);
        return accounts.resetPassword(actorOf(c, req), req.params.id);
      },
    );

    for (const [path, disabled] of [
      ['disable', true],
      ['enable', false],
    ] as const) {
      r.post<{ Params: { id: number } }>(
        `/api/admin/users/:id/${path}`,
        { bodyLimit: BODY_LIMIT, schema: { params: idParams } },
        async (req) => {
          const c = await session(req);
          return { user: await accounts.setDisabled(actorOf(c, req), req.params.id, disabled) };
        },
      );
    }
    done();
  });
}

function publicOf(c: SessionCaller): Record<string, unknown> {
  const { passwordHash: _h, failedLogins: _f, ...user } = c.session.user;
  return user;
}
