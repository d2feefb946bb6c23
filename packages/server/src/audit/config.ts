/** Audit configuration from the environment. */
import { HuiyingError } from '../errors.ts';

/** Logs must be kept at least six months (Cybersecurity Law of the PRC, art. 21). */
export const MIN_RETENTION_DAYS = 180;

export interface AuditConfig {
  retentionDays: number;
}

export function auditConfigFrom(env: Record<string, string | undefined> = process.env): AuditConfig {
  const raw = env.HUIYING_AUDIT_RETENTION_DAYS;
  if (raw === undefined || raw.trim() === '') return { retentionDays: MIN_RETENTION_DAYS };
  const days = Number(raw);
  if (!Number.isInteger(days))
    throw new HuiyingError(
      'invalid-input',
      `HUIYING_AUDIT_RETENTION_DAYS: '${raw}' is not a whole number of days`,
    );
  if (days < MIN_RETENTION_DAYS)
    throw new HuiyingError(
      'invalid-input',
      `HUIYING_AUDIT_RETENTION_DAYS: ${days} is below the legal minimum of ${MIN_RETENTION_DAYS} days (6 months of logs)`,
    );
  return { retentionDays: days };
}
