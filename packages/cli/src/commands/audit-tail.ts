// `clouddocs audit tail [--follow] [--limit N] [--action A]…`: the newest N events oldest-first, one
// line each (`--json`: one object `{ items }`); `--follow` then polls every second and prints each
// new event as it commits (a JSON line each with `--json`) until interrupted.
import { AUDIT_ACTIONS, EventFollower, formatEventLine, latestEvents, type StoredAuditEvent } from '@clouddocs/audit';
import { parseOptions } from '../args';
import { withContext } from '../context';
import { CliError, type CommandResult } from '../output';

const POLL_MS = 1000;

function parseLimit(value: string | undefined): number {
  if (value === undefined) return 20;
  if (!/^\d+$/.test(value) || Number(value) > 10_000) throw new CliError('--limit must be a whole number from 0 to 10000', 2);
  return Number(value);
}

export async function run(args: string[], options: { json: boolean }): Promise<CommandResult | void> {
  const values = parseOptions(args, {
    follow: { type: 'boolean', short: 'f' },
    limit: { type: 'string', short: 'n' },
    action: { type: 'string', multiple: true },
  });
  const limit = parseLimit(values.limit);
  const actions = values.action;
  const unknown = actions?.find((a) => !(AUDIT_ACTIONS as readonly string[]).includes(a));
  if (unknown) throw new CliError(`unknown audit action '${unknown}'`, 2);
  const show = (e: StoredAuditEvent) => (options.json ? JSON.stringify(e) : formatEventLine(e));

  if (!values.follow) {
    const { items } = await withContext((ctx) => latestEvents(ctx.knex, { limit, actions }));
    return { json: { items }, text: items.length ? items.map(show).join('\n') : '(no audit events)' };
  }

  const stop = new AbortController();
  const interrupt = () => stop.abort();
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  process.stdout.once('error', interrupt); // e.g. piped into `head`
  try {
    await withContext(async (ctx) => {
      const { items, cursor } = await latestEvents(ctx.knex, { limit, actions });
      for (const event of items) process.stdout.write(`${show(event)}\n`);
      const follower = new EventFollower(ctx.knex, { afterId: cursor, actions });
      await follower.watchRecentGaps();
      for await (const event of follower.follow(POLL_MS, stop.signal)) process.stdout.write(`${show(event)}\n`);
    });
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
    process.stdout.off('error', interrupt);
  }
}
