/**
 * `huiying hl7 …`: send HL7 v2 files over MLLP (testing an interface, replaying a HIS's messages) and
 * manage which sending facility is which hospital.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import type { Archive } from '../app.ts';
import { cliAdminEvent } from '../audit/cli.ts';
import { HuiyingError, messageOf } from '../errors.ts';
import { charsetOf } from './charset.ts';
import { MllpClient, MllpFrameScanner, VT } from './mllp.ts';
import { Hl7Repository, normalizeSenderId } from './repository.ts';

export const HL7_HELP = `Usage:
  huiying hl7 send --host HOST [--port 2575] [--charset CS] [--timeout MS] FILE…
  huiying hl7 sender add FACILITY --hospital CODE [--application APP]
  huiying hl7 sender list
  huiying hl7 sender remove ID | FACILITY [--application APP]

send     sends every message of the files over MLLP, one after the other on one connection, and prints
         each acknowledgement (MSA-1, MSA-2 and the error text). A file holds one or more messages
         (each starting with MSH; CR, LF or CRLF between segments) or MLLP frames. The bytes are sent as
         they are (their charset is the file's); --charset decodes ACKs that do not declare MSH-18.
         Exit code 1 when any message was not accepted (AA).
sender   which MSH-4 sending facility (and optionally only which MSH-3 application) is which hospital.
         Messages from facilities not registered are rejected (AR, "unknown sending facility").`;

/** Split a file into messages: MLLP frames when it holds VT bytes, else at each line starting with MSH. */
export function splitMessages(bytes: Buffer): Buffer[] {
  if (bytes.includes(VT)) {
    const s = new MllpFrameScanner(64 * 1024 * 1024);
    return s.push(bytes).flatMap((e) => (e.type === 'frame' ? [e.data] : []));
  }
  // LF / CRLF → CR (0x0a and 0x0d never occur inside a multi-byte character of UTF-8 or GB18030)
  const text = Buffer.from(bytes.toString('latin1').replace(/\r\n|\n/g, '\r'), 'latin1');
  const starts: number[] = [];
  for (let i = 0; i + 3 <= text.length; i++) {
    if ((i === 0 || text[i - 1] === 0x0d) && text.toString('latin1', i, i + 3) === 'MSH') starts.push(i);
  }
  return starts
    .map((s, k) => text.subarray(s, starts[k + 1] ?? text.length))
    .map((m) => {
      let end = m.length;
      while (end > 0 && (m[end - 1] === 0x0d || m[end - 1] === 0x20)) end--;
      return m.subarray(0, end);
    })
    .filter((m) => m.length > 0);
}

export async function hl7Command(
  args: string[],
  withArchive: <T>(fn: (a: Archive) => Promise<T>) => Promise<T>,
  out: (line: string) => void = (l) => process.stdout.write(`${l}\n`),
): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'send') return send(rest, out);
  if (sub === 'sender') return sender(rest, withArchive, out);
  throw new HuiyingError('invalid-input', `unknown: hl7 ${sub ?? ''} (send|sender)`);
}

async function send(args: string[], out: (line: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      host: { type: 'string' },
      port: { type: 'string', default: '2575' },
      charset: { type: 'string' },
      timeout: { type: 'string', default: '30000' },
    },
  });
  if (values.host === undefined || positionals.length === 0)
    throw new HuiyingError('invalid-input', 'usage: huiying hl7 send --host HOST [--port 2575] FILE…');
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new HuiyingError('invalid-input', `invalid port ${values.port}`);
  const timeoutMs = Number(values.timeout);
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1)
    throw new HuiyingError('invalid-input', `invalid timeout ${values.timeout}`);
  if (values.charset !== undefined && charsetOf(values.charset) === undefined)
    throw new HuiyingError('invalid-input', `unsupported charset ${values.charset}`);
  const client = new MllpClient({ host: values.host, port, timeoutMs });
  let failed = 0;
  let sent = 0;
  try {
    for (const file of positionals) {
      const messages = splitMessages(await readFile(file));
      if (messages.length === 0) {
        out(`${file}: no HL7 message (nothing starts with MSH)`);
        failed++;
        continue;
      }
      for (const [i, m] of messages.entries()) {
        const label = messages.length > 1 ? `${file}#${i + 1}` : file;
        try {
          const ack = await client.sendMessage(
            m,
            values.charset !== undefined ? { charset: values.charset } : {},
          );
          sent++;
          const err = ack.errors.map((e) => `${e.code} ${e.message}`).join('; ');
          out(
            `${label}\t${ack.ackControlId}\t${ack.code}${ack.text !== '' ? `\t${ack.text}` : ''}${err !== '' && err !== ack.text ? `\t${err}` : ''}`,
          );
          if (ack.code !== 'AA' && ack.code !== 'CA') failed++;
        } catch (err) {
          failed++;
          out(`${label}\tfailed: ${messageOf(err)}`);
        }
      }
    }
  } finally {
    await client.close();
  }
  out(`sent ${sent}, not accepted ${failed}`);
  return failed > 0 ? 1 : 0;
}

