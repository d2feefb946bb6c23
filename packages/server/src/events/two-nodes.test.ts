/**
 * Two server nodes (separate processes) on one PostgreSQL database: a browser-like SSE client on node B
 * sees the exam changes made through node A's REST API — through PostgreSQL LISTEN/NOTIFY.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createTestDatabase, pgSkipReason } from '../testing/pg.ts';
import type { Exam, ExamChangeEvent } from '../ris/model.ts';
import { openSse } from './sse-client.ts';

const pgSkip = await pgSkipReason();
const PASSWORD = 'Initial-Pa55word!';
const NEW_PASSWORD = 'Huiying-汇影-2026!';

interface Node {
  child: ChildProcess;
  base: string;
  stderr: string[];
}

async function startNode(databaseUrl: string): Promise<Node> {
  const child = spawn(process.execPath, [join(import.meta.dirname, 'testing-node.ts')], {
    env: {
      ...process.env,
      HUIYING_DATABASE_URL: databaseUrl,
      HUIYING_ADMIN_PASSWORD: PASSWORD,
      HUIYING_LOG_LEVEL: 'warn',
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const stderr: string[] = [];
  child.stderr?.on('data', (d: Buffer) => stderr.push(d.toString()));
  const stdout = child.stdout;
  if (stdout === null) throw new Error('no stdout');
  const line = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: stdout });
    rl.once('line', (l) => {
      rl.close();
      resolve(l);
    });
    child.once('exit', (code) => reject(new Error(`node exited (${code}): ${stderr.join('')}`)));
  });
  const { httpPort } = JSON.parse(line) as { httpPort: number };
  return { child, base: `http://127.0.0.1:${httpPort}`, stderr };
}

async function stopNode(n: Node): Promise<void> {
  if (n.child.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => n.child.once('exit', () => resolve()));
  n.child.kill('SIGTERM');
  await exited;
}

interface Session {
  cookie: string;
  csrf: string;
}

async function call(
  base: string,
  method: string,
  path: string,
  s: Session | undefined,
  body?: unknown,
): Promise<{ status: number; json: Record<string, unknown>; setCookie: string | null }> {
  const res = await fetch(base + path, {
    method,
    headers: {
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(s !== undefined ? { cookie: s.cookie, 'x-csrf-token': s.csrf } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return {
    status: res.status,
    json: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>),
    setCookie: res.headers.get('set-cookie'),
  };
}

async function login(base: string, password: string): Promise<Session & { mustChange: boolean }> {
  const r = await call(base, 'POST', '/api/auth/login', undefined, { username: 'admin', password });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const m = /huiying_session=([^;]+)/.exec(r.setCookie ?? '');
  assert.ok(m !== null);
  return {
    cookie: `huiying_session=${m[1]}`,
    csrf: String(r.json.csrfToken),
    mustChange: r.json.mustChangePassword === true,
  };
}

test(
  'two nodes on one PostgreSQL: a change through node A reaches an SSE client on node B',
  { skip: pgSkip },
  async (t) => {
    const db = await createTestDatabase('huiying_events');
    const nodes: Node[] = [];
    try {
      // A first (migrations, first-run administrator), then B on the same database
      nodes.push(await startNode(db.url));
      nodes.push(await startNode(db.url));
      const [a, b] = nodes as [Node, Node];

      let s: Session = await login(a.base, PASSWORD);
      const changed = await call(a.base, 'POST', '/api/auth/change-password', s, {
        current: PASSWORD,
        next: NEW_PASSWORD,
      });
      assert.ok(changed.status < 300, JSON.stringify(changed.json));
      s = await login(a.base, NEW_PASSWORD);

      const h = await call(a.base, 'POST', '/api/admin/hospitals', s, { code: 'CHENCUN', name: '陈村医院' });
      assert.equal(h.status, 201, JSON.stringify(h.json));
      const hospitalId = (h.json.hospital as { id: number }).id;

      // the browser on node B (the same session: sessions live in the shared database)
      const sse = await openSse(`${b.base}/api/events`, { cookie: s.cookie });
      assert.equal(sse.status, 200, sse.errorBody);
      assert.match(sse.headers.get('content-type') ?? '', /^text\/event-stream/);
      for (let i = 0; i < 500 && sse.retry === undefined; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(sse.retry, 2000);

      const latencies: number[] = [];
      const receive = async (pred: (e: ExamChangeEvent) => boolean, t0: number): Promise<ExamChangeEvent> => {
        for (;;) {
          const m = await sse.next(10_000);
          if (m.event !== 'exam') continue;
          const e = JSON.parse(m.data) as ExamChangeEvent;
          if (!pred(e)) continue;
          latencies.push(m.receivedAt - t0);
          return e;
        }
      };

      // 1. a new order (registration form) on node A
      let t0 = performance.now();
      const placed = await call(a.base, 'POST', '/api/orders', s, {
        hospitalId,
        patient: { patientId: 'P0001', name: '张三', sex: 'M', birthDate: '19800101' },
        examItems: [{ code: 'CT0012', name: '胸部CT平扫' }],
        modality: 'CT',
        bodyPart: 'CHEST',
        priority: 'emergency',
        patientClass: 'emergency',
      });
      assert.equal(placed.status, 201, JSON.stringify(placed.json));
      let exam = placed.json.exam as Exam;
      const created = await receive((e) => e.examId === exam.id, t0);
      assert.equal(created.hospitalId, hospitalId);
      assert.equal(created.status, 'registered');
      assert.equal(created.version, exam.version);

      // 2. state changes on node A: examined → registered → examined
      for (const to of ['examined', 'registered', 'examined'] as const) {
        t0 = performance.now();
        const r = await call(a.base, 'POST', `/api/exams/${exam.id}/transition`, s, {
          to,
          version: exam.version,
        });
        assert.equal(r.status, 200, JSON.stringify(r.json));
        exam = r.json.exam as Exam;
        const e = await receive((x) => x.examId === exam.id && x.version === exam.version, t0);
        assert.equal(e.status, to);
      }

      // and node B's worklist, read after the event, shows the change (the client refetches)
      const wl = await fetch(`${b.base}/api/exams?status=examined`, { headers: { cookie: s.cookie } });
      const page = (await wl.json()) as { exams: Exam[]; total: number };
      assert.deepEqual(
        page.exams.map((e) => e.id),
        [exam.id],
      );

      // within 1 s (the median of four changes: robust against one slow turn of a loaded machine)
      t.diagnostic(`change → node B client: ${latencies.map((l) => l.toFixed(0)).join(', ')} ms`);
      latencies.sort((x, y) => x - y);
      const median = latencies[Math.floor(latencies.length / 2)] ?? Number.POSITIVE_INFINITY;
      assert.ok(
        median <= 1000,
        `median change → node B client latency ${median.toFixed(0)} ms (all: ${latencies.map((l) => l.toFixed(0)).join(', ')})`,
      );
      sse.close();
    } finally {
      for (const n of nodes) await stopNode(n);
      await db.drop();
    }
  },
);
