// `clouddocs apikey list --email E`: the user's API keys (id, name, first characters, scopes, creation,
// last use, expiry, revocation), never the keys themselves.
import { parseOptions, required } from '../args';
import type { CommandResult } from '../output';
import { userIdByEmail, withApiKeys } from './apikey-support';

export async function run(args: string[]): Promise<CommandResult> {
  const opts = parseOptions(args, { email: { type: 'string' } });
  const email = required(opts.email, '--email');
  return withApiKeys(async (ctx) => {
    const items = await ctx.apiKeys.list(await userIdByEmail(ctx, email));
    const state = (k: (typeof items)[number]) => (k.revoked_at ? `revoked ${k.revoked_at}` : Date.parse(k.expires_at) <= Date.now() ? `expired ${k.expires_at}` : `expires ${k.expires_at}`);
    return {
      json: { items },
      text: items.length === 0 ? `${email} has no API keys` : items.map((k) => `${k.id}  ${k.prefix}…  ${k.name}  [${k.scopes.join(' ')}]  last used ${k.last_used_at ?? 'never'}  ${state(k)}`).join('\n'),
    };
  });
}
