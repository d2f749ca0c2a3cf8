import { AccountError, argon2ParamsFrom, createAccountLibrary, PasswordHasher } from '@clouddocs/auth-server/toolkit';
import { AuditLog } from '@clouddocs/audit';
import { parseOptions, required } from '../args';
import { withContext } from '../context';
import { CliError, readStdinLine, type CommandResult } from '../output';

export async function run(args: string[]): Promise<CommandResult> {
  const opts = parseOptions(args, {
    email: { type: 'string' },
    'password-stdin': { type: 'boolean' },
    name: { type: 'string' },
  });
  const email = required(opts.email, '--email');
  if (!opts['password-stdin']) throw new CliError('--password-stdin is required: the password is read from standard input, never from arguments', 2);
  const password = await readStdinLine();
  return withContext(async ({ config, knex }) => {
    const accounts = createAccountLibrary({ knex, hasher: new PasswordHasher(argon2ParamsFrom(config)) });
    const audit = await AuditLog.open(knex, 'cli');
    try {
      const account = await knex.transaction(async (trx) => {
        const created = await accounts.create({ email, password, name: opts.name ?? null, emailVerified: true }, trx);
        await audit.appendInTransaction(trx, [
          { action: 'user.created', actor: { type: 'system', id: 'cli' }, target: { type: 'account', id: created.id }, outcome: 'success', detail: { via: 'cli' } },
        ]);
        return created;
      });
      return { json: { id: account.id, email: account.email }, text: `created user ${account.email} (id ${account.id})` };
    } catch (err) {
      if (err instanceof AccountError) throw new CliError(err.message);
      throw err;
    }
  });
}
