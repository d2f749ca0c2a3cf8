// SQL for the users this API may name: `auth.enabled_users`, the auth server's read-only view of the
// ids of users that exist and are enabled (its migration auth_004). Nothing else of the auth schema is read.
import type { Knex } from '@clouddocs/db';

export function createUserQueries(db: Knex | Knex.Transaction) {
  return {
    /** Whether `id` is an existing, enabled user (a machine client's id is not). */
    async isEnabledUser(id: string): Promise<boolean> {
      return (await db('auth.enabled_users').where({ id }).first('id')) !== undefined;
    },
  };
}
