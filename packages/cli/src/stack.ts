// The whole product's schema: each package's migrations, in dependency order.
import { auditGrants, auditMigrations } from '@clouddocs/audit';
import { authGrants, authMigrations } from '@clouddocs/auth-server';
import { migrate, type Knex } from '@clouddocs/db';
import { docsGrants, docsMigrations } from '@clouddocs/docs-api';

export const allMigrations = [...auditMigrations, ...authMigrations, ...docsMigrations];
export const allGrants = [auditGrants, authGrants, docsGrants];

export function migrateAll(knex: Knex): Promise<string[]> {
  return migrate(knex, allMigrations, allGrants);
}
