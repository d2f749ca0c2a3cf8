// `clouddocs audit verify`: walks every audit hash chain; exit 0 when intact, else non-zero with one
// line naming the first broken or missing event (chain id, seq, event id, reason).
import { formatVerifyResult, verifyAuditLog } from '@clouddocs/audit';
import { parseOptions } from '../args';
import { withContext } from '../context';
import { CliError, type CommandResult } from '../output';

export async function run(args: string[]): Promise<CommandResult> {
  parseOptions(args, {});
  const result = await withContext((ctx) => verifyAuditLog(ctx.knex));
  const summary = { ok: result.ok, chains: result.chains, events: result.events, anchoredChains: result.anchoredChains };
  if (!result.ok) throw new CliError(formatVerifyResult(result), 1, { ...summary, firstBreak: result.firstBreak });
  return { json: summary, text: formatVerifyResult(result) };
}
