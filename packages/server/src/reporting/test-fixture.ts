/**
 * Test harness for reporting and delivery: an archive (SQLite or a fresh PostgreSQL database) with the
 * real RisService, a center and member hospitals, radiologists of every grade, and exams taken to
 * `matched` by ingesting a real study and linking it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeInstance, makeUid } from '@huiying/dicom/testing';
import { openArchive, type Archive } from '../app.ts';
import { loadConfig } from '../config/config.ts';
import { silentLog } from '../logger.ts';
import { createTestPostgresDatabase } from '../db/test-databases.ts';
import type { DialectName } from '../db/migrations.ts';
import type { RisServiceHandle } from '../ris/service.ts';
import type { Exam, ReviewPolicy } from '../ris/model.ts';
import type { Hospital } from '../archive/ports.ts';
import type { Grade, Role } from '../accounts/model.ts';
import { callerOfUser, can } from '../access/scope.ts';
import { hashPassword } from '../accounts/passwords.ts';
import { ReportRepository } from './repository.ts';
import { ReportingService, type ReportingCaller } from './service.ts';

type UserKey = 'resident' | 'attending' | 'attending2' | 'chief' | 'tech' | 'admin' | 'hadmin';

export const FIXTURE_PASSWORD = 'Fixture-pass-2026!';

export interface Fixture {
  dialect: DialectName;
  /** the archive's data directory and database URL (another process can open the same archive) */
  dataDir: string;
  databaseUrl: string | undefined;
  archive: Archive;
  ris: RisServiceHandle;
  repo: ReportRepository;
  reporting: ReportingService;
  center: Hospital;
  /** GB18030 member hospital */
  chencun: Hospital;
  /** UTF-8 member hospital */
  xingtan: Hospital;
  users: Record<UserKey, ReportingCaller>;
  /** a session of a fixture user (password login): cookie and CSRF headers for HTTP tests */
  login(user: UserKey): Promise<{ cookie: string; csrf: string }>;
  /** a new exam of the hospital, linked to a stored study, in state matched */
  matchedExam(hospital: Hospital, opts?: { patientName?: string; accession?: string }): Promise<Exam>;
  setReview(hospital: Hospital, review: ReviewPolicy): Promise<void>;
  close(): Promise<void>;
}

