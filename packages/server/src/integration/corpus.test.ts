/**
 * Every valid file of ../shared/dicom-samples goes in by C-STORE (in its own transfer syntax) and comes
 * back by C-GET with a byte-identical data set; then DCMTK findscu finds the Chinese patients by name.
 * Runs on SQLite + folder and on PostgreSQL + S3 (s3rver).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { encodeDataset, encodeText } from '@huiying/dicom';
import { connect, SopClass, Status, storageContexts, type ContextProposal } from '@huiying/dimse';
import { needDcmtk } from '../testing/dcmtk.ts';
import { needSamples, samplesDir } from '../testing/peers.ts';
import { startTestServer, type TestServer } from '../testing/test-server.ts';
import {
  backends,
  findscu,
  loadCorpus,
  readAll,
  roundsByInstance,
  type Corpus,
  type CorpusFile,
} from './helpers.ts';

const EXPLICIT_LE = '1.2.840.10008.1.2.1';

/**
 * Files of the corpus that are DICOM but not storable instances (no Study/Series Instance UID): test
 * fragments from the pydicom / GDCM / dcmtk test suites and a Color Palette IOD (which has no patient
 * or study). The archive rightly refuses them; they are not round-tripped.
 */
const NOT_INSTANCES: Record<string, string> = {
  'charsets/chrSQEncoding.dcm': 'pydicom charset fragment (sequence encoding), no study/series',
  'charsets/chrSQEncoding1.dcm': 'pydicom charset fragment (sequence encoding), no study/series',
  'charsets/empty_charset_LEI.dcm': 'pydicom fragment with only an empty (0008,0005)',
  'edge-cases/no-preamble/no_meta_group_length.dcm': 'pydicom meta-parsing fragment, no study/series',
  'edge-cases/sequences/UN_sequence.dcm': 'pydicom UN-sequence fragment, no study/series',
  'edge-cases/sequences/nested_priv_SQ.dcm': 'pydicom private-sequence fragment, no UIDs at all',
  'edge-cases/sequences/priv_SQ.dcm': 'pydicom private-sequence fragment, no study/series',
  'modalities/other/palette-hotiron.dcm': 'Color Palette IOD: no patient/study/series by definition',
  'modalities/sm/WSI-140frame-jpeg.dcm': 'downsized WSI test file stripped of its StudyInstanceUID',
  'transfer-syntaxes/htj2k-lossless_RGB.dcm': 'pydicom codec fragment, no study/series',
  'transfer-syntaxes/jpeg-ls-lossless_RGB_ILV0.dcm': 'pydicom codec fragment, no SOP instance/study/series',
  'transfer-syntaxes/jpeg-ls-near-lossless_16.dcm': 'pydicom codec fragment, no study/series',
  'transfer-syntaxes/jpeg-ls-near-lossless_rgb_line.dcm': 'pydicom codec fragment, no study/series',
};

const GET_TIMEOUT_MS = 5000;

/** Resolves with the promise's value, or 'timeout' (the promise is left to settle on its own). */
async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)));
  p.catch(() => undefined);
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

const skipCommon = needSamples() || needDcmtk();

