/**
 * Helpers shared by the real-peer integration tests: backends (SQLite + folder, PostgreSQL + S3 via an
 * in-process s3rver), the sample corpus, findscu and stream utilities.
 */
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import S3rver from 's3rver';
import { InvalidInstanceError, readHeaderFromBuffer, readPart10 } from '@huiying/dicom';
import { createTestDatabase, pgSkipReason } from '../testing/pg.ts';
import { runDcmtk } from '../testing/dcmtk.ts';

export async function readAll(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks);
}

export interface Backend {
  name: string;
  skip: false | string;
  /** environment for startTestServer, and a teardown to call after the server stopped */
  setup(): Promise<{ env: Record<string, string>; teardown: () => Promise<void> }>;
}

export async function startS3(): Promise<{ url: string; close: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'huiying-s3rver-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory: dir,
    configureBuckets: [{ name: 'huiying-it' }],
  });
  const addr = await server.run();
  return {
    url: `s3://huiying-it/archive?endpoint=http://127.0.0.1:${addr.port}&region=us-east-1&accessKeyId=S3RVER&secretAccessKey=S3RVER&forcePathStyle=true`,
    close: async () => {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** SQLite + folder (the default) and PostgreSQL + S3 (s3rver), PostgreSQL with its skip reason. */
export async function backends(): Promise<Backend[]> {
  return [
    {
      name: 'SQLite + folder',
      skip: false,
      setup: () => Promise.resolve({ env: {}, teardown: () => Promise.resolve() }),
    },
    {
      name: 'PostgreSQL + S3',
      skip: await pgSkipReason(),
      async setup() {
        const db = await createTestDatabase('huiying_it');
        let s3: Awaited<ReturnType<typeof startS3>>;
        try {
          s3 = await startS3();
        } catch (err) {
          await db.drop();
          throw err;
        }
        return {
          env: { HUIYING_DATABASE_URL: db.url, HUIYING_STORAGE_URL: s3.url },
          teardown: async () => {
            await s3.close();
            await db.drop();
          },
        };
      },
    },
  ];
}

export interface CorpusFile {
  /** path relative to the samples dir */
  path: string;
  bytes: Buffer;
  sopClassUid: string;
  sopInstanceUid: string;
  studyInstanceUid: string;
  transferSyntaxUid: string;
  /** the data set as it is in the file (after preamble and File Meta) */
  dataset: Buffer;
}

export interface Corpus {
  files: CorpusFile[];
  /** files that are valid DICOM but not storable instances, with the reason readHeader gave */
  notInstances: Map<string, string>;
}

const CORPUS_DIRS = /^(modalities|transfer-syntaxes|charsets|edge-cases|fileset)\//;
const DICOMDIR_CLASS = '1.2.840.10008.1.3.10';

/** Every valid file of the samples (MANIFEST.tsv), DICOMDIRs, invalid/ and worklist/ excluded. */
export function loadCorpus(dir: string): Corpus {
  const rows = readFileSync(join(dir, 'MANIFEST.tsv'), 'utf8')
    .split('\n')
    .slice(1)
    .filter((l) => l.trim() !== '')
    .map((l) => l.split('\t'));
  const files: CorpusFile[] = [];
  const notInstances = new Map<string, string>();
  for (const row of rows) {
    const path = row[0] ?? '';
    if (!CORPUS_DIRS.test(path)) continue;
    if ((row[3] ?? '').startsWith(DICOMDIR_CLASS)) continue;
    const bytes = readFileSync(join(dir, path));
    let h;
    try {
      h = readHeaderFromBuffer(bytes);
    } catch (err) {
      if (err instanceof InvalidInstanceError) {
        notInstances.set(path, err.problems.join('; '));
        continue;
      }
      throw err;
    }
    const p10 = readPart10(bytes);
    files.push({
      path,
      bytes,
      sopClassUid: h.attributes.SOPClassUID,
      sopInstanceUid: h.attributes.SOPInstanceUID,
      studyInstanceUid: h.attributes.StudyInstanceUID,
      transferSyntaxUid: h.transferSyntaxUid,
      dataset: bytes.subarray(p10.datasetOffset),
    });
  }
  return { files, notInstances };
}

/**
 * Splits files into rounds in which every SOP Instance UID appears once (the corpus has the same
 * instance in several transfer syntaxes). Round 0 holds every first occurrence.
 */
export function roundsByInstance(files: CorpusFile[]): CorpusFile[][] {
  const rounds: CorpusFile[][] = [];
  const count = new Map<string, number>();
  for (const f of files) {
    const n = count.get(f.sopInstanceUid) ?? 0;
    count.set(f.sopInstanceUid, n + 1);
    (rounds[n] ??= []).push(f);
  }
  return rounds;
}

/**
 * findscu (study root) with a query written as a dcmdump text; `dump` may be bytes (to carry text in
 * another charset). Returns each answer as `dcmdump +U8` text.
 */
export async function findscu(opts: {
  work: string;
  port: number;
  aet: string;
  aec?: string;
  dump: string | Uint8Array;
}): Promise<string[]> {
  const dir = await mkdtemp(join(opts.work, 'find-'));
  const dump = join(dir, 'q.dump');
  await writeFile(dump, opts.dump);
  const q = join(dir, 'q.dcm');
  const d2d = await runDcmtk('dump2dcm', [dump, q]);
  if (d2d.code !== 0) throw new Error(`dump2dcm: ${d2d.stderr}`);
  const r = await runDcmtk(
    'findscu',
    [
      '-S',
      '-aet',
      opts.aet,
      '-aec',
      opts.aec ?? 'HUIYING',
      '-X',
      '-od',
      dir,
      '127.0.0.1',
      String(opts.port),
      q,
    ],
    { timeoutMs: 30_000 },
  );
  if (r.code !== 0) throw new Error(`findscu failed (${r.code}): ${r.stderr}${r.stdout}`);
  const names = (await readdir(dir)).filter((n) => n.startsWith('rsp')).sort();
  const out: string[] = [];
  for (const n of names) out.push((await runDcmtk('dcmdump', ['+U8', join(dir, n)])).stdout);
  return out;
}
