/**
 * Serves the web application (packages/web, built by Vite into packages/web/dist) at `/`.
 *
 * - `/assets/*` (content-hashed by Vite) are immutable for a year; index.html and everything else is
 *   revalidated (`no-cache`, ETag).
 * - Single-page app fallback: extensionless paths outside the server's own prefixes (`/api`,
 *   `/dicomweb`, `/viewer`, `/healthz`) answer index.html, so `/admin/users` can be reloaded.
 * - Not built: pages answer 503 with how to build the UI; the rest of the server is unaffected.
 *
 * The pages hold no data: everything comes through /api, which authenticates every request.
 */
import { existsSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { IMMUTABLE, REVALIDATE, isUnsafePath, problem, sendStaticFile } from '../http/static-files.ts';

/** packages/web/dist (overridable with HUIYING_WEB_DIR). */
export function defaultWebDir(env: Record<string, string | undefined> = process.env): string {
  const fromEnv = env.HUIYING_WEB_DIR;
  return fromEnv !== undefined && fromEnv !== ''
    ? resolve(fromEnv)
    : resolve(import.meta.dirname, '..', '..', '..', 'web', 'dist');
}

/** Path prefixes that belong to the server, never to the SPA fallback. */
export const RESERVED_PREFIXES = ['/api', '/dicomweb', '/fhir', '/viewer', '/healthz'];

export function isReserved(path: string): boolean {
  return RESERVED_PREFIXES.some((p) => path === p || path.startsWith(`${p}/`));
}

function setSecurityHeaders(reply: FastifyReply): void {
  void reply.header('x-content-type-options', 'nosniff');
  void reply.header('x-frame-options', 'DENY');
  void reply.header('referrer-policy', 'same-origin');
  void reply.header(
    'content-security-policy',
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
  );
}

export function registerWebApp(app: FastifyInstance, opts: { dir?: string } = {}): Promise<void> {
  const dir = resolve(opts.dir ?? defaultWebDir());
  let built = false;
  const isBuilt = (): boolean => (built ||= existsSync(join(dir, 'index.html')));

  const handler = async (
    req: { url: string; headers: Record<string, string | string[] | undefined> },
    reply: FastifyReply,
  ): Promise<FastifyReply> => {
    const path = req.url.split('?')[0] ?? '/';
    let rel: string;
    try {
      rel = decodeURIComponent(path).replace(/^\/+/, '');
    } catch {
      return problem(reply, 400, 'malformed path');
    }
    if (isReserved(`/${rel}`)) return problem(reply, 404, `no route for GET ${path}`);
    setSecurityHeaders(reply);
    if (isUnsafePath(rel)) return problem(reply, 404, `no file ${rel}`);
    const inm = req.headers['if-none-match'];
    if (!isBuilt()) {
      void reply.header('cache-control', 'no-store').header('retry-after', '60');
      return problem(
        reply,
        503,
        'The Huiying web application is not built on this server',
        'Run `npm run -w @huiying/web build` (or `npm start`, which builds it when missing), then reload this page.',
      );
    }
    const last = rel.split('/').pop() ?? '';
    if (rel === '' || rel === 'index.html' || !last.includes('.')) {
      const sent = await sendStaticFile(reply, join(dir, 'index.html'), REVALIDATE, inm);
      return sent ?? problem(reply, 503, 'The web application build is incomplete');
    }
    const file = resolve(dir, rel);
    if (!file.startsWith(dir + sep)) return problem(reply, 404, `no file ${rel}`);
    const sent = await sendStaticFile(reply, file, rel.startsWith('assets/') ? IMMUTABLE : REVALIDATE, inm);
    return sent ?? problem(reply, 404, `no file ${rel}`);
  };

  app.get('/', handler);
  app.get('/*', handler);
  return Promise.resolve();
}
