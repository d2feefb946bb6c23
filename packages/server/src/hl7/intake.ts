/**
 * The HL7 v2 intake service: one received message (bytes, as framed by MLLP) → stored → identified →
 * decoded → parsed → mapped (whole message) → applied through the RisService → acknowledged.
 *
 *   1. MSH read from the raw bytes (ASCII): MSH-3/4 sender, MSH-9 type, MSH-10 control ID, MSH-18 charset;
 *   2. the sender (MSH-4 + optional MSH-3) → hospital via `hl7_senders`;
 *   3. charset: MSH-18, else the hospital's default charset, else UTF-8; strict decoding;
 *   4. the message is stored (raw base64 + decoded text) BEFORE anything else happens;
 *   5. unknown sender → AR; undecodable bytes → AE; duplicate (same facility + control ID already
 *      accepted, same content) → AA again without applying anything;
 *   6. the whole message is mapped (mapping.ts) — any error → NAK and nothing is applied;
 *   7. commands are applied; the outcome, ACK code, error and exam id are recorded.
 *
 * The acknowledgement is encoded in the message's charset. It never throws for bad input: every message
 * gets an ACK (a database failure while storing surfaces as AE 207 without a stored row).
 */
import type { HospitalRepository } from '../archive/ports.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import type { Log } from '../logger.ts';
import type { Actor } from '../ris/model.ts';
import type { RisService } from '../ris/ports.ts';
import { HuiyingError, messageOf } from '../errors.ts';
import {
  charsetOf,
  DEFAULT_CHARSET,
  decodeLenient,
  decodeStrict,
  declaredCharset,
  encodeText,
  firstInvalidOffset,
  peekMsh,
  resolveCharset,
  type Hl7Charset,
  type MshPeek,
} from './charset.ts';
import { buildAck, parseHl7, type AckCode, type AckContext, type AckError } from './message.ts';
import { Hl7RejectError, mapMessage, type Hl7Command } from './mapping.ts';
import type { Hl7Outcome, Hl7Repository } from './repository.ts';

export interface Hl7IntakeOptions {
  repo: Hl7Repository;
  hospitals: HospitalRepository;
  ris: RisService;
  log?: Log;
  /** messages that are refused (unknown sender: denied; bad content: failure) are audited here; accepted
   *  ones are audited by the RisService as the order changes they cause */
  audit?: Pick<AuditLog, 'record'>;
  /** UTC offset of times without a zone (HL7 DTM), default +08:00 */
  defaultUtcOffset?: string;
}

export interface IntakeResult {
  /** the acknowledgement, encoded, not framed */
  ack: Buffer;
  ackCode: AckCode;
  outcome: Exclude<Hl7Outcome, 'received'>;
  /** the stored message (undefined only when storing failed) */
  messageId: number | undefined;
  error: string | undefined;
  /** exams created or changed */
  examIds: number[];
}

interface Envelope {
  msh: MshPeek | undefined;
  facility: string;
  application: string;
  controlId: string;
  messageType: string;
  ackCtx: AckContext;
}

function envelopeOf(raw: Buffer): Envelope {
  const msh = peekMsh(raw);
  const f = (n: number, c = 1): string => {
    if (msh === undefined) return '';
    const v = msh.fields[n] ?? '';
    const cs = msh.fields[2]?.[0] ?? '^';
    const rs = msh.fields[2]?.[1] ?? '~';
    return ((v.split(rs)[0] ?? '').split(cs)[c - 1] ?? '').trim();
  };
  const type = f(9, 1).toUpperCase();
  const trigger = f(9, 2).toUpperCase();
  const facility = f(4);
  const application = f(3);
  const controlId = f(10);
  return {
    msh,
    facility,
    application,
    controlId,
    messageType: trigger === '' ? type : `${type}^${trigger}`,
    ackCtx: {
      sendingApplication: application,
      sendingFacility: facility,
      receivingApplication: f(5),
      receivingFacility: f(6),
      controlId,
      trigger,
      processingId: f(11),
      version: f(12),
      charset: msh === undefined ? '' : declaredCharset(msh),
    },
  };
}

