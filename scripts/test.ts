/**
 * The project's one test command (`npm test`): runs every `*.test.ts` under packages/ and bench/ with
 * node's built-in test runner, prints the spec report and a final `N passed, N failed` line.
 *
 * Tests that need an external peer (PostgreSQL, DCMTK, Orthanc, ../shared/dicom-samples) skip with a
 * printed reason when the peer is missing. With HUIYING_REQUIRE_ALL=1 (set by .ci/run) a skip counts as a
 * failure, so CI proves that every peer was really there.
 *
 * Usage: node scripts/test.ts [path-substring ...]
 */
import { run } from 'node:test';
import { spec } from 'node:test/reporters';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { availableParallelism } from 'node:os';

const root = join(import.meta.dirname, '..');

function collect(dir: string, out: string[]): void {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) collect(p, out);
    else if (name.endsWith('.test.ts')) out.push(p);
  }
}

const files: string[] = [];
for (const top of ['packages', 'bench', 'scripts']) {
  try {
    collect(join(root, top), files);
  } catch {
    // folder absent
  }
}
const filters = process.argv.slice(2);
const selected = files
  .filter((f) => filters.length === 0 || filters.some((x) => relative(root, f).includes(x)))
  .sort();

const requireAll = process.env.HUIYING_REQUIRE_ALL === '1';
let passed = 0;
let failed = 0;
let skipped = 0;
const skippedNames: string[] = [];
const failedNames: string[] = [];

const stream = run({
  files: selected,
  concurrency: Math.max(1, Math.min(2, availableParallelism())),
  timeout: 10 * 60_000,
});
stream.on('test:pass', (ev) => {
  if (ev.details.type === 'suite') return;
  if (ev.skip !== undefined && ev.skip !== false) {
    skipped++;
    skippedNames.push(`${ev.name}${typeof ev.skip === 'string' ? ` (${ev.skip})` : ''}`);
  } else if (ev.todo === undefined || ev.todo === false) passed++;
});
stream.on('test:fail', (ev) => {
  const failureType = (ev.details.error as Error & { failureType?: string }).failureType;
  if (ev.details.type === 'suite' && failureType !== 'hookFailed') return;
  failed++;
  failedNames.push(`${relative(root, ev.file ?? '?')}: ${ev.name}`);
});
stream.compose(spec).pipe(process.stdout);
stream.on('end', () => {
  setImmediate(() => {
    if (skippedNames.length > 0) {
      process.stdout.write(
        `\nSkipped (${skippedNames.length}):\n${skippedNames.map((n) => `  - ${n}`).join('\n')}\n`,
      );
    }
    if (failedNames.length > 0) {
      process.stdout.write(
        `\nFailed (${failedNames.length}):\n${failedNames.map((n) => `  - ${n}`).join('\n')}\n`,
      );
    }
    let badSkips = 0;
    if (requireAll && skipped > 0) {
      badSkips = skipped;
      process.stdout.write(`\nHUIYING_REQUIRE_ALL=1: ${skipped} skipped test(s) count as failures.\n`);
    }
    const totalFailed = failed + badSkips;
    process.stdout.write(
      `\n${passed} passed, ${totalFailed} failed${skipped > 0 && !requireAll ? `, ${skipped} skipped` : ''}\n`,
    );
    process.exitCode = totalFailed > 0 || passed === 0 ? 1 : 0;
  });
});
