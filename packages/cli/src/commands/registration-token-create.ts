// `clouddocs client registration-token create [--max-uses N] [--expires-in S]`: an initial access token
// for dynamic client registration (RFC 7591), shown once → { "token", "id", "max_uses", "expires_at", … };
// audited with actor system/cli (the token never is).
import { createRegistrationTokenLibrary, RegistrationTokenError } from '@clouddocs/auth-server/toolkit';
import { parseOptions } from '../args';
import { CliError, type CommandResult } from '../output';
import { CLI_ACTOR, withOperator } from '../operator';

function wholeNumber(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[0-9]+$/.test(value)) throw new CliError(`${flag} must be a whole number`, 2);
  return Number(value);
}

export async function run(args: string[]): Promise<CommandResult> {
  const opts = parseOptions(args, { 'max-uses': { type: 'string' }, 'expires-in': { type: 'string' } });
  const maxUses = wholeNumber(opts['max-uses'], '--max-uses');
  const expiresIn = wholeNumber(opts['expires-in'], '--expires-in');
  return withOperator(async (op) => {
    let created;
    try {
      created = await createRegistrationTokenLibrary({ knex: op.knex }).create({ maxUses, expiresIn });
    } catch (err) {
      if (err instanceof RegistrationTokenError) throw new CliError(err.message, 2);
      throw err;
    }
    await op.record({ action: 'registration_token.created', actor: CLI_ACTOR, target: { type: 'registration_token', id: created.id }, outcome: 'success', detail: { max_uses: created.max_uses, expires_at: created.expires_at, route: 'cli' } });
    const limits = [created.max_uses === null ? 'unlimited uses' : `${created.max_uses} use${created.max_uses === 1 ? '' : 's'}`, created.expires_at ? `until ${created.expires_at}` : 'no expiry'].join(', ');
    return { json: { ...created }, text: `registration token ${created.id} (${limits}), shown only now:\n${created.token}` };
  });
}