/** The message text without MSH-7 (a resend may carry a new timestamp), for duplicate detection. */
function withoutTimestamp(text: string): string {
  const cut = text.search(/[\r\n]/);
  const first = cut < 0 ? text : text.slice(0, cut);
  if (!first.startsWith('MSH') || first.length < 4) return text;
  const fs = first.charAt(3);
  const parts = first.split(fs);
  if (parts.length > 6) parts[6] = '';
  return parts.join(fs) + (cut < 0 ? '' : text.slice(cut).replace(/\r\n|\n/g, '\r'));
}

const ERROR_CODE: Readonly<Record<string, string>> = {
  'not-found': '204',
  conflict: '205',
  'invalid-input': '102',
  forbidden: '207',
  unsupported: '200',
};

export class Hl7Intake {
  private readonly repo: Hl7Repository;
  private readonly hospitals: HospitalRepository;
  private readonly ris: RisService;
  private readonly log: Log | undefined;
  private readonly audit: Pick<AuditLog, 'record'> | undefined;
  private readonly offset: string;

  constructor(opts: Hl7IntakeOptions) {
    this.repo = opts.repo;
    this.hospitals = opts.hospitals;
    this.ris = opts.ris;
    this.log = opts.log;
    this.audit = opts.audit;
    this.offset = opts.defaultUtcOffset ?? '+08:00';
  }

