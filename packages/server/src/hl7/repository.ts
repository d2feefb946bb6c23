/**
 * HL7 senders (which MSH-4 facility + optional MSH-3 application is which hospital) and the message log
 * (every received message with its outcome), over Kysely — the same code on SQLite and PostgreSQL.
 * Tables `hl7_senders` and `hl7_messages` (migration 0006_workflow).
 */
import type { Kysely } from 'kysely';
import type { Schema } from '../db/schema.ts';
import { HuiyingError } from '../errors.ts';

export interface Hl7Sender {
  id: number;
  hospitalId: number;
  /** MSH-4 namespace ID, upper case */
  sendingFacility: string;
  /** MSH-3 namespace ID, upper case; null = any application of the facility */
  sendingApplication: string | null;
  createdAt: string;
}

/** received (stored, not yet processed) | accepted | rejected | error | duplicate */
export type Hl7Outcome = 'received' | 'accepted' | 'rejected' | 'error' | 'duplicate';
export const HL7_OUTCOMES: readonly Hl7Outcome[] = ['received', 'accepted', 'rejected', 'error', 'duplicate'];

export interface Hl7MessageRecord {
  id: number;
  receivedAt: string;
  peer: string | null;
  hospitalId: number | null;
  sendingApplication: string | null;
  sendingFacility: string | null;
  messageType: string | null;
  controlId: string | null;
  charset: string | null;
  outcome: Hl7Outcome;
  ackCode: string | null;
  error: string | null;
  examId: number | null;
  processedAt: string | null;
  text: string;
  rawBase64: string;
}

export interface NewHl7Message {
  receivedAt: string;
  peer: string | null;
  hospitalId: number | null;
  sendingApplication: string | null;
  sendingFacility: string | null;
  messageType: string | null;
  controlId: string | null;
  charset: string | null;
  text: string;
  raw: Buffer;
}

export interface Hl7MessageOutcome {
  outcome: Exclude<Hl7Outcome, 'received'>;
  ackCode: string;
  error?: string | null;
  examId?: number | null;
  messageType?: string | null;
}

export interface Hl7MessageQuery {
  /** only these hospitals (the caller's scope); undefined = all */
  hospitalIds?: number[];
  hospitalId?: number;
  outcome?: Hl7Outcome;
  /** default 50, at most 500 */
  limit?: number;
  offset?: number;
}

/** Sending facility / application identifiers: HD namespace IDs, upper-cased. */
export function normalizeSenderId(v: string): string {
  return v.trim().toUpperCase();
}

const SENDER_ID = /^[^\s|^~\\&]{1,64}$/u;

export class Hl7Repository {
  private readonly db: Kysely<Schema>;

  constructor(db: Kysely<Schema>) {
    this.db = db;
  }

  // ------------------------------------------------------------------ senders

