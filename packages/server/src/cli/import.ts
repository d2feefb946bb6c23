/**
 * `huiying import <files|folders|DICOMDIR>`: every file goes through the ingest pipeline; non-DICOM files
 * are reported and skipped; a summary lists stored, duplicates and failures with reasons.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { decodeDataset, readPart10 } from '@huiying/dicom';
import type { IngestService } from '../ingest/ingest-service.ts';
import { messageOf } from '../errors.ts';
import { Progress } from './progress.ts';

export interface ImportSummary {
  files: number;
  stored: number;
  replaced: number;
  duplicates: number;
  failures: Array<{ path: string; reason: string }>;
}

/** The files a DICOMDIR references (Referenced File ID of every directory record). */
export async function filesOfDicomdir(path: string): Promise<string[]> {
  const buf = await readFile(path);
  const { meta, datasetOffset } = readPart10(buf);
  const ds = decodeDataset(buf.subarray(datasetOffset), { transferSyntax: meta.transferSyntaxUid });
  const records = ds['00041220']?.Value ?? [];
  const root = dirname(path);
  const out: string[] = [];
  for (const item of records) {
    const ref = (item as Record<string, { Value?: unknown[] }>)['00041500']?.Value;
    if (ref === undefined || ref.length === 0) continue;
    const parts = ref.map((p) => String(p).trim()).filter((p) => p !== '' && p !== '.' && p !== '..');
    out.push(join(root, ...parts));
  }
  return out;
}

async function walk(p: string, out: string[]): Promise<void> {
  const st = await stat(p);
  if (st.isDirectory()) {
    const names = (await readdir(p)).sort();
    for (const n of names) {
      if (n.startsWith('.')) continue;
      await walk(join(p, n), out);
    }
  } else if (st.isFile()) out.push(p);
}

export async function collectFiles(inputs: string[]): Promise<string[]> {
  const files: string[] = [];
  for (const input of inputs) {
    if (basename(input).toUpperCase() === 'DICOMDIR') {
      files.push(...(await filesOfDicomdir(input)));
    } else {
      await walk(input, files);
    }
  }
  // a DICOMDIR inside a walked folder is a directory, not an instance
  return [...new Set(files)].filter((f) => basename(f).toUpperCase() !== 'DICOMDIR');
}

export async function importFiles(
  ingest: IngestService,
  hospitalId: number,
  inputs: string[],
  opts: { concurrency?: number; progress?: boolean } = {},
): Promise<ImportSummary> {
  const files = await collectFiles(inputs);
  const summary: ImportSummary = { files: files.length, stored: 0, replaced: 0, duplicates: 0, failures: [] };
  const progress = opts.progress === false ? undefined : new Progress(files.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      const path = files[next++];
      if (path === undefined) break;
      try {
        const r = await ingest.ingestFile({ hospitalId, path });
        if (r.outcome === 'stored') summary.stored++;
        else if (r.outcome === 'replaced') summary.replaced++;
        else summary.duplicates++;
      } catch (err) {
        summary.failures.push({ path, reason: messageOf(err) });
      }
      progress?.tick({
        stored: summary.stored,
        duplicates: summary.duplicates,
        failed: summary.failures.length,
      });
    }
  };
  const n = Math.max(1, Math.min(opts.concurrency ?? 4, files.length));
  await Promise.all(Array.from({ length: n }, () => worker()));
  return summary;
}
