import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CHINESE_FIXTURES, makeInstance, makeUid } from '@huiying/dicom/testing';
import { loadConfig } from '../config/config.ts';
import { openArchive, type Archive } from '../app.ts';
import { silentLog } from '../logger.ts';
import type { Hospital } from '../archive/ports.ts';

/** GBK bytes labelled ISO_IR 100 (seen in the field): re-label a GBK fixture's (0008,0005). */
function gbkLabelledLatin1(o: Parameters<typeof makeInstance>[0]): Buffer {
  const b = Buffer.from(makeInstance({ ...o, charset: 'GBK' }));
  const from = Buffer.from([0x08, 0x00, 0x05, 0x00, 0x43, 0x53, 0x04, 0x00, ...Buffer.from('GBK ')]);
  const to = Buffer.from([0x08, 0x00, 0x05, 0x00, 0x43, 0x53, 0x0a, 0x00, ...Buffer.from('ISO_IR 100')]);
  const at = b.indexOf(from);
  assert.ok(at > 0, 'fixture has (0008,0005) GBK');
  return Buffer.concat([b.subarray(0, at), to, b.subarray(at + from.length)]);
}

describe('ingest pipeline (SQLite + folder)', () => {
  let dir: string;
  let archive: Archive;
  let repaired: Hospital;
  let plain: Hospital;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hy-ingest-'));
    archive = await openArchive(loadConfig({ HUIYING_DATA_DIR: join(dir, 'data') }), silentLog);
    repaired = await archive.hospitals.create({
      code: 'XINGTAN',
      name: '杏坛医院',
      defaultCharset: 'GB18030',
    });
    plain = await archive.hospitals.create({ code: 'PLAIN', name: 'plain' });
  });
  after(async () => {
    await archive.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function file(name: string, bytes: Uint8Array): Promise<string> {
    const p = join(dir, name);
    await writeFile(p, bytes);
    return p;
  }

  test('GBK bytes labelled Latin-1 are repaired with the hospital default charset', async () => {
    const sop = makeUid();
    const path = await file(
      'gbk-latin1.dcm',
      gbkLabelledLatin1({ patientName: '黄伟', patientId: 'G1', sopUid: sop }),
    );
    const r = await archive.ingest.ingestFile({ hospitalId: repaired.id, path });
    assert.equal(r.outcome, 'stored');
    assert.ok(
      r.warnings.some((w) => w.includes('GB18030')),
      r.warnings.join(),
    );
    const rows = await archive.index.query({
      level: 'PATIENT',
      keys: { PatientName: { kind: 'single', value: '黄伟' } },
      scope: { kind: 'hospitals', hospitalIds: [repaired.id] },
    });
    assert.equal(rows.length, 1);
    // without a default charset the bytes are read as declared (Latin-1), never guessed
    const r2 = await archive.ingest.ingestFile({ hospitalId: plain.id, path });
    assert.equal(r2.outcome, 'stored');
    const none = await archive.index.query({
      level: 'PATIENT',
      keys: { PatientName: { kind: 'single', value: '黄伟' } },
      scope: { kind: 'hospitals', hospitalIds: [plain.id] },
    });
    assert.equal(none.length, 0);
  });

  test('the same SOP Instance UID again is kept once (policy keep), source file untouched', async () => {
    const sop = makeUid();
    const path = await file('dup.dcm', CHINESE_FIXTURES.gb18030({ sopUid: sop }));
    assert.equal((await archive.ingest.ingestFile({ hospitalId: plain.id, path })).outcome, 'stored');
    assert.equal((await archive.ingest.ingestFile({ hospitalId: plain.id, path })).outcome, 'duplicate-kept');
    const loc = await archive.index.findInstance(plain.id, sop);
    assert.ok(loc !== undefined);
    assert.ok((await readdir(dir)).includes('dup.dcm'), 'import leaves the source file in place');
  });

  test('a study whose instances disagree on patient identity is flagged, not merged', async () => {
    const studyUid = makeUid();
    const seriesUid = makeUid();
    const a = await file(
      'c1.dcm',
      makeInstance({ patientId: 'C-1', patientName: 'Li^Lei', studyUid, seriesUid, sopUid: makeUid() }),
    );
    const b = await file(
      'c2.dcm',
      makeInstance({ patientId: 'C-2', patientName: 'Han^Meimei', studyUid, seriesUid, sopUid: makeUid() }),
    );
    const r1 = await archive.ingest.ingestFile({ hospitalId: plain.id, path: a });
    const r2 = await archive.ingest.ingestFile({ hospitalId: plain.id, path: b });
    assert.deepEqual(r1.warnings, []);
    assert.ok(
      r2.warnings.some((w) => w.includes('patient identity conflict')),
      r2.warnings.join(),
    );
    const rows = await archive.index.query({
      level: 'STUDY',
      keys: { StudyInstanceUID: { kind: 'single', value: studyUid } },
      scope: { kind: 'all' },
    });
    assert.equal(rows.length, 1);
    assert.ok(rows[0]?.patientConflict !== undefined);
  });

  test('broken input is refused with a clear reason and leaves nothing behind', async () => {
    const text = await file('notes.txt', Buffer.from('this is not DICOM\n'.repeat(20)));
    await assert.rejects(
      archive.ingest.ingestFile({ hospitalId: plain.id, path: text }),
      /not a valid DICOM instance/,
    );
    const good = Buffer.from(makeInstance({ rows: 64, cols: 64, sopUid: makeUid() }));
    const cut = await file('cut.dcm', good.subarray(0, good.length - 1000));
    await assert.rejects(
      archive.ingest.ingestFile({ hospitalId: plain.id, path: cut }),
      /pixel data truncated/,
    );
    const badUid = await file('baduid.dcm', makeInstance({ sopUid: '1.2.3.abc' }));
    await assert.rejects(archive.ingest.ingestFile({ hospitalId: plain.id, path: badUid }), /UID/);
    assert.deepEqual(await readdir(join(dir, 'data', 'staging')), []);
  });

  test('concurrent instances share index transactions (group commit)', async () => {
    const before = { ...archive.ingest.committer.stats };
    const studyUid = makeUid();
    const seriesUid = makeUid();
    const paths = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        file(`g${i}.dcm`, makeInstance({ studyUid, seriesUid, sopUid: makeUid(), instanceNumber: i + 1 })),
      ),
    );
    const results = await Promise.all(
      paths.map((path) => archive.ingest.ingestFile({ hospitalId: plain.id, path })),
    );
    assert.ok(results.every((r) => r.outcome === 'stored'));
    const batches = archive.ingest.committer.stats.batches - before.batches;
    assert.equal(archive.ingest.committer.stats.instances - before.instances, 40);
    assert.ok(batches < 40, `40 instances took ${batches} transactions`);
    const rows = await archive.index.query({
      level: 'STUDY',
      keys: { StudyInstanceUID: { kind: 'single', value: studyUid } },
      scope: { kind: 'all' },
    });
    assert.equal(Number(rows[0]?.values.NumberOfStudyRelatedInstances), 40);
  });
});
