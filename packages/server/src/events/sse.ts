/**
 * `GET /api/events`: live exam changes for the web application's worklists, as Server-Sent Events.
 *
 *   retry: 2000
 *   : connected
 *
 *   event: exam
 *   data: {"type":"exam","examId":17,"hospitalId":2,"status":"examined","change":"transition","version":3,"at":"…"}
 *
 *   : ping                       (every 15 s: keeps proxies and NAT from closing the idle stream)
 *
 *   event: resync                (events may have been lost — the node's LISTEN connection dropped, or a
 *   data: {"reason":"reconnected"}  gap in another node's sequence: refetch the worklist)
 *
 *   event: logout                (the session ended: logged out, expired, user disabled; then the stream ends)
 *   data: {"reason":"session"}
 *
 * The caller is the session cookie's user (access/scope.ts `resolveSessionCaller`): 401 problem+json without
 * a valid session, 403 while a password change is pending. Only events whose hospital is in the caller's
 * scope are sent (member users: their own hospital; center staff and auditors: all). There is no replay
 * (`Last-Event-ID` is ignored): a browser refetches its worklist whenever the EventSource (re)opens.
 *
 * Memory is bounded: a client whose unsent output exceeds `maxBufferedBytes` (it stopped reading, or reads
 * slower than events arrive) is disconnected — its browser reconnects and refetches. Each user may hold
 * `maxPerUser` streams (tabs), the node `maxClients` (then 503, Retry-After).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ServerResponse } from 'node:http';
import type { HospitalRepository } from '../archive/ports.ts';
import {
  inScope,
  resolveSessionCaller,
  type SessionAuthenticator,
  type SessionCaller,
} from '../access/scope.ts';
import type { AuthenticatedSession } from '../accounts/service.ts';
import { SESSION_IDLE_MS } from '../accounts/service.ts';
import type { SessionRecord } from '../accounts/repository.ts';
import { HuiyingError, httpStatusOf, messageOf } from '../errors.ts';
import type { Log } from '../logger.ts';
import type { ExamChangeEvent } from '../ris/model.ts';
import type { EventBus } from '../ris/ports.ts';
import type { ResyncNotice } from './bus.ts';

export interface EventRoutesOptions {
  bus: EventBus & { onResync?: (listener: (notice: ResyncNotice) => void) => () => void };
  sessions: SessionAuthenticator;
  hospitals: HospitalRepository;
  /**
   * Is the stream's session still valid (not logged out, revoked, expired or idle)? Must NOT extend the
   * session (an open stream alone is not user activity). Checked every `recheckMs`. Without it a stream
   * ends at the session's absolute expiry and the browser's reconnect re-authenticates. See sessionCheck().
   */
  sessionValid?: (session: AuthenticatedSession) => Promise<boolean>;
  log?: Log;
  /** default /api/events */
  path?: string;
  /** comment line interval (default 15 s) */
  pingMs?: number;
  /** session re-check interval (default 60 s) */
  recheckMs?: number;
  /** EventSource reconnection delay sent to browsers (default 2000 ms) */
  retryMs?: number;
  /** unsent bytes per client before it is disconnected (default 256 KiB) */
  maxBufferedBytes?: number;
  /** streams per node (default 5000) */
  maxClients?: number;
  /** streams per user (default 16) */
  maxPerUser?: number;
}

export interface EventRoutesStats {
  /** connected streams now */
  clients: number;
  /** streams opened since start */
  opened: number;
  /** streams disconnected because they did not read */
  droppedSlow: number;
  /** streams ended because the session ended */
  endedSession: number;
  /** exam events written */
  sent: number;
}

export interface EventRoutes {
  /** connected SSE clients (for /healthz-style metrics) */
  clients(): number;
  stats(): EventRoutesStats;
  /** end every stream (also done automatically when the Fastify instance closes) */
  close(): void;
}

/** A non-touching session check over the accounts' session records (for `sessionValid`). */
export function sessionCheck(
  sessions: { byId(id: string): Promise<SessionRecord | undefined> },
  now: () => number = Date.now,
): (session: AuthenticatedSession) => Promise<boolean> {
  return async (auth) => {
    const s = await sessions.byId(auth.session.id);
    if (s === undefined || s.revokedAt !== null) return false;
    const t = now();
    return Date.parse(s.expiresAt) > t && Date.parse(s.lastSeenAt) + SESSION_IDLE_MS > t;
  };
}

const STREAM_HEADERS: Record<string, string> = {
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-store',
  'X-Accel-Buffering': 'no',
  Connection: 'keep-alive',
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
};

interface Client {
  caller: SessionCaller;
  res: ServerResponse;
  /** the session's absolute expiry (ms) */
  expiresAt: number;
  nextCheck: number;
  checking: boolean;
  closed: boolean;
  cleanup: () => void;
}

function problem(reply: FastifyReply, status: number, title: string): FastifyReply {
  return reply
    .code(status)
    .header('Cache-Control', 'no-store')
    .type('application/problem+json')
    .send({ type: 'about:blank', title, status });
}

