/**
 * DIMSE audit hooks (called from dimse-adapter/scp.ts): associations accepted/rejected, C-FIND,
 * C-MOVE/C-GET, and C-STORE aggregated per association and study (one event per study at the end of the
 * association, not one per slice).
 */
import type { AssociationContext, AssociationRequest, RetrieveProgress } from '@huiying/dimse';
import type { ApplicationEntity, Hospital, InstanceLocation } from '../archive/ports.ts';
import type { AuditLog } from './audit-log.ts';
import type { AuditEventInput } from './types.ts';

interface Session {
  ae: ApplicationEntity;
  hospital: Hospital;
}

interface StudyTally {
  stored: number;
  duplicates: number;
  failed: number;
}

const sourceOf = (req: AssociationRequest): string => `${req.callingAeTitle.trim()}@${req.remoteAddress}`;

/** The value of a single-value matcher (`{ kind: 'single', value }`), else undefined. */
export function singleValue(m: unknown): string | undefined {
  if (typeof m !== 'object' || m === null) return undefined;
  const o = m as { kind?: unknown; value?: unknown };
  return o.kind === 'single' && typeof o.value === 'string' ? o.value : undefined;
}

/** A short text summary of query keys (for the event detail). */
export function keysSummary(keys: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, m] of Object.entries(keys)) {
    const s = JSON.stringify(m) ?? '';
    out[k] = s.length > 200 ? `${s.slice(0, 200)}…` : s;
  }
  return out;
}

export class DimseAudit {
  readonly #audit: AuditLog | undefined;
  readonly #stores = new WeakMap<object, Map<string, StudyTally>>();

  constructor(audit: AuditLog | undefined) {
    this.#audit = audit;
  }

  #base(ctx: AssociationContext<Session>): Omit<AuditEventInput, 'action' | 'outcome'> {
    return {
      actorType: 'ae',
      actorId: ctx.session.ae.aeTitle,
      actorName: ctx.session.hospital.code,
      hospitalId: ctx.session.hospital.id,
      source: sourceOf(ctx.request),
      protocol: 'dimse',
    };
  }

  /** false: refuse reads of PHI (fail-closed, see audit-log.ts) */
  readsAllowed(): boolean {
    return this.#audit === undefined || this.#audit.acceptingReads();
  }

  rejected(req: AssociationRequest, why: string, reason: number): void {
    this.#audit?.record({
      actorType: 'ae',
      actorId: req.callingAeTitle.trim(),
      source: sourceOf(req),
      protocol: 'dimse',
      action: 'association_rejected',
      outcome: 'denied',
      status: `reason ${reason}`,
      object: `called ${req.calledAeTitle.trim()}`,
      detail: { why },
    });
  }

  accepted(req: AssociationRequest, s: Session): void {
    this.#audit?.record({
      actorType: 'ae',
      actorId: s.ae.aeTitle,
      actorName: s.hospital.code,
      hospitalId: s.hospital.id,
      source: sourceOf(req),
      protocol: 'dimse',
      action: 'association',
      outcome: 'success',
      object: `called ${req.calledAeTitle.trim()}`,
    });
  }

  query(
    ctx: AssociationContext<Session>,
    q: { model: string; level: string | undefined; keys: Record<string, unknown> | undefined },
    matches: number,
    error?: { status: string; message: string },
  ): void {
    const keys = q.keys ?? {};
    this.#audit?.record({
      ...this.#base(ctx),
      action: 'query',
      outcome: error === undefined ? 'success' : 'failure',
      status: error?.status ?? '0x0000',
      patientId: singleValue(keys.PatientID),
      studyUid: singleValue(keys.StudyInstanceUID),
      object: `C-FIND ${q.level ?? '?'}: ${matches} match(es)`,
      detail: {
        model: q.model,
        level: q.level,
        keys: keysSummary(keys),
        ...(error !== undefined ? { error: error.message } : {}),
      },
    });
  }

  retrieve(
    ctx: AssociationContext<Session>,
    op: 'C-MOVE' | 'C-GET',
    locations: InstanceLocation[],
    p: RetrieveProgress | undefined,
    destination?: string,
    error?: string,
  ): void {
    const studies = [...new Set(locations.map((l) => l.studyInstanceUid))];
    const failed = p?.failed ?? 0;
    this.#audit?.record({
      ...this.#base(ctx),
      action: 'retrieve',
      outcome: error !== undefined || failed > 0 ? 'failure' : 'success',
      ...(studies.length === 1 ? { studyUid: studies[0] } : {}),
      object: `${op}: ${p?.completed ?? 0} of ${locations.length} instance(s) sent`,
      detail: {
        op,
        ...(destination !== undefined ? { destination } : {}),
        studies: studies.slice(0, 50),
        completed: p?.completed ?? 0,
        failed,
        warning: p?.warning ?? 0,
        ...(error !== undefined ? { error } : {}),
      },
    });
  }

  /** C-STORE: tally per association and study; one event per study when the association ends. */
  stored(ctx: AssociationContext<Session>, studyUid: string, kind: 'stored' | 'duplicate' | 'failed'): void {
    if (this.#audit === undefined) return;
    let m = this.#stores.get(ctx);
    if (m === undefined) {
      const tallies = new Map<string, StudyTally>();
      m = tallies;
      this.#stores.set(ctx, tallies);
      const flush = (): void => {
        for (const [study, t] of tallies) {
          this.#audit?.record({
            ...this.#base(ctx),
            action: 'store',
            outcome: t.failed > 0 && t.stored + t.duplicates === 0 ? 'failure' : 'success',
            patientHospitalId: ctx.session.hospital.id,
            ...(study !== '' ? { studyUid: study } : {}),
            object: `stored ${t.stored} instance(s)`,
            detail: { ...t },
          });
        }
        tallies.clear();
      };
      if (ctx.signal.aborted) queueMicrotask(flush);
      else ctx.signal.addEventListener('abort', flush, { once: true });
    }
    const t = m.get(studyUid) ?? { stored: 0, duplicates: 0, failed: 0 };
    if (kind === 'stored') t.stored++;
    else if (kind === 'duplicate') t.duplicates++;
    else t.failed++;
    m.set(studyUid, t);
  }
}
