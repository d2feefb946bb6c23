/**
 * Worklist benchmark: 100,000 exams of one year across 5 member hospitals (plus the center), inserted with
 * Kysely straight into `ris_patients` / `exams`, then the worklist page (`RisService.worklist`: the page and
 * its total) and the tab counts (`RisService.counts`) for the common tabs and filters, through the real
 * service, on SQLite (temp file) and PostgreSQL (fresh database). Prints p50/p95/max per case; for every
 * case over the target (p95 50 ms) it prints the query plan of the slowest statement.
 *
 * Usage: node packages/server/bench/worklist-query.ts [--exams 100000] [--runs 40] [--sqlite] [--postgres]
 *                                                     [--explain-all] [--keep]
 */
import { parseArgs } from 'node:util';
import { CompiledQuery, type KyselyPlugin, type RootOperationNode } from 'kysely';
import type { AccessScope } from '../src/archive/ports.ts';
import { createIndexServices } from '../src/archive/index-kysely.ts';
import { AuditLog } from '../src/audit/audit-log.ts';
import { AuditRepository } from '../src/audit/repository.ts';
import { optimizeStatistics, type DatabaseHandle } from '../src/db/database.ts';
import type { ExamsTable, RisPatientsTable } from '../src/db/migrations-workflow.ts';
import { needPostgres, openTestPostgres, openTestSqlite } from '../src/db/test-databases.ts';
import { InProcessEventBus } from '../src/events/bus.ts';
import { silentLog } from '../src/logger.ts';
import type { ExamStatus, WorklistQuery } from '../src/ris/model.ts';
import { searchTextOf } from '../src/ris/repository.ts';
import { createRisService } from '../src/ris/service.ts';

const { values: args } = parseArgs({
  options: {
    exams: { type: 'string', default: '100000' },
    runs: { type: 'string', default: '40' },
    sqlite: { type: 'boolean', default: false },
    postgres: { type: 'boolean', default: false },
    'explain-all': { type: 'boolean', default: false },
    /** keep the generated database (prints where) for experiments */
    keep: { type: 'boolean', default: false },
  },
});
const EXAMS = Number(args.exams);
const RUNS = Number(args.runs);
const TARGET_P95_MS = 50;
const both = !args.sqlite && !args.postgres;

// ------------------------------------------------------------------------------------------ data

/** deterministic PRNG (mulberry32) so both databases get the same data */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick<T>(r: () => number, weighted: readonly (readonly [T, number])[]): T {
  const total = weighted.reduce((s, [, w]) => s + w, 0);
  let x = r() * total;
  for (const [v, w] of weighted) {
    x -= w;
    if (x < 0) return v;
  }
  return (weighted[weighted.length - 1] as readonly [T, number])[0];
}

const SURNAMES =
  '王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤';
const GIVEN =
  '伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉兰萍红建华志强文辉国庆春梅海燕小红晓东建国';
const MODALITIES = [
  ['CT', 34],
  ['DX', 28],
  ['MR', 15],
  ['US', 13],
  ['MG', 4],
  ['CR', 3],
  ['RF', 2],
  ['XA', 1],
] as const;
const BODY = {
  CT: ['HEAD', 'CHEST', 'ABDOMEN', 'SPINE', 'PELVIS'],
  MR: ['HEAD', 'SPINE', 'KNEE', 'ABDOMEN'],
  DX: ['CHEST', 'KNEE', 'HAND', 'SPINE'],
  CR: ['CHEST', 'HAND'],
  US: ['ABDOMEN', 'THYROID', 'BREAST'],
  MG: ['BREAST'],
  RF: ['ABDOMEN'],
  XA: ['HEART'],
} as const;
const ITEM: Record<string, string> = {
  CT: 'CT平扫',
  MR: 'MR平扫',
  DX: 'DR摄片',
  CR: 'CR摄片',
  US: '彩超',
  MG: '乳腺钼靶',
  RF: '消化道造影',
  XA: '冠脉造影',
};
const CLASSES = [
  ['outpatient', 55],
  ['inpatient', 30],
  ['emergency', 10],
  ['physical_exam', 5],
] as const;

