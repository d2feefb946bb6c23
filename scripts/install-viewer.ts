/**
 * Installs the OHIF viewer (prebuilt `@ohif/app` dist) for Huiying's `/viewer/` route.
 *
 * The published dist is built for the site root (`/`). This script fetches the package tarball with
 * `npm pack` (only the tarball, none of its dependency tree), extracts `package/dist`, prunes what a
 * 2D viewer does not need (onnxruntime `ort/`, `dicom-microscopy-viewer/`, source maps, the unused
 * service worker) and rewrites every absolute `/` URL to the mount base. Every patch site is checked:
 * if the dist layout changed, the script fails loudly instead of installing a half-working viewer.
 *
 * Idempotent: a marker file (`.huiying-viewer.json`) records the version and base; a second run with
 * the same ones does nothing. The install goes to a temporary folder first and is renamed into place.
 *
 * Usage:
 *   node scripts/install-viewer.ts             install (or verify) — exits 1 on failure
 *   node scripts/install-viewer.ts --optional  same, but a failure only warns (used by `prestart`)
 *   node scripts/install-viewer.ts --force     reinstall even when the marker matches
 * Environment: HUIYING_VIEWER_DIR (output folder, default packages/server/viewer-dist),
 *   HUIYING_VIEWER_CACHE (tarball cache, default .cache/viewer).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export const OHIF_PACKAGE = '@ohif/app';
export const OHIF_VERSION = '3.13.2';
export const VIEWER_BASE = '/viewer/';
export const MARKER_FILE = '.huiying-viewer.json';
/** Bump when the patches change: an install with another level is redone. */
export const PATCH_LEVEL = 2;

const ROOT = resolve(import.meta.dirname, '..');
export const DEFAULT_VIEWER_DIR = join(ROOT, 'packages', 'server', 'viewer-dist');
const DEFAULT_CACHE_DIR = join(ROOT, '.cache', 'viewer');

/** Folders and files removed from the dist (not used by 2D viewing; ort/ alone is 136 MB). */
export const PRUNED = ['ort', 'dicom-microscopy-viewer', 'sw.js', 'serve.json'];

export interface ViewerMarker {
  package: string;
  version: string;
  base: string;
  patchLevel: number;
  installedAt: string;
  patches: PatchReport;
}

export interface PatchReport {
  /** file → number of replacements made (0 when the file was already patched) */
  files: Record<string, number>;
  /** bundles whose webpack public path was rewritten */
  bundles: string[];
}

/** `张^三` + `Zhang^San` → `张三 (Zhang^San)` (OHIF's formatPN then turns the first ^ into `, `). */
const PN_EXPR = (v: string): string =>
  `/*huiying:pn*/(${v}.Ideographic ? ${v}.Ideographic.replace(/\\^/g, '') + (${v}.Alphabetic ? ' (' + ${v}.Alphabetic + ')' : '') : ${v}.Alphabetic)`;

/** Code sites in the app bundle rewritten so person names show their ideographic group. */
export const PN_SITES: { what: string; pristine: string; patched: string }[] = [
  {
    what: 'DICOMWeb getName (study list)',
    pristine: '  if (element.Value[0].Alphabetic) {\n    return element.Value[0].Alphabetic;\n  }',
    patched: `  if (element.Value[0].Ideographic || element.Value[0].Alphabetic) {\n    return ${PN_EXPR('element.Value[0]')};\n  }`,
  },
  {
    what: 'utils.formatPN (viewer)',
    pristine: '  let nameToUse = name.Alphabetic ?? name;',
    patched: `  let nameToUse = ${PN_EXPR('name')} ?? name;`,
  },
];

