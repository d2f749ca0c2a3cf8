// `clouddocs apikey revoke ID`: revokes a live API key (the docs API refuses it on the next request),
// audited with actor system/cli.
import { parseArgs } from 'node:util';
import { CliError, type CommandResult } from '../output';
import { CLI_ACTOR, withApiKeys } from './apikey-support';

export async function run(args: string[]): Promise<CommandResult> {
  let positionals: string[];
  try {
    ({ positionals } = parseArgs({ args, options: {}, strict: true, allowPositionals: true }));
  } catch (err) {
    throw new CliError((err as Error).message.split('\n')[0]!, 2);
  }
  if (positionals.length !== 1) throw new CliError('usage: clouddocs apikey revoke ID', 2);
  const id = positionals[0]!;
  return withApiKeys(async (ctx) => {
    const revoked = await ctx.apiKeys.revoke(CLI_ACTOR, id);
    if (!revoked) throw new CliError(`no live API key has the id ${id}`);
    await ctx.record(revoked.event);
    return { json: { id, revoked_at: revoked.result.revoked_at }, text: `revoked API key ${id} (${revoked.result.prefix}…)` };
  });
}
