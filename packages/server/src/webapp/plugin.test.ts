import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { registerWebApp } from './plugin.ts';

describe('web application plugin', () => {
  test('503 when not built; index no-cache, hashed assets immutable, SPA fallback outside server prefixes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'huiying-web-'));
    const app = Fastify();
    await registerWebApp(app, { dir });
    await app.ready();
    try {
      const missing = await app.inject({ url: '/admin/users' });
      assert.equal(missing.statusCode, 503);
      assert.match(missing.body, /npm run -w @huiying\/web build/);

      await mkdir(join(dir, 'assets'));
      await writeFile(join(dir, 'index.html'), '<!doctype html><div id="root"></div>');
      await writeFile(join(dir, 'assets', 'index-AbC123.js'), 'console.log(1)');

      const root = await app.inject({ url: '/' });
      assert.equal(root.statusCode, 200);
      assert.equal(root.headers['cache-control'], 'no-cache');
      assert.match(String(root.headers['content-type']), /text\/html/);

      const deep = await app.inject({ url: '/admin/users?x=1' });
      assert.equal(deep.statusCode, 200);
      assert.match(deep.body, /root/);

      const asset = await app.inject({ url: '/assets/index-AbC123.js' });
      assert.equal(asset.statusCode, 200);
      assert.match(String(asset.headers['cache-control']), /immutable/);
      const again = await app.inject({
        url: '/assets/index-AbC123.js',
        headers: { 'if-none-match': String(asset.headers.etag) },
      });
      assert.equal(again.statusCode, 304);

      assert.equal((await app.inject({ url: '/assets/nope.js' })).statusCode, 404);
      assert.equal((await app.inject({ url: '/api/unknown' })).statusCode, 404);
      assert.equal((await app.inject({ url: '/dicomweb/unknown' })).statusCode, 404);
      assert.equal((await app.inject({ url: '/assets/%2e%2e%2f%2e%2e%2fpackage.json' })).statusCode, 404);
    } finally {
      await app.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
