/**
 * Interoperability with the npm `dicomweb-client` (the client OHIF and Slim use) against a real Huiying
 * server authenticated with an API token: STOW every sample file, QIDO finds them, WADO-RS returns the
 * same dataset, metadata and frames match the source files byte for byte.
 *
 * The sample corpus holds several encodings of the same SOP Instance (same UID); SOP Instance UIDs are
 * unique per hospital, so every "generation" of duplicates goes to its own hospital (own token).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { api } from 'dicomweb-client';
import {
  LOSSLESS_ENCAPSULATED,
  NATIVE,
  encapsulatedFrame,
  inspectSample,
  installXhr,
  nativeFrame,
  needSamples,
  sampleFiles,
  samplesDir,
  startInteropServer,
  type InteropServer,
  type SampleInfo,
} from './helpers.ts';

type Json = Record<string, { vr: string; Value?: unknown[] } | undefined>;
interface MediaType {
  mediaType: string;
  transferSyntaxUID?: string;
}
interface Uids {
  studyInstanceUID: string;
  seriesInstanceUID: string;
  sopInstanceUID: string;
}
/** The parts of DICOMwebClient used here, with the types it really has (its .d.ts is loose). */
interface DwClient {
  storeInstances(o: { datasets: ArrayBuffer[]; studyInstanceUID?: string }): Promise<unknown>;
  searchForStudies(o?: { queryParams?: Record<string, string> }): Promise<Json[]>;
  searchForSeries(o?: { studyInstanceUID?: string; queryParams?: Record<string, string> }): Promise<Json[]>;
  searchForInstances(o?: {
    studyInstanceUID?: string;
    seriesInstanceUID?: string;
    queryParams?: Record<string, string>;
  }): Promise<Json[]>;
  retrieveInstance(o: Uids & { mediaTypes?: MediaType[] }): Promise<ArrayBuffer>;
  retrieveStudyMetadata(o: { studyInstanceUID: string }): Promise<Json[]>;
  retrieveInstanceFrames(
    o: Uids & { frameNumbers: number[]; mediaTypes?: MediaType[] },
  ): Promise<ArrayBuffer[]>;
}
interface RequestError extends Error {
  status?: number;
  response?: unknown;
}

const skip = needSamples();
const ROOT = samplesDir() ?? '';
const name = (f: string): string => relative(ROOT, f);

interface Sample {
  file: string;
  bytes: Buffer;
  info: SampleInfo;
}
interface Generation {
  client: DwClient;
  samples: Sample[];
}

let srv: InteropServer;
let restoreXhr: (() => void) | undefined;
const generations: Generation[] = [];
const refused: string[] = [];
const expectedRefused: string[] = [];

function newClient(token: string): DwClient {
  const options = { url: srv.url, headers: { Authorization: `Bearer ${token}` }, verbose: false };
  return new api.DICOMwebClient(
    options as unknown as ConstructorParameters<typeof api.DICOMwebClient>[0],
  ) as unknown as DwClient;
}

function v(ds: Json | undefined, tag: string): unknown {
  return ds?.[tag]?.Value?.[0];
}

function set<T>(xs: Iterable<T>): string[] {
  return [...new Set(xs)].map(String).sort();
}

const ANY_OCTETS: MediaType[] = [{ mediaType: 'application/octet-stream', transferSyntaxUID: '*' }];

before(async () => {
  if (skip !== false) return;
  srv = await startInteropServer();
  restoreXhr = installXhr();
});

after(async () => {
  restoreXhr?.();
  if (skip === false) await srv.stop();
});