  /** Process one message and answer it; never throws. */
  async handle(raw: Buffer, peer: string): Promise<IntakeResult> {
    const receivedAt = new Date().toISOString();
    const env = envelopeOf(raw);
    let messageId: number | undefined;
    let hospitalId: number | undefined;
    let charset: Hl7Charset = DEFAULT_CHARSET;
    const answer = async (
      code: AckCode,
      outcome: IntakeResult['outcome'],
      error?: AckError,
      examIds: number[] = [],
      messageType?: string,
    ): Promise<IntakeResult> => {
      if (messageId !== undefined) {
        try {
          await this.repo.finishMessage(messageId, {
            outcome,
            ackCode: code,
            error: error?.message ?? null,
            examId: examIds[0] ?? null,
            ...(messageType !== undefined ? { messageType } : {}),
          });
        } catch (err) {
          this.log?.('error', 'hl7: recording the outcome failed', { messageId, error: messageOf(err) });
        }
      }
      if (outcome === 'rejected' || outcome === 'error') {
        this.audit?.record({
          actorType: 'hl7',
          ...(env.facility !== '' ? { actorId: env.facility.toUpperCase() } : {}),
          actorName: `${env.facility.toUpperCase() || '?'}/${env.application.toUpperCase() || '*'}`,
          ...(hospitalId !== undefined ? { hospitalId } : {}),
          source: peer,
          protocol: 'hl7',
          action: 'hl7_message',
          outcome: outcome === 'rejected' && hospitalId === undefined ? 'denied' : 'failure',
          status: code,
          object: `hl7_message:${messageId ?? '-'}`,
          detail: {
            messageType: env.messageType,
            controlId: env.controlId,
            ...(error !== undefined ? { code: error.code, error: error.message } : {}),
          },
        });
      }
      const level =
        outcome === 'accepted' || outcome === 'duplicate' ? 'debug' : outcome === 'error' ? 'error' : 'warn';
      this.log?.(level, `hl7: ${env.messageType || 'message'} ${outcome}`, {
        peer,
        facility: env.facility,
        controlId: env.controlId,
        ack: code,
        ...(error !== undefined ? { error: error.message } : {}),
        ...(examIds.length > 0 ? { examIds } : {}),
      });
      return {
        ack: encodeText(buildAck(env.ackCtx, code, error), charset),
        ackCode: code,
        outcome,
        messageId,
        error: error?.message,
        examIds,
      };
    };

    if (env.msh === undefined) {
      messageId = await this.store(
        raw,
        peer,
        receivedAt,
        env,
        null,
        null,
        decodeLenient(raw, DEFAULT_CHARSET),
      );
      return answer('AR', 'rejected', {
        code: '100',
        message: '不是 HL7 消息（缺少 MSH 段）/ not an HL7 v2 message: it does not start with an MSH segment',
        location: 'MSH',
      });
    }

    // sender → hospital
    let sender;
    let hospital;
    try {
      sender = await this.repo.findSender(env.facility, env.application);
      hospital = sender === undefined ? undefined : await this.hospitals.byId(sender.hospitalId);
      hospitalId = hospital?.id;
    } catch (err) {
      return answer('AE', 'error', { code: '207', message: `内部错误 / internal error: ${messageOf(err)}` });
    }

    // charset: MSH-18, else the hospital's default, else UTF-8
    const declared = env.ackCtx.charset;
    const resolved = resolveCharset(declared, hospital?.defaultCharset);
    let text: string | undefined;
    let charsetError: AckError | undefined;
    if (!resolved.ok) {
      env.ackCtx.charset = '';
      charsetError = {
        code: '103',
        message: `不支持的字符集 / unsupported character set MSH-18 '${resolved.label}' (supported: UNICODE UTF-8, GB 18030-2000, GBK, 8859/1)`,
        location: 'MSH^1^18',
      };
      text = decodeLenient(raw, DEFAULT_CHARSET);
    } else {
      charset = resolved.charset;
      text = decodeStrict(raw, charset);
      if (text === undefined) {
        const at = firstInvalidOffset(raw, charset);
        const where =
          resolved.source === 'msh-18'
            ? `MSH-18 '${declared}'`
            : resolved.source === 'hospital'
              ? `the hospital default charset ${hospital?.defaultCharset ?? ''} (MSH-18 empty)`
              : 'UTF-8 (MSH-18 empty and no hospital default charset)';
        const gb = charsetOf('GB18030');
        const hint =
          charset.encoding === 'utf-8' && gb !== undefined && decodeStrict(raw, gb) !== undefined
            ? '; they are valid GB18030: send MSH-18 GB 18030-2000 or set the hospital default charset'
            : '';
        charsetError = {
          code: '102',
          message: `字符集不符 / the bytes are not valid ${charset.hl7}${at !== undefined ? ` (segment at byte ${at})` : ''}, declared by ${where}${hint}`,
          location: 'MSH^1^18',
        };
        text = decodeLenient(raw, charset);
      }
    }

    try {
      messageId = await this.store(
        raw,
        peer,
        receivedAt,
        env,
        hospital?.id ?? null,
        resolved.ok ? charset.hl7 : declared,
        text,
      );
    } catch (err) {
      return answer('AE', 'error', {
        code: '207',
        message: `消息无法保存，请重发 / the message could not be stored, resend later: ${messageOf(err)}`,
      });
    }

    if (sender === undefined || hospital === undefined) {
      return answer('AR', 'rejected', {
        code: '204',
        message: `未登记的发送机构 / unknown sending facility '${env.facility}'${env.application !== '' ? ` (application '${env.application}')` : ''}: register it with huiying hl7 sender add`,
        location: 'MSH^1^4',
      });
    }
    if (charsetError !== undefined) return answer('AE', 'rejected', charsetError);

    let msg;
    try {
      msg = parseHl7(text);
    } catch (err) {
      return answer('AE', 'rejected', {
        code: '100',
        message: `无法解析 / cannot parse the message: ${messageOf(err)}`,
      });
    }

    // a resend of an accepted message: acknowledge again, apply nothing
    if (env.controlId !== '') {
      try {
        const previous = await this.repo.acceptedWithControlId(env.facility, env.controlId);
        const me = withoutTimestamp(text);
        if (previous.some((p) => withoutTimestamp(p.text) === me)) return answer('AA', 'duplicate');
      } catch (err) {
        return answer('AE', 'error', {
          code: '207',
          message: `内部错误 / internal error: ${messageOf(err)}`,
        });
      }
    }

    let commands: Hl7Command[];
    let messageType: string;
    try {
      const mapped = mapMessage(msg, {
        hospitalId: hospital.id,
        hospitalCode: hospital.code,
        defaultOffset: this.offset,
      });
      commands = mapped.commands;
      messageType = mapped.messageType;
    } catch (err) {
      if (err instanceof Hl7RejectError)
        return answer(err.ackCode, 'rejected', {
          code: err.hl7Code,
          message: err.message,
          ...(err.location !== undefined ? { location: err.location } : {}),
        });
      return answer('AE', 'rejected', {
        code: '100',
        message: `无法解析 / cannot map the message: ${messageOf(err)}`,
      });
    }

    const actor: Actor = {
      type: 'hl7',
      id: sender.sendingFacility,
      name: `${sender.sendingFacility}/${env.application !== '' ? env.application.toUpperCase() : '*'}`,
      source: peer,
    };
    const examIds: number[] = [];
    for (const cmd of commands) {
      try {
        const id = await this.apply(hospital.id, cmd, actor);
        if (id !== undefined) examIds.push(id);
      } catch (err) {
        const partial = examIds.length > 0 ? ` (${examIds.length} of ${commands.length} orders applied)` : '';
        if (err instanceof HuiyingError && err.code !== 'unavailable' && err.code !== 'internal') {
          return answer(
            'AE',
            'rejected',
            { code: ERROR_CODE[err.code] ?? '207', message: `${describe(cmd)}: ${err.message}${partial}` },
            examIds,
            messageType,
          );
        }
        return answer(
          'AE',
          'error',
          {
            code: '207',
            message: `内部错误，请重发 / internal error, resend later: ${messageOf(err)}${partial}`,
          },
          examIds,
          messageType,
        );
      }
    }
    return answer('AA', 'accepted', undefined, examIds, messageType);
  }

