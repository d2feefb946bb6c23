/**
 * Migration `0006_workflow`: the regional reading workflow (see ris/model.ts and docs/workflow.md).
 *
 * - `ris_patients`: patients as the member hospital's HIS knows them, qualified by hospital + issuer
 *   (unique). Merged patients (ADT^A40) keep their row with `merged_into` set.
 * - `exams`: one per order (accession number unique per hospital); state, time stamps, policy decisions
 *   fixed at registration (read at center, review, limit), the linked study, the reader, `version` for
 *   optimistic locking. Worklist indexes: (status, due_at), (hospital_id, status, registered_at),
 *   (assigned_to, status), (registered_at).
 * - `exam_events`: the history of every exam (append-only).
 * - `study_arrivals`: stored studies the workflow has seen, receiving → stable (examined after
 *   `stableSeconds` without new instances); `exam_id` once linked.
 * - `match_suggestions`: weaker-evidence candidates (exam, study) with score and reasons.
 * - `hospital_policies`: 一院一策 as JSON documents, one row per hospital.
 * - `accession_counters`: generated accession numbers (registration form) per hospital and day.
 * - `hl7_senders`: which MSH-4 sending facility (+ optional MSH-3 application) is which hospital.
 * - `hl7_messages`: every received HL7 message with its processing outcome (kept for inspection).
 */
