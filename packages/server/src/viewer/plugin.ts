/**
 * Serves the OHIF viewer under `/viewer/`: the patched prebuilt dist installed by
 * `scripts/install-viewer.ts`, a generated `app-config.js` pointing at our DICOMweb, and a single-page
 * app fallback (`/viewer/viewer?StudyInstanceUIDs=…`, the study list at `/viewer/`).
 *
 * Caching: content-hashed files (`*.bundle.<hash>.js`, `<hash>.wasm`, …) are immutable for a year;
 * everything else (index.html, app-config.js, app.bundle.css, icons) is revalidated (ETag).
 * When the dist is not installed, `/viewer/*` answers 503 with how to install it; the rest of the
 * server is unaffected. The viewer's pages hold no data: every study is fetched through DICOMweb,
 * which authenticates and scopes each request.
 */
import { existsSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import {
  IMMUTABLE,
  REVALIDATE,
  etagMatches,
  isUnsafePath,
  problem,
  sendStaticFile,
} from '../http/static-files.ts';
import { renderAppConfig } from './app-config.ts';

export const VIEWER_PREFIX = '/viewer';

/** The folder `scripts/install-viewer.ts` installs to (overridable with HUIYING_VIEWER_DIR). */
export function defaultViewerDir(env: Record<string, string | undefined> = process.env): string {
  const fromEnv = env.HUIYING_VIEWER_DIR;
  return fromEnv !== undefined && fromEnv !== ''
    ? resolve(fromEnv)
    : resolve(import.meta.dirname, '..', '..', 'viewer-dist');
}

export interface ViewerOptions {
  /** the installed dist (default {@link defaultViewerDir}) */
  dir?: string;
  /** DICOMweb root on this origin (default `/dicomweb`) */
  dicomwebPath?: string;
  /** WADO-URI on this origin (default `<dicomwebPath>/wado`) */
  wadoUriPath?: string;
  thumbnailRendering?: 'wadors' | 'thumbnail' | 'rendered';
}

/** Webpack output names carry a 16-hex content hash: `app.bundle.0f61….js`, `34b1….wasm`, `a34f….woff2`. */
export function isHashedAsset(name: string): boolean {
  return /(?:^|[.-])[0-9a-f]{16,}\.[a-z0-9]+$/.test(name);
}

function setSecurityHeaders(reply: FastifyReply): void {
  void reply.header('x-content-type-options', 'nosniff');
  void reply.header('content-security-policy', "frame-ancestors 'self'");
  void reply.header('x-frame-options', 'SAMEORIGIN');
  void reply.header('referrer-policy', 'same-origin');
}

export function registerViewer(app: FastifyInstance, opts: ViewerOptions = {}): Promise<void> {
  const dir = resolve(opts.dir ?? defaultViewerDir());
  const dicomwebPath = opts.dicomwebPath ?? '/dicomweb';
  const appConfig = renderAppConfig({
    base: `${VIEWER_PREFIX}/`,
    dicomwebPath,
    wadoUriPath: opts.wadoUriPath ?? `${dicomwebPath}/wado`,
    ...(opts.thumbnailRendering !== undefined ? { thumbnailRendering: opts.thumbnailRendering } : {}),
  });
  const appConfigEtag = `"cfg-${hash(appConfig)}"`;
  // Checked per request until found, so installing the viewer does not need a restart.
  let installed = false;
  const isInstalled = (): boolean => (installed ||= existsSync(join(dir, 'index.html')));

  app.get(VIEWER_PREFIX, (req, reply) => {
    setSecurityHeaders(reply);
    const q = req.url.indexOf('?');
    return reply.redirect(`${VIEWER_PREFIX}/${q >= 0 ? req.url.slice(q) : ''}`, 302);
  });

  app.get(`${VIEWER_PREFIX}/*`, async (req, reply) => {
    setSecurityHeaders(reply);
    const raw = (req.params as { '*'?: string })['*'] ?? '';
    let rel: string;
    try {
      rel = decodeURIComponent(raw);
    } catch {
      return problem(reply, 400, 'malformed viewer path');
    }
    if (isUnsafePath(rel)) return problem(reply, 404, `no viewer file ${rel}`);
    const inm = req.headers['if-none-match'];

    if (rel === 'app-config.js') {
      void reply.header('cache-control', REVALIDATE).header('etag', appConfigEtag);
      if (etagMatches(inm, appConfigEtag)) return reply.status(304).send();
      return reply.type('text/javascript; charset=utf-8').send(appConfig);
    }
    if (!isInstalled()) {
      void reply.header('cache-control', 'no-store').header('retry-after', '60');
      return problem(
        reply,
        503,
        'The OHIF viewer is not installed on this server',
        'Run `npm run viewer:install` (it downloads @ohif/app from the npm registry), then reload this page.',
      );
    }
    const last = rel.split('/').pop() ?? '';
    const isPage = rel === '' || rel === 'index.html' || !last.includes('.');
    if (isPage) {
      // SPA routes (the study list, /viewer/viewer?StudyInstanceUIDs=…) are all index.html.
      const sent = await sendStaticFile(reply, join(dir, 'index.html'), REVALIDATE, inm);
      return sent ?? problem(reply, 503, 'The OHIF viewer installation is incomplete');
    }
    const file = resolve(dir, rel);
    if (!file.startsWith(dir + sep)) return problem(reply, 404, `no viewer file ${rel}`);
    const sent = await sendStaticFile(reply, file, isHashedAsset(last) ? IMMUTABLE : REVALIDATE, inm);
    return sent ?? problem(reply, 404, `no viewer file ${rel}`);
  });
  return Promise.resolve();
}

function hash(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16);
}
