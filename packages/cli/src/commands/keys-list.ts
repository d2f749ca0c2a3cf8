// `clouddocs keys list`: the published signing keys and their state (pending: published, not yet
// signing; active; retiring: published until the tokens it signed expire), as `GET /admin/v1/keys`.
import { parseOptions } from '../args';
import { withOperator } from '../operator';
import type { CommandResult } from '../output';

export async function run(args: string[]): Promise<CommandResult> {
  parseOptions(args, {});
  return withOperator(async (op) => {
    const items = await op.keys.list();
    const text = items.length === 0 ? '(no signing keys yet: the auth server creates the first set when it starts)' : items.map((k) => `${k.kid}  ${k.alg.padEnd(5)}  generation ${k.generation}  ${k.status.padEnd(8)}  activates ${k.activates_at}${k.retires_at ? `  retires ${k.retires_at}` : ''}`).join('\n');
    return { json: { items }, text };
  });
}
