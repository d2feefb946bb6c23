/**
 * What the archive's services need from the index (implemented in ../db over Kysely for SQLite and
 * PostgreSQL). The domain code depends on these interfaces only.
 */
import type { InstanceAttributes, Matcher, QueryLevel } from '@huiying/dicom';

export interface Hospital {
  id: number;
  code: string; // short code, e.g. CHENCUN
  name: string; // 陈村医院
  isCenter: boolean;
  /** default Specific Character Set for files that declare none or mislabel GBK as Latin-1, e.g. 'GB18030' */
  defaultCharset?: string;
  createdAt: string;
  /** policy: DIMSE associations of this hospital's AEs must carry user identity (username + passcode) */
  requireUserIdentity?: boolean;
}

export interface ApplicationEntity {
  id: number;
  aeTitle: string;
  hospitalId: number;
  host?: string;
  port?: number;
  description?: string;
  /** may act as C-MOVE destination (needs host+port) */
  createdAt: string;
}

/** Which hospitals' data a caller may see. */
export type AccessScope = { kind: 'all' } | { kind: 'hospitals'; hospitalIds: number[] };

/** One instance ready to be indexed after its blob is durable. */
export interface IndexInstance {
  hospitalId: number;
  attributes: InstanceAttributes;
  blobKey: string;
  size: number;
  sha256: string;
  transferSyntaxUid: string;
  receivedFromAe?: string;
  /** 'dimse' | 'stow' | 'import' */
  source: string;
  receivedAt: string; // ISO time
}

export type DuplicatePolicy = 'keep' | 'replace';

export interface IndexResult {
  outcome: 'stored' | 'duplicate-kept' | 'replaced';
  instanceId: number;
  /** set when the study's instances disagree on patient identity (flag raised) */
  patientConflict?: string;
  /** blob key that is no longer referenced (replaced) and may be deleted */
  orphanedBlobKey?: string;
}

/** A query against the index (C-FIND / QIDO). Keys are DICOM keywords (e.g. 'PatientName'). */
export interface IndexQuery {
  level: QueryLevel;
  /** patient root vs study root changes nothing in SQL, but PATIENT level is only valid for patient root */
  keys: Record<string, Matcher>;
  scope: AccessScope;
  /** case- and component-insensitive person-name matching (QIDO fuzzymatching=true) */
  fuzzy?: boolean;
  limit?: number;
  offset?: number;
}

/** One result row: keyword → value (strings; multi-valued joined by '\'), plus ids for retrieval. */
export interface IndexRow {
  hospitalId: number;
  values: Record<string, string | number | undefined>;
  /** STUDY/SERIES/IMAGE rows: the study's patient-identity conflict detail when its flag is raised */
  patientConflict?: string;
}

export interface InstanceLocation {
  instanceId: number;
  hospitalId: number;
  studyInstanceUid: string;
  seriesInstanceUid: string;
  sopInstanceUid: string;
  sopClassUid: string;
  transferSyntaxUid: string;
  blobKey: string;
  size: number;
}

export interface ArchiveIndex {
  /** Index a batch in one transaction (group commit). Results in input order. */
  indexInstances(batch: IndexInstance[], policy: DuplicatePolicy): Promise<IndexResult[]>;
  /** Look up an existing instance (for duplicate detection before storing). */
  findInstance(hospitalId: number, sopInstanceUid: string): Promise<InstanceLocation | undefined>;
  query(q: IndexQuery): Promise<IndexRow[]>;
  /** Instances selected by a retrieve identifier (C-MOVE / C-GET / WADO), scoped. */
  locate(q: IndexQuery): Promise<InstanceLocation[]>;
}

export interface HospitalRepository {
  create(h: {
    code: string;
    name: string;
    isCenter?: boolean;
    defaultCharset?: string;
    requireUserIdentity?: boolean;
  }): Promise<Hospital>;
  list(): Promise<Hospital[]>;
  byCode(code: string): Promise<Hospital | undefined>;
  byId(id: number): Promise<Hospital | undefined>;
}

export interface AeRepository {
  create(ae: {
    aeTitle: string;
    hospitalId: number;
    host?: string;
    port?: number;
    description?: string;
  }): Promise<ApplicationEntity>;
  list(): Promise<ApplicationEntity[]>;
  byTitle(aeTitle: string): Promise<ApplicationEntity | undefined>;
  remove(aeTitle: string): Promise<void>;
}