test(
  'dicomweb-client STOW-RS: every sample stored, only the files without Study/Series UIDs refused (0xC000)',
  { skip },
  async (t) => {
    const started = Date.now();
    const seen = new Map<string, number>(); // SOP Instance UID → generations used
    const files = sampleFiles();
    for (const file of files) {
      const bytes = readFileSync(file);
      const info = inspectSample(bytes);
      if (
        info.studyUid === undefined ||
        info.seriesUid === undefined ||
        info.studyUid === '' ||
        info.seriesUid === ''
      ) {
        expectedRefused.push(name(file));
      }
      const g = info.sopUid === undefined ? 0 : (seen.get(info.sopUid) ?? 0);
      if (info.sopUid !== undefined) seen.set(info.sopUid, g + 1);
      while (generations.length <= g) {
        const h = await srv.srv.hospital(`GEN${generations.length + 1}`, {
          name: `第${generations.length + 1}代`,
        });
        const { token } = await srv.srv.server.archive.tokens.create(h.id, 'dicomweb-client');
        generations.push({ client: newClient(token), samples: [] });
      }
      const gen = generations[g]!;
      const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
      try {
        const res = await gen.client.storeInstances({ datasets: [ab] });
        // 200 resolves with the (text) body; 202 would mean a partial failure of a one-part request
        const body = JSON.parse(String(res)) as Json;
        assert.equal(body['00081198'], undefined, `${name(file)}: ${String(res)}`);
        const ref = (body['00081199']?.Value as Json[])[0];
        assert.equal(v(ref, '00081155'), info.sopUid, name(file));
        gen.samples.push({ file, bytes, info });
      } catch (err) {
        const e = err as RequestError;
        if (e.status === undefined) throw err;
        assert.equal(e.status, 409, `${name(file)}: ${e.status} ${String(e.response)}`);
        const body = JSON.parse(String(e.response)) as Json;
        const failed = body['00081198']?.Value as Json[];
        assert.equal(v(failed[0], '00081197'), 0xc000, name(file));
        refused.push(name(file));
      }
    }
    t.diagnostic(
      `${files.length} files in ${Date.now() - started} ms; ${generations.length} generations (hospitals) of ` +
        `${generations.map((g) => g.samples.length).join('/')} instances; refused: ${refused.join(', ')}`,
    );
    assert.deepEqual(refused, expectedRefused);
    assert.ok(generations[0]!.samples.length > 50);
  },
);

test('dicomweb-client QIDO-RS: every stored study, series and instance is found', { skip }, async () => {
  for (const [gi, gen] of generations.entries()) {
    const c = gen.client;
    const studies = await c.searchForStudies();
    assert.deepEqual(
      set(studies.map((s) => v(s, '0020000D'))),
      set(gen.samples.map((s) => s.info.studyUid)),
      `generation ${gi + 1}: studies`,
    );
    for (const study of set(gen.samples.map((s) => s.info.studyUid))) {
      const inStudy = gen.samples.filter((s) => s.info.studyUid === study);
      const series = await c.searchForSeries({ studyInstanceUID: study });
      assert.deepEqual(set(series.map((s) => v(s, '0020000E'))), set(inStudy.map((s) => s.info.seriesUid)));
      const st = studies.find((s) => v(s, '0020000D') === study);
      assert.equal(v(st, '00201208'), inStudy.length, `NumberOfStudyRelatedInstances of ${study}`);
      for (const se of set(inStudy.map((s) => s.info.seriesUid))) {
        const inSeries = inStudy.filter((s) => s.info.seriesUid === se);
        const insts = await c.searchForInstances({ studyInstanceUID: study, seriesInstanceUID: se });
        assert.deepEqual(set(insts.map((s) => v(s, '00080018'))), set(inSeries.map((s) => s.info.sopUid)));
        const row = series.find((s) => v(s, '0020000E') === se);
        assert.equal(v(row, '00201209'), inSeries.length, `NumberOfSeriesRelatedInstances of ${se}`);
        const modality = inSeries[0]!.info.modality;
        if (modality !== undefined && modality !== '') assert.equal(v(row, '00080060'), modality);
      }
    }
    const all = await c.searchForInstances({ queryParams: { limit: '5000' } });
    assert.equal(all.length, gen.samples.length, `generation ${gi + 1}: all instances`);
    const allSeries = await c.searchForSeries();
    assert.equal(allSeries.length, set(gen.samples.map((s) => s.info.seriesUid)).length);
  }
});

