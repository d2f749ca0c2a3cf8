// `clouddocs audit prune --before YYYY-MM`: drops the audit log's whole month partitions older than
// that month, as the schema owner, after a checkpoint at each chain's last dropped event signed with
// the checkpoint key (AUDIT_CHECKPOINT_KEY, or the development key on the embedded store) and
// appended to AUDIT_CHECKPOINT_FILE like the writers' ones, so `audit verify` starts there. Creates
// this month's and next month's partitions first (every command's start does). Audited as
// `audit.pruned` with the months and the cut of every chain.
import {
  AuditLog,
  checkpointFileSink,
  checkpointPublicKeysFromConfig,
  checkpointSignerFromConfig,
  pruneAuditLog,
  pruneBoundary,
  PruneRefusedError,
} from '@clouddocs/audit';
import { parseOptions, required } from '../args';
import { withContext } from '../context';
import { CliError, type CommandResult } from '../output';

export async function run(args: string[]): Promise<CommandResult> {
  const options = parseOptions(args, { before: { type: 'string' } });
  const before = required(options.before, '--before');
  try {
    pruneBoundary(before);
  } catch (err) {
    throw new CliError((err as Error).message, 2);
  }
  return withContext(async ({ config, knex, owner }) => {
    if (!owner) throw new CliError("audit prune runs as the schema owner: set DATABASE_URL (DATABASE_SERVICE_URL is the services' login)");
    const signer = await checkpointSignerFromConfig(config, { create: true });
    if (!signer) throw new CliError('AUDIT_CHECKPOINT_KEY is not set: prune signs the checkpoint verification starts from with it');
    const checkpointKeys = await checkpointPublicKeysFromConfig(config);
    let result;
    try {
      result = await pruneAuditLog(knex, { before, signer, ...(checkpointKeys ? { checkpointKeys } : {}) });
    } catch (err) {
      if (err instanceof PruneRefusedError) throw new CliError(err.message);
      throw err;
    }
    if (config.AUDIT_CHECKPOINT_FILE) {
      const append = checkpointFileSink(config.AUDIT_CHECKPOINT_FILE);
      for (const checkpoint of result.checkpoints) await append(checkpoint);
    }
    const audit = await AuditLog.open(knex, 'cli');
    await audit.record({
      action: 'audit.pruned',
      actor: { type: 'system', id: 'cli' },
      target: { type: 'audit_log', id: `before:${result.before}` },
      outcome: 'success',
      detail: { before: result.before, months: result.months, events: result.events, cuts: result.cuts.map((c) => ({ chainId: c.chainId, seq: c.seq })) },
    });
    await audit.close();
    return {
      json: {
        before: result.before,
        months: result.months,
        events: result.events,
        cuts: result.cuts.map((c) => ({ chain_id: c.chainId, seq: c.seq, hash: c.hash, events: c.events })),
        checkpoints_written: result.checkpoints.length,
      },
      text: `pruned ${result.months.join(', ')}: ${result.events} event(s) of ${result.cuts.length} chain(s) dropped; verification now starts at the signed checkpoint of each chain's cut`,
    };
  });
}
