// The whole product's schema: each package's migrations, in dependency order.
import { auditGrants, auditMigrations, ensureAuditPartitions } from '@clouddocs/audit';
// The migration lists alone: a service process that checks the schema loads neither service's modules for it.
import { authGrants, authMigrations } from '@clouddocs/auth-server/migrations';
import { migrate, pendingMigrations, type Knex, type MigrateOptions } from '@clouddocs/db';
import { docsGrants, docsMigrations } from '@clouddocs/docs-api/migrations';
import { CliError } from './output';

export const allMigrations = [...auditMigrations, ...authMigrations, ...docsMigrations];
export const allGrants = [auditGrants, authGrants, docsGrants];

/**
 * Applies every pending migration as the owner (`serviceUrl`: DATABASE_SERVICE_URL, for the services'
 * login's password), then creates the audit log's partitions of this month and the next (and of any
 * month the DEFAULT partition caught), which the services' login cannot do itself.
 */
export async function migrateAll(knex: Knex, options: MigrateOptions = {}): Promise<string[]> {
  const applied = await migrate(knex, allMigrations, allGrants, options);
  await ensureAuditPartitions(knex);
  return applied;
}

/** Refuses to go on against a schema older than this code (for a process that holds only the services' login). */
export async function assertMigrated(knex: Knex): Promise<void> {
  const pending = await pendingMigrations(knex, allMigrations);
  if (pending.length > 0) {
    throw new CliError(`${pending.length} migration(s) pending (${pending.join(', ')}): run \`clouddocs migrate\` with the owner's DATABASE_URL first`);
  }
}
