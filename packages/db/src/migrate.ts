// Each package owns its schema and its migrations; this runs them all, in dependency order,
// through one knex migration table, then grants the service role what it needs.
import type { Knex } from 'knex';
import { SERVICE_ROLE } from './knex';

export interface Migration {
  /** Unique, sortable within its package, e.g. `auth_001_init`. */
  name: string;
  up(knex: Knex): Promise<void>;
  down?(knex: Knex): Promise<void>;
}

export interface SchemaGrants {
  schema: string;
  /** Tables the service role may only SELECT and INSERT into (append-only). */
  appendOnly?: string[];
}

class ListSource implements Knex.MigrationSource<Migration> {
  constructor(private readonly list: Migration[]) {}
  async getMigrations() {
    return this.list;
  }
  getMigrationName(m: Migration) {
    return m.name;
  }
  async getMigration(m: Migration): Promise<Knex.Migration> {
    return { up: (k) => m.up(k), down: (k) => (m.down ? m.down(k) : Promise.resolve()) };
  }
}

export async function migrate(knex: Knex, migrations: Migration[], grants: SchemaGrants[]): Promise<string[]> {
  await knex.raw('CREATE SCHEMA IF NOT EXISTS clouddocs_meta');
  const [, applied] = (await knex.migrate.latest({
    migrationSource: new ListSource(migrations),
    schemaName: 'clouddocs_meta',
    tableName: 'migrations',
    disableMigrationsListValidation: true,
  })) as [number, string[]];
  await grantServiceRole(knex, grants);
  return applied;
}

async function grantServiceRole(knex: Knex, grants: SchemaGrants[]): Promise<void> {
  // Creating roles needs CREATEROLE; without it the triggers stay the only wall, which is logged by the caller.
  try {
    await knex.raw(`DO $$ BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${SERVICE_ROLE}') THEN
        CREATE ROLE ${SERVICE_ROLE} NOLOGIN;
      END IF;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END $$`);
    await knex.raw(`GRANT ${SERVICE_ROLE} TO CURRENT_USER`).catch(() => {});
  } catch {
    return;
  }
  // Every CLI command and every service start runs this; two GRANTs on one object at once fail with
  // "tuple concurrently updated", so one process at a time grants (a lock for this database only).
  await knex.transaction(async (trx) => {
    await trx.raw('SELECT pg_advisory_xact_lock(?)', [GRANT_LOCK]);
    for (const { schema, appendOnly = [] } of grants) {
      await trx.raw(`GRANT USAGE ON SCHEMA ${schema} TO ${SERVICE_ROLE}`);
      await trx.raw(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${schema} TO ${SERVICE_ROLE}`);
      await trx.raw(`GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA ${schema} TO ${SERVICE_ROLE}`);
      for (const table of appendOnly) {
        await trx.raw(`REVOKE UPDATE, DELETE, TRUNCATE ON ${schema}.${table} FROM ${SERVICE_ROLE}`);
      }
    }
  });
}

/** Advisory lock key held while granting (the bytes of "clou"). */
const GRANT_LOCK = 0x636c6f75;
