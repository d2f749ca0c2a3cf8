import { withContext } from '../context';
import { migrateAll } from '../stack';
import { CliError, type CommandResult } from '../output';
import { parseOptions } from '../args';

export async function run(args: string[]): Promise<CommandResult> {
  parseOptions(args, {});
  const applied = await withContext(
    (ctx) => {
      if (!ctx.owner) throw new CliError("migrate runs as the schema owner: set DATABASE_URL (DATABASE_SERVICE_URL is the services' login)");
      return migrateAll(ctx.knex, { serviceUrl: ctx.config.DATABASE_SERVICE_URL });
    },
    { migrate: false },
  );
  return {
    json: { applied },
    text: applied.length ? `applied ${applied.length} migration(s): ${applied.join(', ')}` : 'database is up to date',
  };
}
