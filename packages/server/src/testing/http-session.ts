/**
 * Test helper: logged-in sessions against a running test server's REST API — log in (cookie + CSRF
 * token), call an endpoint as that session, and create a user of a hospital with a known password.
 */
import assert from 'node:assert/strict';
import { hashPassword } from '../accounts/passwords.ts';
import type { Grade, Role } from '../accounts/model.ts';
import type { TestServer } from './test-server.ts';

export interface Session {
  /** `huiying_session=…` for the Cookie header */
  cookie: string;
  csrf: string;
}

/** POST /api/auth/login; asserts 200. */
export async function loginSession(base: string, username: string, password: string): Promise<Session> {
  const r = await fetch(`${base}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  assert.equal(r.status, 200, `login ${username}: ${await r.clone().text()}`);
  const body = (await r.json()) as { csrfToken: string };
  return { cookie: (r.headers.get('set-cookie') ?? '').split(';')[0] ?? '', csrf: body.csrfToken };
}

/** A request as `s` (none: anonymous); the CSRF header unless `csrf` is false; a JSON body. */
export function callAs(
  base: string,
  s: Session | undefined,
  method: string,
  path: string,
  body?: unknown,
  csrf = true,
): Promise<Response> {
  const headers: Record<string, string> = {};
  if (s !== undefined) headers.cookie = s.cookie;
  if (s !== undefined && csrf) headers['x-csrf-token'] = s.csrf;
  if (body !== undefined) headers['content-type'] = 'application/json';
  return fetch(`${base}${path}`, {
    method,
    headers,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
}

/** A user of `hospitalCode` (created if needed) with `password` and no forced change, logged in. */
export async function userSession(
  srv: TestServer,
  username: string,
  hospitalCode: string,
  roles: Role[],
  opts: { password: string; grade?: Grade },
): Promise<{ session: Session; id: number }> {
  const acc = srv.server.archive.accounts;
  const h = await srv.hospital(hospitalCode);
  const { user } = await acc.createUser('system', {
    username,
    displayName: username,
    hospitalId: h.id,
    roles,
    ...(opts.grade !== undefined ? { grade: opts.grade } : {}),
  });
  await acc.users.setPassword(user.id, await hashPassword(opts.password), false, new Date());
  return {
    session: await loginSession(`http://127.0.0.1:${srv.httpPort}`, username, opts.password),
    id: user.id,
  };
}