async function sender(
  args: string[],
  withArchive: <T>(fn: (a: Archive) => Promise<T>) => Promise<T>,
  out: (line: string) => void,
): Promise<number> {
  const [sub, ...rest] = args;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: { hospital: { type: 'string' }, application: { type: 'string' } },
  });
  return withArchive(async (a) => {
    const repo = new Hl7Repository(a.database.db);
    try {
      if (sub === 'add') {
        const facility = positionals[0];
        if (facility === undefined || values.hospital === undefined)
          throw new HuiyingError(
            'invalid-input',
            'usage: huiying hl7 sender add FACILITY --hospital CODE [--application APP]',
          );
        const h = await a.hospitals.byCode(values.hospital);
        if (h === undefined)
          throw new HuiyingError(
            'not-found',
            `hospital ${values.hospital} does not exist (huiying hospital add)`,
          );
        const s = await repo.addSender({
          hospitalId: h.id,
          sendingFacility: facility,
          sendingApplication: values.application ?? null,
        });
        a.audit.record(
          cliAdminEvent(
            'hl7_sender_add',
            `hl7_sender:${s.sendingFacility}`,
            { sendingFacility: s.sendingFacility, sendingApplication: s.sendingApplication },
            h.id,
          ),
        );
        out(
          `HL7 sender ${s.sendingFacility}${s.sendingApplication !== null ? `/${s.sendingApplication}` : ''} added for ${h.code} (id ${s.id})`,
        );
        return 0;
      }
      if (sub === 'list') {
        const hs = new Map((await a.hospitals.list()).map((h) => [h.id, h.code]));
        for (const s of await repo.listSenders())
          out(
            `${s.id}\t${s.sendingFacility}\t${s.sendingApplication ?? '*'}\t${hs.get(s.hospitalId) ?? '?'}`,
          );
        return 0;
      }
      if (sub === 'remove') {
        const key = positionals[0];
        if (key === undefined)
          throw new HuiyingError(
            'invalid-input',
            'usage: huiying hl7 sender remove ID | FACILITY [--application APP]',
          );
        let target;
        if (/^\d+$/.test(key)) target = await repo.senderById(Number(key));
        else {
          const f = normalizeSenderId(key);
          const app = normalizeSenderId(values.application ?? '');
          target = (await repo.listSenders()).find(
            (s) => s.sendingFacility === f && (s.sendingApplication ?? '') === app,
          );
        }
        if (target === undefined) throw new HuiyingError('not-found', `no HL7 sender ${key}`);
        await repo.removeSender(target.id);
        a.audit.record(
          cliAdminEvent(
            'hl7_sender_remove',
            `hl7_sender:${target.sendingFacility}`,
            { sendingFacility: target.sendingFacility, sendingApplication: target.sendingApplication },
            target.hospitalId,
          ),
        );
        out(
          `HL7 sender ${target.sendingFacility}${target.sendingApplication !== null ? `/${target.sendingApplication}` : ''} removed`,
        );
        return 0;
      }
      throw new HuiyingError('invalid-input', `unknown: hl7 sender ${sub ?? ''} (add|list|remove)`);
    } finally {
      await a.audit.flush().catch(() => undefined);
    }
  });
}
