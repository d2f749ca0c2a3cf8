// `clouddocs audit prune --before YYYY-MM`: drops the monthly partitions of audit.events older than
// that month, after a signed checkpoint at each chain's last dropped event (AUDIT_CHECKPOINT_KEY, or the
// development key on the embedded store), so that `audit verify` starts those chains from there.
// Recorded as `audit.pruned` on the CLI's chain in the same transaction. Run it as the schema owner.
import { AuditLog, AuditPruneError, checkpointSignerFromConfig, parseMonth, pruneAuditLog } from '@clouddocs/audit';
import { parseOptions } from '../args';
import { withContext } from '../context';
import { CliError, type CommandResult } from '../output';

export async function run(args: string[]): Promise<CommandResult> {
  const options = parseOptions(args, { before: { type: 'string' } });
  if (options.before === undefined) throw new CliError('--before YYYY-MM is required (events of earlier months are dropped)', 2);
  let before: Date;
  try {
    before = parseMonth(options.before);
  } catch (err) {
    throw new CliError((err as Error).message, 2);
  }
  const result = await withContext(async (ctx) => {
    const signer = await checkpointSignerFromConfig(ctx.config, { create: false });
    if (!signer) throw new CliError('audit prune signs the checkpoint it cuts at: set AUDIT_CHECKPOINT_KEY (the services\' checkpoint key)', 2);
    const log = await AuditLog.open(ctx.knex, 'cli');
    try {
      return await pruneAuditLog(ctx.knex, { before, signer, log, actor: { type: 'system', id: 'cli' } });
    } catch (err) {
      if (err instanceof AuditPruneError) throw new CliError(err.message, 1);
      throw err;
    } finally {
      await log.close();
    }
  });
  const summary = { before: result.before, partitions: result.partitions, chains: result.chains, events: result.events };
  return {
    json: summary,
    text: `pruned ${result.events} event(s) before ${result.before} from ${result.chains} chain(s): ${result.partitions.length ? result.partitions.join(', ') : 'no partition'} dropped; verify starts those chains at their signed checkpoint`,
  };
}
