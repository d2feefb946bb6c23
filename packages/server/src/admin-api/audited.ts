/**
 * Audited admin changes, shared by the REST admin routes (admin-api, hl7 senders): `record` writes one
 * audit event for the request; `changer` resolves the session caller of a change and audits a refused
 * attempt (not logged in, CSRF, read-only, …) before rethrowing.
 */
import type { FastifyRequest } from 'fastify';
import type { HospitalRepository } from '../archive/ports.ts';
import { resolveSessionCaller, type SessionAuthenticator, type SessionCaller } from '../access/scope.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import type { AuditOutcome } from '../audit/types.ts';

export interface AdminAudit {
  record: (
    req: FastifyRequest,
    c: SessionCaller | undefined,
    action: string,
    outcome: AuditOutcome,
    object: string,
    detail?: Record<string, unknown>,
  ) => void;
  changer: (req: FastifyRequest, object: string) => Promise<SessionCaller>;
}

export function adminAudit(
  audit: Pick<AuditLog, 'record'>,
  deps: { sessions: SessionAuthenticator; hospitals: HospitalRepository },
): AdminAudit {
  const record: AdminAudit['record'] = (req, c, action, outcome, object, detail) => {
    audit.record({
      actorType: c === undefined ? 'anonymous' : 'user',
      actorId: c === undefined ? undefined : String(c.userId),
      actorName: c?.username,
      hospitalId: c?.hospitalId,
      source: req.ip,
      protocol: 'http',
      action,
      outcome,
      object,
      detail: { method: req.method, path: req.url.split('?')[0], ...detail },
    });
  };
  return {
    record,
    async changer(req, object) {
      try {
        return await resolveSessionCaller(deps, req);
      } catch (err) {
        record(req, undefined, 'admin_change', 'denied', object, {
          reason: err instanceof Error ? err.message : String(err),
        });
        throw err;
      }
    },
  };
}