export async function openFixture(
  dialect: DialectName,
  opts: { onSigned?: ConstructorParameters<typeof ReportingService>[0]['onSigned'] } = {},
): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), 'hy-reporting-'));
  const pg = dialect === 'postgres' ? await createTestPostgresDatabase() : undefined;
  const archive = await openArchive(
    loadConfig({
      HUIYING_DATA_DIR: join(dir, 'data'),
      HUIYING_SYNC_MODE: 'normal',
      ...(pg !== undefined ? { HUIYING_DATABASE_URL: pg.url } : {}),
    }),
    silentLog,
  );
  const ris = archive.ris;
  const repo = new ReportRepository(archive.database.db);
  const reporting = new ReportingService({
    store: repo,
    ris,
    ...(opts.onSigned !== undefined ? { onSigned: opts.onSigned } : {}),
  });
  const center = await archive.hospitals.create({
    code: 'CENTER',
    name: '顺德区域医学影像诊断中心',
    isCenter: true,
  });
  const chencun = await archive.hospitals.create({
    code: 'CHENCUN',
    name: '陈村医院',
    defaultCharset: 'GB18030',
  });
  const xingtan = await archive.hospitals.create({ code: 'XINGTAN', name: '杏坛医院' });
  const privileges = async (grade: Grade | null): Promise<string[]> =>
    grade === null ? [] : archive.accounts.gradeRules.privilegesOf(grade);
  let n = 0;
  const passwordHash = await hashPassword(FIXTURE_PASSWORD);
  const usernames = new Map<string, string>();
  async function user(
    name: string,
    grade: Grade | null,
    roles: Role[],
    hospital: Hospital,
  ): Promise<ReportingCaller> {
    n++;
    const now = new Date().toISOString();
    const row = await archive.database.db
      .insertInto('users')
      .values({
        hospital_id: hospital.id,
        username: `u${n}`,
        display_name: name,
        password_hash: passwordHash,
        roles: roles.join(','),
        grade,
        must_change_password: 0,
        disabled: 0,
        failed_logins: 0,
        locked_until: null,
        password_changed_at: now,
        created_at: now,
        updated_at: now,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    const caller = callerOfUser(
      { id: row.id, username: `u${n}`, hospitalId: hospital.id, roles, grade, mustChangePassword: false },
      hospital,
      await privileges(grade),
    );
    usernames.set(name, `u${n}`);
    return {
      userId: row.id,
      name,
      grade,
      privileges: caller.privileges,
      radiologist: roles.includes('center_radiologist'),
      scope: caller.scope,
      may: (action, hospitalId) => can(caller, action, { hospitalId }),
    };
  }
  const users = {
    resident: await user('李住院', 'resident', ['center_radiologist'], center),
    attending: await user('王主治', 'attending', ['center_radiologist'], center),
    attending2: await user('赵主治', 'attending', ['center_radiologist'], center),
    chief: await user('陈主任', 'chief', ['center_radiologist'], center),
    tech: await user('技师', null, ['member_technologist'], chencun),
    admin: await user('系统管理员', null, ['system_admin'], center),
    hadmin: await user('陈村管理员', null, ['hospital_admin'], chencun),
  };
  let seq = 0;
  async function matchedExam(
    hospital: Hospital,
    o: { patientName?: string; accession?: string } = {},
  ): Promise<Exam> {
    seq++;
    const accession = o.accession ?? `A${Date.now() % 100000}${seq}`;
    const patientId = `P${seq}`;
    const { exam } = await ris.placeOrder(
      {
        hospitalId: hospital.id,
        patient: { patientId, name: o.patientName ?? '张三', sex: 'M', birthDate: '19800101' },
        accessionNumber: accession,
        examItems: [{ name: '胸部CT平扫' }],
        modality: 'CT',
        bodyPart: 'CHEST',
        priority: 'routine',
        patientClass: 'outpatient',
        requestingDepartment: '呼吸内科',
        requestingPhysician: '刘医生',
        clinicalDiagnosis: '咳嗽待查',
        source: 'form',
      },
      { type: 'system', name: 'test' },
    );
    const studyUid = makeUid();
    const bytes = makeInstance({
      patientName: o.patientName ?? '张三',
      patientId,
      studyUid,
      accessionNumber: accession,
      modality: 'CT',
      charset: 'ISO_IR 192',
      rows: 8,
      cols: 8,
    });
    const p = join(dir, `${studyUid}.dcm`);
    const { writeFile } = await import('node:fs/promises');
    await writeFile(p, bytes);
    await archive.ingest.ingestFile({ hospitalId: hospital.id, path: p });
    const study = await archive.database.db
      .selectFrom('studies')
      .select('id')
      .where('study_instance_uid', '=', studyUid)
      .where('hospital_id', '=', hospital.id)
      .executeTakeFirstOrThrow();
    const actor = { type: 'system' as const, name: 'test' };
    // the arrival is recorded now (receiving), so linking leaves the exam examined until we match it:
    // deterministic, whatever the arrival ticker does
    await ris.flushArrivals();
    await ris.transition(exam.id, 'examined', actor, { scope: { kind: 'all' } });
    const linked = await ris.link(exam.id, study.id, actor, { kind: 'all' });
    return linked.status === 'matched'
      ? linked
      : ris.transition(exam.id, 'matched', actor, { scope: { kind: 'all' } });
  }
  return {
    dialect,
    dataDir: join(dir, 'data'),
    databaseUrl: pg?.url,
    archive,
    ris,
    repo,
    reporting,
    center,
    chencun,
    xingtan,
    users,
    matchedExam,
    async login(key) {
      const username = usernames.get(users[key].name) ?? '';
      const s = await archive.accounts.login(username, FIXTURE_PASSWORD);
      return { cookie: `huiying_session=${s.sessionToken}`, csrf: s.csrfToken };
    },
    async setReview(hospital, review) {
      const p = await ris.policy(hospital.id);
      const { updatedAt: _u, ...rest } = p;
      await ris.setPolicy({ ...rest, review }, { type: 'system', name: 'test' });
    },
    async close() {
      await archive.close();
      await pg?.drop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
