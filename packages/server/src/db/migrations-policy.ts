/**
 * Migration `0005_hospital_auth_policy`: per-hospital authentication policy.
 *
 * - `hospitals.require_user_identity` (0/1, default 0): associations from this hospital's AEs must carry
 *   DICOM user identity negotiation (type 2, username + passcode) of an active user of the hospital or
 *   the center (see dimse-adapter/scp.ts).
 */
import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

/* eslint-disable @typescript-eslint/no-explicit-any -- migrations build a schema that does not exist yet */
type AnyDb = Kysely<any>;
/* eslint-enable @typescript-eslint/no-explicit-any */

export function hospitalAuthPolicyMigration(): Migration {
  return {
    async up(db: AnyDb): Promise<void> {
      await db.schema
        .alterTable('hospitals')
        .addColumn('require_user_identity', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
    },
    async down(db: AnyDb): Promise<void> {
      await db.schema.alterTable('hospitals').dropColumn('require_user_identity').execute();
    },
  };
}