for (const backend of await backends()) {
  describe(`corpus round trip: ${backend.name}`, { skip: skipCommon || backend.skip }, () => {
    let srv: TestServer;
    let teardown: () => Promise<void> = () => Promise.resolve();
    let work: string;
    let corpus: Corpus;
    let rounds: CorpusFile[][];
    const stored = new Set<string>(); // "round|path"

    before(async () => {
      corpus = loadCorpus(samplesDir() ?? '');
      rounds = roundsByInstance(corpus.files);
      const b = await backend.setup();
      teardown = b.teardown;
      srv = await startTestServer(b.env);
      work = await mkdtemp(join(tmpdir(), 'hy-corpus-'));
      await srv.hospital('CENTER', { center: true, name: '区域医学影像诊断中心' });
      await srv.ae('CENTER_WS', 'CENTER');
      // Round 0 (every first occurrence, incl. all Chinese files) at CHENCUN, whose legacy devices
      // write GBK bytes labelled ISO_IR 100; later rounds (the same instances in other transfer
      // syntaxes) at hospitals of their own, since a SOP Instance UID is unique per hospital.
      for (let i = 0; i < rounds.length; i++) {
        const code = i === 0 ? 'CHENCUN' : `ROUND${i}`;
        await srv.hospital(code, i === 0 ? { name: '陈村医院', charset: 'GB18030' } : {});
        await srv.ae(`${code}_AE`, code);
      }
    });

    after(async () => {
      await srv?.stop();
      await teardown();
      if (work !== undefined) await rm(work, { recursive: true, force: true });
    });

    const aeOf = (round: number): string => (round === 0 ? 'CHENCUN_AE' : `ROUND${round}_AE`);

    test('the sample files that are not storable instances are few and explained', () => {
      const got = [...corpus.notInstances.keys()].sort();
      assert.deepEqual(got, Object.keys(NOT_INSTANCES).sort(), JSON.stringify([...corpus.notInstances]));
      for (const problems of corpus.notInstances.values())
        assert.match(problems, /(StudyInstanceUID|SeriesInstanceUID) missing/);
      assert.ok(corpus.files.length >= 100, `${corpus.files.length} storable files`);
    });

    test('every valid sample is stored by C-STORE in its own transfer syntax', async () => {
      const failures: string[] = [];
      for (let i = 0; i < rounds.length; i++) {
        const files = rounds[i] ?? [];
        const assoc = await connect({
          host: '127.0.0.1',
          port: srv.dicomPort,
          callingAeTitle: aeOf(i),
          calledAeTitle: 'HUIYING',
          contexts: storageContexts(
            files.map((f) => ({ sopClassUid: f.sopClassUid, transferSyntax: f.transferSyntaxUid })),
          ),
        });
        try {
          for (const f of files) {
            try {
              const r = await assoc.store({
                sopClassUid: f.sopClassUid,
                sopInstanceUid: f.sopInstanceUid,
                transferSyntax: f.transferSyntaxUid,
                data: f.dataset,
              });
              if (r.status === Status.Success || (r.status & 0xf000) === 0xb000) stored.add(`${i}|${f.path}`);
              else failures.push(`${f.path}: status 0x${r.status.toString(16)} ${r.errorComment ?? ''}`);
            } catch (err) {
              failures.push(`${f.path}: ${(err as Error).message}`);
            }
          }
        } finally {
          await assoc.release();
        }
      }
      assert.deepEqual(failures, []);
      assert.equal(stored.size, corpus.files.length);
    });

    test('every stored instance comes back by C-GET with a byte-identical data set', async () => {
      const problems: string[] = [];
      let compared = 0;
      for (let i = 0; i < rounds.length; i++) {
        const files = rounds[i] ?? [];
        const pairs = new Map<string, ContextProposal>();
        for (const f of files)
          pairs.set(`${f.sopClassUid}|${f.transferSyntaxUid}`, {
            abstractSyntax: f.sopClassUid,
            transferSyntaxes: [f.transferSyntaxUid],
            scpRole: true,
            scuRole: false,
          });
        const received = new Map<string, { ts: string; sopClass: string; data: Buffer }>();
        const studies = [...new Set(files.map((f) => f.studyInstanceUid))];
        for (const study of studies) {
          // one association per study, so that a stalled retrieve is cut off without hiding the others
          const assoc = await connect({
            host: '127.0.0.1',
            port: srv.dicomPort,
            callingAeTitle: aeOf(i),
            calledAeTitle: 'HUIYING',
            contexts: [
              { abstractSyntax: SopClass.StudyRootGet, transferSyntaxes: [EXPLICIT_LE] },
              ...pairs.values(),
            ],
          });
          const identifier = encodeDataset(
            {
              '00080052': { vr: 'CS', Value: ['STUDY'] },
              '0020000D': { vr: 'UI', Value: [study] },
            },
            { transferSyntax: EXPLICIT_LE },
          );
          const run = async (): Promise<string | undefined> => {
            const gen = assoc.get(SopClass.StudyRootGet, identifier, async (req, data) => {
              received.set(req.sopInstanceUid, {
                ts: req.transferSyntax,
                sopClass: req.sopClassUid,
                data: await readAll(data),
              });
              return { status: Status.Success };
            });
            let last = await gen.next();
            while (last.done !== true) last = await gen.next();
            if (last.value.failed > 0 || last.value.status !== Status.Success)
              return `C-GET status 0x${last.value.status.toString(16)}, ${last.value.failed} failed`;
            return undefined;
          };
          const outcome = await withTimeout(run(), GET_TIMEOUT_MS);
          if (outcome === 'timeout') {
            const paths = files.filter((f) => f.studyInstanceUid === study).map((f) => f.path);
            problems.push(`study ${study} (${paths.join(', ')}): C-GET stalled for ${GET_TIMEOUT_MS} ms`);
            assoc.abort();
          } else {
            if (outcome !== undefined) problems.push(`study ${study}: ${outcome}`);
            await assoc.release();
          }
        }
        for (const f of files) {
          const got = received.get(f.sopInstanceUid);
          if (got === undefined) {
            problems.push(`${f.path}: not retrieved`);
            continue;
          }
          compared++;
          if (got.ts !== f.transferSyntaxUid) problems.push(`${f.path}: came back in ${got.ts}`);
          if (got.sopClass !== f.sopClassUid) problems.push(`${f.path}: came back as ${got.sopClass}`);
          if (!got.data.equals(f.dataset))
            problems.push(
              `${f.path}: data set differs (${got.data.length} vs ${f.dataset.length} bytes, first at ${firstDifference(got.data, f.dataset)})`,
            );
        }
        if (received.size !== files.length)
          problems.push(`round ${i}: ${received.size} instances received, ${files.length} expected`);
      }
      assert.deepEqual(problems, []);
      assert.equal(compared, corpus.files.length);
    });

    test('C-GET of a 0.5 MB instance to an SCU with a 256 KiB max PDU does not stall', async () => {
      // Our own SCU proposes 256 KiB by default. The server's streamed send misses the socket's
      // 'drain' event (packages/dimse/src/upper-layer.ts #sendNow/#waitDrain) and stops after the
      // first PDU of a data set spanning 3+ PDUs.
      const f = corpus.files.find((x) => x.path === 'edge-cases/lut/mlut_18.dcm');
      assert.ok(f !== undefined);
      const assoc = await connect({
        host: '127.0.0.1',
        port: srv.dicomPort,
        callingAeTitle: 'CHENCUN_AE',
        calledAeTitle: 'HUIYING',
        maxPduLength: 256 * 1024,
        contexts: [
          { abstractSyntax: SopClass.StudyRootGet, transferSyntaxes: [EXPLICIT_LE] },
          { abstractSyntax: f.sopClassUid, transferSyntaxes: [f.transferSyntaxUid], scpRole: true },
        ],
      });
      let got: Buffer | undefined;
      const run = async (): Promise<number> => {
        const gen = assoc.get(
          SopClass.StudyRootGet,
          encodeDataset(
            {
              '00080052': { vr: 'CS', Value: ['STUDY'] },
              '0020000D': { vr: 'UI', Value: [f.studyInstanceUid] },
            },
            { transferSyntax: EXPLICIT_LE },
          ),
          async (_req, data) => {
            got = await readAll(data);
            return { status: Status.Success };
          },
        );
        let last = await gen.next();
        while (last.done !== true) last = await gen.next();
        return last.value.completed;
      };
      const outcome = await withTimeout(run(), GET_TIMEOUT_MS);
      if (outcome === 'timeout') assoc.abort();
      else await assoc.release();
      assert.notEqual(outcome, 'timeout', `C-GET of ${f.dataset.length} bytes stalled`);
      assert.equal(outcome, 1);
      assert.ok(got?.equals(f.dataset), 'identical data set');
    });

    const q = (name: string): string[] => [
      '(0008,0005) CS [ISO_IR 192]',
      '(0008,0052) CS [STUDY]',
      `(0010,0010) PN [${name}]`,
      '(0010,0020) LO []',
      '(0020,000d) UI []',
    ];

    test('C-FIND by Chinese name (UTF-8 query) finds the GB18030, GBK and ISO 2022 IR 58 patients', async () => {
      const cases: Array<[string, string, RegExp]> = [
        ['王^小东', 'X2EXAMPLE', /王\^小东/], // GB18030
        ['张^三', 'SD000001', /张\^三/], // GB18030
        ['王小明', 'SD000002', /王小明/], // GBK
        ['张^小东', 'GB2312Example', /张\^小东/], // ISO 2022 IR 58
        ['张^小明', 'SD000004', /张\^小明/], // ISO 2022 IR 58
      ];
      for (const [name, pid, re] of cases) {
        const answers = await findscu({
          work,
          port: srv.dicomPort,
          aet: 'CENTER_WS',
          dump: q(name).join('\n') + '\n',
        });
        assert.equal(answers.length, 1, `${name}: ${answers.join('\n')}`);
        assert.match(answers[0] ?? '', new RegExp(`\\(0010,0020\\) LO \\[${pid}\\]`), name);
        assert.match(answers[0] ?? '', re, name);
      }
      // a member hospital that does not have the patient sees nothing
      const other = await findscu({
        work,
        port: srv.dicomPort,
        aet: 'ROUND1_AE',
        dump: q('张^三').join('\n') + '\n',
      });
      assert.equal(other.length, 0, other.join('\n'));
    });

    test('C-FIND with a GB18030-encoded query (0008,0005 GB18030) finds 王^小东', async () => {
      const lines = q('NAME').map((l) => l.replace('ISO_IR 192', 'GB18030'));
      const [before, afterName] = lines.join('\n').split('NAME');
      const dump = Buffer.concat([
        Buffer.from(before ?? '', 'ascii'),
        encodeText('王^小东', 'GB18030', 'PN'),
        Buffer.from(`${afterName ?? ''}\n`, 'ascii'),
      ]);
      assert.ok(dump.includes(Buffer.from([0xcd, 0xf5])), 'the query carries GB18030 bytes for 王');
      const answers = await findscu({ work, port: srv.dicomPort, aet: 'CENTER_WS', dump });
      assert.equal(answers.length, 1, answers.join('\n'));
      assert.match(answers[0] ?? '', /X2EXAMPLE/);
      assert.match(answers[0] ?? '', /王\^小东/);
    });
  });
}