  async addSender(s: {
    hospitalId: number;
    sendingFacility: string;
    sendingApplication?: string | null;
  }): Promise<Hl7Sender> {
    const facility = normalizeSenderId(s.sendingFacility);
    const application = normalizeSenderId(s.sendingApplication ?? '');
    if (!SENDER_ID.test(facility))
      throw new HuiyingError(
        'invalid-input',
        `invalid sending facility '${s.sendingFacility}' (MSH-4 namespace ID, 1–64 characters, no HL7 delimiters)`,
      );
    if (application !== '' && !SENDER_ID.test(application))
      throw new HuiyingError('invalid-input', `invalid sending application '${s.sendingApplication ?? ''}'`);
    const existing = await this.db
      .selectFrom('hl7_senders')
      .select(['id', 'hospital_id'])
      .where('sending_facility', '=', facility)
      .where('sending_application', '=', application)
      .executeTakeFirst();
    if (existing !== undefined)
      throw new HuiyingError(
        'conflict',
        `HL7 sender ${facility}${application !== '' ? `/${application}` : ''} is already registered (hospital ${existing.hospital_id})`,
      );
    const createdAt = new Date().toISOString();
    try {
      const row = await this.db
        .insertInto('hl7_senders')
        .values({
          hospital_id: s.hospitalId,
          sending_facility: facility,
          sending_application: application,
          created_at: createdAt,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      return {
        id: Number(row.id),
        hospitalId: s.hospitalId,
        sendingFacility: facility,
        sendingApplication: application || null,
        createdAt,
      };
    } catch (err) {
      if (/unique|duplicate/i.test(err instanceof Error ? err.message : String(err)))
        throw new HuiyingError('conflict', `HL7 sender ${facility} is already registered`, { cause: err });
      throw err;
    }
  }

  async listSenders(hospitalIds?: readonly number[]): Promise<Hl7Sender[]> {
    let q = this.db
      .selectFrom('hl7_senders')
      .selectAll()
      .orderBy('sending_facility')
      .orderBy('sending_application');
    if (hospitalIds !== undefined) {
      if (hospitalIds.length === 0) return [];
      q = q.where('hospital_id', 'in', [...hospitalIds]);
    }
    return (await q.execute()).map(senderOf);
  }

  async senderById(id: number): Promise<Hl7Sender | undefined> {
    const row = await this.db.selectFrom('hl7_senders').selectAll().where('id', '=', id).executeTakeFirst();
    return row === undefined ? undefined : senderOf(row);
  }

  async removeSender(id: number): Promise<boolean> {
    const r = await this.db.deleteFrom('hl7_senders').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  /** The sender of MSH-4 + MSH-3: an entry for exactly this application first, then one for any application. */
  async findSender(facility: string, application: string): Promise<Hl7Sender | undefined> {
    const f = normalizeSenderId(facility);
    const a = normalizeSenderId(application);
    if (f === '') return undefined;
    const rows = await this.db
      .selectFrom('hl7_senders')
      .selectAll()
      .where('sending_facility', '=', f)
      .where('sending_application', 'in', a === '' ? [''] : [a, ''])
      .execute();
    const exact =
      rows.find((r) => r.sending_application === a) ?? rows.find((r) => r.sending_application === '');
    return exact === undefined ? undefined : senderOf(exact);
  }

  // ------------------------------------------------------------------ messages

  /** Store a received message before it is processed (outcome `received`). */
  async insertMessage(m: NewHl7Message): Promise<number> {
    const row = await this.db
      .insertInto('hl7_messages')
      .values({
        received_at: m.receivedAt,
        peer: m.peer,
        hospital_id: m.hospitalId,
        sending_application: m.sendingApplication,
        sending_facility: m.sendingFacility,
        message_type: m.messageType,
        control_id: m.controlId,
        charset: m.charset,
        text: m.text,
        raw_base64: m.raw.toString('base64'),
        outcome: 'received',
        ack_code: null,
        error: null,
        exam_id: null,
        processed_at: null,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return Number(row.id);
  }

  async finishMessage(id: number, o: Hl7MessageOutcome): Promise<void> {
    await this.db
      .updateTable('hl7_messages')
      .set({
        outcome: o.outcome,
        ack_code: o.ackCode,
        error: o.error ?? null,
        exam_id: o.examId ?? null,
        processed_at: new Date().toISOString(),
        ...(o.messageType !== undefined ? { message_type: o.messageType } : {}),
      })
      .where('id', '=', id)
      .execute();
  }

  /** Accepted messages of a facility with this control ID (for duplicate detection), newest first. */
  async acceptedWithControlId(facility: string, controlId: string): Promise<{ id: number; text: string }[]> {
    const rows = await this.db
      .selectFrom('hl7_messages')
      .select(['id', 'text'])
      .where('sending_facility', '=', normalizeSenderId(facility))
      .where('control_id', '=', controlId)
      .where('outcome', '=', 'accepted')
      .orderBy('id', 'desc')
      .limit(5)
      .execute();
    return rows.map((r) => ({ id: Number(r.id), text: r.text }));
  }

  async messageById(id: number): Promise<Hl7MessageRecord | undefined> {
    const row = await this.db.selectFrom('hl7_messages').selectAll().where('id', '=', id).executeTakeFirst();
    return row === undefined ? undefined : messageOf(row);
  }

  /** Newest first. */
  async listMessages(q: Hl7MessageQuery): Promise<{ messages: Hl7MessageRecord[]; total: number }> {
    if (q.hospitalIds !== undefined && q.hospitalIds.length === 0) return { messages: [], total: 0 };
    let base = this.db.selectFrom('hl7_messages');
    if (q.hospitalIds !== undefined) base = base.where('hospital_id', 'in', [...q.hospitalIds]);
    if (q.hospitalId !== undefined) base = base.where('hospital_id', '=', q.hospitalId);
    if (q.outcome !== undefined) base = base.where('outcome', '=', q.outcome);
    const limit = Math.min(Math.max(q.limit ?? 50, 1), 500);
    const rows = await base
      .selectAll()
      .orderBy('id', 'desc')
      .limit(limit)
      .offset(q.offset ?? 0)
      .execute();
    const count = await base.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return { messages: rows.map(messageOf), total: Number(count.n) };
  }
}

interface SenderRow {
  id: number;
  hospital_id: number;
  sending_facility: string;
  sending_application: string;
  created_at: string;
}

function senderOf(r: SenderRow): Hl7Sender {
  return {
    id: Number(r.id),
    hospitalId: Number(r.hospital_id),
    sendingFacility: r.sending_facility,
    sendingApplication: r.sending_application === '' ? null : r.sending_application,
    createdAt: r.created_at,
  };
}

interface MessageRow {
  id: number;
  received_at: string;
  peer: string | null;
  hospital_id: number | null;
  sending_application: string | null;
  sending_facility: string | null;
  message_type: string | null;
  control_id: string | null;
  charset: string | null;
  text: string;
  raw_base64: string;
  outcome: string;
  ack_code: string | null;
  error: string | null;
  exam_id: number | null;
  processed_at: string | null;
}

function messageOf(r: MessageRow): Hl7MessageRecord {
  return {
    id: Number(r.id),
    receivedAt: r.received_at,
    peer: r.peer,
    hospitalId: r.hospital_id === null ? null : Number(r.hospital_id),
    sendingApplication: r.sending_application,
    sendingFacility: r.sending_facility,
    messageType: r.message_type,
    controlId: r.control_id,
    charset: r.charset,
    outcome: r.outcome as Hl7Outcome,
    ackCode: r.ack_code,
    error: r.error,
    examId: r.exam_id === null ? null : Number(r.exam_id),
    processedAt: r.processed_at,
    text: r.text,
    rawBase64: r.raw_base64,
  };
}
