/** fetch wrapper: same-origin cookie session, CSRF header on state-changing requests, problem+json errors. */

export type Role =
  | 'system_admin'
  | 'center_radiologist'
  | 'center_qc_manager'
  | 'member_technologist'
  | 'member_clinician'
  | 'hospital_admin'
  | 'auditor';
export const ROLES: Role[] = [
  'system_admin',
  'center_radiologist',
  'center_qc_manager',
  'member_technologist',
  'member_clinician',
  'hospital_admin',
  'auditor',
];
export type Grade = 'resident' | 'attending' | 'associate_chief' | 'chief';
export const GRADES: Grade[] = ['resident', 'attending', 'associate_chief', 'chief'];

export interface User {
  id: number;
  hospitalId: number;
  username: string;
  displayName: string;
  roles: Role[];
  grade: Grade | null;
  mustChangePassword: boolean;
  disabled: boolean;
  lockedUntil: string | null;
  createdAt: string;
}

export interface Hospital {
  id: number;
  code: string;
  name: string;
  isCenter: boolean;
  defaultCharset?: string | null;
}

export interface Me {
  user: User;
  hospital: Hospital | null;
  csrfToken: string;
  mustChangePassword: boolean;
  readOnly: boolean;
  privileges: string[];
}

export interface Ae {
  id: number;
  aeTitle: string;
  hospitalId: number;
  host?: string;
  port?: number;
  description?: string;
}

export interface ApiToken {
  id: number;
  hospitalId: number;
  name: string;
  createdAt: string;
  revokedAt?: string;
  lastUsedAt?: string;
}

export interface AuditEvent {
  id: number;
  at: string;
  actorType: string;
  actorId: string | null;
  actorName: string | null;
  source: string | null;
  protocol: string;
  action: string;
  outcome: string;
  patientId: string | null;
  studyUid: string | null;
  object: string | null;
  detail: string | null;
}

export class ApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

let csrfToken = '';
export function setCsrfToken(t: string): void {
  csrfToken = t;
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken !== '') headers['x-csrf-token'] = csrfToken;
  const r = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  if (!r.ok) {
    let title = r.statusText;
    try {
      const p = (await r.json()) as { title?: string };
      if (typeof p.title === 'string') title = p.title;
    } catch {
      // not JSON
    }
    throw new ApiError(r.status, title);
  }
  if (r.status === 204) return undefined as T;
  return (await r.json()) as T;
}
