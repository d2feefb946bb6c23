import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Hospital, HospitalRepository } from '../archive/ports.ts';
import type { SessionAuthenticator } from '../access/scope.ts';
import type { AuthenticatedSession } from '../accounts/service.ts';
import type { SessionRecord } from '../accounts/repository.ts';
import type { Role } from '../accounts/model.ts';
import type { ExamChangeEvent } from '../ris/model.ts';
import type { EventBus } from '../ris/ports.ts';
import { InProcessEventBus, type ResyncNotice } from './bus.ts';
import { registerEventRoutes, sessionCheck, type EventRoutes, type EventRoutesOptions } from './sse.ts';
import { openSse } from './sse-client.ts';

const CENTER: Hospital = { id: 1, code: 'CENTER', name: '区域影像诊断中心', isCenter: true, createdAt: '' };
const CHENCUN: Hospital = { id: 2, code: 'CHENCUN', name: '陈村医院', isCenter: false, createdAt: '' };
const LECONG: Hospital = { id: 3, code: 'LECONG', name: '乐从医院', isCenter: false, createdAt: '' };

const hospitals: HospitalRepository = {
  create: () => Promise.reject(new Error('read-only')),
  list: () => Promise.resolve([CENTER, CHENCUN, LECONG]),
  byCode: (code) => Promise.resolve([CENTER, CHENCUN, LECONG].find((h) => h.code === code)),
  byId: (id) => Promise.resolve([CENTER, CHENCUN, LECONG].find((h) => h.id === id)),
};

function session(
  userId: number,
  hospitalId: number,
  roles: Role[],
  over: Partial<SessionRecord> = {},
): AuthenticatedSession {
  const now = new Date().toISOString();
  return {
    user: {
      id: userId,
      hospitalId,
      username: `user${userId}`,
      displayName: `用户${userId}`,
      roles,
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
      id: `sid-${userId}`,
      userId,
      csrfTokenHash: '',
      createdAt: now,
      lastSeenAt: now,
      expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
      ip: null,
      userAgent: null,
      revokedAt: null,
      ...over,
    },
    privileges: [],
  };
}

/** token → session */
const sessionsByToken = new Map<string, AuthenticatedSession>([
  ['center-token', session(10, CENTER.id, ['center_radiologist'])],
  ['chencun-token', session(20, CHENCUN.id, ['member_technologist'])],
  ['auditor-token', session(30, CHENCUN.id, ['auditor'])],
  ['mustchange-token', { ...session(40, CHENCUN.id, ['member_clinician']) }],
]);
const mc = sessionsByToken.get('mustchange-token');
if (mc !== undefined) mc.user.mustChangePassword = true;

const sessions: SessionAuthenticator = {
  authenticate: (token) => Promise.resolve(sessionsByToken.get(token)),
};

function ev(examId: number, hospitalId: number, over: Partial<ExamChangeEvent> = {}): ExamChangeEvent {
  return {
    type: 'exam',
    examId,
    hospitalId,
    status: 'examined',
    change: 'transition',
    version: 2,
    at: new Date().toISOString(),
    ...over,
  };
}

