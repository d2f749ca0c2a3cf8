// `clouddocs admin grant --email E | admin revoke --email E`: makes a user a platform administrator (who
// may use the admin console) or no longer one. The last platform administrator cannot be revoked.
// A change is audited as `user.updated` of that account (fields: platform_admin), with the CLI as actor.
import { parseOptions, required } from '../args';
import { CLI_ACTOR, withOperator } from '../operator';
import { CliError, type CommandResult } from '../output';

function setAdmin(admin: boolean) {
  return async (args: string[]): Promise<CommandResult> => {
    const opts = parseOptions(args, { email: { type: 'string' } });
    const email = required(opts.email, '--email');
    return withOperator(async (op) => {
      const account = await op.accounts.findByEmail(email);
      if (!account) throw new CliError(`no user has the email ${email.trim().toLowerCase()}`);
      const changed = account.platformAdmin !== admin;
      if (changed && !admin && !account.disabled && (await op.accounts.countPlatformAdmins()) <= 1) {
        throw new CliError(`${account.email} is the last platform administrator: grant another one before revoking this one`);
      }
      if (changed) {
        await op.accounts.setPlatformAdmin(account.id, admin);
        await op.record({ action: 'user.updated', actor: CLI_ACTOR, target: { type: 'account', id: account.id }, outcome: 'success', detail: { fields: ['platform_admin'], platform_admin: admin } });
      }
      const text = admin
        ? `${account.email} ${changed ? 'is now' : 'was already'} a platform administrator`
        : `${account.email} ${changed ? 'is no longer' : 'was not'} a platform administrator`;
      return { json: { id: account.id, email: account.email, platform_admin: admin, changed }, text };
    });
  };
}

export const grant = setAdmin(true);
export const revoke = setAdmin(false);
