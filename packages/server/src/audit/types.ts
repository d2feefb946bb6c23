/** Audit trail vocabulary (see repository.ts for storage and the hash chain). */

export type ActorType = 'user' | 'api_token' | 'ae' | 'system' | 'anonymous' | 'hl7' | 'fhir';
export type AuditProtocol = 'dimse' | 'dicomweb' | 'http' | 'cli' | 'hl7' | 'fhir';
export type AuditOutcome = 'success' | 'failure' | 'denied';

/** What a hook records; `at` defaults to now. */
export interface AuditEventInput {
  at?: string;
  actorType: ActorType;
  actorId?: string | undefined;
  actorName?: string | undefined;
  hospitalId?: number | undefined;
  source?: string | undefined;
  protocol: AuditProtocol;
  /** login, login_failed, logout, query, retrieve, view_metadata, store, export, admin_change, … */
  action: string;
  outcome: AuditOutcome;
  status?: string | undefined;
  patientHospitalId?: number | undefined;
  patientId?: string | undefined;
  studyUid?: string | undefined;
  object?: string | undefined;
  detail?: Record<string, unknown> | undefined;
}

/** A stored event. */
export interface AuditEvent {
  id: number;
  at: string;
  actorType: string;
  actorId: string | null;
  actorName: string | null;
  hospitalId: number | null;
  source: string | null;
  protocol: string;
  action: string;
  outcome: string;
  status: string | null;
  patientHospitalId: number | null;
  patientId: string | null;
  studyUid: string | null;
  object: string | null;
  detail: string | null;
  prevHash: string;
  hash: string;
}

export interface AuditSearch {
  /** ISO time, inclusive */
  from?: string;
  /** ISO time, exclusive */
  to?: string;
  /** actor id or name */
  actor?: string;
  action?: string;
  outcome?: string;
  patientId?: string;
  studyUid?: string;
  hospitalId?: number;
  /** default 100, at most 10 000 */
  limit?: number;
  offset?: number;
}

export type VerifyResult =
  | { ok: true; checked: number; firstId?: number; lastId?: number }
  | { ok: false; checked: number; brokenAt: number; reason: string };
