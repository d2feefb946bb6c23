/**
 * scripts/install-viewer.ts: the `/viewer/` patches on a tiny synthetic dist shaped like @ohif/app's,
 * idempotence, loud failure on a changed layout, and — when the real dist is installed — that every
 * patch site was applied.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { runInNewContext } from 'node:vm';
import {
  MARKER_FILE,
  OHIF_VERSION,
  PATCH_LEVEL,
  PN_SITES,
  ViewerLayoutError,
  installViewer,
  patchDist,
  pruneDist,
  readMarker,
} from '../../../../scripts/install-viewer.ts';
import { defaultViewerDir } from './plugin.ts';

const execFileAsync = promisify(execFile);

const INDEX =
  '<!doctype html><html><head><script>console.time("x"),window.PUBLIC_URL="/"</script>' +
  '<link rel="manifest" href="/manifest.json"><link rel="icon" href="/assets/favicon.ico">' +
  '<link rel="external" href="https://example.org/x"><script src="/app-config.js"></script>' +
  '<script>function browserImportFunction(n){return import(n)}window.PUBLIC_URL="/"</script>' +
  '<script defer src="/app.bundle.0123456789abcdef.js"></script><link href="/app.bundle.css" rel="stylesheet">' +
  '</head><body><div id="root"></div></body></html>';

const APP_JS = [
  '(() => { __webpack_require__.p = "/"; })();',
  'function getName(element, defaultValue) {',
  '  if (element.Value[0].Alphabetic) {\n    return element.Value[0].Alphabetic;\n  }',
  '  return element.Value[0];',
  '}',
  'function formatPN(name) {',
  '  let nameToUse = name.Alphabetic ?? name;',
  "  return nameToUse.replace('^', ', ');",
  '}',
].join('\n');

async function syntheticDist(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'huiying-viewer-dist-'));
  await writeFile(join(dir, 'index.html'), INDEX);
  await writeFile(join(dir, 'app.bundle.0123456789abcdef.js'), APP_JS);
  await writeFile(join(dir, '136.bundle.fedcba9876543210.js'), '__webpack_require__.p = "/";x();');
  await writeFile(join(dir, '99.bundle.aaaaaaaaaaaaaaaa.js'), 'no public path here');
  await writeFile(
    join(dir, 'app.bundle.css'),
    '@font-face{src:url(/a34f9d1faa5f3315.woff2)}a{b:url(data:x)}',
  );
  await writeFile(join(dir, '1602.css'), '.x{}');
  await writeFile(
    join(dir, 'manifest.json'),
    JSON.stringify({
      icons: [{ src: '/assets/a.png' }, { src: '/assets/b.png' }],
      start_url: './index.html',
    }),
  );
  for (const d of ['ort', 'dicom-microscopy-viewer', 'assets']) await mkdir(join(dir, d));
  await writeFile(join(dir, 'ort', 'big.wasm'), 'x');
  await writeFile(join(dir, 'assets', 'a.png'), 'png');
  await writeFile(join(dir, 'assets', 'a.png.map'), '{}');
  await writeFile(join(dir, 'sw.js'), 'precache("/app-config.js")');
  return dir;
}

/** PN rewrite as the browser would run it. */
function evalPn(js: string, fn: 'getName' | 'formatPN', arg: unknown): unknown {
  return runInNewContext(`${js}\n${fn}(arg);`, { arg, __webpack_require__: {} }) as unknown;
}

