/** `huiying audit search|verify|export|prune`, and the admin_change events of the admin CLI. */
import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import { pipeline } from 'node:stream/promises';
import type { AuditLog } from './audit-log.ts';
import type { AuditEventInput, AuditSearch } from './types.ts';
import { auditConfigFrom } from './config.ts';
import { HuiyingError } from '../errors.ts';

export const AUDIT_HELP = `Usage:
  huiying audit search [filters] [--limit N] [--offset N]   newest first, one JSON object per line
  huiying audit export [filters] [--format csv|ndjson] [--limit N]   oldest first, to stdout
  huiying audit verify [--from ID] [--to ID]                recompute the hash chain
  huiying audit prune                                       apply the retention period now

Filters:
  --from ISO-TIME   --to ISO-TIME (exclusive)   --actor ID-OR-NAME   --action ACTION
  --outcome success|failure|denied   --patient PATIENT-ID   --study STUDY-UID   --hospital CODE

Every access to patient data (DIMSE, DICOMweb), every login and admin change is recorded in a
hash chain: each event's hash covers the previous event's hash, so an edited, deleted or
reordered event breaks 'verify' at that event. Events older than HUIYING_AUDIT_RETENTION_DAYS
(default and minimum 180) are pruned by the server; the prune is itself an event that carries
the hash of the last pruned event, so the remaining chain stays verifiable.
Exit code of verify: 0 intact, 1 broken.`;

/** An admin change made with the CLI (actor: the 'cli' system user, with the OS user name). */
export function cliAdminEvent(
  action: string,
  object: string,
  detail: Record<string, unknown>,
  hospitalId?: number,
): AuditEventInput {
  let osUser: string | undefined;
  try {
    osUser = userInfo().username;
  } catch {
    osUser = undefined;
  }
  return {
    actorType: 'system',
    actorId: 'cli',
    ...(osUser !== undefined ? { actorName: osUser } : {}),
    source: 'local',
    protocol: 'cli',
    action: 'admin_change',
    outcome: 'success',
    ...(hospitalId !== undefined ? { hospitalId } : {}),
    object,
    detail: { change: action, ...detail },
  };
}

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

function intOpt(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new HuiyingError('invalid-input', `--${name}: not a number: ${v}`);
  return n;
}

export async function auditCommand(
  audit: AuditLog,
  hospitalIdOf: (code: string) => Promise<number>,
  args: string[],
): Promise<number> {
  const [sub, ...rest] = args;
  const { values } = parseArgs({
    args: rest,
    allowPositionals: false,
    options: {
      from: { type: 'string' },
      to: { type: 'string' },
      actor: { type: 'string' },
      action: { type: 'string' },
      outcome: { type: 'string' },
      patient: { type: 'string' },
      study: { type: 'string' },
      hospital: { type: 'string' },
      limit: { type: 'string' },
      offset: { type: 'string' },
      format: { type: 'string', default: 'ndjson' },
    },
  });
  if (sub === 'verify') {
    const r = await audit.verify(intOpt('from', values.from), intOpt('to', values.to));
    if (r.ok) {
      out(
        `audit chain intact: ${r.checked} event(s)${r.firstId !== undefined ? ` (${r.firstId}..${r.lastId})` : ''}`,
      );
      return 0;
    }
    out(`audit chain BROKEN at event ${r.brokenAt}: ${r.reason} (${r.checked} event(s) verified before it)`);
    return 1;
  }
  if (sub === 'prune') {
    const { retentionDays } = auditConfigFrom();
    const r = await audit.prune(retentionDays, { protocol: 'cli', actorId: 'cli' });
    out(`pruned ${r.pruned} event(s) older than ${retentionDays} days`);
    return 0;
  }
  const s: AuditSearch = {
    ...(values.from !== undefined ? { from: values.from } : {}),
    ...(values.to !== undefined ? { to: values.to } : {}),
    ...(values.actor !== undefined ? { actor: values.actor } : {}),
    ...(values.action !== undefined ? { action: values.action } : {}),
    ...(values.outcome !== undefined ? { outcome: values.outcome } : {}),
    ...(values.patient !== undefined ? { patientId: values.patient } : {}),
    ...(values.study !== undefined ? { studyUid: values.study } : {}),
    ...(values.hospital !== undefined ? { hospitalId: await hospitalIdOf(values.hospital) } : {}),
  };
  const limit = intOpt('limit', values.limit);
  const offset = intOpt('offset', values.offset);
  if (limit !== undefined) s.limit = limit;
  if (offset !== undefined) s.offset = offset;
  if (sub === 'search') {
    for (const e of await audit.search(s)) out(JSON.stringify(e));
    return 0;
  }
  if (sub === 'export') {
    if (values.format !== 'csv' && values.format !== 'ndjson')
      throw new HuiyingError('invalid-input', '--format is csv or ndjson');
    await pipeline(audit.export(s, values.format), process.stdout, { end: false });
    return 0;
  }
  throw new HuiyingError('invalid-input', `unknown: audit ${sub ?? ''} (search|export|verify|prune)`);
}
