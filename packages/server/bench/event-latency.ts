/**
 * Live-event latency benchmark: exam state changes through the real RisService at a fixed rate, with N SSE
 * clients (center users: they receive every event) connected to `GET /api/events`; latency = start of the
 * change (`RisService.transition` called) → the client parsed the `event: exam` frame.
 *
 * - SQLite: one node — the service publishes on an InProcessEventBus, the SSE route streams from it.
 * - PostgreSQL: two nodes — the service writes and publishes on node A (PgEventBus A); the clients are
 *   connected to node B's SSE route (PgEventBus B), so every event goes through NOTIFY/LISTEN.
 *
 * The clients run in a worker thread (as browsers are not in the server's event loop); times are compared
 * on the shared clock performance.timeOrigin + performance.now().
 *
 * Usage: node packages/server/bench/event-latency.ts [--rate 500] [--seconds 10] [--clients 50]
 *                                                    [--exams 2000] [--sqlite] [--postgres]
 */
import { parseArgs } from 'node:util';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import Fastify from 'fastify';
import { createIndexServices } from '../src/archive/index-kysely.ts';
import type { Hospital } from '../src/archive/ports.ts';
import type { SessionAuthenticator } from '../src/access/scope.ts';
import type { AuthenticatedSession } from '../src/accounts/service.ts';
import { AuditLog } from '../src/audit/audit-log.ts';
import { AuditRepository } from '../src/audit/repository.ts';
import type { DatabaseHandle } from '../src/db/database.ts';
import { needPostgres, openTestPostgres, openTestSqlite } from '../src/db/test-databases.ts';
import { InProcessEventBus, PgEventBus, type LiveEventBus } from '../src/events/bus.ts';
import { registerEventRoutes } from '../src/events/sse.ts';
import { openSse, type SseStream } from '../src/events/sse-client.ts';
import { silentLog } from '../src/logger.ts';
import type { ExamChangeEvent, ExamStatus } from '../src/ris/model.ts';
import { createRisService } from '../src/ris/service.ts';

const { values: args } = parseArgs({
  options: {
    rate: { type: 'string', default: '500' },
    seconds: { type: 'string', default: '10' },
    clients: { type: 'string', default: '50' },
    exams: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '64' },
    sqlite: { type: 'boolean', default: false },
    postgres: { type: 'boolean', default: false },
  },
});
const RATE = Number(args.rate);
const SECONDS = Number(args.seconds);
const CLIENTS = Number(args.clients);
const EXAMS = Number(args.exams);
const CONCURRENCY = Number(args.concurrency);
const both = !args.sqlite && !args.postgres;

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

function fakeSessions(center: Hospital): SessionAuthenticator {
  const now = new Date().toISOString();
  const auth: AuthenticatedSession = {
    user: {
      id: 1,
      hospitalId: center.id,
      username: 'bench',
      displayName: '基准',
      roles: ['center_radiologist'],
      grade: null,
      mustChangePassword: false,
      disabled: false,
      lockedUntil: null,
      passwordChangedAt: null,
      createdAt: now,
      updatedAt: now,
      passwordHash: '',
      failedLogins: 0,
    },
    session: {
      id: 'bench',
      userId: 1,
      csrfTokenHash: '',
      createdAt: now,
      lastSeenAt: now,
      expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
      ip: null,
      userAgent: null,
      revokedAt: null,
    },
    privileges: [],
  };
  return { authenticate: (t) => Promise.resolve(t === 'bench' ? auth : undefined) };
}

interface Result {
  label: string;
  requested: number;
  achievedRate: number;
  changes: number;
  failed: number;
  receipts: number;
  expected: number;
  changeP50: number;
  changeP95: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  /** publish (event.at) → client */
  deliveryP50: number;
  deliveryP95: number;
  droppedSlow: number;
}