  /** The NAK for a message over the size limit (the head of the message; it is stored too). */
  async oversized(head: Buffer, size: number, peer: string, limit: number): Promise<Buffer> {
    const env = envelopeOf(head);
    const message = `消息过大 / the message of ${size} bytes exceeds the limit of ${limit} bytes`;
    try {
      const id = await this.store(
        head,
        peer,
        new Date().toISOString(),
        env,
        null,
        null,
        decodeLenient(head, DEFAULT_CHARSET),
      );
      await this.repo.finishMessage(id, { outcome: 'rejected', ackCode: 'AR', error: message });
    } catch (err) {
      this.log?.('error', 'hl7: storing an oversized message failed', { error: messageOf(err) });
    }
    this.log?.('warn', 'hl7: message too large', { peer, size, limit, facility: env.facility });
    env.ackCtx.charset = '';
    return Buffer.from(buildAck(env.ackCtx, 'AR', { code: '207', message }), 'utf8');
  }

  private async apply(hospitalId: number, cmd: Hl7Command, actor: Actor): Promise<number | undefined> {
    switch (cmd.kind) {
      case 'placeOrder':
        return (await this.ris.placeOrder(cmd.order, actor)).exam.id;
      case 'changeOrder':
        return (await this.ris.changeOrder(hospitalId, cmd.accessionNumber, cmd.change, actor)).id;
      case 'cancelOrder':
        return (await this.ris.cancelOrder(hospitalId, cmd.accessionNumber, cmd.reason, actor)).id;
      case 'upsertPatient':
        await this.ris.upsertPatient(hospitalId, cmd.patient, actor);
        return undefined;
      case 'mergePatients':
        await this.ris.mergePatients(hospitalId, cmd.survivor, cmd.prior, actor);
        return undefined;
    }
  }

  private store(
    raw: Buffer,
    peer: string,
    receivedAt: string,
    env: Envelope,
    hospitalId: number | null,
    charset: string | null,
    text: string,
  ): Promise<number> {
    const nz = (v: string): string | null => (v === '' ? null : v);
    return this.repo.insertMessage({
      receivedAt,
      peer,
      hospitalId,
      sendingApplication: nz(env.application.toUpperCase()),
      sendingFacility: nz(env.facility.toUpperCase()),
      messageType: nz(env.messageType),
      controlId: nz(env.controlId),
      charset,
      text: text.replace(/\r\n|\n/g, '\r'),
      raw,
    });
  }
}

function describe(cmd: Hl7Command): string {
  switch (cmd.kind) {
    case 'placeOrder':
      return `新医嘱 / new order ${cmd.order.accessionNumber ?? ''}`;
    case 'changeOrder':
      return `修改医嘱 / change of order ${cmd.accessionNumber}`;
    case 'cancelOrder':
      return `撤销医嘱 / cancel of order ${cmd.accessionNumber}`;
    case 'upsertPatient':
      return `患者信息更新 / patient update ${cmd.patient.patientId}`;
    case 'mergePatients':
      return `患者合并 / merge of ${cmd.prior.patientId} into ${cmd.survivor.patientId}`;
  }
}
