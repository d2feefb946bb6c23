/**
 * REST for the HL7 admin page (session cookie; X-CSRF-Token on changes), see docs/workflow.md:
 *
 *   GET    /api/admin/hl7/senders                    → {senders}
 *   POST   /api/admin/hl7/senders {hospitalId, sendingFacility, sendingApplication?} → 201 {sender}
 *   DELETE /api/admin/hl7/senders/:id                → 204
 *   GET    /api/admin/hl7/messages?hospitalId&outcome&limit&offset → {messages, total}
 *
 * Who: system_admin — every hospital; hospital_admin — their own hospital; auditor — read everything.
 * Changes and refused attempts are audited (`admin_change`); message reads too (`hl7_messages_view`: the
 * message text holds patient data).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { HospitalRepository } from '../archive/ports.ts';
import { can, resolveSessionCaller, type SessionAuthenticator, type SessionCaller } from '../access/scope.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import { HuiyingError } from '../errors.ts';
import { adminAudit } from '../admin-api/audited.ts';
import {
  HL7_OUTCOMES,
  type Hl7MessageRecord,
  type Hl7Outcome,
  type Hl7Repository,
  type Hl7Sender,
} from './repository.ts';

export interface Hl7AdminRoutesOptions {
  sessions: SessionAuthenticator;
  repo: Hl7Repository;
  hospitals: HospitalRepository;
  audit: AuditLog;
}

const SECURITY_HEADERS: Record<string, string> = {
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Content-Security-Policy': "default-src 'none'; frame-ancestors 'none'",
};

/** HD namespace ID: no HL7 delimiters, no spaces */
const SENDER_ID = '^[^\\s|^~\\\\&]{1,64}$';

function senderOut(s: Hl7Sender): Record<string, unknown> {
  return {
    id: s.id,
    hospitalId: s.hospitalId,
    sendingFacility: s.sendingFacility,
    sendingApplication: s.sendingApplication,
    createdAt: s.createdAt,
  };
}

function messageOut(m: Hl7MessageRecord): Record<string, unknown> {
  return {
    id: m.id,
    receivedAt: m.receivedAt,
    peer: m.peer,
    hospitalId: m.hospitalId,
    sendingApplication: m.sendingApplication,
    sendingFacility: m.sendingFacility,
    messageType: m.messageType,
    controlId: m.controlId,
    charset: m.charset,
    outcome: m.outcome,
    ackCode: m.ackCode,
    error: m.error,
    examId: m.examId,
    processedAt: m.processedAt,
    text: m.text,
  };
}

/** The hospitals whose HL7 configuration and messages the caller may read; undefined = all. */
function readableHospitals(c: SessionCaller): number[] | undefined {
  if (c.roles.includes('system_admin') || c.roles.includes('auditor')) return undefined;
  if (c.roles.includes('hospital_admin')) return [c.hospitalId];
  throw new HuiyingError('forbidden', '仅管理员和审计员 / administrators and auditors only');
}

export async function registerHl7AdminRoutes(
  app: FastifyInstance,
  opts: Hl7AdminRoutesOptions,
): Promise<void> {
  const { repo, hospitals, audit } = opts;
  const deps = { sessions: opts.sessions, hospitals };

  const { record, changer } = adminAudit(audit, deps);

  function mayManage(req: FastifyRequest, c: SessionCaller, hospitalId: number, object: string): void {
    if (!can(c, 'manage_users', { hospitalId })) {
      const message =
        '仅系统管理员或该医院管理员可操作 / only system administrators, or the administrator of this hospital, may do this';
      record(req, c, 'admin_change', 'denied', object, { reason: message });
      throw new HuiyingError('forbidden', message);
    }
  }

  await app.register((r, _opts, done) => {
    r.addHook('onRequest', async (_req, reply) => {
      reply.headers(SECURITY_HEADERS);
    });

    r.get('/api/admin/hl7/senders', async (req) => {
      const c = await resolveSessionCaller(deps, req);
      const visible = readableHospitals(c);
      return { senders: (await repo.listSenders(visible)).map(senderOut) };
    });

    r.post<{ Body: { hospitalId: number; sendingFacility: string; sendingApplication?: string } }>(
      '/api/admin/hl7/senders',
      {
        bodyLimit: 16 * 1024,
        schema: {
          body: {
            type: 'object',
            required: ['hospitalId', 'sendingFacility'],
            additionalProperties: false,
            properties: {
              hospitalId: { type: 'integer', minimum: 1 },
              sendingFacility: { type: 'string', pattern: SENDER_ID },
              sendingApplication: { type: 'string', maxLength: 64, pattern: `^$|${SENDER_ID}` },
            },
          },
        },
      },
      async (req, reply) => {
        const b = req.body;
        const object = `hl7_sender:${b.sendingFacility.toUpperCase()}`;
        const c = await changer(req, object);
        mayManage(req, c, b.hospitalId, object);
        const h = await hospitals.byId(b.hospitalId);
        if (h === undefined) throw new HuiyingError('not-found', `no hospital ${b.hospitalId}`);
        const sender = await repo.addSender({
          hospitalId: h.id,
          sendingFacility: b.sendingFacility,
          sendingApplication: b.sendingApplication ?? null,
        });
        record(req, c, 'admin_change', 'success', object, {
          op: 'hl7_sender.create',
          sender: senderOut(sender),
        });
        return reply.code(201).send({ sender: senderOut(sender) });
      },
    );

    r.delete<{ Params: { id: number } }>(
      '/api/admin/hl7/senders/:id',
      {
        schema: {
          params: { type: 'object', required: ['id'], properties: { id: { type: 'integer', minimum: 1 } } },
        },
      },
      async (req, reply) => {
        const object = `hl7_sender:${req.params.id}`;
        const c = await changer(req, object);
        const s = await repo.senderById(req.params.id);
        if (s === undefined) throw new HuiyingError('not-found', `no HL7 sender ${req.params.id}`);
        mayManage(req, c, s.hospitalId, object);
        await repo.removeSender(s.id);
        record(req, c, 'admin_change', 'success', object, { op: 'hl7_sender.delete', sender: senderOut(s) });
        return reply.code(204).send();
      },
    );

    r.get<{ Querystring: { hospitalId?: number; outcome?: Hl7Outcome; limit?: number; offset?: number } }>(
      '/api/admin/hl7/messages',
      {
        schema: {
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: {
              hospitalId: { type: 'integer', minimum: 1 },
              outcome: { type: 'string', enum: [...HL7_OUTCOMES] },
              limit: { type: 'integer', minimum: 1, maximum: 500 },
              offset: { type: 'integer', minimum: 0 },
            },
          },
        },
      },
      async (req) => {
        const c = await resolveSessionCaller(deps, req);
        const visible = readableHospitals(c);
        const q = req.query;
        if (q.hospitalId !== undefined && visible !== undefined && !visible.includes(q.hospitalId))
          throw new HuiyingError('forbidden', '无权查看该医院 / not allowed to read this hospital');
        const page = await repo.listMessages({
          ...(visible !== undefined ? { hospitalIds: visible } : {}),
          ...(q.hospitalId !== undefined ? { hospitalId: q.hospitalId } : {}),
          ...(q.outcome !== undefined ? { outcome: q.outcome } : {}),
          limit: q.limit ?? 50,
          offset: q.offset ?? 0,
        });
        record(req, c, 'hl7_messages_view', 'success', 'hl7_messages', {
          filters: q,
          returned: page.messages.length,
        });
        return { messages: page.messages.map(messageOut), total: page.total };
      },
    );
    done();
  });
}
