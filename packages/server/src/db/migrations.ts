/**
 * Schema migrations, run by Kysely's Migrator. The same code serves SQLite and PostgreSQL; the dialect
 * switch covers only the id type (`integer` rowid vs `bigserial`), the integer type of foreign keys and
 * sizes (`integer` vs `bigint`) and `collate "C"` on every PostgreSQL text column, so that prefix ranges
 * (`col >= 'ZHA' AND col < 'ZHB'`), LIKE and ordering compare code points on both dialects and LIKE
 * prefixes can use the b-tree indexes.
 *
 * Identity rules (documented in the schema):
 * - a patient is ALWAYS qualified by the hospital that sent it: unique (patient_id, issuer, hospital_id,
 *   anon_key). The same Patient ID at two hospitals is two patients; nothing is ever merged on Patient ID.
 * - a Study Instance UID is unique per hospital: unique (study_instance_uid, hospital_id). The same Study
 *   UID received from two hospitals is two studies (each hospital's copy, scoped separately).
 * - a series is unique within its study, an instance (SOP Instance UID) within its hospital.
 *
 * There is deliberately no single-column index on hospital_id of patients/studies/series: the scope filter
 * (`hospital_id IN (…)`) must never be chosen over a selective matching-key index; a scope-only listing is
 * served by the primary key order with LIMIT.
 */
import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { Migration, MigrationProvider } from 'kysely/migration';
import { accountsMigration } from './migrations-accounts.ts';
import { auditMigration } from './migrations-audit.ts';
import { hospitalAuthPolicyMigration } from './migrations-policy.ts';
import { workflowMigration } from './migrations-workflow.ts';
import { worklistIndexesMigration } from './migrations-worklist.ts';
import { reportingMigration } from './migrations-reporting.ts';

export type DialectName = 'sqlite' | 'postgres';

/* eslint-disable @typescript-eslint/no-explicit-any -- migrations build a schema that does not exist yet */
type AnyDb = Kysely<any>;
/* eslint-enable @typescript-eslint/no-explicit-any */

function types(dialect: DialectName): { text: RawBuilder<unknown>; big: 'integer' | 'bigint' } {
  return dialect === 'postgres'
    ? { text: sql`text collate "C"`, big: 'bigint' }
    : { text: sql`text`, big: 'integer' };
}

