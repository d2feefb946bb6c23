/**
 * The access policy (so far): who may see which hospitals' data. A member hospital's callers see their
 * own hospital; the center's callers see every hospital. Every protocol adapter resolves its caller to
 * a scope here; the index applies the scope to every query. (The accounts release adds users and roles.)
 */
import type { FastifyRequest } from 'fastify';
import type { AccessScope, Hospital, HospitalRepository } from '../archive/ports.ts';
import { HuiyingError } from '../errors.ts';
import type { ApiTokenRepository } from './api-tokens.ts';

export function scopeOf(hospital: Hospital): AccessScope {
  return hospital.isCenter ? { kind: 'all' } : { kind: 'hospitals', hospitalIds: [hospital.id] };
}

export interface HttpCaller {
  scope: AccessScope;
  /** the hospital the caller acts for (STOW-RS stores for it) */
  hospitalId?: number;
}

function isLoopback(addr: string | undefined): boolean {
  return addr === '127.0.0.1' || addr === '::1' || addr === '::ffff:127.0.0.1';
}

/**
 * HTTP callers: `Authorization: Bearer <API token>` → the token's hospital. Optionally (development and
 * benchmarks only, off by default) unauthenticated requests from the loopback interface act for a
 * configured hospital.
 */
export function createHttpScopeResolver(deps: {
  tokens: ApiTokenRepository;
  hospitals: HospitalRepository;
  loopbackHospitalCode?: string;
}): (req: FastifyRequest) => Promise<HttpCaller> {
  return async (req) => {
    const auth = req.headers.authorization;
    if (auth !== undefined) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
      if (m === null)
        throw new HuiyingError(
          'unauthenticated',
          'unsupported Authorization scheme (use Bearer <API token>)',
        );
      const t = await deps.tokens.resolve(m[1] ?? '');
      if (t === undefined) throw new HuiyingError('unauthenticated', 'invalid or revoked API token');
      const h = await deps.hospitals.byId(t.hospitalId);
      if (h === undefined) throw new HuiyingError('unauthenticated', "the token's hospital no longer exists");
      return { scope: scopeOf(h), hospitalId: h.id };
    }
    if (deps.loopbackHospitalCode !== undefined && isLoopback(req.socket.remoteAddress)) {
      const h = await deps.hospitals.byCode(deps.loopbackHospitalCode);
      if (h !== undefined) return { scope: scopeOf(h), hospitalId: h.id };
    }
    throw new HuiyingError('unauthenticated', 'authentication required: Authorization: Bearer <API token>');
  };
}
