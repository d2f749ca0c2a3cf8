// `clouddocs org create --name N --owner EMAIL`: creates an organization owned by an existing
// user, through the docs API's own function, audited on the CLI's chain. The owner's tokens see
// the org at once (the docs API reads memberships on every request).
import { AuditLog } from '@clouddocs/audit';
import { createOrganization, ProblemError } from '@clouddocs/docs-api/toolkit';
import { parseOptions, required } from '../args';
import { withContext } from '../context';
import { CliError, type CommandResult } from '../output';

export async function run(args: string[]): Promise<CommandResult> {
  const opts = parseOptions(args, { name: { type: 'string' }, owner: { type: 'string' } });
  const name = required(opts.name, '--name');
  const email = required(opts.owner, '--owner').trim().toLowerCase();

  return withContext(async ({ knex }) => {
    const account = await knex('auth.accounts').where({ email }).first('id');
    if (!account) throw new CliError(`no user has the email ${email} (create one with 'clouddocs user create')`);
    const audit = await AuditLog.open(knex, 'cli');
    try {
      const org = await createOrganization(knex, audit, { name, ownerId: String(account.id) });
      return { json: { id: org.id, name: org.name }, text: `created organization ${org.name} (${org.id}), owned by ${email}` };
    } catch (err) {
      if (err instanceof ProblemError) throw new CliError(err.detail, 2);
      throw err;
    } finally {
      await audit.close();
    }
  });
}
