/**
 * Kysely table types of the archive database (same schema on SQLite and PostgreSQL, see migrations.ts).
 * Booleans are stored as integers 0/1 on both dialects; times as ISO-8601 text.
 */
import type { Generated } from 'kysely';
import type { AuditChainHeadTable, AuditEventsTable } from './migrations-audit.ts';
import type {
  AccessionCountersTable,
  ExamEventsTable,
  ExamsTable,
  Hl7MessagesTable,
  Hl7SendersTable,
  HospitalPoliciesTable,
  MatchSuggestionsTable,
  RisPatientsTable,
  StudyArrivalsTable,
} from './migrations-workflow.ts';
import type {
  DeliveryChannelsTable,
  DeliveryOutboxTable,
  ReportHeadersTable,
  ReportPhrasesTable,
  ReportTemplatesTable,
  ReportVersionsTable,
  ReportsTable,
} from './migrations-reporting.ts';

export interface HospitalsTable {
  id: Generated<number>;
  code: string;
  name: string;
  is_center: number;
  default_charset: string | null;
  created_at: string;
  /** 0/1: associations need user identity (username + passcode), see db/migrations-policy.ts */
  require_user_identity: Generated<number>;
}

export interface ApplicationEntitiesTable {
  id: Generated<number>;
  ae_title: string;
  hospital_id: number;
  host: string | null;
  port: number | null;
  description: string | null;
  created_at: string;
}

/** Person name columns: raw value, normalized groups (alphabetic, ideographic, phonetic) and fuzzy form. */
export interface PatientsTable {
  id: Generated<number>;
  hospital_id: number;
  /** '' when the instances carry no Patient ID */
  patient_id: string;
  /** Issuer of Patient ID, '' when absent */
  issuer: string;
  /** '' normally; the Study Instance UID when the Patient ID is empty (one anonymous patient per study) */
  anon_key: string;
  patient_name: string | null;
  name_a: string | null;
  name_i: string | null;
  name_p: string | null;
  name_fz: string | null;
  birth_date: string | null;
  birth_time: string | null;
  sex: string | null;
  other_ids: string | null;
  num_studies: number;
  num_series: number;
  num_instances: number;
  created_at: string;
  updated_at: string;
}

export interface StudiesTable {
  id: Generated<number>;
  hospital_id: number;
  patient_fk: number;
  study_instance_uid: string;
  study_date: string | null;
  study_time: string | null;
  accession_number: string | null;
  accession_issuer: string | null;
  study_id: string | null;
  description: string | null;
  ref_phys_name: string | null;
  ref_phys_a: string | null;
  ref_phys_i: string | null;
  ref_phys_p: string | null;
  ref_phys_fz: string | null;
  institution_name: string | null;
  patient_age: string | null;
  patient_size: string | null;
  patient_weight: string | null;
  /** distinct Modality values of the study's series, sorted, joined by '\' */
  modalities: string;
  /** distinct SOP Class UIDs of the study's instances, sorted, joined by '\' */
  sop_classes: string;
  num_series: number;
  num_instances: number;
  patient_conflict: number;
  conflict_detail: string | null;
  created_at: string;
  updated_at: string;
}

export interface SeriesTable {
  id: Generated<number>;
  hospital_id: number;
  study_fk: number;
  series_instance_uid: string;
  modality: string | null;
  series_number: number | null;
  description: string | null;
  series_date: string | null;
  series_time: string | null;
  body_part: string | null;
  station_name: string | null;
  manufacturer: string | null;
  institution_name: string | null;
  pps_start_date: string | null;
  pps_start_time: string | null;
  num_instances: number;
  created_at: string;
  updated_at: string;
}

export interface InstancesTable {
  id: Generated<number>;
  hospital_id: number;
  study_fk: number;
  series_fk: number;
  sop_instance_uid: string;
  sop_class_uid: string;
  instance_number: number | null;
  content_date: string | null;
  content_time: string | null;
  acquisition_date: string | null;
  number_of_frames: number | null;
  pixel_rows: number | null;
  pixel_columns: number | null;
  bits_allocated: number | null;
  blob_key: string;
  size: number;
  sha256: string;
  transfer_syntax_uid: string;
  received_from_ae: string | null;
  source: string;
  received_at: string;
  charset: string | null;
}

export interface ApiTokensTable {
  id: Generated<number>;
  hospital_id: number;
  name: string;
  /** sha256 hex of the token; the token itself is shown once at creation */
  token_hash: string;
  created_at: string;
  revoked_at: string | null;
  last_used_at: string | null;
}

/** A user of a hospital (see db/migrations-accounts.ts). */
export interface UsersTable {
  id: Generated<number>;
  hospital_id: number;
  /** lower-cased; unique */
  username: string;
  display_name: string;
  /** argon2id PHC string */
  password_hash: string;
  /** comma-separated role names */
  roles: string;
  /** resident | attending | associate_chief | chief | null */
  grade: string | null;
  must_change_password: number;
  disabled: number;
  failed_logins: number;
  locked_until: string | null;
  password_changed_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface SessionsTable {
  /** sha256 hex of the session token */
  id: string;
  user_id: number;
  csrf_token_hash: string;
  created_at: string;
  last_seen_at: string;
  /** absolute expiry */
  expires_at: string;
  ip: string | null;
  user_agent: string | null;
  revoked_at: string | null;
}

/** grade → privilege (write_preliminary, review, sign, …): data, not code */
export interface GradeRulesTable {
  grade: string;
  privilege: string;
}

export interface Schema {
  hospitals: HospitalsTable;
  application_entities: ApplicationEntitiesTable;
  patients: PatientsTable;
  studies: StudiesTable;
  series: SeriesTable;
  instances: InstancesTable;
  api_tokens: ApiTokensTable;
  users: UsersTable;
  sessions: SessionsTable;
  grade_rules: GradeRulesTable;
  audit_events: AuditEventsTable;
  audit_chain_head: AuditChainHeadTable;
  // the reading workflow (db/migrations-workflow.ts)
  ris_patients: RisPatientsTable;
  exams: ExamsTable;
  exam_events: ExamEventsTable;
  study_arrivals: StudyArrivalsTable;
  match_suggestions: MatchSuggestionsTable;
  hospital_policies: HospitalPoliciesTable;
  accession_counters: AccessionCountersTable;
  hl7_senders: Hl7SendersTable;
  hl7_messages: Hl7MessagesTable;
  // reporting and delivery (db/migrations-reporting.ts)
  reports: ReportsTable;
  report_versions: ReportVersionsTable;
  report_templates: ReportTemplatesTable;
  report_phrases: ReportPhrasesTable;
  report_headers: ReportHeadersTable;
  delivery_channels: DeliveryChannelsTable;
  delivery_outbox: DeliveryOutboxTable;
}
