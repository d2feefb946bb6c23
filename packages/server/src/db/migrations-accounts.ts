/**
 * Accounts: users of a hospital with roles and a professional grade, login sessions, and the grade →
 * privilege rules (data, seeded with the defaults). Same dialect switch as migrations.ts.
 *
 * - users.username is stored lower-cased (usernames are case-insensitive) and unique.
 * - users.roles is a comma-separated list of role names (validated by the application).
 * - sessions.id is the SHA-256 of the session token (the token itself lives only in the cookie).
 */
import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import type { DialectName } from './migrations.ts';

/* eslint-disable @typescript-eslint/no-explicit-any -- migrations build a schema that does not exist yet */
type AnyDb = Kysely<any>;
/* eslint-enable @typescript-eslint/no-explicit-any */

/** Default grade rules: residents write preliminary reports; attending and above also review and sign. */
export const DEFAULT_GRADE_RULES: ReadonlyArray<{ grade: string; privilege: string }> = [
  { grade: 'resident', privilege: 'write_preliminary' },
  ...['attending', 'associate_chief', 'chief'].flatMap((grade) =>
    ['write_preliminary', 'review', 'sign'].map((privilege) => ({ grade, privilege })),
  ),
];

export function accountsMigration(dialect: DialectName): Migration {
  const text = dialect === 'postgres' ? sql`text collate "C"` : sql`text`;
  const big = dialect === 'postgres' ? 'bigint' : 'integer';
  const pk = dialect === 'postgres' ? 'bigserial' : 'integer';
  return {
    async up(db: AnyDb): Promise<void> {
      await db.schema
        .createTable('users')
        .addColumn('id', pk, (c) => c.primaryKey())
        .addColumn('hospital_id', big, (c) => c.notNull().references('hospitals.id'))
        .addColumn('username', text, (c) => c.notNull().unique())
        .addColumn('display_name', text, (c) => c.notNull())
        .addColumn('password_hash', text, (c) => c.notNull())
        .addColumn('roles', text, (c) => c.notNull().defaultTo(''))
        .addColumn('grade', text)
        .addColumn('must_change_password', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('failed_logins', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('locked_until', text)
        .addColumn('password_changed_at', text)
        .addColumn('created_at', text, (c) => c.notNull())
        .addColumn('updated_at', text, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('users_hospital').on('users').column('hospital_id').execute();

      await db.schema
        .createTable('sessions')
        .addColumn('id', text, (c) => c.primaryKey())
        .addColumn('user_id', big, (c) => c.notNull().references('users.id'))
        .addColumn('csrf_token_hash', text, (c) => c.notNull())
        .addColumn('created_at', text, (c) => c.notNull())
        .addColumn('last_seen_at', text, (c) => c.notNull())
        .addColumn('expires_at', text, (c) => c.notNull())
        .addColumn('ip', text)
        .addColumn('user_agent', text)
        .addColumn('revoked_at', text)
        .execute();
      await db.schema.createIndex('sessions_user').on('sessions').column('user_id').execute();

      await db.schema
        .createTable('grade_rules')
        .addColumn('grade', text, (c) => c.notNull())
        .addColumn('privilege', text, (c) => c.notNull())
        .addPrimaryKeyConstraint('grade_rules_pk', ['grade', 'privilege'])
        .execute();
      await db
        .insertInto('grade_rules')
        .values(DEFAULT_GRADE_RULES.map((r) => ({ ...r })))
        .execute();
    },
    async down(db: AnyDb): Promise<void> {
      for (const t of ['grade_rules', 'sessions', 'users']) await db.schema.dropTable(t).execute();
    },
  };
}