test(
  'dicomweb-client QIDO-RS filters: Chinese PatientName, wildcards, fuzzy, Modality, UID lists, paging',
  { skip },
  async () => {
    const gen = generations[0]!;
    const c = gen.client;
    const studyOf = (suffix: string): string => {
      const s = gen.samples.find((x) => x.file.endsWith(suffix));
      assert.ok(s !== undefined, `${suffix} stored`);
      return s.info.studyUid!;
    };
    const ids = (rows: Json[]): string[] => set(rows.map((r) => v(r, '0020000D')));
    const zhangSan = studyOf('synthetic-gb18030-ct-chest.dcm');
    const wangXiaoDong = studyOf('chrX2-GB18030.dcm');
    const zhangXiaoDong = studyOf('chrGB2312.dcm');

    const exact = await c.searchForStudies({ queryParams: { PatientName: '张^三' } });
    assert.ok(ids(exact).includes(zhangSan), JSON.stringify(exact));
    for (const r of exact) assert.match(JSON.stringify(v(r, '00100010')), /张\^三/);
    assert.deepEqual(
      v(
        exact.find((r) => v(r, '0020000D') === zhangSan),
        '00100010',
      ),
      {
        Alphabetic: 'Zhang^San',
        Ideographic: '张^三',
      },
    );

    const zhang = ids(await c.searchForStudies({ queryParams: { PatientName: '张*' } }));
    assert.ok(zhang.includes(zhangSan) && zhang.includes(zhangXiaoDong), `张*: ${zhang.join(',')}`);
    assert.ok(!zhang.includes(wangXiaoDong));
    const wang = ids(await c.searchForStudies({ queryParams: { PatientName: '王^小东' } }));
    assert.deepEqual(wang, [wangXiaoDong]);
    const q = ids(await c.searchForStudies({ queryParams: { PatientName: '?^小东' } }));
    assert.deepEqual(q, set([wangXiaoDong, zhangXiaoDong]));

    const noFuzzy = ids(await c.searchForStudies({ queryParams: { PatientName: 'zhang' } }));
    assert.ok(!noFuzzy.includes(zhangSan), 'no fuzzy: a lower-case bare family name does not match');
    const fuzzy = ids(
      await c.searchForStudies({ queryParams: { PatientName: 'zhang', fuzzymatching: 'true' } }),
    );
    assert.ok(fuzzy.includes(zhangSan) && fuzzy.includes(zhangXiaoDong), `fuzzy zhang: ${fuzzy.join(',')}`);
    const fuzzyZh = ids(
      await c.searchForStudies({ queryParams: { PatientName: '张', fuzzymatching: 'true' } }),
    );
    assert.ok(fuzzyZh.includes(zhangSan), `fuzzy 张: ${fuzzyZh.join(',')}`);

    const ct = await c.searchForSeries({ queryParams: { Modality: 'CT' } });
    const expectCt = set(gen.samples.filter((s) => s.info.modality === 'CT').map((s) => s.info.seriesUid));
    assert.deepEqual(set(ct.map((r) => v(r, '0020000E'))), expectCt);

    const list = await c.searchForStudies({
      queryParams: { StudyInstanceUID: `${zhangSan},${wangXiaoDong}` },
    });
    assert.deepEqual(ids(list), set([zhangSan, wangXiaoDong]));

    const total = set(gen.samples.map((s) => s.info.studyUid)).length;
    const pages: string[] = [];
    for (let off = 0; off < total; off += 7) {
      const page = await c.searchForStudies({ queryParams: { limit: '7', offset: String(off) } });
      assert.ok(page.length <= 7);
      pages.push(...page.map((r) => String(v(r, '0020000D'))));
    }
    assert.equal(pages.length, total, 'paging covers every study once');
    assert.equal(new Set(pages).size, total);
  },
);

test('dicomweb-client WADO-RS retrieveInstance: the same dataset as the source file', { skip }, async (t) => {
  let n = 0;
  for (const gen of generations) {
    for (const s of gen.samples) {
      const ab = await gen.client.retrieveInstance({
        studyInstanceUID: s.info.studyUid!,
        seriesInstanceUID: s.info.seriesUid!,
        sopInstanceUID: s.info.sopUid!,
      });
      const got = inspectSample(Buffer.from(ab));
      assert.equal(got.transferSyntaxUid, s.info.transferSyntaxUid, name(s.file));
      assert.ok(got.dataset.equals(s.info.dataset), `${name(s.file)}: dataset bytes differ`);
      n++;
    }
  }
  t.diagnostic(`${n} instances compared`);
});