async function bench(
  label: string,
  h: DatabaseHandle,
  buses: { service: LiveEventBus; sse: LiveEventBus; ready?: () => Promise<void> },
): Promise<Result> {
  const { hospitals } = createIndexServices(h);
  const center =
    (await hospitals.byCode('CENTER')) ??
    (await hospitals.create({ code: 'CENTER', name: '区域医学影像诊断中心', isCenter: true }));
  const member = await hospitals.create({ code: 'CHENCUN', name: '陈村医院', defaultCharset: 'GB18030' });
  const audit = new AuditLog(new AuditRepository(h.db, h.dialect), { log: silentLog });
  const ris = createRisService({
    db: h.db,
    dialect: h.dialect,
    hospitals,
    audit,
    bus: buses.service,
    log: silentLog,
    tickMs: 0,
  });
  const app = Fastify({ logger: false });
  const routes = registerEventRoutes(app, {
    bus: buses.sse,
    sessions: fakeSessions(center),
    hospitals,
    // one bench user holds every stream
    maxPerUser: CLIENTS,
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  const url = `http://127.0.0.1:${typeof addr === 'object' && addr !== null ? addr.port : 0}/api/events`;
  try {
    await buses.ready?.();
    const actor = { type: 'user' as const, id: '1', name: '基准用户', source: '127.0.0.1' };
    const scope = { kind: 'all' as const };
    // the exams the changes cycle through: registered ⇄ examined
    const exams: { id: number; status: ExamStatus }[] = [];
    for (let i = 0; i < EXAMS; i++) {
      const { exam } = await ris.placeOrder(
        {
          hospitalId: member.id,
          patient: { patientId: `P${100000 + i}`, name: `张^三${i}`, sex: 'M', birthDate: '19800101' },
          accessionNumber: `CC${String(i).padStart(8, '0')}`,
          examItems: [{ code: 'CT0012', name: '胸部CT平扫' }],
          modality: 'CT',
          bodyPart: 'CHEST',
          priority: i % 7 === 0 ? 'emergency' : 'routine',
          patientClass: 'outpatient',
          source: 'form',
        },
        actor,
      );
      exams.push({ id: exam.id, status: exam.status });
    }

    process.stderr.write(`${label}: ${EXAMS} orders placed; connecting ${CLIENTS} clients\n`);
    // the clients, in a worker thread
    const started = new Map<string, number>();
    const worker = new Worker(new URL(import.meta.url), { workerData: { url, clients: CLIENTS } });
    // fail loudly rather than hang: the worker may exit or stall (60 s per step)
    const fromWorker = (type: string): Promise<ClientReport> =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          worker.off('message', onMsg);
          reject(new Error(`the client worker did not report '${type}' within 60 s`));
        }, 60_000);
        const onMsg = (m: ClientReport): void => {
          if (m.type !== type) return;
          clearTimeout(timer);
          worker.off('message', onMsg);
          resolve(m);
        };
        worker.on('message', onMsg);
        worker.once('error', (err: Error) => {
          clearTimeout(timer);
          reject(err);
        });
        worker.once('exit', (code) => {
          clearTimeout(timer);
          reject(new Error(`the client worker exited (${code})`));
        });
      });
    const ready = await fromWorker('ready');
    if (ready.error !== undefined) throw new Error(ready.error);
    for (let i = 0; routes.clients() < CLIENTS; i++) {
      if (i > 3000) throw new Error(`only ${routes.clients()} of ${CLIENTS} clients connected`);
      await new Promise((r) => setTimeout(r, 10));
    }

    // changes at RATE per second for SECONDS, at most CONCURRENCY in flight
    const total = Math.round(RATE * SECONDS);
    const changeTimes: number[] = [];
    let inFlight = 0;
    let done = 0;
    let failed = 0;
    let next = 0;
    const busy = new Set<number>();
    const t0 = performance.now();
    await new Promise<void>((resolveAll) => {
      const launch = (): void => {
        const dueCount = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * RATE) + 1);
        while (next < dueCount && inFlight < CONCURRENCY) {
          // an exam not being changed right now
          let idx = next % exams.length;
          let guard = 0;
          while (busy.has(idx) && guard++ < exams.length) idx = (idx + 1) % exams.length;
          const ex = exams[idx];
          if (ex === undefined) break;
          busy.add(idx);
          next++;
          inFlight++;
          const to: ExamStatus = ex.status === 'registered' ? 'examined' : 'registered';
          const start = performance.now();
          // the version after the change is the key the clients look up
          ris
            .getExam(ex.id, scope)
            .then((cur) => {
              started.set(`${ex.id}/${cur.version + 1}`, performance.timeOrigin + start);
              return ris.transition(ex.id, to, actor, { scope, version: cur.version });
            })
            .then(
              (after) => {
                ex.status = after.status;
                changeTimes.push(performance.now() - start);
              },
              () => {
                failed++;
              },
            )
            .finally(() => {
              busy.delete(idx);
              inFlight--;
              done++;
              if (done === total) resolveAll();
              // the next change starts in a new macrotask, as an HTTP request would (SQLite answers
              // synchronously: launching from here would never yield to socket I/O)
              else setImmediate(launch);
            });
        }
        if (next < total) setTimeout(launch, 1);
      };
      launch();
    });
    const elapsed = (performance.now() - t0) / 1000;
    process.stderr.write(`${label}: ${total} changes in ${elapsed.toFixed(1)} s; collecting\n`);
    const expected = (total - failed) * CLIENTS;
    worker.postMessage({ type: 'finish', expected });
    const report = await fromWorker('done');
    await worker.terminate();
    const latencies: number[] = [];
    const delivery: number[] = [];
    let receipts = 0;
    for (const [i, key] of (report.keys ?? []).entries()) {
      const t = started.get(key);
      const at = report.times?.[i];
      if (t === undefined || at === undefined) continue;
      receipts++;
      latencies.push(at - t);
      const published = report.ats?.[i];
      if (published !== undefined) delivery.push(at - published);
    }
    latencies.sort((a, b) => a - b);
    delivery.sort((a, b) => a - b);
    changeTimes.sort((a, b) => a - b);
    return {
      label,
      requested: RATE,
      achievedRate: total / elapsed,
      changes: total,
      failed,
      receipts,
      expected,
      changeP50: pct(changeTimes, 50),
      changeP95: pct(changeTimes, 95),
      p50: pct(latencies, 50),
      p95: pct(latencies, 95),
      p99: pct(latencies, 99),
      max: latencies[latencies.length - 1] ?? Number.NaN,
      deliveryP50: pct(delivery, 50),
      deliveryP95: pct(delivery, 95),
      droppedSlow: routes.stats().droppedSlow,
    };
  } finally {
    await app.close();
    await ris.close();
    await audit.close();
  }
}

