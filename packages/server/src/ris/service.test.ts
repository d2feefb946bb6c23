/**
 * The reading workflow through a real archive (index, blob store, ingest pipeline, audit) on SQLite and
 * PostgreSQL: orders, auto-matching on accession number, suggestions, links, states, claims, merges,
 * worklist and counts with scope.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { makeInstance, makeUid } from '@huiying/dicom/testing';
import { openArchive, type Archive } from '../app.ts';
import { loadConfig } from '../config/config.ts';
import { silentLog } from '../logger.ts';
import { createTestPostgresDatabase, needPostgres } from '../db/test-databases.ts';
import type { AccessScope, Hospital } from '../archive/ports.ts';
import type { Actor, ExamChangeEvent, OrderInput } from './model.ts';
import { HuiyingError } from '../errors.ts';

const ALL = { kind: 'all' } as const;
const HIS: Actor = { type: 'hl7', id: 'CHENCUN', name: 'CHENCUN/HIS' };
const READER_A: Actor & { type: 'user'; id: string } = { type: 'user', id: '1', name: 'admin' };

function order(h: Hospital, o: Partial<OrderInput> = {}): OrderInput {
  return {
    hospitalId: h.id,
    patient: { patientId: 'P001', name: 'Zhang^San=张^三', sex: 'M', birthDate: '19800101' },
    accessionNumber: `A${Math.floor(Math.random() * 1e9)}`,
    examItems: [{ code: 'CT001', name: '头颅CT平扫' }],
    modality: 'CT',
    bodyPart: 'HEAD',
    priority: 'emergency',
    patientClass: 'emergency',
    clinicalHistory: '高血压病史10年',
    symptoms: '突发头痛2小时',
    clinicalDiagnosis: '脑出血？',
    examPurpose: '排除颅内出血',
    requestingDepartment: '急诊科',
    requestingPhysician: '李医生',
    source: 'hl7',
    ...o,
  };
}

async function isConflict(p: Promise<unknown>, code = 'conflict'): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof HuiyingError && e.code === code);
}

const pgSkip = await needPostgres();

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`reading workflow (${dialect})`, { skip: dialect === 'postgres' ? pgSkip : false }, () => {
    let dir: string;
    let archive: Archive;
    let dropPg: (() => Promise<void>) | undefined;
    let clock = Date.parse('2026-11-26T08:00:00Z');
    let chencun: Hospital;
    let xingtan: Hospital;
    const events: ExamChangeEvent[] = [];

    async function store(o: {
      hospital: Hospital;
      accession?: string;
      patientId?: string;
      patientName?: string;
      studyUid?: string;
      studyDate?: string;
      modality?: string;
    }): Promise<string> {
      const studyUid = o.studyUid ?? makeUid();
      const bytes = makeInstance({
        studyUid,
        patientId: o.patientId ?? 'P001',
        patientName: o.patientName ?? 'Zhang^San=张^三',
        charset: 'ISO_IR 192',
        modality: o.modality ?? 'CT',
        studyDate: o.studyDate ?? '20261126',
        ...(o.accession !== undefined ? { accessionNumber: o.accession } : {}),
      });
      await archive.ingest.ingestPart10Stream({
        hospitalId: o.hospital.id,
        source: 'import',
        data: Readable.from([Buffer.from(bytes)]),
      });
      return studyUid;
    }

    /** let the study settle: flush arrivals, move the clock past stableSeconds, process */
    async function settle(): Promise<void> {
      await archive.ris.flushArrivals();
      clock += 120_000;
      await archive.ris.tick();
    }

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'huiying-ris-'));
      let databaseUrl: string | undefined;
      if (dialect === 'postgres') {
        const pg = await createTestPostgresDatabase();
        databaseUrl = pg.url;
        dropPg = pg.drop;
      }
      archive = await openArchive(
        loadConfig({
          HUIYING_DATA_DIR: join(dir, 'data'),
          HUIYING_WORKFLOW_TICK_MS: '0',
          HUIYING_SYNC_MODE: 'normal',
          ...(databaseUrl !== undefined ? { HUIYING_DATABASE_URL: databaseUrl } : {}),
        }),
        silentLog,
      );
      // the service's clock is injected through Date.now-independent `now`: replace by a test service
      await archive.ris.close();
      const { createRisService } = await import('./service.ts');
      const ris = createRisService({
        db: archive.database.db,
        dialect: archive.database.dialect,
        hospitals: archive.hospitals,
        audit: archive.audit,
        bus: archive.bus,
        log: silentLog,
        tickMs: 0,
        now: () => new Date(clock),
      });
      (archive as { ris: typeof ris }).ris = ris;
      archive.ingest.onStored((h, uid) => ris.studyReceived(h, uid));
      archive.bus.subscribe((e) => events.push(e));
      chencun = await archive.hospitals.create({ code: 'CHENCUN', name: '陈村医院' });
      xingtan = await archive.hospitals.create({ code: 'XINGTAN', name: '杏坛医院' });
    });

    after(async () => {
      await archive.close();
      await dropPg?.();
      await rm(dir, { recursive: true, force: true });
    });

    it('registers an order with the policy’s limit, history, event; a resend is idempotent, a clash is refused', async () => {
      const o = order(chencun);
      const n = events.length;
      const r = await archive.ris.placeOrder(o, HIS);
      assert.equal(r.created, true);
      const e = r.exam;
      assert.equal(e.status, 'registered');
      assert.equal(e.hospitalName, '陈村医院');
      assert.equal(e.patient.name, 'Zhang^San=张^三');
      assert.equal(e.patient.issuer, 'CHENCUN');
      assert.equal(e.limitMinutes, 30, 'emergency head CT: 30 min');
      assert.equal(e.dueAt, null);
      assert.equal(e.clinicalHistory, '高血压病史10年');
      assert.deepEqual(e.examItems, [{ code: 'CT001', name: '头颅CT平扫' }]);
      assert.equal(events.length, n + 1);
      assert.deepEqual(
        { examId: events.at(-1)?.examId, status: events.at(-1)?.status, change: events.at(-1)?.change },
        { examId: e.id, status: 'registered', change: 'created' },
      );
      const again = await archive.ris.placeOrder(o, HIS);
      assert.equal(again.created, false);
      assert.equal(again.exam.id, e.id);
      await isConflict(archive.ris.placeOrder({ ...o, modality: 'MR' }, HIS));
      const h = await archive.ris.history(e.id, ALL);
      assert.equal(h.length, 1);
      assert.equal(h[0]?.toStatus, 'registered');
      assert.equal(h[0]?.actor, 'CHENCUN/HIS');
    });

    it('default time limits: emergency X-ray 30, emergency CT body 60, outpatient CT 4 h, inpatient 6 h, complex 24 h', async () => {
      const lim = async (o: Partial<OrderInput>) =>
        (await archive.ris.placeOrder(order(chencun, o), HIS)).exam.limitMinutes;
      assert.equal(await lim({ modality: 'DX', bodyPart: 'CHEST' }), 30);
      assert.equal(await lim({ modality: 'CT', bodyPart: 'ABDOMEN' }), 60);
      assert.equal(await lim({ priority: 'routine', patientClass: 'outpatient', bodyPart: 'CHEST' }), 240);
      assert.equal(await lim({ priority: 'routine', patientClass: 'inpatient', bodyPart: 'CHEST' }), 360);
      assert.equal(await lim({ priority: 'routine', patientClass: 'outpatient', complex: true }), 1440);
    });

    it('generates an accession number for the registration form; refuses bad content with clear errors', async () => {
      const { accessionNumber: _a, ...noAcc } = order(chencun, { source: 'form' });
      const r = await archive.ris.placeOrder(noAcc, READER_A);
      assert.match(r.exam.accessionNumber, /^CHENCU\d{6}\d{4}$/);
      const r2 = await archive.ris.placeOrder(noAcc, READER_A);
      assert.notEqual(r2.exam.accessionNumber, r.exam.accessionNumber);
      await assert.rejects(
        archive.ris.placeOrder(order(chencun, { examItems: [] }), HIS),
        /at least one exam item/,
      );
      await assert.rejects(
        archive.ris.placeOrder(
          order(chencun, { patient: { patientId: 'X', name: '李四', birthDate: '20260230' } }),
          HIS,
        ),
        /birthDate must be a date/,
      );
      await isConflict(archive.ris.cancelOrder(chencun.id, 'NOPE', 'x', HIS), 'not-found');
    });

    it('order first, images later: examined when stable, auto-matched on accession, due = examined + limit', async () => {
      const { exam } = await archive.ris.placeOrder(order(chencun), HIS);
      const uid = await store({ hospital: chencun, accession: exam.accessionNumber });
      await archive.ris.flushArrivals();
      await archive.ris.tick(); // not yet stable
      assert.equal((await archive.ris.getExam(exam.id, ALL)).status, 'registered');
      await settle();
      const e = await archive.ris.getExam(exam.id, ALL);
      assert.equal(e.status, 'matched');
      assert.equal(e.studyInstanceUid, uid);
      assert.equal(e.identityConflict, null);
      assert.ok(e.examinedAt !== null && e.matchedAt !== null);
      assert.equal(Date.parse(e.dueAt ?? '') - Date.parse(e.examinedAt), 30 * 60_000);
      const kinds = (await archive.ris.history(exam.id, ALL)).map((h) => `${h.kind}:${h.toStatus ?? ''}`);
      assert.deepEqual(kinds, [
        'transition:registered',
        'link:registered',
        'transition:examined',
        'transition:matched',
      ]);
      // more images later do not disturb a matched exam
      await store({ hospital: chencun, accession: exam.accessionNumber, studyUid: uid });
      await settle();
      assert.equal((await archive.ris.getExam(exam.id, ALL)).status, 'matched');
    });

    it('images first, order later: linked at registration; an identity conflict is flagged', async () => {
      const acc = `B${Math.floor(Math.random() * 1e9)}`;
      await store({ hospital: chencun, accession: acc, patientId: 'OTHER9', patientName: 'Li^Si=李^四' });
      await settle();
      const { exam } = await archive.ris.placeOrder(order(chencun, { accessionNumber: acc }), HIS);
      assert.equal(exam.status, 'matched');
      assert.match(exam.identityConflict ?? '', /OTHER9/);
    });

    it('weaker evidence only suggests; link and unlink are explicit', async () => {
      const { exam } = await archive.ris.placeOrder(
        order(chencun, {
          accessionNumber: `C${Math.floor(Math.random() * 1e9)}`,
          patient: { patientId: 'P777', name: '王小明' },
        }),
        HIS,
      );
      await store({ hospital: chencun, patientId: 'P777', patientName: '王小明', accession: 'UNRELATED1' });
      await settle();
      let e = await archive.ris.getExam(exam.id, ALL);
      assert.equal(e.status, 'registered');
      assert.equal(e.studyId, null);
      const sugg = await archive.ris.suggestions(exam.id, ALL);
      assert.equal(sugg.length, 1);
      assert.ok((sugg[0]?.score ?? 0) >= 80, `score ${sugg[0]?.score}`);
      const unmatched = await archive.ris.unmatchedStudies(ALL);
      assert.ok(unmatched.some((s) => s.studyId === sugg[0]?.studyId));
      e = await archive.ris.link(exam.id, sugg[0]?.studyId ?? 0, READER_A, ALL);
      assert.equal(e.status, 'matched');
      assert.equal((await archive.ris.suggestions(exam.id, ALL))[0]?.status, 'accepted');
      assert.ok(!(await archive.ris.unmatchedStudies(ALL)).some((s) => s.studyId === sugg[0]?.studyId));
      e = await archive.ris.unlink(exam.id, READER_A, ALL, '匹配错误');
      assert.equal(e.status, 'examined');
      assert.equal(e.studyId, null);
      assert.ok((await archive.ris.unmatchedStudies(ALL)).some((s) => s.studyId === sugg[0]?.studyId));
    });

    it('refuses illegal transitions, stale versions and links across hospitals', async () => {
      const { exam } = await archive.ris.placeOrder(order(chencun), HIS);
      await assert.rejects(
        archive.ris.transition(exam.id, 'reviewed', READER_A, { scope: ALL }),
        /cannot go from registered to reviewed/,
      );
      await assert.rejects(
        archive.ris.transition(exam.id, 'matched', READER_A, { scope: ALL }),
        /cannot go from registered to matched|no linked study/,
      );
      await isConflict(
        archive.ris.transition(exam.id, 'examined', READER_A, { scope: ALL, version: exam.version + 5 }),
      );
      await assert.rejects(
        archive.ris.transition(exam.id, 'returned', READER_A, { scope: ALL }),
        /reason is required/,
      );
      const ex = await archive.ris.transition(exam.id, 'examined', READER_A, {
        scope: ALL,
        version: exam.version,
      });
      assert.equal(ex.status, 'examined');
      assert.ok(ex.dueAt !== null);
      const xuid = await store({ hospital: xingtan, accession: 'X1' });
      await settle();
      const xs = (await archive.ris.unmatchedStudies(ALL)).find((s) => s.studyInstanceUid === xuid);
      assert.ok(xs !== undefined);
      await assert.rejects(archive.ris.link(exam.id, xs.studyId, READER_A, ALL), /another hospital/);
      const c = await archive.ris.cancelOrder(chencun.id, exam.accessionNumber, '患者取消', HIS);
      assert.equal(c.status, 'cancelled');
      await isConflict(archive.ris.changeOrder(chencun.id, exam.accessionNumber, { symptoms: 'x' }, HIS));
    });

    it('claims: one reader at a time; release; assign', async () => {
      const { exam } = await archive.ris.placeOrder(order(chencun), HIS);
      const users = await archive.database.db.selectFrom('users').select('id').execute();
      let uid = users[0]?.id;
      if (uid === undefined) {
        const u = await archive.database.db
          .insertInto('users')
          .values({
            hospital_id: chencun.id,
            username: 'r1',
            display_name: '赵医生',
            password_hash: 'x',
            roles: 'center_radiologist',
            grade: 'attending',
            must_change_password: 0,
            disabled: 0,
            failed_logins: 0,
            locked_until: null,
            password_changed_at: null,
            created_at: '2026-01-01',
            updated_at: '2026-01-01',
          })
          .returning('id')
          .executeTakeFirstOrThrow();
        uid = u.id;
      }
      const a: Actor & { type: 'user'; id: string } = { type: 'user', id: String(uid), name: '赵医生' };
      const b: Actor & { type: 'user'; id: string } = { type: 'user', id: '999999', name: '钱医生' };
      const claimed = await archive.ris.claim(exam.id, a, ALL);
      assert.equal(claimed.assignedTo?.userId, uid);
      assert.equal(claimed.assignedTo?.name, '赵医生');
      await assert.rejects(archive.ris.claim(exam.id, b, ALL), /being read by 赵医生/);
      assert.equal(
        (await archive.ris.claim(exam.id, a, ALL)).version,
        claimed.version,
        'claiming twice is a no-op',
      );
      const released = await archive.ris.release(exam.id, a, ALL);
      assert.equal(released.assignedTo, null);
      const assigned = await archive.ris.assign(exam.id, uid, READER_A, ALL);
      assert.equal(assigned.assignedTo?.userId, uid);
      const mine = await archive.ris.worklist({ assignedTo: uid }, ALL);
      assert.ok(mine.exams.some((e) => e.id === exam.id));
    });

    it('ADT merge moves the prior patient’s orders (audited), A08 updates demographics', async () => {
      const o1 = await archive.ris.placeOrder(
        order(chencun, { patient: { patientId: 'OLD1', name: '孙一' } }),
        HIS,
      );
      await archive.ris.placeOrder(order(chencun, { patient: { patientId: 'NEW1', name: '孙一' } }), HIS);
      await isConflict(
        archive.ris.mergePatients(
          chencun.id,
          { patientId: 'NEW1', name: '孙一' },
          { patientId: 'NOPE' },
          HIS,
        ),
        'not-found',
      );
      const s = await archive.ris.mergePatients(
        chencun.id,
        { patientId: 'NEW1', name: '孙一' },
        { patientId: 'OLD1' },
        HIS,
      );
      const moved = await archive.ris.getExam(o1.exam.id, ALL);
      assert.equal(moved.patient.id, s.id);
      assert.equal(moved.patient.patientId, 'NEW1');
      const p = await archive.ris.upsertPatient(
        chencun.id,
        { patientId: 'NEW1', name: '孙一', phone: '13800000000', birthDate: '19700505' },
        HIS,
      );
      assert.equal(p.phone, '13800000000');
      // a new order for the merged-away ID lands on the survivor
      const o3 = await archive.ris.placeOrder(
        order(chencun, { patient: { patientId: 'OLD1', name: '孙一' } }),
        HIS,
      );
      assert.equal(o3.exam.patient.patientId, 'NEW1');
      assert.ok((await archive.ris.patientExams(o3.exam.id, ALL)).length >= 2);
    });

    it('worklist: scope, filters, urgency order and counts', async () => {
      await archive.ris.placeOrder(order(xingtan, { patient: { patientId: 'XT1', name: '周^五' } }), HIS);
      const member: AccessScope = { kind: 'hospitals', hospitalIds: [xingtan.id] };
      const mine = await archive.ris.worklist({}, member);
      assert.ok(mine.total >= 1);
      assert.ok(mine.exams.every((e) => e.hospitalId === xingtan.id));
      await isConflict(
        archive.ris.getExam(
          (await archive.ris.worklist({ hospitalIds: [chencun.id] }, ALL)).exams[0]?.id ?? 0,
          member,
        ),
        'not-found',
      );
      const all = await archive.ris.worklist({ limit: 200 }, ALL);
      // due time ascending, exams without a due time last
      const dues = all.exams.map((e) => e.dueAt);
      const firstNull = dues.indexOf(null);
      assert.ok(firstNull === -1 || dues.slice(firstNull).every((d) => d === null));
      const withDue = dues.filter((d): d is string => d !== null);
      assert.deepEqual(withDue, [...withDue].sort());
      const counts = await archive.ris.counts({}, ALL);
      assert.equal(
        Object.values(counts).reduce((a, b) => a + b, 0),
        all.total,
      );
      const byText = await archive.ris.worklist({ text: '周 五' }, ALL);
      assert.equal(byText.total, 1);
      assert.equal((await archive.ris.worklist({ text: '50%_\\' }, ALL)).total, 0);
      const ct = await archive.ris.worklist({ modalities: ['DX'] }, ALL);
      assert.ok(ct.exams.every((e) => e.modality === 'DX'));
      clock += 10 * 3600_000;
      const overdue = await archive.ris.worklist({ overdue: true }, ALL);
      assert.ok(overdue.total >= 1);
      assert.ok(overdue.exams.every((e) => e.dueAt !== null && ['examined', 'matched'].includes(e.status)));
    });

    it('policy: stored per hospital, applied to new orders, validated', async () => {
      const p = await archive.ris.policy(xingtan.id);
      assert.equal(p.review, 'resident');
      await archive.ris.setPolicy(
        {
          ...p,
          readingRules: [{ modalities: ['US'], readAtCenter: false }],
          timeLimits: [{ modalities: ['CT'], minutes: 15 }],
          stableSeconds: 5,
        },
        READER_A,
      );
      const us = await archive.ris.placeOrder(
        order(xingtan, { modality: 'US', patient: { patientId: 'XT2', name: '吴六' } }),
        HIS,
      );
      assert.equal(us.exam.readAtCenter, false);
      const ct = await archive.ris.placeOrder(
        order(xingtan, { patient: { patientId: 'XT3', name: '郑七' } }),
        HIS,
      );
      assert.equal(ct.exam.limitMinutes, 15);
      assert.equal(
        (
          await archive.ris.worklist({ readAtCenter: true, hospitalIds: [xingtan.id], limit: 200 }, ALL)
        ).exams.some((e) => e.id === us.exam.id),
        false,
      );
      const { parsePolicy } = await import('./policy.ts');
      assert.throws(
        () => parsePolicy(1, { ...p, timeLimits: [{ minutes: -1 }] }),
        /minutes must be an integer/,
      );
      assert.throws(() => parsePolicy(1, { ...p, review: 'sometimes' }), /review must be one of/);
    });
  });
}
