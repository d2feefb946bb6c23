/**
 * Passwords: the policy, argon2id hashing (@node-rs/argon2 defaults: argon2id, m=19 MiB, t=2) and
 * temporary passwords for first login and admin resets.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { hash, verify } from '@node-rs/argon2';
import { HuiyingError } from '../errors.ts';

export const MIN_PASSWORD_LENGTH = 10;
export const MAX_PASSWORD_LENGTH = 256;

/** Common passwords that pass the class rules anyway (compared case-insensitively). */
const DENY = new Set([
  'password123',
  'password1!',
  'password@123',
  'passw0rd123',
  'p@ssw0rd123',
  'p@ssword123',
  'admin12345',
  'admin@12345',
  'admin@123456',
  'administrator1',
  'qwerty12345',
  'qwerty@123',
  'qwer1234!@#$',
  'abc123456789',
  'abcd@123456',
  'welcome@123',
  'welcome123!',
  'changeme123',
  'changeme@123',
  'huiying@123',
  'huiying12345',
  'letmein12345',
  'iloveyou123',
  '1qaz2wsx3edc',
  '1qaz@wsx3edc',
  'zaq12wsxcde3',
]);

/** Why a password is refused, or undefined when it satisfies the policy. */
export function passwordProblem(password: string, username: string): string | undefined {
  if (password.length < MIN_PASSWORD_LENGTH)
    return `a password needs at least ${MIN_PASSWORD_LENGTH} characters`;
  if (password.length > MAX_PASSWORD_LENGTH)
    return `a password has at most ${MAX_PASSWORD_LENGTH} characters`;
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^A-Za-z0-9]/].filter((re) => re.test(password)).length;
  if (classes < 3)
    return 'a password needs 3 of: lower-case letters, upper-case letters, digits, other characters';
  const lower = password.toLowerCase();
  const user = username.toLowerCase();
  if (user !== '' && (lower === user || (user.length >= 3 && lower.includes(user))))
    return 'a password must not contain the username';
  if (DENY.has(lower)) return 'this password is too common';
  return undefined;
}

export function assertPasswordPolicy(password: string, username: string): void {
  const why = passwordProblem(password, username);
  if (why !== undefined) throw new HuiyingError('invalid-input', why);
}

export function hashPassword(password: string): Promise<string> {
  return hash(password);
}

export async function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  try {
    return await verify(passwordHash, password);
  } catch {
    return false;
  }
}

let dummy: Promise<string> | undefined;
/** Spend the time of one verification (unknown usernames must not answer faster). */
export async function dummyVerify(password: string): Promise<void> {
  dummy ??= hash(randomBytes(16).toString('hex'));
  await verifyPassword(await dummy, password);
}

const ALPHABETS = ['ABCDEFGHJKLMNPQRSTUVWXYZ', 'abcdefghijkmnopqrstuvwxyz', '23456789', '-_.!@#%+='];

/** A random temporary password that satisfies the policy (16 characters, every class). */
export function temporaryPassword(): string {
  const all = ALPHABETS.join('');
  const chars = ALPHABETS.map((a) => a[randomInt(a.length)] ?? 'x');
  while (chars.length < 16) chars.push(all[randomInt(all.length)] ?? 'x');
  for (let i = chars.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    const t = chars[i] ?? '';
    chars[i] = chars[j] ?? '';
    chars[j] = t;
  }
  return chars.join('');
}