test(
  'dicomweb-client WADO-RS retrieveStudyMetadata: instance counts and UTF-8 Chinese names',
  { skip },
  async () => {
    for (const gen of generations) {
      for (const study of set(gen.samples.map((s) => s.info.studyUid))) {
        const md = await gen.client.retrieveStudyMetadata({ studyInstanceUID: study });
        const expect = gen.samples.filter((s) => s.info.studyUid === study);
        assert.equal(md.length, expect.length, `metadata of ${study}`);
        assert.deepEqual(set(md.map((m) => v(m, '00080018'))), set(expect.map((s) => s.info.sopUid)));
      }
    }
    const gen = generations[0]!;
    const names: [string, string][] = [
      ['synthetic-gb18030-ct-chest.dcm', '张^三'],
      ['chrX2-GB18030.dcm', '王^小东'],
      ['chrGB2312.dcm', '张^小东'],
      ['synthetic-iso2022-ir58-cr-knee.dcm', ''],
    ];
    for (const [suffix, ideographic] of names) {
      const s = gen.samples.find((x) => x.file.endsWith(suffix))!;
      const md = await gen.client.retrieveStudyMetadata({ studyInstanceUID: s.info.studyUid! });
      const inst = md.find((m) => v(m, '00080018') === s.info.sopUid);
      const pn = v(inst, '00100010') as { Alphabetic?: string; Ideographic?: string } | undefined;
      assert.ok(pn !== undefined, suffix);
      if (ideographic !== '') assert.equal(pn.Ideographic, ideographic, suffix);
      const all = JSON.stringify(pn);
      assert.doesNotMatch(
        all,
        /\\u001b|\ufffd/,
        `${suffix}: no escape sequences or replacement characters: ${all}`,
      );
      assert.match(all, /[\u4e00-\u9fff]/, `${suffix}: Chinese characters: ${all}`);
    }
  },
);

test(
  'dicomweb-client WADO-RS retrieveInstanceFrames: native and lossless frames equal the source',
  { skip },
  async (t) => {
    const done: string[] = [];
    const skipped: string[] = [];
    for (const gen of generations) {
      for (const s of gen.samples) {
        const ts = s.info.transferSyntaxUid;
        if (s.info.pixel === undefined) continue;
        const native = NATIVE.has(ts);
        if (!native && !LOSSLESS_ENCAPSULATED.has(ts)) continue;
        const frames = s.info.numberOfFrames ?? 1;
        const numbers = set([1, Math.min(2, frames), frames]).map(Number);
        const uids: Uids = {
          studyInstanceUID: s.info.studyUid!,
          seriesInstanceUID: s.info.seriesUid!,
          sopInstanceUID: s.info.sopUid!,
        };
        for (const n of numbers) {
          const expect = native ? nativeFrame(s.info, n) : encapsulatedFrame(s.info, n);
          if (expect === undefined) {
            skipped.push(`${name(s.file)}#${n}`);
            continue;
          }
          const parts = await gen.client.retrieveInstanceFrames({
            ...uids,
            frameNumbers: [n],
            mediaTypes: ANY_OCTETS,
          });
          assert.equal(parts.length, 1, `${name(s.file)} frame ${n}`);
          const got = Buffer.from(parts[0]!);
          assert.equal(got.length, expect.length, `${name(s.file)} frame ${n}: length`);
          assert.ok(got.equals(expect), `${name(s.file)} frame ${n}: bytes differ`);
        }
        if (
          frames >= 3 &&
          numbers.every((n) => (native ? nativeFrame(s.info, n) : encapsulatedFrame(s.info, n)) !== undefined)
        ) {
          const parts = await gen.client.retrieveInstanceFrames({
            ...uids,
            frameNumbers: [3, 1, 2],
            mediaTypes: ANY_OCTETS,
          });
          assert.equal(parts.length, 3);
          const expect = [3, 1, 2].map(
            (n) => (native ? nativeFrame(s.info, n) : encapsulatedFrame(s.info, n))!,
          );
          parts.forEach((p, i) =>
            assert.ok(Buffer.from(p).equals(expect[i]!), `${name(s.file)} frames 3,1,2 #${i}`),
          );
        }
        done.push(`${name(s.file)} (${ts})`);
      }
    }
    t.diagnostic(
      `${done.length} instances' frames compared; not comparable: ${skipped.join(', ') || 'none'}`,
    );
    assert.ok(done.length > 20);
  },
);
