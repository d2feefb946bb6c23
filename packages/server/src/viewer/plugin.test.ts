/** The /viewer/ Fastify plugin on a tiny dist: pages, app-config.js, caching, SPA fallback, 404, 503. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import Fastify, { type FastifyInstance } from 'fastify';
import { isHashedAsset, registerViewer } from './plugin.ts';
import { renderAppConfig } from './app-config.ts';

const INDEX = '<!doctype html><title>OHIF</title><script src="/viewer/app-config.js"></script>';

async function appFor(dir: string): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  await registerViewer(app, { dir, dicomwebPath: '/dicomweb' });
  await app.ready();
  return app;
}

describe('viewer plugin', () => {
  let dir: string;
  let app: FastifyInstance;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'huiying-viewer-plugin-'));
    await writeFile(join(dir, 'index.html'), INDEX);
    await writeFile(join(dir, 'app.bundle.0f6159c501addfe9.js'), 'console.log(1)');
    await writeFile(join(dir, 'app.bundle.css'), 'a{}');
    await writeFile(join(dir, '34b1e6b1deb5828e.wasm'), Buffer.from([0, 97, 115, 109]));
    await mkdir(join(dir, 'assets'));
    await writeFile(join(dir, 'assets', 'favicon.ico'), 'ico');
    await writeFile(join(dir, '.huiying-viewer.json'), '{}');
    app = await appFor(dir);
  });
  after(async () => {
    await app.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves index.html at /viewer/ without caching, with security headers', async () => {
    const r = await app.inject('/viewer/');
    assert.equal(r.statusCode, 200);
    assert.equal(r.body, INDEX);
    assert.match(r.headers['content-type'] as string, /^text\/html/);
    assert.equal(r.headers['cache-control'], 'no-cache');
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
    assert.equal(r.headers['content-security-policy'], "frame-ancestors 'self'");
    const redirect = await app.inject('/viewer?lng=zh');
    assert.equal(redirect.statusCode, 302);
    assert.equal(redirect.headers.location, '/viewer/?lng=zh');
  });

  it('falls back to index.html for extensionless SPA routes', async () => {
    for (const path of [
      '/viewer/viewer?StudyInstanceUIDs=1.2.3',
      '/viewer/viewer',
      '/viewer/local',
      '/viewer/x/y',
    ]) {
      const r = await app.inject(path);
      assert.equal(r.statusCode, 200, path);
      assert.equal(r.body, INDEX, path);
      assert.equal(r.headers['cache-control'], 'no-cache', path);
    }
  });

  it('serves a generated app-config.js (no-cache) pointing at same-origin DICOMweb', async () => {
    const r = await app.inject('/viewer/app-config.js');
    assert.equal(r.statusCode, 200);
    assert.match(r.headers['content-type'] as string, /^text\/javascript/);
    assert.equal(r.headers['cache-control'], 'no-cache');
    assert.match(r.body, /routerBasename: "\/viewer"/);
    assert.match(r.body, /qidoRoot: origin \+ "\/dicomweb"/);
    assert.match(r.body, /wadoRoot: origin \+ "\/dicomweb"/);
    assert.match(r.body, /wadoUriRoot: origin \+ "\/dicomweb\/wado"/);
    assert.match(r.body, /qidoSupportsIncludeField: true/);
    assert.match(r.body, /supportsFuzzyMatching: true/);
    assert.match(r.body, /investigationalUseDialog: \{ option: 'never' \}/);
    assert.match(r.body, /'ohif\.tours': \{ \$set: \[\] \}/);
    const etag = r.headers.etag as string;
    const again = await app.inject({ url: '/viewer/app-config.js', headers: { 'if-none-match': etag } });
    assert.equal(again.statusCode, 304);
  });

  it('app-config.js runs in a browser-like sandbox and configures OHIF', () => {
    const store = new Map<string, string>();
    const win: Record<string, unknown> = { location: { origin: 'https://pacs.example', search: '' } };
    const run = (languages: string[], search = ''): Record<string, unknown> => {
      (win.location as { search: string }).search = search;
      runInNewContext(
        renderAppConfig({ base: '/viewer/', dicomwebPath: '/dicomweb', wadoUriPath: '/dicomweb/wado' }),
        {
          window: win,
          location: win.location,
          URLSearchParams,
          localStorage: {
            getItem: (k: string) => store.get(k) ?? null,
            setItem: (k: string, v: string) => store.set(k, v),
          },
          navigator: { languages, language: languages[0] },
          document: { cookie: '' },
        },
      );
      return win.config as Record<string, unknown>;
    };
    const cfg = run(['en-US', 'zh-CN']);
    const ds = (cfg.dataSources as { configuration: Record<string, unknown> }[])[0]!.configuration;
    assert.equal(ds.qidoRoot, 'https://pacs.example/dicomweb');
    assert.equal(ds.wadoUriRoot, 'https://pacs.example/dicomweb/wado');
    assert.equal(store.get('i18nextLng'), undefined, 'English-first browser keeps OHIF defaults');
    run(['zh-CN', 'en']);
    assert.equal(store.get('i18nextLng'), 'zh');
    store.set('i18nextLng', 'en-US');
    run(['zh-CN']);
    assert.equal(store.get('i18nextLng'), 'en-US', "the user's own choice wins");
  });

  it('caches hashed assets for a year and revalidates the others', async () => {
    const hashed = await app.inject('/viewer/app.bundle.0f6159c501addfe9.js');
    assert.equal(hashed.statusCode, 200);
    assert.equal(hashed.body, 'console.log(1)');
    assert.match(hashed.headers['content-type'] as string, /^text\/javascript/);
    assert.equal(hashed.headers['cache-control'], 'public, max-age=31536000, immutable');
    const wasm = await app.inject('/viewer/34b1e6b1deb5828e.wasm');
    assert.equal(wasm.headers['content-type'], 'application/wasm');
    assert.equal(wasm.headers['cache-control'], 'public, max-age=31536000, immutable');
    const css = await app.inject('/viewer/app.bundle.css');
    assert.equal(css.headers['cache-control'], 'no-cache');
    const etag = css.headers.etag as string;
    const again = await app.inject({ url: '/viewer/app.bundle.css', headers: { 'if-none-match': etag } });
    assert.equal(again.statusCode, 304);
    const icon = await app.inject('/viewer/assets/favicon.ico');
    assert.equal(icon.statusCode, 200);
    assert.equal(icon.headers['cache-control'], 'no-cache');
    assert.equal(isHashedAsset('2299.bundle.2375af8b16a1702e.js'), true);
    assert.equal(isHashedAsset('app.bundle.css'), false);
    assert.equal(isHashedAsset('a34f9d1faa5f3315.woff2'), true);
  });

  it('answers 404 for missing assets and refuses traversal and dotfiles', async () => {
    for (const path of [
      '/viewer/nope.js',
      '/viewer/assets/missing.png',
      '/viewer/..%2F..%2Fetc%2Fpasswd',
      '/viewer/%2e%2e/package.json',
      '/viewer/.huiying-viewer.json',
      '/viewer/assets',
    ]) {
      const r = await app.inject(path);
      if (path === '/viewer/assets') {
        // extensionless → the SPA page, never a directory listing
        assert.equal(r.body, INDEX);
        continue;
      }
      assert.equal(r.statusCode, 404, path);
      assert.doesNotMatch(r.body, /OHIF|root:/, path);
    }
  });

  it('answers 503 with instructions when the dist is not installed', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'huiying-viewer-empty-'));
    const app2 = await appFor(join(empty, 'nothing'));
    try {
      for (const path of [
        '/viewer/',
        '/viewer/viewer?StudyInstanceUIDs=1',
        '/viewer/app.bundle.0f6159c501addfe9.js',
      ]) {
        const r = await app2.inject(path);
        assert.equal(r.statusCode, 503, path);
        assert.match(r.body, /npm run viewer:install/);
        assert.equal(r.headers['cache-control'], 'no-store');
      }
      // app-config.js does not depend on the dist
      assert.equal((await app2.inject('/viewer/app-config.js')).statusCode, 200);
      // installing while running: the next request serves it
      await mkdir(join(empty, 'nothing'));
      await writeFile(join(empty, 'nothing', 'index.html'), INDEX);
      assert.equal((await app2.inject('/viewer/')).statusCode, 200);
    } finally {
      await app2.close();
      await rm(empty, { recursive: true, force: true });
    }
  });
});
