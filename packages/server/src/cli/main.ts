/**
 * `huiying` — the platform's command line. Every command has --help.
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/config.ts';
import { openArchive, startServer, type Archive } from '../app.ts';
import { createLogger } from '../logger.ts';
import { HuiyingError, messageOf } from '../errors.ts';
import { importFiles } from './import.ts';
import { scuEcho, scuFind, scuGet, scuMove, scuSend } from './scu.ts';
import { personNameToString } from '../dimse-adapter/identifier.ts';
import { QUERY_KEY_BY_TAG } from '../archive/query-keys.ts';
import { AUDIT_HELP, auditCommand, cliAdminEvent } from '../audit/cli.ts';
import { userInfo } from 'node:os';
import { cliActor, type Actor } from '../accounts/service.ts';
import { GRADES } from '../accounts/model.ts';
import { demoReport, seedDemo } from '../demo/seed.ts';
import { KyselyHospitalRepository } from '../archive/index-repositories.ts';
import { HL7_HELP, hl7Command } from '../hl7/cli.ts';

const HELP: Record<string, string> = {
  main: `huiying — regional medical imaging platform (汇影)

Usage: huiying <command> [options]

Commands:
  serve                         start the DICOM (DIMSE) and HTTP listeners
  import <paths…>               import files, folders or a DICOMDIR into the archive
  hospital add|list|set         manage hospitals (the center and member hospitals)
  ae add|list|remove            manage application entities (DICOM nodes) of hospitals
  user add|list|reset-password|disable|enable   user accounts (staff of the center and member hospitals)
  demo                          seed a demo region (hospitals, AEs, users, studies) — DEMO ONLY
  token create|list|revoke      API tokens for machine clients (DICOMweb), per hospital
  audit search|export|verify    the audit trail: search, export (CSV/NDJSON), verify the hash chain
  echo <AE>                     C-ECHO a registered remote AE
  find <AE> -k Key=value …      C-FIND on a registered remote AE
  move <AE> -k Key=value …      C-MOVE from a remote AE (to us by default)
  get <AE> -k Key=value …       C-GET from a remote AE into our archive
  send <AE> <files|study:UID>…  C-STORE files or a stored study to a remote AE
  hl7 send|sender               HL7 v2: send message files over MLLP; which sending facility is which hospital

Configuration comes from HUIYING_* environment variables (see docs/configuration.md).
Run 'huiying <command> --help' for the options of a command.`,
  serve: `Usage: huiying serve

Starts the archive: DIMSE on HUIYING_DICOM_PORT (default 11112, AE HUIYING_AE_TITLE), HTTP on
HUIYING_HTTP_PORT (default 8080), data in HUIYING_DATA_DIR (default ./data). Stops on SIGINT/SIGTERM.`,
  import: `Usage: huiying import --hospital CODE [--concurrency N] <file|folder|DICOMDIR>…

Imports DICOM files as instances of the hospital CODE (the hospital that issued the patient IDs).
Non-DICOM files are reported and skipped. Prints a summary; exit code 1 if any file failed.`,
  hospital: `Usage:
  huiying hospital add CODE --name NAME [--center] [--charset GB18030] [--require-user-identity]
  huiying hospital set CODE --require-user-identity true|false
  huiying hospital list

--center     the regional center (its AEs and users see every hospital's data)
--charset    default Specific Character Set for this hospital's files that declare none
             or carry GBK bytes labelled ISO_IR 100 (e.g. GB18030)
--require-user-identity
             DIMSE associations from this hospital's AEs must carry user identity negotiation
             (username + password of an active user of the hospital or the center with a data role)`,
  ae: `Usage:
  huiying ae add TITLE --hospital CODE [--host HOST --port PORT] [--description TEXT]
  huiying ae list
  huiying ae remove TITLE

Only registered AEs may associate with us; each maps to its hospital. Host and port make the AE a
C-MOVE destination and a peer for the SCU commands.`,
  token: `Usage:
  huiying token create --hospital CODE --name NAME   prints the token once (Authorization: Bearer …)
  huiying token list
  huiying token revoke ID

A token acts for its hospital: a member hospital's token sees that hospital's studies, the center's
sees every hospital, and STOW-RS stores for the token's hospital.`,
  audit: AUDIT_HELP,
  hl7: HL7_HELP,
  user: `Usage:
  huiying user add USERNAME --hospital CODE --name NAME --role ROLE[,ROLE] [--grade GRADE]
  huiying user list
  huiying user reset-password USERNAME
  huiying user disable USERNAME
  huiying user enable USERNAME

Roles: system_admin, center_radiologist, center_qc_manager, member_technologist, member_clinician,
       hospital_admin, auditor
Grades (radiologists): ${GRADES.join(', ')} (住院医师, 主治医师, 副主任医师, 主任医师)
'add' and 'reset-password' print a one-time temporary password; it must be changed at first login.
Every change is recorded in the audit trail (actor cli).`,
  demo: `Usage: huiying demo [--password PASSWORD]

Seeds a demo region into HUIYING_DATA_DIR: the center 南方医科大学顺德医院 区域医学影像诊断中心, the member
hospitals 陈村医院, 杏坛医院, 大良医院, 均安医院, their AEs, users of every role and grade sharing ONE demo
password (--password, or a random one printed once; no forced change — DEMO ONLY) and CT/MR/DR/US
studies of Chinese-named patients, ingested like received data. Running it again changes nothing.`,
  echo: `Usage: huiying echo AE`,
  find: `Usage: huiying find AE [--level STUDY] [--root study|patient] -k Keyword=value [-k Keyword] …

Prints one JSON object per match. -k Keyword with no value asks for the key to be returned.`,
  move: `Usage: huiying move AE [--dest AE] [--level STUDY] [--root study|patient] -k StudyInstanceUID=… …`,
  get: `Usage: huiying get AE --sop-class UID[,UID…] [--level STUDY] [--root study|patient] -k StudyInstanceUID=… …

Retrieves with C-GET; the instances are ingested into our archive under the remote AE's hospital.
--sop-class lists the storage SOP classes to offer (default CT, MR, CR, DX, SC, US, XA, PT, NM, MG).`,
  send: `Usage: huiying send AE <file|folder|study:StudyInstanceUID>…`,
};

const DEFAULT_SOP_CLASSES = [
  '1.2.840.10008.5.1.4.1.1.2', // CT
  '1.2.840.10008.5.1.4.1.1.4', // MR
  '1.2.840.10008.5.1.4.1.1.1', // CR
  '1.2.840.10008.5.1.4.1.1.1.1', // DX
  '1.2.840.10008.5.1.4.1.1.7', // SC
  '1.2.840.10008.5.1.4.1.1.6.1', // US
  '1.2.840.10008.5.1.4.1.1.12.1', // XA
  '1.2.840.10008.5.1.4.1.1.128', // PET
  '1.2.840.10008.5.1.4.1.1.20', // NM
  '1.2.840.10008.5.1.4.1.1.1.2', // MG
];

interface QrArgs {
  title: string | undefined;
  level: string;
  root: 'study' | 'patient';
  keys: string[];
  dest: string | undefined;
  sopClasses: string[] | undefined;
}

function parseQr(args: string[]): QrArgs {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      level: { type: 'string', default: 'STUDY' },
      root: { type: 'string', default: 'study' },
      key: { type: 'string', short: 'k', multiple: true },
      dest: { type: 'string' },
      'sop-class': { type: 'string' },
    },
  });
  if (values.root !== 'study' && values.root !== 'patient')
    throw new HuiyingError('invalid-input', '--root is study or patient');
  return {
    title: positionals[0],
    level: values.level,
    root: values.root,
    keys: values.key ?? [],
    dest: values.dest,
    sopClasses: values['sop-class']?.split(','),
  };
}

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

async function withArchive<T>(fn: (a: Archive) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const archive = await openArchive(config, createLogger(config.logLevel === 'debug' ? 'debug' : 'warn'));
  try {
    return await fn(archive);
  } finally {
    await archive.close();
  }
}

async function hospitalOf(a: Archive, code: string | undefined): Promise<number> {
  if (code === undefined) throw new HuiyingError('invalid-input', '--hospital CODE is required');
  const h = await a.hospitals.byCode(code);
  if (h === undefined)
    throw new HuiyingError('not-found', `hospital ${code} does not exist (huiying hospital add)`);
  return h.id;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    out(HELP.main ?? '');
    return cmd === undefined ? 1 : 0;
  }
  if (cmd === '--version') {
    out('huiying 0.1.0');
    return 0;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    const h = HELP[cmd];
    if (h === undefined) throw new HuiyingError('invalid-input', `unknown command '${cmd}'`);
    out(h);
    return 0;
  }
  switch (cmd) {
    case 'serve': {
      const config = loadConfig();
      const server = await startServer(config);
      await new Promise<void>((resolve) => {
        const stop = (): void => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await server.close();
      return 0;
    }
    case 'import': {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { hospital: { type: 'string' }, concurrency: { type: 'string', default: '4' } },
      });
      if (positionals.length === 0)
        throw new HuiyingError('invalid-input', 'nothing to import (give files, folders or a DICOMDIR)');
      return withArchive(async (a) => {
        const hospitalId = await hospitalOf(a, values.hospital);
        const s = await importFiles(a.ingest, hospitalId, positionals, {
          concurrency: Number(values.concurrency),
          progress: true,
        });
        out(
          `files: ${s.files}, stored: ${s.stored}, replaced: ${s.replaced}, duplicates: ${s.duplicates}, failed: ${s.failures.length}`,
        );
        for (const f of s.failures) out(`  failed: ${f.path}: ${f.reason}`);
        return s.failures.length > 0 ? 1 : 0;
      });
    }
    case 'hospital': {
      const [sub, ...args] = rest;
      const { values, positionals } = parseArgs({
        args,
        allowPositionals: true,
        options: {
          name: { type: 'string' },
          center: { type: 'boolean', default: false },
          charset: { type: 'string' },
          // `add`: a flag; `set CODE --require-user-identity true|false`: a value
          'require-user-identity': { type: sub === 'set' ? 'string' : 'boolean' },
        },
      });
      const requireUserIdentity = values['require-user-identity'];
      return withArchive(async (a) => {
        if (sub === 'set') {
          const code = positionals[0];
          if (code === undefined || (requireUserIdentity !== 'true' && requireUserIdentity !== 'false'))
            throw new HuiyingError(
              'invalid-input',
              'usage: huiying hospital set CODE --require-user-identity true|false',
            );
          const h = await new KyselyHospitalRepository(a.database.db).update(code, {
            requireUserIdentity: requireUserIdentity === 'true',
          });
          if (h === undefined) throw new HuiyingError('not-found', `hospital ${code} does not exist`);
          a.audit.record(
            cliAdminEvent(
              'hospital_set',
              `hospital ${h.code}`,
              { code: h.code, requireUserIdentity: h.requireUserIdentity === true },
              h.id,
            ),
          );
          out(
            `hospital ${h.code}: user identity ${h.requireUserIdentity === true ? 'required' : 'not required'} for DIMSE associations`,
          );
          return 0;
        }
        if (sub === 'add') {
          const code = positionals[0];
          if (code === undefined || values.name === undefined)
            throw new HuiyingError('invalid-input', 'usage: huiying hospital add CODE --name NAME');
          const h = await a.hospitals.create({
            code,
            name: values.name,
            isCenter: values.center,
            ...(values.charset !== undefined ? { defaultCharset: values.charset } : {}),
            requireUserIdentity: requireUserIdentity === true,
          });
          a.audit.record(
            cliAdminEvent(
              'hospital_add',
              `hospital ${h.code}`,
              {
                code: h.code,
                name: h.name,
                isCenter: h.isCenter,
                requireUserIdentity: h.requireUserIdentity === true,
              },
              h.id,
            ),
          );
          out(`hospital ${h.code} (${h.name}) added${h.isCenter ? ' as the center' : ''}`);
          return 0;
        }
        if (sub === 'list') {
          for (const h of await a.hospitals.list())
            out(
              `${h.code}\t${h.name}${h.isCenter ? '\t[center]' : ''}${h.defaultCharset !== undefined ? `\tcharset=${h.defaultCharset}` : ''}${h.requireUserIdentity === true ? '\t[user identity required]' : ''}`,
            );
          return 0;
        }
        throw new HuiyingError('invalid-input', `unknown: hospital ${sub ?? ''} (add|list|set)`);
      });
    }
    case 'ae': {
      const [sub, ...args] = rest;
      const { values, positionals } = parseArgs({
        args,
        allowPositionals: true,
        options: {
          hospital: { type: 'string' },
          host: { type: 'string' },
          port: { type: 'string' },
          description: { type: 'string' },
        },
      });
      return withArchive(async (a) => {
        if (sub === 'add') {
          const title = positionals[0];
          if (title === undefined)
            throw new HuiyingError('invalid-input', 'usage: huiying ae add TITLE --hospital CODE');
          if (!/^[\x20-\x5b\x5d-\x7e]{1,16}$/.test(title))
            throw new HuiyingError('invalid-input', `invalid AE title '${title}'`);
          const hospitalId = await hospitalOf(a, values.hospital);
          const port = values.port === undefined ? undefined : Number(values.port);
          if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65535))
            throw new HuiyingError('invalid-input', `invalid port ${values.port ?? ''}`);
          const ae = await a.aes.create({
            aeTitle: title,
            hospitalId,
            ...(values.host !== undefined ? { host: values.host } : {}),
            ...(port !== undefined ? { port } : {}),
            ...(values.description !== undefined ? { description: values.description } : {}),
          });
          a.audit.record(
            cliAdminEvent(
              'ae_add',
              `AE ${ae.aeTitle}`,
              { aeTitle: ae.aeTitle, host: ae.host, port: ae.port },
              hospitalId,
            ),
          );
          out(`AE ${ae.aeTitle} added`);
          return 0;
        }
        if (sub === 'list') {
          const hs = new Map((await a.hospitals.list()).map((h) => [h.id, h.code]));
          for (const ae of await a.aes.list())
            out(
              `${ae.aeTitle}\t${hs.get(ae.hospitalId) ?? '?'}\t${ae.host ?? ''}${ae.port !== undefined ? `:${ae.port}` : ''}`,
            );
          return 0;
        }
        if (sub === 'remove') {
          const title = positionals[0];
          if (title === undefined) throw new HuiyingError('invalid-input', 'usage: huiying ae remove TITLE');
          await a.aes.remove(title);
          a.audit.record(cliAdminEvent('ae_remove', `AE ${title}`, { aeTitle: title }));
          out(`AE ${title} removed`);
          return 0;
        }
        throw new HuiyingError('invalid-input', `unknown: ae ${sub ?? ''} (add|list|remove)`);
      });
    }
    case 'token': {
      const [sub, ...args] = rest;
      const { values, positionals } = parseArgs({
        args,
        allowPositionals: true,
        options: { hospital: { type: 'string' }, name: { type: 'string' } },
      });
      return withArchive(async (a) => {
        if (sub === 'create') {
          if (values.name === undefined) throw new HuiyingError('invalid-input', '--name NAME is required');
          const hospitalId = await hospitalOf(a, values.hospital);
          const { token, record } = await a.tokens.create(hospitalId, values.name);
          a.audit.record(
            cliAdminEvent(
              'token_create',
              `token ${record.id}`,
              { tokenId: record.id, name: record.name },
              hospitalId,
            ),
          );
          process.stderr.write(`token ${record.id} (${record.name}) created; it is shown only now:\n`);
          out(token);
          return 0;
        }
        if (sub === 'list') {
          const hs = new Map((await a.hospitals.list()).map((h) => [h.id, h.code]));
          for (const t of await a.tokens.list()) {
            out(
              `${t.id}\t${hs.get(t.hospitalId) ?? '?'}\t${t.name}\t${t.createdAt}${t.revokedAt !== undefined ? `\trevoked ${t.revokedAt}` : ''}`,
            );
          }
          return 0;
        }
        if (sub === 'revoke') {
          const id = Number(positionals[0]);
          if (!Number.isInteger(id))
            throw new HuiyingError('invalid-input', 'usage: huiying token revoke ID');
          await a.tokens.revoke(id);
          a.audit.record(cliAdminEvent('token_revoke', `token ${id}`, { tokenId: id }));
          out(`token ${id} revoked`);
          return 0;
        }
        throw new HuiyingError('invalid-input', `unknown: token ${sub ?? ''} (create|list|revoke)`);
      });
    }
    case 'user':
      return userCommand(rest);
    case 'demo': {
      const { values } = parseArgs({ args: rest, options: { password: { type: 'string' } } });
      return withArchive(async (a) => {
        const r = await seedDemo(a, {
          ...(values.password !== undefined ? { password: values.password } : {}),
          print: (t) => process.stdout.write(t),
        });
        await a.audit.flush().catch(() => undefined);
        out(demoReport(r, a.config.httpPort));
        return 0;
      });
    }
    case 'audit':
      return withArchive((a) => auditCommand(a.audit, (code) => hospitalOf(a, code), rest));
    case 'hl7':
      return hl7Command(rest, withArchive, out);
    case 'echo': {
      const title = rest[0];
      if (title === undefined) throw new HuiyingError('invalid-input', 'usage: huiying echo AE');
      return withArchive(async (a) => {
        const status = await scuEcho(a, title);
        out(status === 0 ? `C-ECHO ${title}: success` : `C-ECHO ${title}: status 0x${status.toString(16)}`);
        return status === 0 ? 0 : 1;
      });
    }
    case 'find': {
      const q = parseQr(rest);
      const title = q.title;
      if (title === undefined) throw new HuiyingError('invalid-input', 'usage: huiying find AE -k Key=value');
      return withArchive(async (a) => {
        const results = await scuFind(a, title, {
          level: q.level,
          root: q.root,
          keys: q.keys,
        });
        for (const r of results) {
          const obj: Record<string, string> = {};
          for (const [tag, el] of Object.entries(r)) {
            const name = QUERY_KEY_BY_TAG.get(tag)?.keyword ?? tag;
            obj[name] = (el.Value ?? [])
              .map((v) => (el.vr === 'PN' ? personNameToString(v) : String(v as string)))
              .join('\\');
          }
          out(JSON.stringify(obj));
        }
        process.stderr.write(`${results.length} match(es)\n`);
        return 0;
      });
    }
    case 'move': {
      const q = parseQr(rest);
      const title = q.title;
      if (title === undefined)
        throw new HuiyingError('invalid-input', 'usage: huiying move AE -k StudyInstanceUID=…');
      return withArchive(async (a) => {
        const s = await scuMove(a, title, {
          level: q.level,
          root: q.root,
          keys: q.keys,
          destination: q.dest ?? a.config.aeTitle,
        });
        out(`C-MOVE: completed ${s.completed}, failed ${s.failed}, warning ${s.warning}`);
        return s.failed > 0 ? 1 : 0;
      });
    }
    case 'get': {
      const q = parseQr(rest);
      const title = q.title;
      if (title === undefined)
        throw new HuiyingError('invalid-input', 'usage: huiying get AE -k StudyInstanceUID=…');
      return withArchive(async (a) => {
        const sopClasses = q.sopClasses ?? DEFAULT_SOP_CLASSES;
        const s = await scuGet(a, title, {
          level: q.level,
          root: q.root,
          keys: q.keys,
          sopClasses,
        });
        out(`C-GET: completed ${s.completed}, failed ${s.failed}, warning ${s.warning}`);
        return s.failed > 0 ? 1 : 0;
      });
    }
    case 'send': {
      const [title, ...inputs] = rest;
      if (title === undefined || inputs.length === 0)
        throw new HuiyingError('invalid-input', 'usage: huiying send AE <files…>');
      return withArchive(async (a) => {
        const r = await scuSend(a, title, inputs);
        out(`C-STORE: sent ${r.sent}, failed ${r.failed.length}`);
        for (const f of r.failed) out(`  failed: ${f.item}: ${f.reason}`);
        return r.failed.length > 0 ? 1 : 0;
      });
    }
    default:
      throw new HuiyingError('invalid-input', `unknown command '${cmd}' (huiying --help)`);
  }
}

function osUser(): string | undefined {
  try {
    return userInfo().username;
  } catch {
    return undefined;
  }
}

async function userCommand(rest: string[]): Promise<number> {
  const [sub, ...args] = rest;
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      hospital: { type: 'string' },
      name: { type: 'string' },
      role: { type: 'string' },
      grade: { type: 'string' },
    },
  });
  const actor: Actor = cliActor(osUser());
  return withArchive(async (a) => {
    const idOf = async (username: string | undefined): Promise<number> => {
      if (username === undefined)
        throw new HuiyingError('invalid-input', `usage: huiying user ${sub ?? ''} USERNAME`);
      const u = await a.accounts.users.byUsername(username);
      if (u === undefined) throw new HuiyingError('not-found', `no user ${username}`);
      return u.id;
    };
    try {
      if (sub === 'add') {
        const username = positionals[0];
        if (username === undefined || values.name === undefined || values.role === undefined)
          throw new HuiyingError(
            'invalid-input',
            'usage: huiying user add USERNAME --hospital CODE --name NAME --role ROLE[,ROLE]',
          );
        const hospitalId = await hospitalOf(a, values.hospital);
        const { user, temporaryPassword } = await a.accounts.createUser(actor, {
          username,
          displayName: values.name,
          hospitalId,
          roles: values.role.split(',').map((r) => r.trim()),
          grade: values.grade ?? null,
        });
        process.stderr.write(
          `user ${user.username} created; temporary password (shown only now, must be changed at first login):\n`,
        );
        out(temporaryPassword);
        return 0;
      }
      if (sub === 'list') {
        const hs = new Map((await a.hospitals.list()).map((h) => [h.id, h.code]));
        for (const u of await a.accounts.listUsers(actor))
          out(
            [
              u.username,
              hs.get(u.hospitalId) ?? '?',
              u.displayName,
              u.roles.join(','),
              u.grade ?? '',
              u.disabled ? 'disabled' : u.mustChangePassword ? 'must-change-password' : 'active',
            ].join('\t'),
          );
        return 0;
      }
      if (sub === 'reset-password') {
        const { user, temporaryPassword } = await a.accounts.resetPassword(actor, await idOf(positionals[0]));
        process.stderr.write(
          `password of ${user.username} reset; temporary password (shown only now, must be changed at first login):\n`,
        );
        out(temporaryPassword);
        return 0;
      }
      if (sub === 'disable' || sub === 'enable') {
        const user = await a.accounts.setDisabled(actor, await idOf(positionals[0]), sub === 'disable');
        out(`user ${user.username} ${sub}d`);
        return 0;
      }
      throw new HuiyingError(
        'invalid-input',
        `unknown: user ${sub ?? ''} (add|list|reset-password|disable|enable)`,
      );
    } finally {
      await a.audit.flush().catch(() => undefined);
    }
  });
}

/** Entry point of the `huiying` executable. */
export function runCli(): void {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`huiying: ${messageOf(err)}\n`);
      process.exitCode = err instanceof HuiyingError && err.code === 'invalid-input' ? 2 : 1;
    },
  );
}

if (import.meta.main) runCli();
