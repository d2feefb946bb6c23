/**
 * Builds the web application (packages/web → packages/web/dist) with Vite.
 *
 * Usage: node scripts/build-web.ts [--if-missing]   (`npm start` runs it with --if-missing)
 */
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const index = join(root, 'packages', 'web', 'dist', 'index.html');
if (process.argv.includes('--if-missing') && existsSync(index)) process.exit(0);
console.log('huiying: building the web application (packages/web) …');
const r = spawnSync('npm', ['run', '-s', '-w', '@huiying/web', 'build'], { cwd: root, stdio: 'inherit' });
if (r.status !== 0) {
  console.error(
    'huiying: the web application build failed; the server will answer 503 at / until it is built',
  );
  process.exit(r.status ?? 1);
}
