/**
 * 一院一策: the per-hospital policy applied to an order (pure functions) and its validation.
 * Rules are evaluated in order; the first rule whose every given condition holds wins. A condition that
 * is absent (or an empty list) matches anything.
 */
import { HuiyingError } from '../errors.ts';
import type {
  HospitalPolicy,
  PatientClass,
  Priority,
  ReadingRule,
  ReviewPolicy,
  TimeLimitRule,
} from './model.ts';

export interface PolicySubject {
  modality: string;
  bodyPart?: string | null | undefined;
  priority: Priority;
  patientClass?: PatientClass | null | undefined;
  complex?: boolean | undefined;
}

function listMatches<T extends string>(list: readonly T[] | undefined, value: T | null | undefined): boolean {
  if (list === undefined || list.length === 0) return true;
  if (value === null || value === undefined) return false;
  return list.some((v) => v.toUpperCase() === value.toUpperCase());
}

function baseMatches(rule: ReadingRule | TimeLimitRule, s: PolicySubject): boolean {
  return (
    listMatches(rule.modalities, s.modality) &&
    listMatches(rule.bodyParts, s.bodyPart) &&
    listMatches(rule.priorities, s.priority)
  );
}

/** Does the center read this exam? (no matching rule: yes) */
export function readsAtCenter(policy: HospitalPolicy, s: PolicySubject): boolean {
  for (const rule of policy.readingRules) if (baseMatches(rule, s)) return rule.readAtCenter;
  return true;
}

/** The report time limit in minutes. */
export function limitMinutesFor(policy: HospitalPolicy, s: PolicySubject): number {
  for (const rule of policy.timeLimits) {
    if (!baseMatches(rule, s)) continue;
    if (!listMatches(rule.patientClasses, s.patientClass)) continue;
    if (rule.complex !== undefined && rule.complex !== (s.complex ?? false)) continue;
    return rule.minutes;
  }
  return policy.defaultLimitMinutes;
}

/** Whether the hospital's policy asks for center review of reports (resident: decided per author). */
export function reviewRequiredAtRegistration(policy: HospitalPolicy): boolean {
  return policy.review !== 'never';
}

const PRIORITIES: readonly Priority[] = ['emergency', 'routine'];
const CLASSES: readonly PatientClass[] = ['outpatient', 'inpatient', 'emergency', 'physical_exam'];
const REVIEWS: readonly ReviewPolicy[] = ['always', 'resident', 'never'];
const CODE = /^[A-Z0-9_]{1,16}$/;

function codes(where: string, v: unknown): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.length > 50) throw bad(`${where} must be a list of at most 50 codes`);
  return v.map((x, i) => {
    if (typeof x !== 'string' || !CODE.test(x.toUpperCase()))
      throw bad(`${where}[${i}] must be a code like CT or HEAD`);
    return x.toUpperCase();
  });
}

function enumList<T extends string>(where: string, v: unknown, allowed: readonly T[]): T[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw bad(`${where} must be a list`);
  return v.map((x, i) => {
    if (typeof x !== 'string' || !(allowed as readonly string[]).includes(x))
      throw bad(`${where}[${i}] must be one of ${allowed.join(', ')}`);
    return x as T;
  });
}

function int(where: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw bad(`${where} must be an integer from ${min} to ${max}`);
  return v;
}

function bad(message: string): HuiyingError {
  return new HuiyingError('invalid-input', `policy: ${message}`);
}

function obj(where: string, v: unknown): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(`${where} must be an object`);
  return v as Record<string, unknown>;
}

/** Validate a policy document from an administrator (REST) into a clean HospitalPolicy. */
export function parsePolicy(hospitalId: number, input: unknown): Omit<HospitalPolicy, 'updatedAt'> {
  const o = obj('policy', input);
  const rr = o.readingRules ?? [];
  const tl = o.timeLimits ?? [];
  if (!Array.isArray(rr) || rr.length > 100) throw bad('readingRules must be a list of at most 100 rules');
  if (!Array.isArray(tl) || tl.length > 100) throw bad('timeLimits must be a list of at most 100 rules');
  const readingRules: ReadingRule[] = rr.map((r, i) => {
    const x = obj(`readingRules[${i}]`, r);
    if (typeof x.readAtCenter !== 'boolean')
      throw bad(`readingRules[${i}].readAtCenter must be true or false`);
    const rule: ReadingRule = { readAtCenter: x.readAtCenter };
    const m = codes(`readingRules[${i}].modalities`, x.modalities);
    const b = codes(`readingRules[${i}].bodyParts`, x.bodyParts);
    const p = enumList(`readingRules[${i}].priorities`, x.priorities, PRIORITIES);
    if (m !== undefined) rule.modalities = m;
    if (b !== undefined) rule.bodyParts = b;
    if (p !== undefined) rule.priorities = p;
    return rule;
  });
  const timeLimits: TimeLimitRule[] = tl.map((r, i) => {
    const x = obj(`timeLimits[${i}]`, r);
    const rule: TimeLimitRule = { minutes: int(`timeLimits[${i}].minutes`, x.minutes, 1, 60 * 24 * 30) };
    const m = codes(`timeLimits[${i}].modalities`, x.modalities);
    const b = codes(`timeLimits[${i}].bodyParts`, x.bodyParts);
    const p = enumList(`timeLimits[${i}].priorities`, x.priorities, PRIORITIES);
    const c = enumList(`timeLimits[${i}].patientClasses`, x.patientClasses, CLASSES);
    if (m !== undefined) rule.modalities = m;
    if (b !== undefined) rule.bodyParts = b;
    if (p !== undefined) rule.priorities = p;
    if (c !== undefined) rule.patientClasses = c;
    if (x.complex !== undefined && x.complex !== null) {
      if (typeof x.complex !== 'boolean') throw bad(`timeLimits[${i}].complex must be true or false`);
      rule.complex = x.complex;
    }
    return rule;
  });
  const review = o.review;
  if (typeof review !== 'string' || !(REVIEWS as readonly string[]).includes(review))
    throw bad(`review must be one of ${REVIEWS.join(', ')}`);
  return {
    hospitalId,
    readingRules,
    timeLimits,
    defaultLimitMinutes: int('defaultLimitMinutes', o.defaultLimitMinutes, 1, 60 * 24 * 30),
    review: review as ReviewPolicy,
    stableSeconds: int('stableSeconds', o.stableSeconds, 1, 24 * 3600),
    matchWindowDays: int('matchWindowDays', o.matchWindowDays, 0, 365),
  };
}