function init(dialect: DialectName): Migration {
  const { text, big } = types(dialect);
  const pk = dialect === 'postgres' ? 'bigserial' : 'integer';
  return {
    async up(db: AnyDb): Promise<void> {
      await db.schema
        .createTable('hospitals')
        .addColumn('id', pk, (c) => c.primaryKey())
        .addColumn('code', text, (c) => c.notNull().unique())
        .addColumn('name', text, (c) => c.notNull())
        .addColumn('is_center', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('default_charset', text)
        .addColumn('created_at', text, (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('application_entities')
        .addColumn('id', pk, (c) => c.primaryKey())
        .addColumn('ae_title', text, (c) => c.notNull().unique())
        .addColumn('hospital_id', big, (c) => c.notNull().references('hospitals.id'))
        .addColumn('host', text)
        .addColumn('port', 'integer')
        .addColumn('description', text)
        .addColumn('created_at', text, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('ae_hospital').on('application_entities').column('hospital_id').execute();

      await db.schema
        .createTable('patients')
        .addColumn('id', pk, (c) => c.primaryKey())
        .addColumn('hospital_id', big, (c) => c.notNull().references('hospitals.id'))
        .addColumn('patient_id', text, (c) => c.notNull())
        .addColumn('issuer', text, (c) => c.notNull())
        .addColumn('anon_key', text, (c) => c.notNull())
        .addColumn('patient_name', text)
        .addColumn('name_a', text)
        .addColumn('name_i', text)
        .addColumn('name_p', text)
        .addColumn('name_fz', text)
        .addColumn('birth_date', text)
        .addColumn('birth_time', text)
        .addColumn('sex', text)
        .addColumn('other_ids', text)
        .addColumn('num_studies', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('num_series', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('num_instances', big, (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', text, (c) => c.notNull())
        .addColumn('updated_at', text, (c) => c.notNull())
        .addUniqueConstraint('patients_identity', ['patient_id', 'issuer', 'hospital_id', 'anon_key'])
        .execute();
      await db.schema.createIndex('patients_name_a').on('patients').column('name_a').execute();
      await db.schema.createIndex('patients_name_i').on('patients').column('name_i').execute();
      await db.schema.createIndex('patients_name_p').on('patients').column('name_p').execute();
      await db.schema.createIndex('patients_birth_date').on('patients').column('birth_date').execute();

      await db.schema
        .createTable('studies')
        .addColumn('id', pk, (c) => c.primaryKey())
        .addColumn('hospital_id', big, (c) => c.notNull().references('hospitals.id'))
        .addColumn('patient_fk', big, (c) => c.notNull().references('patients.id'))
        .addColumn('study_instance_uid', text, (c) => c.notNull())
        .addColumn('study_date', text)
        .addColumn('study_time', text)
        .addColumn('accession_number', text)
        .addColumn('accession_issuer', text)
        .addColumn('study_id', text)
        .addColumn('description', text)
        .addColumn('ref_phys_name', text)
        .addColumn('ref_phys_a', text)
        .addColumn('ref_phys_i', text)
        .addColumn('ref_phys_p', text)
        .addColumn('ref_phys_fz', text)
        .addColumn('institution_name', text)
        .addColumn('patient_age', text)
        .addColumn('patient_size', text)
        .addColumn('patient_weight', text)
        .addColumn('modalities', text, (c) => c.notNull().defaultTo(''))
        .addColumn('sop_classes', text, (c) => c.notNull().defaultTo(''))
        .addColumn('num_series', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('num_instances', big, (c) => c.notNull().defaultTo(0))
        .addColumn('patient_conflict', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('conflict_detail', text)
        .addColumn('created_at', text, (c) => c.notNull())
        .addColumn('updated_at', text, (c) => c.notNull())
        .addUniqueConstraint('studies_uid_hospital', ['study_instance_uid', 'hospital_id'])
        .execute();
      await db.schema.createIndex('studies_patient').on('studies').column('patient_fk').execute();
      await db.schema
        .createIndex('studies_date')
        .on('studies')
        .columns(['study_date', 'study_time'])
        .execute();
      await db.schema.createIndex('studies_accession').on('studies').column('accession_number').execute();
      await db.schema.createIndex('studies_study_id').on('studies').column('study_id').execute();
      await db.schema.createIndex('studies_description').on('studies').column('description').execute();
      await db.schema.createIndex('studies_ref_phys_a').on('studies').column('ref_phys_a').execute();
      await db.schema.createIndex('studies_ref_phys_i').on('studies').column('ref_phys_i').execute();
      await db.schema.createIndex('studies_ref_phys_p').on('studies').column('ref_phys_p').execute();
      await db.schema.createIndex('studies_conflict').on('studies').column('patient_conflict').execute();

      await db.schema
        .createTable('series')
        .addColumn('id', pk, (c) => c.primaryKey())
        .addColumn('hospital_id', big, (c) => c.notNull().references('hospitals.id'))
        .addColumn('study_fk', big, (c) => c.notNull().references('studies.id'))
        .addColumn('series_instance_uid', text, (c) => c.notNull())
        .addColumn('modality', text)
        .addColumn('series_number', 'integer')
        .addColumn('description', text)
        .addColumn('series_date', text)
        .addColumn('series_time', text)
        .addColumn('body_part', text)
        .addColumn('station_name', text)
        .addColumn('manufacturer', text)
        .addColumn('institution_name', text)
        .addColumn('pps_start_date', text)
        .addColumn('pps_start_time', text)
        .addColumn('num_instances', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', text, (c) => c.notNull())
        .addColumn('updated_at', text, (c) => c.notNull())
        .addUniqueConstraint('series_study_uid', ['study_fk', 'series_instance_uid'])
        .execute();
      await db.schema.createIndex('series_uid').on('series').column('series_instance_uid').execute();
      await db.schema.createIndex('series_modality').on('series').column('modality').execute();
      await db.schema.createIndex('series_date').on('series').column('series_date').execute();

      await db.schema
        .createTable('instances')
        .addColumn('id', pk, (c) => c.primaryKey())
        .addColumn('hospital_id', big, (c) => c.notNull().references('hospitals.id'))
        .addColumn('study_fk', big, (c) => c.notNull().references('studies.id'))
        .addColumn('series_fk', big, (c) => c.notNull().references('series.id'))
        .addColumn('sop_instance_uid', text, (c) => c.notNull())
        .addColumn('sop_class_uid', text, (c) => c.notNull())
        .addColumn('instance_number', 'integer')
        .addColumn('content_date', text)
        .addColumn('content_time', text)
        .addColumn('acquisition_date', text)
        .addColumn('number_of_frames', 'integer')
        .addColumn('pixel_rows', 'integer')
        .addColumn('pixel_columns', 'integer')
        .addColumn('bits_allocated', 'integer')
        .addColumn('blob_key', text, (c) => c.notNull())
        .addColumn('size', big, (c) => c.notNull())
        .addColumn('sha256', text, (c) => c.notNull())
        .addColumn('transfer_syntax_uid', text, (c) => c.notNull())
        .addColumn('received_from_ae', text)
        .addColumn('source', text, (c) => c.notNull())
        .addColumn('received_at', text, (c) => c.notNull())
        .addColumn('charset', text)
        .addUniqueConstraint('instances_sop_hospital', ['sop_instance_uid', 'hospital_id'])
        .execute();
      await db.schema
        .createIndex('instances_series')
        .on('instances')
        .columns(['series_fk', 'instance_number'])
        .execute();
      await db.schema.createIndex('instances_study').on('instances').column('study_fk').execute();
      await db.schema.createIndex('instances_sop_class').on('instances').column('sop_class_uid').execute();
    },
    async down(db: AnyDb): Promise<void> {
      for (const t of ['instances', 'series', 'studies', 'patients', 'application_entities', 'hospitals']) {
        await db.schema.dropTable(t).execute();
      }
    },
  };
}

/** API tokens for machine clients (DICOMweb), scoped to a hospital; only a hash of the token is kept. */
function apiTokens(dialect: DialectName): Migration {
  const { text, big } = types(dialect);
  const pk = dialect === 'postgres' ? 'bigserial' : 'integer';
  return {
    async up(db: AnyDb): Promise<void> {
      await db.schema
        .createTable('api_tokens')
        .addColumn('id', pk, (c) => c.primaryKey())
        .addColumn('hospital_id', big, (c) => c.notNull().references('hospitals.id'))
        .addColumn('name', text, (c) => c.notNull())
        .addColumn('token_hash', text, (c) => c.notNull().unique())
        .addColumn('created_at', text, (c) => c.notNull())
        .addColumn('revoked_at', text)
        .addColumn('last_used_at', text)
        .execute();
    },
    async down(db: AnyDb): Promise<void> {
      await db.schema.dropTable('api_tokens').execute();
    },
  };
}

/** Migrations by name (sorted by name when run). */
export function migrationProvider(dialect: DialectName): MigrationProvider {
  return {
    getMigrations(): Promise<Record<string, Migration>> {
      return Promise.resolve({
        '0001_init': init(dialect),
        '0002_api_tokens': apiTokens(dialect),
        '0003_accounts': accountsMigration(dialect),
        '0004_audit': auditMigration(dialect),
        '0005_hospital_auth_policy': hospitalAuthPolicyMigration(),
        '0006_workflow': workflowMigration(dialect),
        '0007_reporting': reportingMigration(dialect),
        '0008_worklist_indexes': worklistIndexesMigration(dialect),
      });
    },
  };
}