async function waitFor(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

interface Harness {
  app: FastifyInstance;
  routes: EventRoutes;
  url: string;
  port: number;
}

async function serve(
  bus: EventBus,
  over: Partial<Omit<EventRoutesOptions, 'bus' | 'sessions' | 'hospitals'>> = {},
): Promise<Harness> {
  const app = Fastify({ logger: false });
  const routes = registerEventRoutes(app, { bus, sessions, hospitals, ...over });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  return { app, routes, url: `http://127.0.0.1:${port}/api/events`, port };
}

const cookie = (token: string): string => `other=1; huiying_session=${token}`;

test('GET /api/events: 401/403 problem+json without a usable session', async () => {
  const bus = new InProcessEventBus();
  const h = await serve(bus);
  try {
    for (const [c, status] of [
      [undefined, 401],
      [cookie('nope'), 401],
      [cookie('mustchange-token'), 403],
    ] as const) {
      const s = await openSse(h.url, c !== undefined ? { cookie: c } : {});
      assert.equal(s.status, status);
      assert.match(s.headers.get('content-type') ?? '', /^application\/problem\+json/);
      assert.equal(s.headers.get('cache-control'), 'no-store');
      const body = JSON.parse(s.errorBody ?? '{}') as { status: number; title: string };
      assert.equal(body.status, status);
      assert.ok(body.title.length > 0);
    }
    assert.equal(bus.listenerCount(), 0);
    assert.equal(h.routes.clients(), 0);
  } finally {
    await h.app.close();
  }
});

test('GET /api/events: headers, retry, scope filtering (member: own hospital; center and auditor: all)', async () => {
  const bus = new InProcessEventBus();
  const h = await serve(bus);
  const member = await openSse(h.url, { cookie: cookie('chencun-token') });
  const center = await openSse(h.url, { cookie: cookie('center-token') });
  const auditor = await openSse(h.url, { cookie: cookie('auditor-token') });
  try {
    assert.equal(member.status, 200);
    assert.match(member.headers.get('content-type') ?? '', /^text\/event-stream/);
    assert.equal(member.headers.get('cache-control'), 'no-store');
    assert.equal(member.headers.get('x-accel-buffering'), 'no');
    await waitFor(() => h.routes.clients() === 3, 'three clients');
    assert.equal(bus.listenerCount(), 3);

    // LECONG's event first, then CHENCUN's: the member's first message must be CHENCUN's
    bus.publish(ev(1, LECONG.id));
    bus.publish(ev(2, CHENCUN.id, { change: '登记', status: 'registered' }));
    bus.publish(ev(3, CENTER.id));
    bus.publish(ev(4, CHENCUN.id));

    const m1 = await member.next();
    assert.equal(m1.event, 'exam');
    assert.deepEqual(JSON.parse(m1.data), {
      ...ev(2, CHENCUN.id, { change: '登记', status: 'registered' }),
      at: (JSON.parse(m1.data) as ExamChangeEvent).at,
    });
    assert.equal((JSON.parse((await member.next()).data) as ExamChangeEvent).examId, 4);

    for (const s of [center, auditor]) {
      const ids: number[] = [];
      for (let i = 0; i < 4; i++) ids.push((JSON.parse((await s.next()).data) as ExamChangeEvent).examId);
      assert.deepEqual(ids, [1, 2, 3, 4]);
    }
    assert.equal(member.retry, 2000);
    assert.equal(member.messages.length, 2);
    assert.equal(h.routes.stats().sent, 2 + 4 + 4);
  } finally {
    member.close();
    center.close();
    auditor.close();
    await h.app.close();
  }
});

test('GET /api/events: a disconnected client is removed and its listener unsubscribed', async () => {
  const bus = new InProcessEventBus();
  const h = await serve(bus);
  try {
    const a = await openSse(h.url, { cookie: cookie('center-token') });
    const b = await openSse(h.url, { cookie: cookie('chencun-token') });
    await waitFor(() => bus.listenerCount() === 2, 'two listeners');
    a.close();
    await waitFor(() => bus.listenerCount() === 1 && h.routes.clients() === 1, 'one listener left');
    bus.publish(ev(5, CHENCUN.id));
    assert.equal((JSON.parse((await b.next()).data) as ExamChangeEvent).examId, 5);
    b.close();
    await waitFor(() => bus.listenerCount() === 0 && h.routes.clients() === 0, 'no listener left');
    assert.equal(h.routes.stats().opened, 2);
  } finally {
    await h.app.close();
  }
});

test('GET /api/events: a client that does not read is disconnected; memory stays bounded; readers are unaffected', async () => {
  const bus = new InProcessEventBus();
  const maxBufferedBytes = 64 * 1024;
  const h = await serve(bus, { maxBufferedBytes });
  // a raw socket that sends the request and never reads
  const stuck = connect(h.port, '127.0.0.1');
  await new Promise<void>((resolve) => stuck.once('connect', resolve));
  stuck.pause();
  stuck.write(
    `GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: ${cookie('center-token')}\r\nAccept: text/event-stream\r\n\r\n`,
  );
  const reader = await openSse(h.url, { cookie: cookie('chencun-token') });
  let readerGot = 0;
  reader.onMessage = () => {
    readerGot++;
  };
  try {
    await waitFor(() => h.routes.clients() === 2, 'two clients');
    let published = 0;
    // publish until the stuck client is dropped (the kernel's socket buffers absorb a few MB first)
    // in rounds smaller than the buffer, each read by the reader before the next (it keeps up)
    while (h.routes.stats().droppedSlow === 0) {
      for (let i = 0; i < 100; i++) bus.publish(ev(++published, CHENCUN.id, { change: 'x'.repeat(100) }));
      const until = Date.now() + 10_000;
      while (readerGot < published && Date.now() < until) await new Promise((r) => setTimeout(r, 1));
      if (published > 1_000_000) assert.fail('the stuck client was never disconnected');
    }
    assert.equal(h.routes.stats().droppedSlow, 1);
    await waitFor(() => h.routes.clients() === 1 && bus.listenerCount() === 1, 'the stuck client gone');
    // the reading client got everything
    await waitFor(() => readerGot === published, 'the reader to catch up');
    assert.equal(reader.isEnded(), false);
  } finally {
    stuck.destroy();
    reader.close();
    await h.app.close();
  }
});

test('GET /api/events: ping comments, session end, resync, per-user limit, close ends streams', async (t) => {
  let resync: ((n: ResyncNotice) => void) | undefined;
  const inner = new InProcessEventBus();
  const bus: EventRoutesOptions['bus'] = {
    publish: (e) => inner.publish(e),
    subscribe: (l) => inner.subscribe(l),
    close: () => inner.close(),
    onResync: (l) => {
      resync = l;
      return () => {
        resync = undefined;
      };
    },
  };
  const revoked = new Set<string>();
  const h = await serve(bus, {
    pingMs: 20,
    recheckMs: 20,
    maxPerUser: 2,
    sessionValid: (s) => Promise.resolve(!revoked.has(s.session.id)),
  });
  try {
    await t.test('a ping comment arrives on an idle stream', async () => {
      const s = await openSse(h.url, { cookie: cookie('chencun-token') });
      await waitFor(() => s.comments.includes('ping'), 'a ping');
      assert.ok(s.comments.includes('connected'));
      s.close();
      await waitFor(() => h.routes.clients() === 0, 'closed');
    });

    await t.test('resync is forwarded', async () => {
      const s = await openSse(h.url, { cookie: cookie('chencun-token') });
      await waitFor(() => resync !== undefined, 'subscribed');
      resync?.({ reason: 'reconnected' });
      const m = await s.next();
      assert.equal(m.event, 'resync');
      assert.deepEqual(JSON.parse(m.data), { reason: 'reconnected' });
      s.close();
      await waitFor(() => resync === undefined, 'resync listener removed');
    });

    await t.test('at most maxPerUser streams per user (429)', async () => {
      const a = await openSse(h.url, { cookie: cookie('center-token') });
      const b = await openSse(h.url, { cookie: cookie('center-token') });
      const c = await openSse(h.url, { cookie: cookie('center-token') });
      assert.equal(a.status, 200);
      assert.equal(b.status, 200);
      assert.equal(c.status, 429);
      assert.match(c.errorBody ?? '', /streams per user/);
      a.close();
      b.close();
      await waitFor(() => h.routes.clients() === 0, 'closed');
      const d = await openSse(h.url, { cookie: cookie('center-token') });
      assert.equal(d.status, 200);
      d.close();
      await waitFor(() => h.routes.clients() === 0, 'closed');
    });

    await t.test('a revoked session ends the stream with event: logout', async () => {
      const s = await openSse(h.url, { cookie: cookie('chencun-token') });
      await waitFor(() => h.routes.clients() === 1, 'connected');
      revoked.add('sid-20');
      const m = await s.next();
      assert.equal(m.event, 'logout');
      await s.ended;
      await waitFor(() => h.routes.clients() === 0 && inner.listenerCount() === 0, 'cleaned up');
      assert.equal(h.routes.stats().endedSession, 1);
      revoked.clear();
    });

    await t.test('closing the server ends open streams (does not hang)', async () => {
      const s = await openSse(h.url, { cookie: cookie('center-token') });
      await waitFor(() => h.routes.clients() === 1, 'connected');
      await h.app.close();
      await s.ended;
      assert.equal(h.routes.clients(), 0);
      assert.equal(inner.listenerCount(), 0);
    });
  } finally {
    await h.app.close();
  }
});

test("GET /api/events: a stream ends at the session's absolute expiry", async () => {
  const bus = new InProcessEventBus();
  const h = await serve(bus, { pingMs: 20 });
  sessionsByToken.set(
    'expiring-token',
    session(50, CHENCUN.id, ['member_technologist'], { expiresAt: new Date(Date.now() + 150).toISOString() }),
  );
  try {
    const s = await openSse(h.url, { cookie: cookie('expiring-token') });
    assert.equal(s.status, 200);
    const m = await s.next();
    assert.equal(m.event, 'logout');
    await s.ended;
    assert.equal(bus.listenerCount(), 0);
  } finally {
    sessionsByToken.delete('expiring-token');
    await h.app.close();
  }
});

test('sessionCheck: revoked, expired and idle sessions are invalid; it never touches the session', async () => {
  const now = Date.parse('2026-11-26T10:00:00Z');
  const base = session(1, 1, ['center_radiologist']).session;
  const records = new Map<string, SessionRecord>();
  const check = sessionCheck({ byId: (id) => Promise.resolve(records.get(id)) }, () => now);
  const auth = session(1, 1, ['center_radiologist']);
  assert.equal(await check(auth), false); // unknown
  records.set(base.id, {
    ...base,
    lastSeenAt: new Date(now - 60_000).toISOString(),
    expiresAt: new Date(now + 60_000).toISOString(),
  });
  assert.equal(await check(auth), true);
  records.set(base.id, { ...base, revokedAt: new Date(now).toISOString() });
  assert.equal(await check(auth), false);
  records.set(base.id, {
    ...base,
    lastSeenAt: new Date(now).toISOString(),
    expiresAt: new Date(now - 1).toISOString(),
  });
  assert.equal(await check(auth), false);
  records.set(base.id, {
    ...base,
    lastSeenAt: new Date(now - 31 * 60_000).toISOString(),
    expiresAt: new Date(now + 3_600_000).toISOString(),
  });
  assert.equal(await check(auth), false);
});
