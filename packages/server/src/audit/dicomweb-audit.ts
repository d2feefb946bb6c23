/**
 * DICOMweb audit hook (registered by dicomweb/plugin.ts as an onResponse hook): one event per request,
 * after the response, with the caller the plugin resolved, the route, the status and the study UID from
 * the path or query. Handlers may add cheap facts (match counts) with `noteAudit`.
 */
import { createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { ActorType, AuditEventInput, AuditOutcome } from './types.ts';

const NOTES = new WeakMap<FastifyRequest, Record<string, unknown>>();

/** Attach facts to the request's audit event (e.g. `{ matches: 12 }`). */
export function noteAudit(req: FastifyRequest, facts: Record<string, unknown>): void {
  NOTES.set(req, { ...NOTES.get(req), ...facts });
}

/** What the plugin knows of its caller; user/token fields are read when the resolver provides them. */
interface CallerLike {
  hospitalId?: number;
  userId?: unknown;
  username?: unknown;
  userName?: unknown;
  displayName?: unknown;
  tokenId?: unknown;
  tokenName?: unknown;
}

const str = (v: unknown): string | undefined =>
  typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined;

export function actionOf(method: string, route: string): string {
  if (method === 'POST') return 'store';
  if (/\/metadata$/.test(route)) return 'view_metadata';
  if (/\/(studies|series|instances)$/.test(route)) return 'query';
  return 'retrieve';
}

function outcomeOf(status: number): AuditOutcome {
  if (status === 401 || status === 403) return 'denied';
  return status < 400 ? 'success' : 'failure';
}

function actorOf(
  req: FastifyRequest,
  caller: CallerLike | undefined,
): { actorType: ActorType; actorId?: string; actorName?: string } {
  if (caller !== undefined) {
    const userId = str(caller.userId);
    if (userId !== undefined)
      return {
        actorType: 'user',
        actorId: userId,
        ...(str(caller.username ?? caller.userName ?? caller.displayName) !== undefined
          ? { actorName: str(caller.username ?? caller.userName ?? caller.displayName) }
          : {}),
      };
    const tokenId = str(caller.tokenId);
    if (tokenId !== undefined)
      return {
        actorType: 'api_token',
        actorId: `token:${tokenId}`,
        ...(str(caller.tokenName) !== undefined ? { actorName: str(caller.tokenName) } : {}),
      };
  }
  const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  if (m !== null) {
    // the token's stored hash (api_tokens.token_hash) starts with this prefix
    const h = createHash('sha256')
      .update(m[1] ?? '', 'utf8')
      .digest('hex');
    return { actorType: 'api_token', actorId: `sha256:${h.slice(0, 16)}` };
  }
  return { actorType: 'anonymous' };
}

export function dicomwebEvent(
  req: FastifyRequest,
  status: number,
  caller: CallerLike | undefined,
): AuditEventInput {
  const route = req.routeOptions.url ?? req.url.split('?')[0] ?? '';
  const params = (req.params ?? {}) as { study?: unknown; series?: unknown; instance?: unknown };
  const query = (req.query ?? {}) as Record<string, unknown>;
  const study =
    str(params.study) ?? str(query.StudyInstanceUID) ?? str(query['0020000D']) ?? str(query.studyUID);
  const patientId = str(query.PatientID) ?? str(query['00100020']);
  const notes = NOTES.get(req);
  const matches = notes?.matches;
  const instances = notes?.instances;
  const object =
    typeof matches === 'number'
      ? `${matches} match(es)`
      : typeof instances === 'number'
        ? `${instances} instance(s)`
        : str(params.instance) !== undefined
          ? `instance ${str(params.instance)}`
          : str(params.series) !== undefined
            ? `series ${str(params.series)}`
            : undefined;
  return {
    ...actorOf(req, caller),
    ...(caller?.hospitalId !== undefined ? { hospitalId: caller.hospitalId } : {}),
    source: req.ip,
    protocol: 'dicomweb',
    action: actionOf(req.method, route),
    outcome: outcomeOf(status),
    status: String(status),
    ...(patientId !== undefined ? { patientId } : {}),
    ...(study !== undefined ? { studyUid: study } : {}),
    ...(object !== undefined ? { object } : {}),
    detail: { method: req.method, route, ...(notes ?? {}) },
  };
}
