import { withContext } from '../context';
import { migrateAll } from '../stack';
import type { CommandResult } from '../output';
import { parseOptions } from '../args';

export async function run(args: string[]): Promise<CommandResult> {
  parseOptions(args, {});
  const applied = await withContext((ctx) => migrateAll(ctx.knex), { migrate: false });
  return {
    json: { applied },
    text: applied.length ? `applied ${applied.length} migration(s): ${applied.join(', ')}` : 'database is up to date',
  };
}
