// `clouddocs apikey create --email E --name N --scope "S" [--expires-in-days D]`: a new API key for an
// existing user, printed once (`{ "id", "key", "scopes", "expires_at" }`), audited with actor system/cli.
import { ApiKeyError } from '@clouddocs/auth-server/toolkit';
import { parseOptions, required } from '../args';
import { CliError, type CommandResult } from '../output';
import { CLI_ACTOR, userIdByEmail, withApiKeys } from './apikey-support';

export async function run(args: string[]): Promise<CommandResult> {
  const opts = parseOptions(args, { email: { type: 'string' }, name: { type: 'string' }, scope: { type: 'string' }, 'expires-in-days': { type: 'string' } });
  const email = required(opts.email, '--email');
  const name = required(opts.name, '--name');
  const scope = required(opts.scope, '--scope');
  const days = opts['expires-in-days'];
  if (days !== undefined && !/^[0-9]{1,3}$/.test(days)) throw new CliError('--expires-in-days is a whole number of days, 1 to 365', 2);
  return withApiKeys(async (ctx) => {
    const userId = await userIdByEmail(ctx, email);
    let created;
    try {
      created = await ctx.apiKeys.create(CLI_ACTOR, userId, { name, scopes: scope, ...(days !== undefined ? { expiresInDays: Number(days) } : {}) });
    } catch (err) {
      if (err instanceof ApiKeyError) throw new CliError(err.message, 2);
      throw err;
    }
    await ctx.record(created.event);
    const { id, key, scopes, expires_at: expiresAt, prefix } = created.result;
    return {
      json: { id, key, scopes, expires_at: expiresAt },
      text: `created API key ${id} (${prefix}…) for ${email}, scopes ${scopes.join(' ')}, expires ${expiresAt}\n${key}\nThis is the only time the key is shown.`,
    };
  });
}