export class ViewerLayoutError extends Error {
  override name = 'ViewerLayoutError';
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Rewrites `pattern` (a regexp matching the pristine site, capturing the text before the `/`) to
 * use `base`. Returns the new text and the count; counts already-patched sites so a second run is a
 * no-op instead of an error.
 */
function rewrite(
  text: string,
  pristine: RegExp,
  patched: RegExp,
  replacement: string,
): { text: string; replaced: number; alreadyPatched: number } {
  let replaced = 0;
  const out = text.replace(pristine, (...m: unknown[]) => {
    replaced++;
    return replacement.replace('$1', typeof m[1] === 'string' ? m[1] : '');
  });
  const alreadyPatched = (text.match(patched) ?? []).length;
  return { text: out, replaced, alreadyPatched };
}

/** Patches a dist folder in place for serving under `base` (e.g. `/viewer/`). */
export async function patchDist(dir: string, base: string = VIEWER_BASE): Promise<PatchReport> {
  if (!/^\/[A-Za-z0-9_-]+\/$/.test(base)) throw new Error(`viewer base must look like /name/, got ${base}`);
  const b = escapeRe(base.slice(1)); // e.g. `viewer/`
  const report: PatchReport = { files: {}, bundles: [] };
  const need = (cond: boolean, what: string): void => {
    if (!cond)
      throw new ViewerLayoutError(
        `OHIF dist layout changed: ${what} (in ${dir}); update scripts/install-viewer.ts`,
      );
  };

  // index.html: window.PUBLIC_URL and every root-absolute href/src.
  const indexPath = join(dir, 'index.html');
  need(existsSync(indexPath), 'index.html is missing');
  let html = await readFile(indexPath, 'utf8');
  const pub = rewrite(
    html,
    /(window\.PUBLIC_URL\s*=\s*)"\/"/g,
    new RegExp(`window\\.PUBLIC_URL\\s*=\\s*"\\/${b}"`, 'g'),
    `$1"${base}"`,
  );
  need(pub.replaced + pub.alreadyPatched >= 1, 'no window.PUBLIC_URL="/" in index.html');
  html = pub.text;
  const attrs = rewrite(
    html,
    new RegExp(`(\\s(?:href|src)=")\\/(?!\\/|${b})`, 'g'),
    new RegExp(`\\s(?:href|src)="\\/${b}`, 'g'),
    `$1${base}`,
  );
  need(attrs.replaced + attrs.alreadyPatched >= 2, 'no root-absolute href/src in index.html');
  html = attrs.text;
  need(/src="[^"]*app-config\.js"/.test(html), 'index.html does not load app-config.js');
  need(/src="[^"]*app\.bundle\.[0-9a-f]+\.js"/.test(html), 'index.html does not load app.bundle.*.js');
  need(!/window\.PUBLIC_URL\s*=\s*"\/"/.test(html), 'window.PUBLIC_URL="/" left after patching');
  await writeFile(indexPath, html);
  report.files['index.html'] = pub.replaced + attrs.replaced;

  // webpack bundles: the runtime public path (chunk, worker and wasm URLs are built from it).
  const names = await readdir(dir);
  let appBundleSeen = false;
  for (const name of names.filter((n) => n.endsWith('.js')).sort()) {
    const p = join(dir, name);
    const js = await readFile(p, 'utf8');
    if (!js.includes('__webpack_require__.p = ')) continue;
    const r = rewrite(
      js,
      /(__webpack_require__\.p = )"\/"/g,
      new RegExp(`__webpack_require__\\.p = "\\/${b}"`, 'g'),
      `$1"${base}"`,
    );
    if (r.replaced + r.alreadyPatched === 0) continue; // a bundle with another public path: leave it
    if (r.replaced > 0) await writeFile(p, r.text);
    report.files[name] = r.replaced;
    report.bundles.push(name);
    if (/^app\.bundle\.[0-9a-f]+\.js$/.test(name)) appBundleSeen = true;
  }
  need(appBundleSeen, 'app.bundle.*.js has no __webpack_require__.p = "/"');

  // Person names: OHIF shows only the Alphabetic group (`Zhang, San`). Chinese archives carry the
  // ideographic group (`Zhang^San=张^三`): show `张三 (Zhang, San)`. Two sites in the app bundle.
  const appBundle = report.bundles.find((n) => /^app\.bundle\.[0-9a-f]+\.js$/.test(n)) ?? '';
  const appPath = join(dir, appBundle);
  let appJs = await readFile(appPath, 'utf8');
  let pn = 0;
  for (const site of PN_SITES) {
    const count = appJs.split(site.pristine).length - 1;
    const done = appJs.split(site.patched).length - 1;
    need(count + done === 1, `person-name site "${site.what}" found ${count + done} times (expected 1)`);
    if (count === 1) {
      appJs = appJs.replace(site.pristine, () => site.patched);
      pn++;
    }
  }
  if (pn > 0) await writeFile(appPath, appJs);
  report.files[appBundle] = (report.files[appBundle] ?? 0) + pn;

  // CSS: root-absolute font URLs.
  const cssPath = join(dir, 'app.bundle.css');
  need(existsSync(cssPath), 'app.bundle.css is missing');
  for (const name of names.filter((n) => n.endsWith('.css')).sort()) {
    const p = join(dir, name);
    const css = await readFile(p, 'utf8');
    const r = rewrite(
      css,
      new RegExp(`(url\\(["']?)\\/(?!\\/|${b})`, 'g'),
      new RegExp(`url\\(["']?\\/${b}`, 'g'),
      `$1${base}`,
    );
    if (name === 'app.bundle.css') need(r.replaced + r.alreadyPatched >= 1, 'no url(/…) in app.bundle.css');
    if (r.replaced > 0) {
      await writeFile(p, r.text);
      report.files[name] = r.replaced;
    }
  }

  // manifest.json: icon URLs and the start URL.
  const manifestPath = join(dir, 'manifest.json');
  need(existsSync(manifestPath), 'manifest.json is missing');
  const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as {
    icons?: { src: string }[];
    start_url?: string;
    scope?: string;
  };
  need(Array.isArray(manifest.icons) && manifest.icons.length > 0, 'manifest.json has no icons');
  let m = 0;
  for (const icon of manifest.icons ?? []) {
    if (icon.src.startsWith('/') && !icon.src.startsWith(base)) {
      icon.src = base + icon.src.slice(1);
      m++;
    }
  }
  manifest.start_url = base;
  manifest.scope = base;
  await writeFile(manifestPath, JSON.stringify(manifest, null, 2) + '\n');
  report.files['manifest.json'] = m;
  return report;
}

/** Removes what the viewer does not need (see {@link PRUNED}) and every source map. */
export async function pruneDist(dir: string): Promise<void> {
  for (const name of PRUNED) await rm(join(dir, name), { recursive: true, force: true });
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.name.endsWith('.map')) await rm(p, { force: true });
    }
  };
  await walk(dir);
}

