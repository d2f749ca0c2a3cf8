// What a CLI command works with: the validated config and the database (the running embedded
// store when `npm start` hosts one, else its own for the command's duration). A command migrates
// first as the owner (DATABASE_URL); given only the services' login, it checks the schema instead.
import { loadAuthConfig, type AuthConfig } from '@clouddocs/config';
import { createKnex, locateDatabase, type Knex } from '@clouddocs/db';
import { assertMigrated, migrateAll } from './stack';

export interface CliContext {
  config: AuthConfig;
  /** Whether `knex` is the owner's connection (false when only DATABASE_SERVICE_URL is given). */
  owner: boolean;
  knex: Knex;
  close(): Promise<void>;
}

export async function openContext(options: { migrate?: boolean } = { migrate: true }): Promise<CliContext> {
  const config = loadAuthConfig();
  const location = await locateDatabase(config);
  const knex = await createKnex({ url: location.url, poolMax: 2 });
  try {
    if (options.migrate !== false) await (location.owner ? migrateAll(knex, { serviceUrl: config.DATABASE_SERVICE_URL }) : assertMigrated(knex));
  } catch (err) {
    await knex.destroy();
    await location.release();
    throw err;
  }
  return {
    config,
    owner: location.owner,
    knex,
    async close() {
      await knex.destroy();
      await location.release();
    },
  };
}

/** Runs `body` with a context and always closes it. */
export async function withContext<T>(body: (ctx: CliContext) => Promise<T>, options?: { migrate?: boolean }): Promise<T> {
  const ctx = await openContext(options);
  try {
    return await body(ctx);
  } finally {
    await ctx.close();
  }
}