import type { Generated, Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import { sql, type RawBuilder } from 'kysely';
import type { DialectName } from './migrations.ts';

/* eslint-disable @typescript-eslint/no-explicit-any -- migrations build a schema that does not exist yet */
type AnyDb = Kysely<any>;
/* eslint-enable @typescript-eslint/no-explicit-any */

export interface RisPatientsTable {
  id: Generated<number>;
  hospital_id: number;
  patient_id: string;
  issuer: string;
  name: string;
  sex: string | null;
  birth_date: string | null;
  phone: string | null;
  merged_into: number | null;
  created_at: string;
  updated_at: string;
}

export interface ExamsTable {
  id: Generated<number>;
  hospital_id: number;
  ris_patient_id: number;
  accession_number: string;
  placer_order_number: string | null;
  /** JSON ExamItem[] */
  exam_items: string;
  modality: string;
  body_part: string | null;
  /** emergency | routine */
  priority: string;
  patient_class: string | null;
  complex: number;
  clinical_history: string | null;
  symptoms: string | null;
  clinical_diagnosis: string | null;
  exam_purpose: string | null;
  requesting_department: string | null;
  requesting_physician: string | null;
  scheduled_at: string | null;
  /** hl7 | fhir | form */
  source: string;
  status: string;
  status_at: string;
  registered_at: string;
  examined_at: string | null;
  matched_at: string | null;
  reported_at: string | null;
  reviewed_at: string | null;
  study_id: number | null;
  study_instance_uid: string | null;
  read_at_center: number;
  review_required: number;
  limit_minutes: number;
  due_at: string | null;
  assigned_to: number | null;
  assigned_at: string | null;
  identity_conflict: string | null;
  /** search helper: patient name, patient ID and accession, lower-cased */
  search_text: string;
  version: number;
  created_at: string;
  updated_at: string;
}

export interface ExamEventsTable {
  id: Generated<number>;
  exam_id: number;
  at: string;
  kind: string;
  from_status: string | null;
  to_status: string | null;
  actor_type: string;
  actor_id: string | null;
  actor_name: string;
  detail: string | null;
}

export interface StudyArrivalsTable {
  /** studies.id */
  study_id: number;
  hospital_id: number;
  first_at: string;
  last_at: string;
  /** receiving | stable */
  state: string;
  exam_id: number | null;
}

export interface MatchSuggestionsTable {
  id: Generated<number>;
  exam_id: number;
  study_id: number;
  score: number;
  /** JSON string[] */
  reasons: string;
  /** open | accepted | rejected */
  status: string;
  created_at: string;
}

export interface HospitalPoliciesTable {
  hospital_id: number;
  /** JSON HospitalPolicy without hospitalId/updatedAt */
  policy: string;
  updated_at: string;
}

export interface AccessionCountersTable {
  hospital_id: number;
  /** YYYYMMDD */
  day: string;
  next: number;
}

export interface Hl7SendersTable {
  id: Generated<number>;
  hospital_id: number;
  /** MSH-4 (namespace id), upper-cased */
  sending_facility: string;
  /** MSH-3 (namespace id), upper-cased; '' = any application of the facility */
  sending_application: string;
  created_at: string;
}

export interface Hl7MessagesTable {
  id: Generated<number>;
  received_at: string;
  /** remote address:port */
  peer: string | null;
  hospital_id: number | null;
  sending_application: string | null;
  sending_facility: string | null;
  /** e.g. ORM^O01 */
  message_type: string | null;
  control_id: string | null;
  /** the charset the message was decoded with, e.g. GB18030 */
  charset: string | null;
  /** the message decoded (segments separated by \r); undecodable bytes as U+FFFD */
  text: string;
  /** the raw bytes, base64 (for inspection of charset problems) */
  raw_base64: string;
  /** accepted | rejected | error | duplicate */
  outcome: string;
  /** AA | AE | AR */
  ack_code: string | null;
  error: string | null;
  exam_id: number | null;
  processed_at: string | null;
}

function types(dialect: DialectName): { text: RawBuilder<unknown>; big: 'integer' | 'bigint' } {
  return dialect === 'postgres'
    ? { text: sql`text collate "C"`, big: 'bigint' }
    : { text: sql`text`, big: 'integer' };
}

export function workflowMigration(dialect: DialectName): Migration {
  const { text, big } = types(dialect);
  const pk = dialect === 'postgres' ? 'bigserial' : 'integer';
  return {
    async up(db: AnyDb): Promise<void> {
      await db.schema
        .createTable('ris_patients')
        .addColumn('id', pk, (c) => c.primaryKey())
        .addColumn('hospital_id', big, (c) => c.notNull().references('hospitals.id'))
        .addColumn('patient_id', text, (c) => c.notNull())
        .addColumn('issuer', text, (c) => c.notNull())
        .addColumn('name', text, (c) => c.notNull())
        .addColumn('sex', text)
        .addColumn('birth_date', text)
        .addColumn('phone', text)
        .addColumn('merged_into', big)
        .addColumn('created_at', text, (c) => c.notNull())
        .addColumn('updated_at', text, (c) => c.notNull())
        .addUniqueConstraint('ris_patients_identity', ['hospital_id', 'issuer', 'patient_id'])
        .execute();

      await db.schema
        .createTable('exams')
        .addColumn('id', pk, (c) => c.primaryKey())
        .addColumn('hospital_id', big, (c) => c.notNull().references('hospitals.id'))
        .addColumn('ris_patient_id', big, (c) => c.notNull().references('ris_patients.id'))
        .addColumn('accession_number', text, (c) => c.notNull())
        .addColumn('placer_order_number', text)
        .addColumn('exam_items', text, (c) => c.notNull())
        .addColumn('modality', text, (c) => c.notNull())
        .addColumn('body_part', text)
        .addColumn('priority', text, (c) => c.notNull())
        .addColumn('patient_class', text)
        .addColumn('complex', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('clinical_history', text)
        .addColumn('symptoms', text)
        .addColumn('clinical_diagnosis', text)
        .addColumn('exam_purpose', text)
        .addColumn('requesting_department', text)
        .addColumn('requesting_physician', text)
        .addColumn('scheduled_at', text)
        .addColumn('source', text, (c) => c.notNull())
        .addColumn('status', text, (c) => c.notNull())
        .addColumn('status_at', text, (c) => c.notNull())
        .addColumn('registered_at', text, (c) => c.notNull())
        .addColumn('examined_at', text)
        .addColumn('matched_at', text)
        .addColumn('reported_at', text)
        .addColumn('reviewed_at', text)
        .addColumn('study_id', big)
        .addColumn('study_instance_uid', text)
        .addColumn('read_at_center', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('review_required', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('limit_minutes', 'integer', (c) => c.notNull())
        .addColumn('due_at', text)
        .addColumn('assigned_to', big)
        .addColumn('assigned_at', text)
        .addColumn('identity_conflict', text)
        .addColumn('search_text', text, (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('created_at', text, (c) => c.notNull())
        .addColumn('updated_at', text, (c) => c.notNull())
        .addUniqueConstraint('exams_accession', ['hospital_id', 'accession_number'])
        .execute();
      await db.schema.createIndex('exams_status_due').on('exams').columns(['status', 'due_at']).execute();
      await db.schema
        .createIndex('exams_hospital_status')
        .on('exams')
        .columns(['hospital_id', 'status', 'registered_at'])
        .execute();
      await db.schema.createIndex('exams_assigned').on('exams').columns(['assigned_to', 'status']).execute();
      await db.schema.createIndex('exams_registered').on('exams').column('registered_at').execute();
      await db.schema.createIndex('exams_patient').on('exams').column('ris_patient_id').execute();
      await db.schema.createIndex('exams_study').on('exams').column('study_id').execute();

      await db.schema
        .createTable('exam_events')
        .addColumn('id', pk, (c) => c.primaryKey())
        .addColumn('exam_id', big, (c) => c.notNull().references('exams.id'))
        .addColumn('at', text, (c) => c.notNull())
        .addColumn('kind', text, (c) => c.notNull())
        .addColumn('from_status', text)
        .addColumn('to_status', text)
        .addColumn('actor_type', text, (c) => c.notNull())
        .addColumn('actor_id', text)
        .addColumn('actor_name', text, (c) => c.notNull())
        .addColumn('detail', text)
        .execute();
      await db.schema.createIndex('exam_events_exam').on('exam_events').columns(['exam_id', 'id']).execute();

      await db.schema
        .createTable('study_arrivals')
        .addColumn('study_id', big, (c) => c.primaryKey())
        .addColumn('hospital_id', big, (c) => c.notNull())
        .addColumn('first_at', text, (c) => c.notNull())
        .addColumn('last_at', text, (c) => c.notNull())
        .addColumn('state', text, (c) => c.notNull())
        .addColumn('exam_id', big)
        .execute();
      await db.schema
        .createIndex('study_arrivals_state')
        .on('study_arrivals')
        .columns(['state', 'last_at'])
        .execute();
      await db.schema
        .createIndex('study_arrivals_unmatched')
        .on('study_arrivals')
        .columns(['exam_id', 'hospital_id'])
        .execute();

      await db.schema
        .createTable('match_suggestions')
        .addColumn('id', pk, (c) => c.primaryKey())
        .addColumn('exam_id', big, (c) => c.notNull().references('exams.id'))
        .addColumn('study_id', big, (c) => c.notNull())
        .addColumn('score', 'integer', (c) => c.notNull())
        .addColumn('reasons', text, (c) => c.notNull())
        .addColumn('status', text, (c) => c.notNull())
        .addColumn('created_at', text, (c) => c.notNull())
        .addUniqueConstraint('match_suggestions_pair', ['exam_id', 'study_id'])
        .execute();
      await db.schema
        .createIndex('match_suggestions_study')
        .on('match_suggestions')
        .column('study_id')
        .execute();

      await db.schema
        .createTable('hospital_policies')
        .addColumn('hospital_id', big, (c) => c.primaryKey().references('hospitals.id'))
        .addColumn('policy', text, (c) => c.notNull())
        .addColumn('updated_at', text, (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('accession_counters')
        .addColumn('hospital_id', big, (c) => c.notNull())
        .addColumn('day', text, (c) => c.notNull())
        .addColumn('next', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint('accession_counters_pk', ['hospital_id', 'day'])
        .execute();

      await db.schema
        .createTable('hl7_senders')
        .addColumn('id', pk, (c) => c.primaryKey())
        .addColumn('hospital_id', big, (c) => c.notNull().references('hospitals.id'))
        .addColumn('sending_facility', text, (c) => c.notNull())
        .addColumn('sending_application', text, (c) => c.notNull())
        .addColumn('created_at', text, (c) => c.notNull())
        .addUniqueConstraint('hl7_senders_identity', ['sending_facility', 'sending_application'])
        .execute();

      await db.schema
        .createTable('hl7_messages')
        .addColumn('id', pk, (c) => c.primaryKey())
        .addColumn('received_at', text, (c) => c.notNull())
        .addColumn('peer', text)
        .addColumn('hospital_id', big)
        .addColumn('sending_application', text)
        .addColumn('sending_facility', text)
        .addColumn('message_type', text)
        .addColumn('control_id', text)
        .addColumn('charset', text)
        .addColumn('text', text, (c) => c.notNull())
        .addColumn('raw_base64', text, (c) => c.notNull())
        .addColumn('outcome', text, (c) => c.notNull())
        .addColumn('ack_code', text)
        .addColumn('error', text)
        .addColumn('exam_id', big)
        .addColumn('processed_at', text)
        .execute();
      await db.schema
        .createIndex('hl7_messages_control')
        .on('hl7_messages')
        .columns(['sending_facility', 'control_id'])
        .execute();
      await db.schema
        .createIndex('hl7_messages_hospital')
        .on('hl7_messages')
        .columns(['hospital_id', 'id'])
        .execute();
    },
    async down(db: AnyDb): Promise<void> {
      for (const t of [
        'hl7_messages',
        'hl7_senders',
        'accession_counters',
        'hospital_policies',
        'match_suggestions',
        'study_arrivals',
        'exam_events',
        'exams',
        'ris_patients',
      ]) {
        await db.schema.dropTable(t).execute();
      }
    },
  };
}
