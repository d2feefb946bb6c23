/**
 * ArchiveIndex suite: the SAME cases on SQLite (temp file) and PostgreSQL (fresh database per suite;
 * skipped with the reason when PostgreSQL is unreachable).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import type { InstanceAttributes, Matcher } from '@huiying/dicom';
import type { DatabaseHandle } from '../db/database.ts';
import { testDatabaseKinds } from '../db/test-databases.ts';
import { createIndexServices, type IndexServices } from './index-kysely.ts';
import { openIndexServices, type ClosableIndexServices } from './index-writer.ts';
import type { AccessScope, IndexInstance, IndexQuery, IndexRow } from './ports.ts';

const CT = '1.2.840.10008.5.1.4.1.1.2';
const MR = '1.2.840.10008.5.1.4.1.1.4';
const SR = '1.2.840.10008.5.1.4.1.1.88.22';

let sopCounter = 0;
function inst(
  hospitalId: number,
  a: Partial<InstanceAttributes> & { StudyInstanceUID: string; SeriesInstanceUID: string },
  extra: Partial<IndexInstance> = {},
): IndexInstance {
  const sop = a.SOPInstanceUID ?? `2.25.${++sopCounter}`;
  const attributes: InstanceAttributes = { SOPClassUID: CT, Modality: 'CT', ...a, SOPInstanceUID: sop };
  return {
    hospitalId,
    attributes,
    blobKey: `${hospitalId}/${a.StudyInstanceUID}/${a.SeriesInstanceUID}/${sop}.dcm`,
    size: 1000,
    sha256: 'ab'.repeat(32),
    transferSyntaxUid: '1.2.840.10008.1.2.1',
    receivedFromAe: 'MODALITY1',
    source: 'dimse',
    receivedAt: '2026-11-26T10:00:00.000Z',
    ...extra,
  };
}

const single = (value: string): Matcher => ({ kind: 'single', value });
const wild = (pattern: string): Matcher => ({ kind: 'wildcard', pattern });
const range = (from?: string, to?: string): Matcher => ({
  kind: 'range',
  ...(from !== undefined ? { from } : {}),
  ...(to !== undefined ? { to } : {}),
});
const list = (...values: string[]): Matcher => ({ kind: 'list', values });
const ALL: AccessScope = { kind: 'all' };

const kinds = await testDatabaseKinds();
// SQLite runs twice: in-thread writes, and writes in the index writer worker (index-writer.ts)
const variants = kinds.flatMap((kind) =>
  kind.dialect === 'sqlite'
    ? [
        { kind, worker: false, label: kind.dialect },
        { kind, worker: true, label: `${kind.dialect} (writer worker)` },
      ]
    : [{ kind, worker: false, label: kind.dialect }],
);

for (const { kind, worker, label } of variants) {
  describe(`ArchiveIndex on ${label}`, { skip: kind.skip }, () => {
    let h: DatabaseHandle;
    let s: IndexServices;
    let closable: ClosableIndexServices | undefined;
    let A: number; // member hospital 陈村
    let B: number; // member hospital 龙江
    let C: number; // center

    const q = (level: IndexQuery['level'], keys: Record<string, Matcher>, more: Partial<IndexQuery> = {}) =>
      s.index.query({ level, keys, scope: ALL, ...more });
    const col = (rows: IndexRow[], k: string) => rows.map((r) => r.values[k]);

    before(async () => {
      h = await kind.open();
      if (worker) {
        closable = await openIndexServices(h, { writerWorker: true });
        s = closable;
      } else s = createIndexServices(h);
      A = (await s.hospitals.create({ code: 'CHENCUN', name: '陈村医院', defaultCharset: 'GB18030' })).id;
      B = (await s.hospitals.create({ code: 'LONGJIANG', name: '龙江医院' })).id;
      C = (await s.hospitals.create({ code: 'CENTER', name: '区影像中心', isCenter: true })).id;
    });
    after(async () => {
      await closable?.close();
      await h?.close();
    });

    test('hospital and AE repositories', async () => {
      const list1 = await s.hospitals.list();
      assert.deepEqual(
        list1.map((x) => [x.code, x.isCenter]),
        [
          ['CENTER', true],
          ['CHENCUN', false],
          ['LONGJIANG', false],
        ],
      );
      assert.equal((await s.hospitals.byCode('CHENCUN'))?.defaultCharset, 'GB18030');
      assert.equal((await s.hospitals.byId(B))?.name, '龙江医院');
      assert.equal(await s.hospitals.byCode('NOPE'), undefined);
      await assert.rejects(s.hospitals.create({ code: 'CHENCUN', name: 'dup' }));
      const ae = await s.aes.create({ aeTitle: 'CHENCUN_CT', hospitalId: A, host: '10.0.0.5', port: 104 });
      assert.equal(ae.port, 104);
      await s.aes.create({ aeTitle: 'LJ_MR', hospitalId: B });
      assert.deepEqual(
        (await s.aes.list()).map((x) => x.aeTitle),
        ['CHENCUN_CT', 'LJ_MR'],
      );
      assert.equal((await s.aes.byTitle('LJ_MR'))?.host, undefined);
      await assert.rejects(s.aes.create({ aeTitle: 'LJ_MR', hospitalId: B }));
      await s.aes.remove('LJ_MR');
      assert.equal(await s.aes.byTitle('LJ_MR'), undefined);
    });

    test('study attributes do not depend on arrival order: later instances fill empty ones', async () => {
      const st = { StudyInstanceUID: '7.7', PatientID: 'P077', SeriesInstanceUID: '7.7.1' };
      await s.index.indexInstances([inst(A, st)], 'keep');
      await s.index.indexInstances(
        [inst(A, { ...st, StudyDescription: '胸部CT平扫', AccessionNumber: 'ACC77', StudyDate: '20260301' })],
        'keep',
      );
      await s.index.indexInstances([inst(A, { ...st, StudyDescription: 'other' })], 'keep');
      const [study] = await q('STUDY', { StudyInstanceUID: single('7.7') });
      assert.equal(study?.values.StudyDescription, '胸部CT平扫', 'filled once, never overwritten');
      assert.equal(study?.values.AccessionNumber, 'ACC77');
      assert.equal(study?.values.StudyDate, '20260301');
      assert.equal(study?.values.NumberOfStudyRelatedInstances, 3);
    });

    test('indexing a study: counts, modalities, SOP classes, instance fields', async () => {
      const st = {
        StudyInstanceUID: '1.1',
        PatientID: 'P001',
        PatientName: 'Zhang^San=张^三',
        PatientSex: 'M',
      };
      const batch = [
        inst(A, {
          ...st,
          SeriesInstanceUID: '1.1.1',
          SeriesNumber: '1',
          InstanceNumber: '2',
          StudyDate: '20240105',
        }),
        inst(A, { ...st, SeriesInstanceUID: '1.1.1', SeriesNumber: '1', InstanceNumber: '1' }),
        inst(A, { ...st, SeriesInstanceUID: '1.1.2', SeriesNumber: '2', Modality: 'MR', SOPClassUID: MR }),
      ];
      const res = await s.index.indexInstances(batch, 'keep');
      assert.deepEqual(
        res.map((r) => r.outcome),
        ['stored', 'stored', 'stored'],
      );
      assert.equal(new Set(res.map((r) => r.instanceId)).size, 3);
      // a second batch adds an SR series
      await s.index.indexInstances(
        [inst(A, { ...st, SeriesInstanceUID: '1.1.3', Modality: 'SR', SOPClassUID: SR, SeriesNumber: '99' })],
        'keep',
      );
      const [study] = await q('STUDY', { StudyInstanceUID: single('1.1') });
      assert.ok(study);
      assert.equal(study.hospitalId, A);
      assert.equal(study.values.NumberOfStudyRelatedSeries, 3);
      assert.equal(study.values.NumberOfStudyRelatedInstances, 4);
      assert.equal(study.values.ModalitiesInStudy, 'CT\\MR\\SR');
      assert.equal(study.values.SOPClassesInStudy, [CT, MR, SR].sort().join('\\'));
      assert.equal(study.values.StudyDate, '20240105');
      assert.equal(study.values.PatientName, 'Zhang^San=张^三');
      assert.equal(study.patientConflict, undefined);
      const series = await q('SERIES', { StudyInstanceUID: single('1.1') });
      assert.deepEqual(col(series, 'SeriesInstanceUID'), ['1.1.1', '1.1.2', '1.1.3']);
      assert.deepEqual(col(series, 'NumberOfSeriesRelatedInstances'), [2, 1, 1]);
      assert.deepEqual(col(series, 'SeriesNumber'), ['1', '2', '99']);
      assert.deepEqual(col(series, 'StudyInstanceUID'), ['1.1', '1.1', '1.1']);
      const images = await q('IMAGE', { SeriesInstanceUID: single('1.1.1') });
      assert.deepEqual(col(images, 'InstanceNumber'), ['1', '2']); // ordered by instance number
      assert.equal(images[0]?.values.TransferSyntaxUID, '1.2.840.10008.1.2.1');
      const [patient] = await q('PATIENT', { PatientID: single('P001') });
      assert.equal(patient?.values.NumberOfPatientRelatedStudies, 1);
      assert.equal(patient?.values.NumberOfPatientRelatedSeries, 3);
      assert.equal(patient?.values.NumberOfPatientRelatedInstances, 4);
      const loc = await s.index.findInstance(A, batch[2]!.attributes.SOPInstanceUID);
      assert.deepEqual(loc, {
        instanceId: res[2]!.instanceId,
        hospitalId: A,
        studyInstanceUid: '1.1',
        seriesInstanceUid: '1.1.2',
        sopInstanceUid: batch[2]!.attributes.SOPInstanceUID,
        sopClassUid: MR,
        transferSyntaxUid: '1.2.840.10008.1.2.1',
        blobKey: batch[2]!.blobKey,
        size: 1000,
      });
      assert.equal(await s.index.findInstance(B, batch[2]!.attributes.SOPInstanceUID), undefined);
    });

    test('duplicates: keep leaves the row, replace updates it and returns the orphaned blob', async () => {
      const base = {
        StudyInstanceUID: '2.1',
        SeriesInstanceUID: '2.1.1',
        PatientID: 'P002',
        SOPInstanceUID: '2.1.1.1',
      };
      const [first] = await s.index.indexInstances([inst(A, base)], 'keep');
      assert.equal(first?.outcome, 'stored');
      const [kept] = await s.index.indexInstances(
        [inst(A, base, { blobKey: 'other/key.dcm', size: 5 })],
        'keep',
      );
      assert.deepEqual(kept, { outcome: 'duplicate-kept', instanceId: first.instanceId });
      assert.equal((await s.index.findInstance(A, '2.1.1.1'))?.size, 1000);
      const [rep] = await s.index.indexInstances(
        [inst(A, { ...base, InstanceNumber: '7' }, { blobKey: 'other/key.dcm', size: 5 })],
        'replace',
      );
      assert.deepEqual(rep, {
        outcome: 'replaced',
        instanceId: first.instanceId,
        orphanedBlobKey: `${A}/2.1/2.1.1/2.1.1.1.dcm`,
      });
      const loc = await s.index.findInstance(A, '2.1.1.1');
      assert.equal(loc?.blobKey, 'other/key.dcm');
      assert.equal(loc?.size, 5);
      // same blob key: nothing orphaned
      const [rep2] = await s.index.indexInstances([inst(A, base, { blobKey: 'other/key.dcm' })], 'replace');
      assert.equal(rep2?.outcome, 'replaced');
      assert.equal(rep2?.orphanedBlobKey, undefined);
      // duplicates inside one batch
      const twice = await s.index.indexInstances(
        [inst(A, { ...base, SOPInstanceUID: '2.1.1.2' }), inst(A, { ...base, SOPInstanceUID: '2.1.1.2' })],
        'keep',
      );
      assert.deepEqual(
        twice.map((r) => r.outcome),
        ['stored', 'duplicate-kept'],
      );
      assert.equal(twice[0]!.instanceId, twice[1]!.instanceId);
      const [study] = await q('STUDY', { StudyInstanceUID: single('2.1') });
      assert.equal(study?.values.NumberOfStudyRelatedInstances, 2);
      assert.equal(study?.values.NumberOfStudyRelatedSeries, 1);
      const [series] = await q('SERIES', { SeriesInstanceUID: single('2.1.1') });
      assert.equal(series?.values.NumberOfSeriesRelatedInstances, 2);
      const [p] = await q('PATIENT', { PatientID: single('P002') });
      assert.equal(p?.values.NumberOfPatientRelatedInstances, 2);
    });

    test('patients are qualified by hospital; the same Study UID at two hospitals is two studies', async () => {
      const a = {
        StudyInstanceUID: '3.1',
        SeriesInstanceUID: '3.1.1',
        PatientID: 'SAME01',
        PatientName: 'Li^Si',
      };
      await s.index.indexInstances([inst(A, a)], 'keep');
      await s.index.indexInstances([inst(B, { ...a, PatientName: 'Wang^Wu' })], 'keep');
      await s.index.indexInstances(
        [inst(A, { ...a, StudyInstanceUID: '3.2', SeriesInstanceUID: '3.2.1' })],
        'keep',
      );
      const pats = await q('PATIENT', { PatientID: single('SAME01') });
      assert.deepEqual(
        pats.map((r) => [r.hospitalId, r.values.PatientName, r.values.NumberOfPatientRelatedStudies]),
        [
          [A, 'Li^Si', 2],
          [B, 'Wang^Wu', 1],
        ],
      );
      const studies = await q('STUDY', { StudyInstanceUID: single('3.1') });
      assert.deepEqual(
        studies.map((r) => r.hospitalId),
        [A, B],
      );
      assert.ok(studies.every((r) => r.patientConflict === undefined));
      // issuer qualifies too
      await s.index.indexInstances(
        [inst(A, { ...a, StudyInstanceUID: '3.3', SeriesInstanceUID: '3.3.1', IssuerOfPatientID: 'HIS2' })],
        'keep',
      );
      assert.equal((await q('PATIENT', { PatientID: single('SAME01') })).length, 3);
      // no Patient ID: one anonymous patient per study, never merged
      await s.index.indexInstances(
        [inst(A, { StudyInstanceUID: '3.4', SeriesInstanceUID: '3.4.1' })],
        'keep',
      );
      await s.index.indexInstances(
        [inst(A, { StudyInstanceUID: '3.5', SeriesInstanceUID: '3.5.1' })],
        'keep',
      );
      const anon = await q('PATIENT', { StudyInstanceUID: list('3.4', '3.5') });
      assert.equal(anon.length, 2);
      assert.deepEqual(col(anon, 'NumberOfPatientRelatedStudies'), [1, 1]);
    });

    test('patient identity conflict raises the study flag and never merges', async () => {
      const st = { StudyInstanceUID: '4.1', SeriesInstanceUID: '4.1.1' };
      const ok = await s.index.indexInstances(
        [
          inst(A, { ...st, PatientID: 'P004', PatientName: 'Chen^Yi', PatientBirthDate: '19800101' }),
          inst(A, { ...st, PatientID: 'P004', PatientName: 'CHEN^YI^^', PatientBirthDate: '19800101' }),
        ],
        'keep',
      );
      assert.ok(
        ok.every((r) => r.patientConflict === undefined),
        'case/padding differences are not conflicts',
      );
      const [bad] = await s.index.indexInstances(
        [inst(A, { ...st, PatientID: 'P999', PatientName: 'Huang^Er', PatientBirthDate: '19800101' })],
        'keep',
      );
      assert.equal(bad?.outcome, 'stored');
      assert.match(bad?.patientConflict ?? '', /PatientID 'P999' vs 'P004'/);
      const [bd] = await s.index.indexInstances(
        [inst(A, { ...st, SeriesInstanceUID: '4.1.2', PatientID: 'P004', PatientBirthDate: '19900101' })],
        'keep',
      );
      assert.match(bd?.patientConflict ?? '', /PatientBirthDate/);
      const rows = await q('STUDY', { StudyInstanceUID: single('4.1') });
      assert.equal(rows.length, 1);
      assert.equal(rows[0]?.values.PatientID, 'P004', 'study stays linked to its first patient');
      assert.match(rows[0]?.patientConflict ?? '', /P999/, 'detail keeps the first conflict');
      assert.equal(rows[0]?.values.NumberOfStudyRelatedInstances, 4);
      assert.equal((await q('PATIENT', { PatientID: single('P999') })).length, 0, 'no patient made for it');
      const [series] = await q('SERIES', { SeriesInstanceUID: single('4.1.1') });
      assert.match(series?.patientConflict ?? '', /P999/);
    });

    describe('matching', () => {
      before(async () => {
        const mk = (
          n: number,
          name: string,
          date: string,
          time: string,
          mod: string,
          extra: Partial<InstanceAttributes> = {},
        ) =>
          inst(C, {
            StudyInstanceUID: `9.${n}`,
            SeriesInstanceUID: `9.${n}.1`,
            PatientID: `M${n}`,
            PatientName: name,
            PatientBirthDate: `1970010${n % 10}`,
            StudyDate: date,
            StudyTime: time,
            AccessionNumber: `ACC_${n}`,
            StudyDescription: n % 2 === 0 ? 'CT chest 胸部' : 'MR head 100%',
            ReferringPhysicianName: n % 2 === 0 ? 'Liu^Yisheng=刘^医生' : 'Zhou^Da',
            Modality: mod,
            SeriesNumber: String(n),
            InstitutionName: '区影像中心',
            ...extra,
          });
        await s.index.indexInstances(
          [
            mk(1, 'Zhang^San=张^三=ㄓㄤ^ㄙㄢ', '20240101', '083000', 'CT'),
            mk(2, '王小明', '20240115', '101500.25', 'MR'),
            mk(3, 'Zhang^Xiaoming=张^小明', '20240131', '235959', 'CT', { OtherPatientIDs: 'OLD3\\X3' }),
            mk(4, '周^喆', '20240201', '100000', 'DX'),
            mk(5, '林^堃', '20231231', '120000', 'CT'),
            mk(6, '𠮷^田', '20240301', '090000', 'MR'),
            mk(7, 'O_Brien^Pat', '20240302', '090000', 'CT'),
            mk(8, 'Zha%ng^Test', '20240303', '090000', 'CT'),
            mk(9, 'Ｚｈａｎｇ^Ｆｕｌｌ', '20240304', '090000', 'CT'), // full-width Latin (NFKC → ZHANG)
          ],
          'keep',
        );
        await s.index.indexInstances(
          [
            inst(C, {
              StudyInstanceUID: '9.2',
              SeriesInstanceUID: '9.2.2',
              PatientID: 'M2',
              PatientName: '王小明',
              Modality: 'SR',
            }),
          ],
          'keep',
        );
      });
      const scopeC = (): AccessScope => ({ kind: 'hospitals', hospitalIds: [C] });
      const ids = async (level: IndexQuery['level'], keys: Record<string, Matcher>, fuzzy = false) =>
        col(await s.index.query({ level, keys, scope: scopeC(), fuzzy }), 'PatientID');

      test('universal and single value', async () => {
        assert.equal((await ids('PATIENT', {})).length, 9);
        assert.equal((await ids('PATIENT', { PatientName: { kind: 'universal' } })).length, 9);
        assert.deepEqual(await ids('STUDY', { AccessionNumber: single('ACC_3') }), ['M3']);
        assert.deepEqual(
          await ids('STUDY', { AccessionNumber: single('acc_3') }),
          [],
          'non-PN is case-sensitive',
        );
        assert.deepEqual(await ids('SERIES', { SeriesNumber: single('6') }), ['M6']);
        assert.deepEqual(await ids('SERIES', { SeriesNumber: single('x') }), []);
      });

      test('person names: any group, case-insensitive, Chinese and 4-byte ideographs', async () => {
        assert.deepEqual(await ids('PATIENT', { PatientName: wild('张*') }), ['M1', 'M3']);
        assert.deepEqual(await ids('PATIENT', { PatientName: wild('ZHANG*') }), ['M1', 'M3', 'M9']);
        assert.deepEqual(await ids('PATIENT', { PatientName: wild('zhang*') }), ['M1', 'M3', 'M9']);
        assert.deepEqual(await ids('PATIENT', { PatientName: single('zhang^san') }), ['M1']);
        assert.deepEqual(await ids('PATIENT', { PatientName: single('张^三') }), ['M1']);
        assert.deepEqual(await ids('PATIENT', { PatientName: single('Zhang^San=张^三') }), ['M1']);
        assert.deepEqual(await ids('PATIENT', { PatientName: single('Zhang^San=李^四') }), []);
        assert.deepEqual(await ids('PATIENT', { PatientName: wild('ㄓㄤ*') }), ['M1'], 'phonetic group');
        assert.deepEqual(await ids('PATIENT', { PatientName: single('王小明') }), ['M2']);
        assert.deepEqual(await ids('PATIENT', { PatientName: wild('王*') }), ['M2']);
        assert.deepEqual(await ids('PATIENT', { PatientName: wild('*小明') }), ['M2', 'M3'], '* spans ^');
        assert.deepEqual(await ids('PATIENT', { PatientName: wild('?小明') }), ['M2']);
        assert.deepEqual(await ids('PATIENT', { PatientName: wild('张^小*') }), ['M3']);
        assert.deepEqual(await ids('PATIENT', { PatientName: wild('周^喆') }), ['M4']);
        assert.deepEqual(await ids('PATIENT', { PatientName: wild('*堃') }), ['M5']);
        assert.deepEqual(await ids('PATIENT', { PatientName: wild('𠮷*') }), ['M6']);
        assert.deepEqual(
          await ids('PATIENT', { PatientName: wild('?^田') }),
          ['M6'],
          '? is one 4-byte character',
        );
        assert.deepEqual(await ids('PATIENT', { PatientName: single('𠮷^田') }), ['M6']);
        assert.deepEqual(await ids('PATIENT', { PatientName: wild('O_B*') }), ['M7'], '_ is literal');
        assert.deepEqual(await ids('PATIENT', { PatientName: wild('O_*N^*') }), ['M7']);
        assert.deepEqual(await ids('PATIENT', { PatientName: wild('OXB*') }), []);
        assert.deepEqual(await ids('PATIENT', { PatientName: wild('*%*') }), ['M8'], '% is literal');
        assert.deepEqual(await ids('PATIENT', { PatientName: wild('ZHA%NG*') }), ['M8']);
        assert.deepEqual(await ids('PATIENT', { PatientName: list('王小明', 'zhang^san') }), ['M1', 'M2']);
        assert.deepEqual(await ids('STUDY', { ReferringPhysicianName: wild('刘*') }), [
          'M2',
          'M4',
          'M6',
          'M8',
        ]);
        assert.deepEqual(await ids('STUDY', { ReferringPhysicianName: single('zhou^da') }), [
          'M1',
          'M3',
          'M5',
          'M7',
          'M9',
        ]);
      });

      test('fuzzy person-name matching is component-insensitive', async () => {
        assert.deepEqual(await ids('PATIENT', { PatientName: single('san') }, true), ['M1']);
        assert.deepEqual(await ids('PATIENT', { PatientName: single('三') }, true), ['M1']);
        assert.deepEqual(await ids('PATIENT', { PatientName: single('xiao') }, true), ['M3']);
        assert.deepEqual(await ids('PATIENT', { PatientName: single('san^zhang') }, true), ['M1']);
        assert.deepEqual(await ids('PATIENT', { PatientName: single('喆') }, true), ['M4']);
        assert.deepEqual(await ids('PATIENT', { PatientName: single('zhang') }, true), ['M1', 'M3', 'M9']);
        assert.deepEqual(await ids('PATIENT', { PatientName: single('san') }, false), []);
      });

      test('date and time ranges', async () => {
        assert.deepEqual(await ids('STUDY', { StudyDate: range('20240101', '20240131') }), [
          'M1',
          'M2',
          'M3',
        ]);
        assert.deepEqual(await ids('STUDY', { StudyDate: range(undefined, '20240101') }), ['M1', 'M5']);
        assert.deepEqual(await ids('STUDY', { StudyDate: range('20240302') }), ['M7', 'M8', 'M9']);
        assert.deepEqual(await ids('STUDY', { StudyDate: single('20240115') }), ['M2']);
        assert.deepEqual(
          await ids('STUDY', { StudyTime: range('1000', '10') }),
          ['M2', 'M4'],
          'to=10 includes 10:59',
        );
        assert.deepEqual(await ids('STUDY', { StudyTime: range('235959') }), ['M3']);
        assert.deepEqual(await ids('PATIENT', { PatientBirthDate: range('19700102', '19700103') }), [
          'M2',
          'M3',
        ]);
        assert.deepEqual(await ids('STUDY', { StudyDate: wild('202402*') }), ['M4']);
      });

      test('UID lists, text wildcards, multi-valued and derived keys', async () => {
        assert.deepEqual(await ids('STUDY', { StudyInstanceUID: list('9.4', '9.1', '9.404') }), ['M1', 'M4']);
        assert.deepEqual(await ids('SERIES', { SeriesInstanceUID: list('9.2.2') }), ['M2']);
        assert.deepEqual(await ids('STUDY', { StudyDescription: wild('*胸部') }), ['M2', 'M4', 'M6', 'M8']);
        assert.deepEqual(await ids('STUDY', { StudyDescription: wild('MR*100%') }), [
          'M1',
          'M3',
          'M5',
          'M7',
          'M9',
        ]);
        assert.deepEqual(await ids('STUDY', { AccessionNumber: wild('ACC_?') }), [
          'M1',
          'M2',
          'M3',
          'M4',
          'M5',
          'M6',
          'M7',
          'M8',
          'M9',
        ]);
        assert.deepEqual(await ids('STUDY', { AccessionNumber: wild('AC?_1') }), ['M1']);
        assert.deepEqual(
          await ids('STUDY', { InstitutionName: single('区影像中心') }).then((r) => r.length),
          9,
        );
        assert.deepEqual(await ids('PATIENT', { OtherPatientIDs: single('X3') }), ['M3']);
        assert.deepEqual(await ids('PATIENT', { OtherPatientIDs: single('OLD3') }), ['M3']);
        assert.deepEqual(await ids('PATIENT', { OtherPatientIDs: single('OLD') }), []);
        assert.deepEqual(await ids('STUDY', { ModalitiesInStudy: single('SR') }), ['M2']);
        assert.deepEqual(await ids('STUDY', { ModalitiesInStudy: list('DX', 'SR') }), ['M2', 'M4']);
        const [m2] = await s.index.query({
          level: 'STUDY',
          keys: { PatientID: single('M2') },
          scope: scopeC(),
        });
        assert.equal(m2?.values.ModalitiesInStudy, 'MR\\SR');
      });

      test('keys of higher levels (study root) and lower levels (relational)', async () => {
        assert.deepEqual(await ids('SERIES', { PatientName: wild('王*'), Modality: single('SR') }), ['M2']);
        assert.deepEqual(await ids('IMAGE', { PatientID: single('M6'), StudyDate: range('2024') }), ['M6']);
        assert.deepEqual(await ids('STUDY', { Modality: single('DX') }), ['M4']);
        assert.deepEqual(await ids('PATIENT', { StudyDate: range('20240301') }), ['M6', 'M7', 'M8', 'M9']);
        assert.deepEqual(await ids('PATIENT', { SOPClassUID: single(MR), Modality: single('MR') }), []);
        assert.deepEqual(await ids('PATIENT', { SOPClassUID: single(CT), Modality: single('MR') }), [
          'M2',
          'M6',
        ]);
      });

      test('limit and offset with deterministic order', async () => {
        const page = async (limit: number, offset: number) =>
          col(await s.index.query({ level: 'STUDY', keys: {}, scope: scopeC(), limit, offset }), 'PatientID');
        const all = col(await s.index.query({ level: 'STUDY', keys: {}, scope: scopeC() }), 'PatientID');
        assert.equal(all.length, 9);
        assert.deepEqual([...(await page(4, 0)), ...(await page(4, 4)), ...(await page(4, 8))], all);
        assert.deepEqual(await page(0, 0), []);
        const tail = col(
          await s.index.query({ level: 'STUDY', keys: {}, scope: scopeC(), offset: 7 }),
          'PatientID',
        );
        assert.deepEqual(tail, all.slice(7));
      });

      test('query plans use indexes (prefix name range, date range)', async () => {
        // enough rows for the planner to prefer indexes over scans, then statistics
        const more: IndexInstance[] = [];
        for (let i = 0; i < 3000; i++) {
          more.push(
            inst(C, {
              StudyInstanceUID: `8.${i}`,
              SeriesInstanceUID: `8.${i}.1`,
              PatientID: `BULK${i}`,
              PatientName: `Name${i}^Bulk`,
              StudyDate: `2020${String((i % 12) + 1).padStart(2, '0')}${String((i % 28) + 1).padStart(2, '0')}`,
            }),
          );
        }
        for (let i = 0; i < more.length; i += 500)
          await s.index.indexInstances(more.slice(i, i + 500), 'keep');
        await sql`analyze`.execute(h.db);
        const plan = async (level: IndexQuery['level'], keys: Record<string, Matcher>) =>
          (await s.index.explain({ level, keys, scope: scopeC() })).join('\n');
        const p1 = await plan('PATIENT', { PatientName: wild('ZHANG*') });
        const p2 = await plan('STUDY', { StudyDate: range('20240101', '20240131') });
        const p3 = await plan('STUDY', { PatientName: wild('张*') });
        const p4 = await plan('STUDY', { StudyInstanceUID: list('9.1', '9.2') });
        if (process.env.HUIYING_SHOW_PLANS === '1') console.log([p1, p2, p3, p4].join('\n---\n'));
        if (h.dialect === 'sqlite') {
          assert.match(p1, /SEARCH p USING INDEX patients_name_a \(name_a>\? AND name_a<\?\)/, p1);
          assert.doesNotMatch(p1, /SCAN p\b/, p1);
          assert.match(p2, /SEARCH st USING INDEX studies_date \(study_date>\? AND study_date<\?\)/, p2);
          assert.doesNotMatch(p2, /SCAN st\b/, p2);
          assert.match(p3, /patients_name_i/, p3);
          assert.doesNotMatch(p3, /SCAN (p|st)\b/, p3);
          assert.match(p4, /studies_uid_hospital|sqlite_autoindex_studies/, p4);
        } else {
          assert.match(p1, /Index.*patients_name_a/, p1);
          assert.doesNotMatch(p1, /Seq Scan on patients/, p1);
          assert.match(p2, /Index.*studies_date/, p2);
          assert.doesNotMatch(p2, /Seq Scan on studies/, p2);
          assert.match(p3, /patients_name_i/, p3);
          assert.doesNotMatch(p3, /Seq Scan/, p3);
          assert.match(p4, /studies_uid_hospital/, p4);
        }
      });
    });

    describe('scope isolation', () => {
      const both = {
        StudyInstanceUID: '5.1',
        SeriesInstanceUID: '5.1.1',
        PatientID: 'ISO1',
        SOPInstanceUID: '5.1.1.1',
      };
      before(async () => {
        await s.index.indexInstances(
          [inst(A, { ...both, PatientName: 'A^Only' }), inst(B, { ...both, PatientName: 'B^Only' })],
          'keep',
        );
        await s.index.indexInstances(
          [
            inst(B, {
              StudyInstanceUID: '5.2',
              SeriesInstanceUID: '5.2.1',
              PatientID: 'ISOB',
              PatientName: 'B^Second',
            }),
          ],
          'keep',
        );
      });
      // getters: A and B are assigned in the outer before()
      const scopes = {
        get A(): AccessScope {
          return { kind: 'hospitals', hospitalIds: [A] };
        },
        get B(): AccessScope {
          return { kind: 'hospitals', hospitalIds: [B] };
        },
      };

      test('every level returns only the scope hospital rows', async () => {
        for (const level of ['PATIENT', 'STUDY', 'SERIES', 'IMAGE'] as const) {
          const rowsA = await s.index.query({ level, keys: {}, scope: scopes.A });
          assert.ok(rowsA.length > 0, level);
          assert.ok(
            rowsA.every((r) => r.hospitalId === A),
            `${level}: ${JSON.stringify(rowsA.map((r) => r.hospitalId))}`,
          );
          const named = await s.index.query({ level, keys: { PatientName: wild('B*') }, scope: scopes.A });
          assert.deepEqual(named, [], `${level}: B's names invisible to A`);
          const uid = await s.index.query({
            level,
            keys: { StudyInstanceUID: single('5.2') },
            scope: scopes.A,
          });
          assert.deepEqual(uid, [], `${level}: B's study UID invisible to A`);
        }
        const shared = await s.index.query({
          level: 'STUDY',
          keys: { StudyInstanceUID: single('5.1') },
          scope: scopes.B,
        });
        assert.deepEqual(
          shared.map((r) => [r.hospitalId, r.values.PatientName]),
          [[B, 'B^Only']],
        );
        const two = await s.index.query({
          level: 'STUDY',
          keys: { StudyInstanceUID: single('5.1') },
          scope: { kind: 'hospitals', hospitalIds: [A, B] },
        });
        assert.equal(two.length, 2);
        assert.equal(
          (await s.index.query({ level: 'STUDY', keys: { StudyInstanceUID: single('5.1') }, scope: ALL }))
            .length,
          2,
        );
      });

      test('relational (lower-level) keys and derived counts stay inside the scope', async () => {
        const r = await s.index.query({
          level: 'PATIENT',
          keys: { SOPInstanceUID: single('5.1.1.1') },
          scope: scopes.A,
        });
        assert.deepEqual(
          r.map((x) => [x.hospitalId, x.values.PatientName, x.values.NumberOfPatientRelatedInstances]),
          [[A, 'A^Only', 1]],
        );
      });

      test('an empty scope sees nothing; locate and findInstance are scoped', async () => {
        const none: AccessScope = { kind: 'hospitals', hospitalIds: [] };
        assert.deepEqual(await s.index.query({ level: 'STUDY', keys: {}, scope: none }), []);
        assert.deepEqual(
          await s.index.locate({ level: 'STUDY', keys: { StudyInstanceUID: single('5.1') }, scope: none }),
          [],
        );
        const la = await s.index.locate({
          level: 'STUDY',
          keys: { StudyInstanceUID: single('5.1') },
          scope: scopes.A,
        });
        assert.deepEqual(
          la.map((l) => [l.hospitalId, l.blobKey]),
          [[A, `${A}/5.1/5.1.1/5.1.1.1.dcm`]],
        );
        const lb = await s.index.locate({
          level: 'IMAGE',
          keys: { SOPInstanceUID: list('5.1.1.1') },
          scope: scopes.B,
        });
        assert.deepEqual(
          lb.map((l) => l.hospitalId),
          [B],
        );
        assert.deepEqual(
          await s.index.locate({
            level: 'STUDY',
            keys: { StudyInstanceUID: single('5.2') },
            scope: scopes.A,
          }),
          [],
        );
        assert.equal((await s.index.findInstance(A, '5.1.1.1'))?.hospitalId, A);
        assert.equal((await s.index.findInstance(B, '5.1.1.1'))?.hospitalId, B);
      });
    });

    test('locate by patient, study list, series and SOP lists', async () => {
      const byPatient = await s.index.locate({
        level: 'PATIENT',
        keys: { PatientID: single('P001') },
        scope: ALL,
      });
      assert.equal(byPatient.length, 4);
      assert.ok(byPatient.every((l) => l.studyInstanceUid === '1.1' && l.hospitalId === A));
      const byStudies = await s.index.locate({
        level: 'STUDY',
        keys: { StudyInstanceUID: list('1.1', '2.1') },
        scope: ALL,
      });
      assert.equal(byStudies.length, 6);
      const bySeries = await s.index.locate({
        level: 'SERIES',
        keys: { StudyInstanceUID: single('1.1'), SeriesInstanceUID: list('1.1.2', '1.1.3') },
        scope: ALL,
      });
      assert.deepEqual(
        bySeries.map((l) => l.sopClassUid),
        [MR, SR],
      );
      const sops = byStudies.slice(0, 2).map((l) => l.sopInstanceUid);
      const bySop = await s.index.locate({
        level: 'IMAGE',
        keys: { SOPInstanceUID: list(...sops) },
        scope: ALL,
      });
      assert.deepEqual(bySop.map((l) => l.sopInstanceUid).sort(), [...sops].sort());
      await assert.rejects(s.index.locate({ level: 'STUDY', keys: {}, scope: ALL }), /no matching key/);
    });
  });
}
