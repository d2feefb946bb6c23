/**
 * Every sample file under ../shared/dicom-samples (modalities, transfer-syntaxes, charsets) through
 * STOW-RS, then back through WADO-RS byte for byte, plus metadata and frame 1. Skips when absent.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { readHeaderFromBuffer } from '@huiying/dicom';
import { startTestServer, stow, parseMultipart, type TestServer } from './test-helpers.ts';

const ROOT = join(import.meta.dirname, '../../../../../shared/dicom-samples');
const present = existsSync(ROOT);

function walk(dir: string, out: string[]): void {
  for (const n of readdirSync(dir).sort()) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (n.endsWith('.dcm') || !n.includes('.')) out.push(p);
  }
}

let srv: TestServer;
before(async () => {
  if (present) srv = await startTestServer();
});
after(async () => {
  if (present) await srv.close();
});

test(
  'samples: STOW every file, WADO-RS returns the same bytes, metadata and frames never 5xx',
  { skip: !present && 'no ../shared/dicom-samples' },
  async (t) => {
    const files: string[] = [];
    for (const d of ['modalities', 'transfer-syntaxes', 'charsets']) walk(join(ROOT, d), files);
    const first = new Map<string, string>(); // SOP Instance UID → first stored file
    const stored: { file: string; study: string; series: string; sop: string }[] = [];
    const rejected: string[] = [];
    for (const f of files) {
      const bytes = readFileSync(f);
      const r = await stow(srv.url, 'a', [bytes]);
      const name = relative(ROOT, f);
      if (r.status !== 200) {
        // only instances that cannot be indexed (no UIDs) are refused, with 0xC000
        const failed = r.json['00081198']?.Value as Record<string, { Value?: unknown[] }>[];
        assert.equal(failed[0]?.['00081197']?.Value?.[0], 0xc000, name);
        rejected.push(`${name} (${r.status})`);
        continue;
      }
      const ref = (r.json['00081199']?.Value as Record<string, { Value?: unknown[] }>[])[0]!;
      const url = String(ref['00081190']?.Value?.[0]);
      const m = /studies\/([\d.]+)\/series\/([\d.]+)\/instances\/([\d.]+)$/.exec(url)!;
      const sop = m[3]!;
      if (!first.has(sop)) {
        first.set(sop, f);
        stored.push({ file: f, study: m[1]!, series: m[2]!, sop });
      }
    }
    t.diagnostic(
      `${files.length} files, ${stored.length} distinct instances stored, rejected: ${rejected.join(', ') || 'none'}`,
    );
    assert.ok(stored.length > files.length / 2);
    const frameOutcomes: string[] = [];
    for (const s of stored) {
      const path = `/studies/${s.study}/series/${s.series}/instances/${s.sop}`;
      const res = await fetch(`${srv.url}${path}`, {
        headers: {
          'x-test-user': 'a',
          accept: 'multipart/related; type="application/dicom"; transfer-syntax=*',
        },
      });
      assert.equal(res.status, 200, path);
      const parts = await parseMultipart(res);
      assert.equal(parts.length, 1);
      assert.ok(
        parts[0]!.body.equals(readFileSync(s.file)),
        `${relative(ROOT, s.file)} comes back byte-identical`,
      );
      const md = await fetch(`${srv.url}${path}/metadata`, { headers: { 'x-test-user': 'a' } });
      assert.equal(md.status, 200, `${relative(ROOT, s.file)} metadata: ${await md.clone().text()}`);
      const json = ((await md.json()) as Record<string, { BulkDataURI?: string }>[])[0]!;
      if (json['7FE00010'] !== undefined) {
        const fr = await fetch(`${srv.url}${path}/frames/1`, {
          headers: {
            'x-test-user': 'a',
            accept: 'multipart/related; type=application/octet-stream; transfer-syntax=*',
          },
        });
        const body = Buffer.from(await fr.arrayBuffer());
        assert.ok(
          fr.status < 500 || fr.status === 501,
          `${relative(ROOT, s.file)} frames: ${fr.status} ${body.toString().slice(0, 200)}`,
        );
        frameOutcomes.push(`${relative(ROOT, s.file)}: ${fr.status}`);
        if (fr.status === 200) {
          assert.match(fr.headers.get('content-type') ?? '', /transfer-syntax=/);
          const h = readHeaderFromBuffer(readFileSync(s.file), { validate: false });
          if (
            h.transferSyntaxUid.startsWith('1.2.840.10008.1.2.4.5') ||
            h.transferSyntaxUid === '1.2.840.10008.1.2.4.70'
          ) {
            const p = await parseMultipart(
              new Response(body, { headers: { 'content-type': fr.headers.get('content-type')! } }),
            );
            assert.equal(p[0]!.body[0], 0xff, 'JPEG frame starts with SOI');
            assert.equal(p[0]!.body[1], 0xd8);
          }
        }
      }
    }
    const notOk = frameOutcomes.filter((o) => !o.endsWith(': 200'));
    t.diagnostic(
      `frames/1: ${frameOutcomes.length - notOk.length} ok; not served: ${notOk.join(', ') || 'none'}`,
    );
  },
);