describe('install-viewer: patching a synthetic dist', () => {
  it('rewrites every root-absolute URL to /viewer/ and is idempotent', async () => {
    const dir = await syntheticDist();
    try {
      await pruneDist(dir);
      const r = await patchDist(dir, '/viewer/');
      const html = await readFile(join(dir, 'index.html'), 'utf8');
      assert.equal((html.match(/window\.PUBLIC_URL="\/viewer\/"/g) ?? []).length, 2);
      assert.doesNotMatch(html, /PUBLIC_URL="\/"/);
      assert.doesNotMatch(html, /(?:href|src)="\/(?!viewer\/)/);
      assert.match(html, /src="\/viewer\/app-config\.js"/);
      assert.match(html, /href="https:\/\/example\.org\/x"/);
      assert.equal(r.files['index.html'], 2 + 5);
      assert.deepEqual(r.bundles, ['136.bundle.fedcba9876543210.js', 'app.bundle.0123456789abcdef.js']);
      const app = await readFile(join(dir, 'app.bundle.0123456789abcdef.js'), 'utf8');
      assert.match(app, /__webpack_require__\.p = "\/viewer\/"/);
      assert.equal(await readFile(join(dir, '99.bundle.aaaaaaaaaaaaaaaa.js'), 'utf8'), 'no public path here');
      assert.equal(
        await readFile(join(dir, 'app.bundle.css'), 'utf8'),
        '@font-face{src:url(/viewer/a34f9d1faa5f3315.woff2)}a{b:url(data:x)}',
      );
      const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as {
        icons: { src: string }[];
        start_url: string;
      };
      assert.deepEqual(
        manifest.icons.map((i) => i.src),
        ['/viewer/assets/a.png', '/viewer/assets/b.png'],
      );
      assert.equal(manifest.start_url, '/viewer/');
      // person names: ideographic first
      const pn = { Alphabetic: 'Zhang^San', Ideographic: '张^三' };
      assert.equal(evalPn(app, 'getName', { Value: [pn] }), '张三 (Zhang^San)');
      assert.equal(evalPn(app, 'formatPN', pn), '张三 (Zhang, San)');
      assert.equal(evalPn(app, 'formatPN', { Alphabetic: 'Li^Si' }), 'Li, Si');
      assert.equal(evalPn(app, 'formatPN', 'Wang^Wu'), 'Wang, Wu');
      assert.equal(evalPn(app, 'getName', { Value: [{ Alphabetic: '王小明' }] }), '王小明');
      // pruned
      for (const gone of ['ort', 'dicom-microscopy-viewer', 'sw.js', 'assets/a.png.map'])
        assert.equal(existsSync(join(dir, gone)), false, gone);
      assert.equal(existsSync(join(dir, 'assets', 'a.png')), true);

      // a second run changes nothing
      const before = await snapshot(dir);
      const r2 = await patchDist(dir, '/viewer/');
      assert.deepEqual(await snapshot(dir), before);
      assert.equal(r2.files['index.html'], 0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('fails loudly when a patch site is missing', async () => {
    const cases: [string, (dir: string) => Promise<void>, RegExp][] = [
      [
        'no PUBLIC_URL',
        (d) => writeFile(join(d, 'index.html'), INDEX.replaceAll('window.PUBLIC_URL="/"', '')),
        /PUBLIC_URL/,
      ],
      [
        'no public path',
        (d) =>
          writeFile(
            join(d, 'app.bundle.0123456789abcdef.js'),
            APP_JS.replace('__webpack_require__.p = "/";', ''),
          ),
        /app\.bundle/,
      ],
      [
        'no getName site',
        (d) =>
          writeFile(
            join(d, 'app.bundle.0123456789abcdef.js'),
            APP_JS.replace('return element.Value[0].Alphabetic;', 'return 1;'),
          ),
        /getName/,
      ],
      ['no css url', (d) => writeFile(join(d, 'app.bundle.css'), 'a{}'), /app\.bundle\.css/],
      ['no manifest', (d) => rm(join(d, 'manifest.json')), /manifest/],
      ['no index', (d) => rm(join(d, 'index.html')), /index\.html/],
    ];
    for (const [name, breakIt, re] of cases) {
      const dir = await syntheticDist();
      try {
        await breakIt(dir);
        await assert.rejects(patchDist(dir, '/viewer/'), (e: unknown) => {
          assert.ok(e instanceof ViewerLayoutError, `${name}: ${String(e)}`);
          assert.match(e.message, re, name);
          return true;
        });
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
  });

  it('installs from a tarball atomically, writes a marker, and skips a second run', async () => {
    const work = await mkdtemp(join(tmpdir(), 'huiying-viewer-install-'));
    try {
      const dist = await syntheticDist();
      await mkdir(join(work, 'package'));
      await execFileAsync('cp', ['-r', dist, join(work, 'package', 'dist')]);
      await rm(dist, { recursive: true, force: true });
      const tgz = join(work, 'ohif.tgz');
      await execFileAsync('tar', ['-czf', tgz, '-C', work, 'package']);
      const out = join(work, 'out', 'viewer-dist');
      const logs: string[] = [];
      const first = await installViewer({ outDir: out, tarball: tgz, log: (m) => logs.push(m) });
      assert.equal(first.installed, true);
      const marker = await readMarker(out);
      assert.equal(marker?.version, OHIF_VERSION);
      assert.equal(marker?.base, '/viewer/');
      assert.equal(marker?.patchLevel, PATCH_LEVEL);
      assert.equal(existsSync(join(out, 'ort')), false);
      const second = await installViewer({ outDir: out, tarball: tgz, log: (m) => logs.push(m) });
      assert.equal(second.installed, false);
      assert.match(logs.at(-1) ?? '', /already installed/);
      // no temporary folders left beside the output
      assert.deepEqual(await readdir(join(work, 'out')), ['viewer-dist']);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});

const realDir = defaultViewerDir();
const realInstalled = existsSync(join(realDir, MARKER_FILE));
describe(
  'install-viewer: the installed OHIF dist',
  { skip: realInstalled ? false : `viewer not installed in ${realDir} (npm run viewer:install)` },
  () => {
    it('has every patch applied', async () => {
      const marker = await readMarker(realDir);
      assert.equal(marker?.version, OHIF_VERSION);
      const html = await readFile(join(realDir, 'index.html'), 'utf8');
      assert.doesNotMatch(html, /window\.PUBLIC_URL\s*=\s*"\/"/);
      assert.doesNotMatch(html, /\s(?:href|src)="\/(?!viewer\/)/);
      const names = await readdir(realDir);
      let publicPaths = 0;
      for (const n of names.filter((x) => x.endsWith('.js'))) {
        const js = await readFile(join(realDir, n), 'utf8');
        assert.doesNotMatch(js, /__webpack_require__\.p = "\/"/, n);
        if (js.includes('__webpack_require__.p = "/viewer/"')) publicPaths++;
        if (n.startsWith('app.bundle.'))
          for (const s of PN_SITES) assert.ok(js.includes(s.patched), `${s.what} not patched`);
      }
      assert.ok(publicPaths >= 8, `only ${publicPaths} bundles with the /viewer/ public path`);
      assert.doesNotMatch(await readFile(join(realDir, 'app.bundle.css'), 'utf8'), /url\(\/(?!viewer\/)/);
      for (const gone of ['ort', 'dicom-microscopy-viewer', 'sw.js'])
        assert.equal(existsSync(join(realDir, gone)), false, gone);
    });
  },
);

async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const n of await readdir(dir, { recursive: true })) {
    const p = join(dir, n);
    try {
      out[n] = await readFile(p, 'utf8');
    } catch {
      // a folder
    }
  }
  return out;
}
