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
import { createReadStream, existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';

/** packages/web/dist (overridable with HUIYING_WEB_DIR). */
export function defaultWebDir(env: Record<string, string | undefined> = process.env): string {
  const fromEnv = env.HUIYING_WEB_DIR;
  return fromEnv !== undefined && fromEnv !== ''
    ? resolve(fromEnv)
    : resolve(import.meta.dirname, '..', '..', '..', 'web', 'dist');
}

/** Path prefixes that belong to the server, never to the SPA fallback. */
export const RESERVED_PREFIXES = ['/api', '/dicomweb', '/viewer', '/healthz'];

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
};

const IMMUTABLE = 'public, max-age=31536000, immutable';
const REVALIDATE = 'no-cache';

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

function problem(reply: FastifyReply, status: number, title: string, detail?: string): FastifyReply {
  return reply
    .status(status)
    .type('application/problem+json')
    .send({ type: 'about:blank', title, status, ...(detail !== undefined ? { detail } : {}) });
}

export function registerWebApp(app: FastifyInstance, opts: { dir?: string } = {}): Promise<void> {
  const dir = resolve(opts.dir ?? defaultWebDir());
  let built = false;
  const isBuilt = (): boolean => (built ||= existsSync(join(dir, 'index.html')));

  async function sendFile(
    reply: FastifyReply,
    file: string,
    cache: string,
    ifNoneMatch: string | undefined,
  ): Promise<FastifyReply | undefined> {
    let st;
    try {
      st = await stat(file);
    } catch {
      return undefined;
    }
    if (!st.isFile()) return undefined;
    const etag = `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
    void reply.header('cache-control', cache).header('etag', etag);
    void reply.header('last-modified', st.mtime.toUTCString());
    if (ifNoneMatch !== undefined && ifNoneMatch.split(/\s*,\s*/).includes(etag)) {
      return reply.status(304).send();
    }
    void reply.type(TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream');
    void reply.header('content-length', st.size);
    return reply.send(createReadStream(file));
  }

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
    if (rel.includes('\0') || rel.split('/').some((s) => s === '..' || (s.startsWith('.') && s.length > 1)))
      return problem(reply, 404, `no file ${rel}`);
    const inmRaw = req.headers['if-none-match'];
    const inm = typeof inmRaw === 'string' ? inmRaw : undefined;
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
      const sent = await sendFile(reply, join(dir, 'index.html'), REVALIDATE, inm);
      return sent ?? problem(reply, 503, 'The web application build is incomplete');
    }
    const file = resolve(dir, rel);
    if (!file.startsWith(dir + sep)) return problem(reply, 404, `no file ${rel}`);
    const sent = await sendFile(reply, file, rel.startsWith('assets/') ? IMMUTABLE : REVALIDATE, inm);
    return sent ?? problem(reply, 404, `no file ${rel}`);
  };

  app.get('/', handler);
  app.get('/*', handler);
  return Promise.resolve();
}