interface Fixture {
  centerId: number;
  memberIds: number[];
  radiologistIds: number[];
  /** a patient ID and a name that exist, for the text searches */
  somePatientId: string;
  someName: string;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

async function generate(h: DatabaseHandle): Promise<Fixture> {
  const { hospitals } = createIndexServices(h);
  const center =
    (await hospitals.byCode('CENTER')) ??
    (await hospitals.create({ code: 'CENTER', name: '区域医学影像诊断中心', isCenter: true }));
  const names = ['陈村医院', '乐从医院', '龙江医院', '均安医院', '杏坛医院'];
  const members = [];
  for (const [i, name] of names.entries())
    members.push(await hospitals.create({ code: `H${i + 1}`, name, defaultCharset: 'GB18030' }));
  const memberWeights = [35, 25, 20, 12, 8];
  const nowIso = new Date().toISOString();
  const radiologistIds: number[] = [];
  for (let i = 0; i < 8; i++) {
    const r = await h.db
      .insertInto('users')
      .values({
        hospital_id: center.id,
        username: `reader${i}`,
        display_name: `${SURNAMES[i]}医生`,
        password_hash: 'x',
        roles: 'center_radiologist',
        grade: 'attending',
        must_change_password: 0,
        disabled: 0,
        failed_logins: 0,
        locked_until: null,
        password_changed_at: null,
        created_at: nowIso,
        updated_at: nowIso,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    radiologistIds.push(Number(r.id));
  }

  const r = rng(20261126);
  const now = Date.now();
  // patients: about 0.6 per exam (follow-ups), per hospital
  const patientsPer = members.map((_, i) => Math.round((EXAMS * 0.6 * (memberWeights[i] ?? 0)) / 100));
  const patientIds: number[][] = [];
  let someName = '';
  let somePatientId = '';
  for (const [hi, hosp] of members.entries()) {
    const ids: number[] = [];
    const n = patientsPer[hi] ?? 0;
    for (let start = 0; start < n; start += 500) {
      const rows: Omit<RisPatientsTable, 'id'>[] = [];
      for (let k = start; k < Math.min(n, start + 500); k++) {
        const name =
          (SURNAMES[Math.floor(r() * SURNAMES.length)] ?? '王') +
          (GIVEN[Math.floor(r() * GIVEN.length)] ?? '伟') +
          (r() < 0.5 ? (GIVEN[Math.floor(r() * GIVEN.length)] ?? '') : '');
        const pid = `${hosp.code}${String(100000 + k)}`;
        if (hi === 0 && k === 1234) {
          someName = name;
          somePatientId = pid;
        }
        rows.push({
          hospital_id: hosp.id,
          patient_id: pid,
          issuer: hosp.code,
          name,
          sex: r() < 0.5 ? 'M' : 'F',
          birth_date: `19${String(30 + Math.floor(r() * 70))}0${1 + Math.floor(r() * 9)}15`,
          phone: null,
          merged_into: null,
          created_at: nowIso,
          updated_at: nowIso,
        });
      }
      const res = await h.db.insertInto('ris_patients').values(rows).returning('id').execute();
      ids.push(...res.map((x) => Number(x.id)));
    }
    patientIds.push(ids);
  }
  const patientName = new Map<number, { name: string; pid: string }>();
  {
    const rows = await h.db.selectFrom('ris_patients').select(['id', 'name', 'patient_id']).execute();
    for (const p of rows) patientName.set(Number(p.id), { name: p.name, pid: p.patient_id });
  }

  const seqPerDay = new Map<string, number>();
  const batch: Omit<ExamsTable, 'id'>[] = [];
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    await h.db.insertInto('exams').values(batch.splice(0)).execute();
  };
  for (let i = 0; i < EXAMS; i++) {
    const hi = pick(
      r,
      memberWeights.map((w, k) => [k, w] as const),
    );
    const hosp = members[hi];
    const pids = patientIds[hi];
    if (hosp === undefined || pids === undefined) throw new Error('bad fixture');
    const patientDbId = pids[Math.floor(r() * pids.length)] ?? 0;
    const p = patientName.get(patientDbId) ?? { name: '王伟', pid: 'X' };
    // ages: one year, weekdays busier, office hours busier; the last two days hold the live worklist
    const ageMs = r() < 0.012 ? r() * 2 * DAY : r() * 365 * DAY;
    const registered = new Date(now - ageMs);
    const day = registered.toISOString().slice(0, 10).replace(/-/g, '');
    const seq = (seqPerDay.get(`${hosp.code}${day}`) ?? 0) + 1;
    seqPerDay.set(`${hosp.code}${day}`, seq);
    const accession = `${hosp.code}${day}${String(seq).padStart(4, '0')}`;
    const modality = pick(r, MODALITIES);
    const bodies = BODY[modality];
    const bodyPart = bodies[Math.floor(r() * bodies.length)] ?? 'CHEST';
    const patientClass = pick(r, CLASSES);
    const priority = patientClass === 'emergency' || r() < 0.05 ? 'emergency' : 'routine';
    const limit =
      priority === 'emergency'
        ? modality === 'CT' || modality === 'MR'
          ? bodyPart === 'HEAD'
            ? 30
            : 60
          : 30
        : patientClass === 'inpatient'
          ? 360
          : 240;
    const recent = ageMs < 2 * DAY;
    let status: ExamStatus;
    if (recent) {
      const ageH = ageMs / HOUR;
      status =
        ageH < 1
          ? pick(r, [
              ['registered', 70],
              ['examined', 25],
              ['cancelled', 5],
            ] as const)
          : pick(r, [
              ['registered', 12],
              ['examined', 18],
              ['matched', 30],
              ['reported', 18],
              ['reviewed', 17],
              ['cancelled', 3],
              ['returned', 2],
            ] as const);
    } else {
      status = pick(r, [
        ['reviewed', 91],
        ['reported', 2],
        ['cancelled', 4.5],
        ['returned', 1],
        ['matched', 1],
        ['examined', 0.5],
      ] as const);
    }
    const at = (ms: number): string => new Date(registered.getTime() + ms).toISOString();
    const order: ExamStatus[] = ['registered', 'examined', 'matched', 'reported', 'reviewed'];
    const reached = (s: ExamStatus): boolean =>
      order.indexOf(status) >= order.indexOf(s) && order.includes(status);
    const examinedAt = reached('examined') ? at(10 * 60_000 + r() * 110 * 60_000) : null;
    const examinedMs = examinedAt === null ? 0 : Date.parse(examinedAt) - registered.getTime();
    const matchedAt = reached('matched') ? at(examinedMs + 60_000 + r() * 10 * 60_000) : null;
    const reportedAt = reached('reported') ? at(examinedMs + r() * limit * 60_000 * 1.1) : null;
    const reviewedAt =
      reached('reviewed') && reportedAt !== null
        ? new Date(Date.parse(reportedAt) + r() * 2 * HOUR).toISOString()
        : null;
    const dueAt =
      examinedAt === null ? null : new Date(Date.parse(examinedAt) + limit * 60_000).toISOString();
    const assigned =
      status === 'reported' || status === 'reviewed' || (status === 'matched' && r() < 0.4)
        ? (radiologistIds[Math.floor(r() * radiologistIds.length)] ?? null)
        : null;
    const statusAt = reviewedAt ?? reportedAt ?? matchedAt ?? examinedAt ?? registered.toISOString();
    const readAtCenter = modality === 'US' ? (r() < 0.2 ? 1 : 0) : r() < 0.92 ? 1 : 0;
    batch.push({
      hospital_id: hosp.id,
      ris_patient_id: patientDbId,
      accession_number: accession,
      placer_order_number: `ORD${i}`,
      exam_items: JSON.stringify([
        { code: `${modality}${bodyPart}`, name: `${bodyPart}${ITEM[modality] ?? ''}` },
      ]),
      modality,
      body_part: bodyPart,
      priority,
      patient_class: patientClass,
      complex: r() < 0.02 ? 1 : 0,
      clinical_history: '咳嗽三天，发热',
      symptoms: null,
      clinical_diagnosis: '肺部感染？',
      exam_purpose: '排除肺炎',
      requesting_department: pick(r, [
        ['呼吸内科', 3],
        ['急诊科', 2],
        ['骨科', 2],
        ['神经内科', 1],
        ['体检中心', 1],
      ] as const),
      requesting_physician: '李医生',
      scheduled_at: null,
      source: pick(r, [
        ['hl7', 80],
        ['fhir', 10],
        ['form', 10],
      ] as const),
      status,
      status_at: statusAt,
      registered_at: registered.toISOString(),
      examined_at: examinedAt,
      matched_at: matchedAt,
      reported_at: reportedAt,
      reviewed_at: reviewedAt,
      study_id: null,
      study_instance_uid: matchedAt !== null ? `1.2.826.0.1.3680043.10.543.${i}` : null,
      read_at_center: readAtCenter,
      review_required: r() < 0.6 ? 1 : 0,
      limit_minutes: limit,
      due_at: dueAt,
      assigned_to: assigned,
      assigned_at: assigned === null ? null : (matchedAt ?? statusAt),
      identity_conflict: null,
      search_text: searchTextOf(p.name, p.pid, accession),
      version: 1 + order.indexOf(status),
      created_at: registered.toISOString(),
      updated_at: statusAt,
    });
    if (batch.length >= 500) await flush();
  }
  await flush();
  return {
    centerId: center.id,
    memberIds: members.map((m) => m.id),
    radiologistIds,
    somePatientId,
    someName,
  };
}

// ------------------------------------------------------------------------------------------ cases

interface Case {
  name: string;
  kind: 'worklist' | 'counts';
  q: WorklistQuery;
  scope: AccessScope;
}

function cases(f: Fixture): Case[] {
  const all: AccessScope = { kind: 'all' };
  const member: AccessScope = { kind: 'hospitals', hospitalIds: [f.memberIds[0] ?? 0] };
  const today = new Date().toISOString().slice(0, 10);
  const weekAgo = new Date(Date.now() - 7 * DAY).toISOString().slice(0, 10);
  const me = f.radiologistIds[0] ?? 0;
  const toRead: ExamStatus[] = ['examined', 'matched'];
  return [
    {
      name: '中心 待诊断 to read (examined+matched, center)',
      kind: 'worklist',
      q: { status: toRead, readAtCenter: true },
      scope: all,
    },
    { name: '中心 已登记 registered', kind: 'worklist', q: { status: ['registered'] }, scope: all },
    { name: '中心 超时 overdue', kind: 'worklist', q: { overdue: true }, scope: all },
    {
      name: '我的 assigned=me matched+reported',
      kind: 'worklist',
      q: { assignedTo: me, status: ['matched', 'reported'] },
      scope: all,
    },
    {
      name: '急诊 CT/MR emergency to read',
      kind: 'worklist',
      q: { status: toRead, modalities: ['CT', 'MR'], priority: 'emergency' },
      scope: all,
    },
    { name: '全部 today (all statuses)', kind: 'worklist', q: { from: today, to: today }, scope: all },
    { name: '全部 last 7 days', kind: 'worklist', q: { from: weekAgo }, scope: all },
    { name: '全部 no filter (100k rows)', kind: 'worklist', q: {}, scope: all },
    {
      name: '已审核 reviewed, page 21 (offset 1000)',
      kind: 'worklist',
      q: { status: ['reviewed'], offset: 1000 },
      scope: all,
    },
    { name: '成员医院 member: today', kind: 'worklist', q: { from: today, to: today }, scope: member },
    { name: '成员医院 member: registered', kind: 'worklist', q: { status: ['registered'] }, scope: member },
    { name: '成员医院 member: all (35k rows)', kind: 'worklist', q: {}, scope: member },
    { name: `搜索 q=${f.someName} (name)`, kind: 'worklist', q: { text: f.someName }, scope: all },
    {
      name: `搜索 q=${f.somePatientId} (patient ID)`,
      kind: 'worklist',
      q: { text: f.somePatientId },
      scope: all,
    },
    { name: 'counts: center (readAtCenter)', kind: 'counts', q: { readAtCenter: true }, scope: all },
    {
      name: 'counts: center, last 7 days',
      kind: 'counts',
      q: { readAtCenter: true, from: weekAgo },
      scope: all,
    },
    { name: 'counts: member hospital', kind: 'counts', q: {}, scope: member },
    { name: 'counts: member, today', kind: 'counts', q: { from: today, to: today }, scope: member },
  ];
}

// ------------------------------------------------------------------------------------------ running

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

/** Captures the query nodes the service runs, to print their plans. */
class CapturePlugin implements KyselyPlugin {
  capturing = false;
  nodes: { node: RootOperationNode; queryId: unknown }[] = [];
  transformQuery(args: Parameters<KyselyPlugin['transformQuery']>[0]): RootOperationNode {
    if (this.capturing) this.nodes.push({ node: args.node, queryId: args.queryId });
    return args.node;
  }
  transformResult(
    args: Parameters<KyselyPlugin['transformResult']>[0],
  ): ReturnType<KyselyPlugin['transformResult']> {
    return Promise.resolve(args.result);
  }
}

interface Row {
  name: string;
  rows: string;
  p50: number;
  p95: number;
  max: number;
}

async function bench(label: string, open: () => Promise<DatabaseHandle>): Promise<void> {
  const h = await open();
  try {
    const t0 = performance.now();
    const f = await generate(h);
    // statistics as a running server has them: PostgreSQL's autovacuum vacuums (visibility map: index-only
    // counts) and analyzes after bulk inserts; the server runs
    // `PRAGMA optimize` on SQLite at start and hourly (db/database.ts optimizeStatistics)
    if (h.dialect === 'postgres') await h.db.executeQuery(CompiledQuery.raw('vacuum analyze'));
    else await optimizeStatistics(h, true);
    const genMs = performance.now() - t0;
    console.log(`\n${label}: generated ${EXAMS} exams in ${(genMs / 1000).toFixed(1)} s (${h.description})`);
    const capture = new CapturePlugin();
    const db = h.db.withPlugin(capture);
    const { hospitals } = createIndexServices(h);
    const audit = new AuditLog(new AuditRepository(h.db, h.dialect), { log: silentLog });
    const bus = new InProcessEventBus();
    const ris = createRisService({
      db,
      dialect: h.dialect,
      hospitals,
      audit,
      bus,
      log: silentLog,
      tickMs: 0,
    });
    const results: Row[] = [];
    const slow: Case[] = [];
    try {
      for (const c of cases(f)) {
        const run = async (): Promise<string> => {
          if (c.kind === 'worklist') {
            const page = await ris.worklist({ limit: 50, ...c.q }, c.scope);
            return `${page.exams.length}/${page.total}`;
          }
          const counts = await ris.counts(c.q, c.scope);
          return Object.values(counts)
            .reduce((a, b) => a + b, 0)
            .toString();
        };
        for (let i = 0; i < 3; i++) await run();
        const times: number[] = [];
        let rows = '';
        for (let i = 0; i < RUNS; i++) {
          const s = performance.now();
          rows = await run();
          times.push(performance.now() - s);
        }
        times.sort((a, b) => a - b);
        const row = {
          name: c.name,
          rows,
          p50: pct(times, 50),
          p95: pct(times, 95),
          max: times[times.length - 1] ?? 0,
        };
        results.push(row);
        if (row.p95 > TARGET_P95_MS || args['explain-all']) slow.push(c);
      }
      console.log(`\n| ${label}: case | rows (page/total) | p50 ms | p95 ms | max ms |`);
      console.log('| --- | --- | ---: | ---: | ---: |');
      for (const r of results)
        console.log(
          `| ${r.name} | ${r.rows} | ${r.p50.toFixed(1)} | ${r.p95.toFixed(1)}${r.p95 > TARGET_P95_MS ? ' ⚠' : ''} | ${r.max.toFixed(1)} |`,
        );
      for (const c of slow) {
        capture.nodes = [];
        capture.capturing = true;
        const s = performance.now();
        if (c.kind === 'worklist') await ris.worklist({ limit: 50, ...c.q }, c.scope);
        else await ris.counts(c.q, c.scope);
        capture.capturing = false;
        console.log(`\n--- plan: ${label} / ${c.name} (${(performance.now() - s).toFixed(1)} ms)`);
        for (const { node, queryId } of capture.nodes) {
          const compiled = h.db
            .getExecutor()
            .compileQuery(
              node,
              queryId as Parameters<ReturnType<typeof h.db.getExecutor>['compileQuery']>[1],
            );
          const prefix =
            h.dialect === 'postgres' ? 'explain (analyze, buffers off, timing off) ' : 'explain query plan ';
          const q0 = performance.now();
          const plan = await h.db.executeQuery(
            CompiledQuery.raw(prefix + compiled.sql, [...compiled.parameters]),
          );
          const ms = performance.now() - q0;
          console.log(`sql: ${compiled.sql.slice(0, 160)}${compiled.sql.length > 160 ? '…' : ''}`);
          console.log(`(explain ${ms.toFixed(1)} ms)`);
          for (const row of plan.rows as Record<string, unknown>[]) {
            const line = (row['QUERY PLAN'] as string | undefined) ?? (row.detail as string | undefined);
            console.log(`  ${line ?? JSON.stringify(row)}`);
          }
        }
      }
    } finally {
      await ris.close();
      await audit.close();
      await bus.close();
    }
  } finally {
    if (args.keep) {
      console.log(`kept: ${h.sqlitePath ?? h.description}`);
      await h.db.destroy();
    } else await h.close();
  }
}

if (both || args.sqlite) await bench('SQLite', openTestSqlite);
if (both || args.postgres) {
  const skip = await needPostgres();
  if (skip === false) await bench('PostgreSQL', openTestPostgres);
  else console.log(`PostgreSQL: skipped (${skip})`);
}
