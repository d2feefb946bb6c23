/**
 * Measurement (not a test): ms per header over the sample corpus, our reader vs dicom-parser.
 *   node packages/dicom/bench/header.ts [rounds]
 * Both parse the same in-memory file prefixes (first 64 KiB) and stop at Pixel Data. Ours also decodes
 * every text value with its charset and builds the DICOM JSON data set and index attributes;
 * dicom-parser only indexes element offsets (no text decoding), so the comparison favours it.
 * Also: readHeader (file I/O included).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import dicomParser from 'dicom-parser';
import { readHeader, readHeaderFromBuffer } from '../src/header.ts';

const root =
  process.env.HUIYING_SAMPLES_DIR ??
  join(import.meta.dirname, '..', '..', '..', '..', 'shared', 'dicom-samples');
function walk(d: string, out: string[] = []): string[] {
  for (const n of readdirSync(d)) {
    const p = join(d, n);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (!/\.(md|tsv|py)$/.test(n)) out.push(p);
  }
  return out;
}
const files = ['modalities', 'transfer-syntaxes', 'fileset', 'charsets', 'edge-cases'].flatMap((d) =>
  walk(join(root, d)),
);
const rounds = Number(process.argv[2] ?? 20);
const ours: Uint8Array[] = [];
const complete = new Set<Uint8Array>();
const dp: Uint8Array[] = [];
for (const f of files) {
  const b = readFileSync(f).subarray(0, 64 * 1024);
  if (statSync(f).size <= b.length) complete.add(b);
  try {
    readHeaderFromBuffer(b, { complete: complete.has(b), validate: false });
    ours.push(b);
  } catch {
    continue;
  }
  try {
    dicomParser.parseDicom(b, { untilTag: 'x7fe00010' });
    dp.push(b);
  } catch {
    // dicom-parser cannot read it (no meta / big endian …)
  }
}
function time(label: string, n: number, fn: () => void): number {
  for (let i = 0; i < 3; i++) fn(); // warm-up
  const t = performance.now();
  for (let i = 0; i < rounds; i++) fn();
  const ms = (performance.now() - t) / rounds / n;
  console.log(`${label.padEnd(44)} ${ms.toFixed(4)} ms/header  (${n} files × ${rounds} rounds)`);
  return ms;
}
const common = ours.filter((b) => dp.includes(b));
const a = time('ours  readHeaderFromBuffer (same files)', common.length, () => {
  for (const x of common) readHeaderFromBuffer(x, { complete: complete.has(x), validate: false });
});
const b = time('dicom-parser parseDicom untilTag 7FE00010', common.length, () => {
  for (const x of common) dicomParser.parseDicom(x, { untilTag: 'x7fe00010' });
});
console.log(`ratio ours/dicom-parser: ${(a / b).toFixed(1)}×`);
time('ours  readHeaderFromBuffer (all readable)', ours.length, () => {
  for (const x of ours) readHeaderFromBuffer(x, { complete: complete.has(x), validate: false });
});
const t = performance.now();
let n = 0;
for (let r = 0; r < Math.max(1, Math.floor(rounds / 4)); r++) {
  for (const f of files) {
    try {
      await readHeader(f, { validate: false });
    } catch {
      // invalid ones
    }
    n++;
  }
}
console.log(
  `${'ours  readHeader(path) incl. file I/O'.padEnd(44)} ${((performance.now() - t) / n).toFixed(4)} ms/header  (${n} reads)`,
);
