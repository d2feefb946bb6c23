/**
 * Detection of the real peers integration tests use. A test that needs a missing peer skips with the
 * reason returned here (and `npm test` prints it); CI sets HUIYING_REQUIRE_ALL=1 so a skip fails there.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const repoRoot = join(import.meta.dirname, '..', '..', '..', '..');

/** `false` when present, else a skip reason (for `test(name, { skip: needCommand('storescu') }, …)`). */
export function needCommand(cmd: string): false | string {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return false;
  } catch {
    return `${cmd} not installed (apt-get install ${cmd.startsWith('Orthanc') ? 'orthanc' : 'dcmtk'})`;
  }
}

/** ../shared/dicom-samples next to the project (or HUIYING_SAMPLES_DIR). */
export function samplesDir(): string | undefined {
  const dir = process.env.HUIYING_SAMPLES_DIR ?? join(repoRoot, '..', 'shared', 'dicom-samples');
  return existsSync(join(dir, 'MANIFEST.tsv')) ? dir : undefined;
}

export function needSamples(): false | string {
  return samplesDir() === undefined ? '../shared/dicom-samples not present' : false;
}

/** PostgreSQL admin URL for tests (HUIYING_TEST_PG_URL, default postgres://postgres@127.0.0.1:5432/postgres). */
export function pgAdminUrl(): string {
  return process.env.HUIYING_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
}

/** Environment for DCMTK tools: Nagle off, or every exchange waits on delayed ACKs. */
export function dcmtkEnv(): NodeJS.ProcessEnv {
  return { ...process.env, TCP_NODELAY: '1' };
}
