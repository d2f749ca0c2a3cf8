// What a CLI command works with: the validated config and the database (the running embedded
// store when `npm start` hosts one, else its own for the command's duration).
import { loadAuthConfig, type AuthConfig } from '@clouddocs/config';
import { createKnex, locateDatabase, type Knex } from '@clouddocs/db';
import { migrateAll } from './stack';

export interface CliContext {
  config: AuthConfig;
  knex: Knex;
  close(): Promise<void>;
}

export async function openContext(options: { migrate?: boolean } = { migrate: true }): Promise<CliContext> {
  const config = loadAuthConfig();
  const location = await locateDatabase(config);
  const knex = await createKnex({ url: location.url, poolMax: 2 });
  try {
    if (options.migrate !== false) await migrateAll(knex);
  } catch (err) {
    await knex.destroy();
    await location.release();
    throw err;
  }
  return {
    config,
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
