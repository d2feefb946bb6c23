/** Accounts: roles, grades and the user record as the rest of the platform sees it (no hash). */

export const ROLES = [
  'system_admin',
  'center_radiologist',
  'center_qc_manager',
  'member_technologist',
  'member_clinician',
  'hospital_admin',
  'auditor',
] as const;
export type Role = (typeof ROLES)[number];

/** Roles that give a user of the center hospital the center's view (every hospital it serves). */
export const CENTER_ROLES: readonly Role[] = ['system_admin', 'center_radiologist', 'center_qc_manager'];

/** 住院医师, 主治医师, 副主任医师, 主任医师 */
export const GRADES = ['resident', 'attending', 'associate_chief', 'chief'] as const;
export type Grade = (typeof GRADES)[number];

export function isRole(r: string): r is Role {
  return (ROLES as readonly string[]).includes(r);
}

export function isGrade(g: string): g is Grade {
  return (GRADES as readonly string[]).includes(g);
}

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
  passwordChangedAt: string | null;
  createdAt: string;
  updatedAt: string;
}

/** Usernames: letters, digits, `.`, `_`, `-`; 2–64 characters; compared case-insensitively. */
export const USERNAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$/;