export function registerEventRoutes(app: FastifyInstance, opts: EventRoutesOptions): EventRoutes {
  const log: Log = opts.log ?? (() => undefined);
  const deps = { sessions: opts.sessions, hospitals: opts.hospitals };
  const pingMs = opts.pingMs ?? 15_000;
  const recheckMs = opts.recheckMs ?? 60_000;
  const retryMs = opts.retryMs ?? 2000;
  const maxBuffered = opts.maxBufferedBytes ?? 256 * 1024;
  const maxClients = opts.maxClients ?? 5000;
  const maxPerUser = opts.maxPerUser ?? 16;
  const clients = new Set<Client>();
  const perUser = new Map<number, number>();
  const counters = { opened: 0, droppedSlow: 0, endedSession: 0, sent: 0 };
  /** one serialisation per event, shared by every client */
  const frames = new WeakMap<ExamChangeEvent, string>();
  let timer: NodeJS.Timeout | undefined;

  function frameOf(e: ExamChangeEvent): string {
    let f = frames.get(e);
    if (f === undefined) {
      f = `event: exam\ndata: ${JSON.stringify(e)}\n\n`;
      frames.set(e, f);
    }
    return f;
  }

  /** Write, or disconnect a client that does not keep up. */
  function write(c: Client, chunk: string): boolean {
    if (c.closed) return false;
    if (c.res.writableLength > maxBuffered) {
      counters.droppedSlow++;
      log('info', 'event stream: client too slow, disconnected', {
        user: c.caller.username,
        buffered: c.res.writableLength,
      });
      c.cleanup();
      c.res.destroy();
      return false;
    }
    c.res.write(chunk);
    return true;
  }

  function end(c: Client, lastFrame?: string): void {
    if (c.closed) return;
    if (lastFrame !== undefined) c.res.write(lastFrame);
    c.cleanup();
    c.res.end();
  }

  function tick(): void {
    const now = Date.now();
    for (const c of clients) {
      if (now >= c.expiresAt) {
        counters.endedSession++;
        end(c, 'event: logout\ndata: {"reason":"session"}\n\n');
        continue;
      }
      write(c, ': ping\n\n');
      if (opts.sessionValid !== undefined && now >= c.nextCheck && !c.checking) {
        c.checking = true;
        c.nextCheck = now + recheckMs;
        opts.sessionValid(c.caller.session).then(
          (ok) => {
            c.checking = false;
            if (!ok && !c.closed) {
              counters.endedSession++;
              end(c, 'event: logout\ndata: {"reason":"session"}\n\n');
            }
          },
          (err: unknown) => {
            // the database is unavailable: keep the stream, check again later
            c.checking = false;
            log('warn', 'event stream: session check failed', { error: messageOf(err) });
          },
        );
      }
    }
  }

  function ensureTimer(): void {
    if (timer !== undefined) return;
    timer = setInterval(tick, Math.min(pingMs, recheckMs));
    timer.unref();
  }

  function closeAll(): void {
    for (const c of [...clients]) end(c);
    clearInterval(timer);
    timer = undefined;
  }

  app.addHook('preClose', (done) => {
    closeAll();
    done();
  });

  app.get(
    opts.path ?? '/api/events',
    { exposeHeadRoute: false },
    async (req: FastifyRequest, reply: FastifyReply) => {
      let caller: SessionCaller;
      try {
        caller = await resolveSessionCaller(deps, req);
      } catch (err) {
        if (err instanceof HuiyingError) return problem(reply, httpStatusOf(err.code), err.message);
        throw err;
      }
      if (clients.size >= maxClients) {
        reply.header('Retry-After', '10');
        return problem(reply, 503, 'too many live event streams on this server; retry later');
      }
      const mine = perUser.get(caller.userId) ?? 0;
      if (mine >= maxPerUser)
        return problem(reply, 429, `at most ${maxPerUser} live event streams per user (close other tabs)`);

      reply.hijack();
      const res = reply.raw;
      const socket = req.raw.socket;
      socket.setNoDelay(true);
      socket.setKeepAlive(true, 30_000);
      socket.setTimeout(0);
      res.writeHead(200, STREAM_HEADERS);
      res.write(`retry: ${retryMs}\n: connected\n\n`);

      const expiresAt = Date.parse(caller.session.session.expiresAt);
      const now = Date.now();
      const c: Client = {
        caller,
        res,
        expiresAt: Number.isFinite(expiresAt) ? expiresAt : Number.POSITIVE_INFINITY,
        nextCheck: now + recheckMs,
        checking: false,
        closed: false,
        cleanup: () => undefined,
      };
      const scope = caller.scope;
      const unsubscribe = opts.bus.subscribe((e) => {
        if (!inScope(scope, e.hospitalId)) return;
        if (write(c, frameOf(e))) counters.sent++;
      });
      const unResync =
        opts.bus.onResync?.((n) => {
          write(c, `event: resync\ndata: ${JSON.stringify({ reason: n.reason })}\n\n`);
        }) ?? (() => undefined);
      c.cleanup = () => {
        if (c.closed) return;
        c.closed = true;
        unsubscribe();
        unResync();
        clients.delete(c);
        const n = (perUser.get(caller.userId) ?? 1) - 1;
        if (n <= 0) perUser.delete(caller.userId);
        else perUser.set(caller.userId, n);
        if (clients.size === 0) {
          clearInterval(timer);
          timer = undefined;
        }
      };
      clients.add(c);
      perUser.set(caller.userId, mine + 1);
      counters.opened++;
      // (not req 'close': since Node 16 it fires once the request is read, not when the socket closes)
      res.on('close', c.cleanup);
      res.on('error', c.cleanup);
      ensureTimer();
    },
  );

  return {
    clients: () => clients.size,
    stats: () => ({ clients: clients.size, ...counters }),
    close: closeAll,
  };
}