export async function readMarker(dir: string): Promise<ViewerMarker | undefined> {
  try {
    return JSON.parse(await readFile(join(dir, MARKER_FILE), 'utf8')) as ViewerMarker;
  } catch {
    return undefined;
  }
}

async function folderSize(d: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(d, { withFileTypes: true })) {
    const p = join(d, e.name);
    total += e.isDirectory() ? await folderSize(p) : (await stat(p)).size;
  }
  return total;
}

/** `npm pack` the tarball into the cache (once); returns its path. */
async function fetchTarball(cacheDir: string, version: string): Promise<string> {
  await mkdir(cacheDir, { recursive: true });
  const file = join(cacheDir, `ohif-app-${version}.tgz`);
  if (existsSync(file)) return file;
  const tmp = await mkdtemp(join(cacheDir, 'pack-'));
  try {
    // npm verifies the tarball against the registry's integrity hash.
    await execFileAsync(
      'npm',
      ['pack', `${OHIF_PACKAGE}@${version}`, '--pack-destination', tmp, '--silent', '--ignore-scripts'],
      { cwd: tmp, maxBuffer: 16 * 1024 * 1024, timeout: 10 * 60_000 },
    );
    const got = (await readdir(tmp)).find((n) => n.endsWith('.tgz'));
    if (got === undefined) throw new Error(`npm pack ${OHIF_PACKAGE}@${version} produced no tarball`);
    await rename(join(tmp, got), file);
    return file;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

export interface InstallOptions {
  outDir?: string;
  cacheDir?: string;
  version?: string;
  base?: string;
  force?: boolean;
  /** an already downloaded tarball (tests) */
  tarball?: string;
  log?: (msg: string) => void;
}

/** Installs the viewer; returns the marker (existing one when nothing had to be done). */
export async function installViewer(
  o: InstallOptions = {},
): Promise<{ marker: ViewerMarker; installed: boolean }> {
  const outDir = o.outDir ?? DEFAULT_VIEWER_DIR;
  const version = o.version ?? OHIF_VERSION;
  const base = o.base ?? VIEWER_BASE;
  const log = o.log ?? ((msg: string) => process.stdout.write(`install-viewer: ${msg}\n`));
  const existing = await readMarker(outDir);
  if (
    o.force !== true &&
    existing !== undefined &&
    existing.version === version &&
    existing.base === base &&
    existing.patchLevel === PATCH_LEVEL &&
    existsSync(join(outDir, 'index.html'))
  ) {
    log(`${OHIF_PACKAGE}@${version} already installed in ${outDir}`);
    return { marker: existing, installed: false };
  }
  const t0 = Date.now();
  const tarball = o.tarball ?? (await fetchTarball(o.cacheDir ?? DEFAULT_CACHE_DIR, version));
  log(`extracting ${tarball}`);
  await mkdir(dirname(outDir), { recursive: true });
  const work = await mkdtemp(`${outDir}.tmp-`);
  try {
    await execFileAsync('tar', ['-xzf', tarball, '-C', work, 'package/dist'], {
      maxBuffer: 16 * 1024 * 1024,
    });
    const dist = join(work, 'package', 'dist');
    if (!existsSync(dist)) throw new ViewerLayoutError(`${tarball} has no package/dist`);
    await pruneDist(dist);
    const patches = await patchDist(dist, base);
    const marker: ViewerMarker = {
      package: OHIF_PACKAGE,
      version,
      base,
      patchLevel: PATCH_LEVEL,
      installedAt: new Date().toISOString(),
      patches,
    };
    await writeFile(join(dist, MARKER_FILE), JSON.stringify(marker, null, 2) + '\n');
    const old = `${outDir}.old-${process.pid}`;
    if (existsSync(outDir)) await rename(outDir, old);
    await rename(dist, outDir);
    await rm(old, { recursive: true, force: true });
    const mb = ((await folderSize(outDir)) / 1e6).toFixed(1);
    log(
      `installed ${OHIF_PACKAGE}@${version} for ${base} in ${outDir} (${mb} MB, ` +
        `${patches.bundles.length} bundles patched, ${((Date.now() - t0) / 1000).toFixed(1)} s)`,
    );
    return { marker, installed: true };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const args = new Set(process.argv.slice(2));
  const optional = args.has('--optional');
  try {
    await installViewer({
      force: args.has('--force'),
      ...(process.env.HUIYING_VIEWER_DIR ? { outDir: resolve(process.env.HUIYING_VIEWER_DIR) } : {}),
      ...(process.env.HUIYING_VIEWER_CACHE ? { cacheDir: resolve(process.env.HUIYING_VIEWER_CACHE) } : {}),
    });
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    if (!optional) {
      process.stderr.write(`install-viewer: FAILED: ${msg}\n`);
      process.exitCode = 1;
      return;
    }
    process.stderr.write(
      `install-viewer: WARNING: the OHIF viewer could not be installed (${msg.split('\n')[0] ?? ''}).\n` +
        `  The server still starts; /viewer/ answers 503 until \`npm run viewer:install\` succeeds.\n`,
    );
  }
}

if (import.meta.main) await main();
