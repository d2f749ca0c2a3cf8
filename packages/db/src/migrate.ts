// Each package owns its schema and its migrations; this runs them all, in dependency order,
// through one knex migration table, then makes the services' login and grants it what it needs.
import type { Knex } from 'knex';
import { SERVICE_ROLE, scramVerifier, servicePassword } from './roles';

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

export interface MigrateOptions {
  /** DATABASE_SERVICE_URL: when it names `clouddocs_service` with a password, the login gets that password. */
  serviceUrl?: string | undefined;
}

/** Applies what is pending, as the owner, then makes the services' login and grants it its privileges. */
export async function migrate(knex: Knex, migrations: Migration[], grants: SchemaGrants[], options: MigrateOptions = {}): Promise<string[]> {
  await knex.raw('CREATE SCHEMA IF NOT EXISTS clouddocs_meta');
  const [, applied] = (await knex.migrate.latest({
    migrationSource: new ListSource(migrations),
    schemaName: 'clouddocs_meta',
    tableName: 'migrations',
    disableMigrationsListValidation: true,
  })) as [number, string[]];
  await ensureServiceLogin(knex, servicePassword(options.serviceUrl));
  await grantServiceRole(knex, grants);
  return applied;
}

/** The migrations not yet applied (what a service connected as its own login checks before serving). */
export async function pendingMigrations(knex: Knex, migrations: Migration[]): Promise<string[]> {
  const exists = (await knex.raw(`SELECT to_regclass('clouddocs_meta.migrations') IS NOT NULL AS ok`)).rows[0]?.ok === true;
  const applied = new Set<string>(exists ? await knex('clouddocs_meta.migrations').pluck('name') : []);
  return migrations.map((m) => m.name).filter((name) => !applied.has(name));
}

/**
 * Makes `clouddocs_service` a LOGIN role (and sets its password, as a SCRAM verifier, when one is
 * given). Roles belong to the whole server, so test databases and other deployments on it may do this
 * at the same moment: a concurrent change of the same role is retried.
 */
async function ensureServiceLogin(knex: Knex, password: string | undefined): Promise<void> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      await knex.raw(`DO $$ BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${SERVICE_ROLE}') THEN
          CREATE ROLE ${SERVICE_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
        ELSIF NOT (SELECT rolcanlogin FROM pg_roles WHERE rolname = '${SERVICE_ROLE}') THEN
          ALTER ROLE ${SERVICE_ROLE} LOGIN;
        END IF;
      EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
      END $$`);
      // The verifier is base64 and `$:` only: nothing in it can end the literal.
      if (password !== undefined) await knex.raw(`ALTER ROLE ${SERVICE_ROLE} PASSWORD '${scramVerifier(password)}'`);
      return;
    } catch (err) {
      const concurrent = /tuple concurrently (updated|deleted)/.test((err as Error).message);
      if (concurrent && attempt < 5) continue;
      throw new Error(
        `the services' login ${SERVICE_ROLE} could not be made (${(err as Error).message}): run the migrations as a role with CREATEROLE, or create it first (CREATE ROLE ${SERVICE_ROLE} LOGIN)`,
        { cause: err },
      );
    }
  }
}

async function grantServiceRole(knex: Knex, grants: SchemaGrants[]): Promise<void> {
  // Every CLI command and every service start runs this; two GRANTs on one object at once fail with
  // "tuple concurrently updated", so one process at a time grants (a lock for this database only).
  await knex.transaction(async (trx) => {
    await trx.raw('SELECT pg_advisory_xact_lock(?)', [GRANT_LOCK]);
    // A service connected as its own login reads which migrations are applied before it serves.
    await trx.raw(`GRANT USAGE ON SCHEMA clouddocs_meta TO ${SERVICE_ROLE}`);
    await trx.raw(`GRANT SELECT ON clouddocs_meta.migrations TO ${SERVICE_ROLE}`);
    for (const { schema, appendOnly = [] } of grants) {
      await trx.raw(`GRANT USAGE ON SCHEMA ${schema} TO ${SERVICE_ROLE}`);
      await trx.raw(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${schema} TO ${SERVICE_ROLE}`);
      await trx.raw(`GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA ${schema} TO ${SERVICE_ROLE}`);
      for (const table of appendOnly) {
        await trx.raw(`REVOKE UPDATE, DELETE, TRUNCATE ON ${schema}.${table} FROM ${SERVICE_ROLE}`);
        // A partitioned table's partitions are tables of their own: append-only too, and never written directly.
        const { rows } = await trx.raw(`SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(?)`, [`${schema}.${table}`]);
        for (const { name } of rows as { name: string }[]) {
          await trx.raw(`REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON ${schema}.${name} FROM ${SERVICE_ROLE}`);
        }
      }
    }
  });
}

/** Advisory lock key held while granting (the bytes of "clou"). */
const GRANT_LOCK = 0x636c6f75;