interface ClientReport {
  type: 'ready' | 'done';
  error?: string;
  keys?: string[];
  times?: number[];
  /** the event's `at` (the service's publish time, ms precision) */
  ats?: number[];
}

/** The worker: N SSE clients; every exam event's key and receipt time (absolute ms). */
async function clientWorker(data: { url: string; clients: number }): Promise<void> {
  const port = parentPort;
  if (port === null) return;
  const keys: string[] = [];
  const times: number[] = [];
  const ats: number[] = [];
  const streams: SseStream[] = [];
  try {
    for (let i = 0; i < data.clients; i++) {
      const s = await openSse(data.url, { cookie: 'huiying_session=bench' });
      if (s.status !== 200) throw new Error(`SSE connect: ${s.status} ${s.errorBody ?? ''}`);
      s.onMessage = (m) => {
        s.messages.length = 0; // not kept (memory)
        if (m.event !== 'exam') return;
        const e = JSON.parse(m.data) as ExamChangeEvent;
        keys.push(`${e.examId}/${e.version}`);
        times.push(performance.timeOrigin + m.receivedAt);
        ats.push(Date.parse(e.at));
      };
      streams.push(s);
    }
  } catch (err) {
    port.postMessage({ type: 'ready', error: err instanceof Error ? err.message : String(err) });
    return;
  }
  port.postMessage({ type: 'ready' } satisfies ClientReport);
  port.on('message', (m: { type: string; expected: number }) => {
    if (m.type !== 'finish') return;
    const until = Date.now() + 10_000;
    const poll = (): void => {
      if (keys.length < m.expected && Date.now() < until) {
        setTimeout(poll, 20);
        return;
      }
      for (const s of streams) s.close();
      port.postMessage({ type: 'done', keys, times, ats } satisfies ClientReport);
    };
    poll();
  });
}

if (!isMainThread) await clientWorker(workerData as { url: string; clients: number });
else await main();

async function main(): Promise<void> {
  const results: Result[] = [];
  if (both || args.sqlite) {
    const h = await openTestSqlite();
    const bus = new InProcessEventBus();
    try {
      results.push(await bench('SQLite, one node (in-process bus)', h, { service: bus, sse: bus }));
    } finally {
      await bus.close();
      await h.close();
    }
  }
  if (both || args.postgres) {
    const skip = await needPostgres();
    if (skip !== false) console.log(`PostgreSQL: skipped (${skip})`);
    else {
      const h = await openTestPostgres();
      const a = new PgEventBus({ databaseUrl: pgUrlOf(h) });
      const b = new PgEventBus({ databaseUrl: pgUrlOf(h) });
      try {
        results.push(
          await bench('PostgreSQL, two nodes (NOTIFY A → LISTEN B)', h, {
            service: a,
            sse: b,
            ready: () => Promise.all([a.ready(), b.ready()]).then(() => undefined),
          }),
        );
      } finally {
        await a.close();
        await b.close();
        await h.close();
      }
    }
  }

  /** The test database's URL (same server and user as the admin URL, database from the description). */
  function pgUrlOf(h: DatabaseHandle): string {
    const admin = new URL(process.env.HUIYING_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');
    admin.pathname = new URL(h.description).pathname;
    return admin.toString();
  }

  console.log(
    `\nrate ${RATE}/s for ${SECONDS} s, ${CLIENTS} SSE clients, ${EXAMS} exams; latency = change started → client parsed the event\n`,
  );
  console.log(
    '| setup | achieved changes/s | change p50 / p95 ms | events received / expected | change → client p50 ms | p95 ms | p99 ms | max ms | publish → client p50 / p95 ms | clients dropped |',
  );
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of results)
    console.log(
      `| ${r.label} | ${r.achievedRate.toFixed(0)} | ${r.changeP50.toFixed(1)} / ${r.changeP95.toFixed(1)} | ${r.receipts} / ${r.expected}${r.failed > 0 ? ` (${r.failed} changes failed)` : ''} | ${r.p50.toFixed(1)} | ${r.p95.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.max.toFixed(1)} | ${r.deliveryP50.toFixed(0)} / ${r.deliveryP95.toFixed(0)} | ${r.droppedSlow} |`,
    );
}
