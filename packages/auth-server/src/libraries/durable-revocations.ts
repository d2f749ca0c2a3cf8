// The durable side of the revocation list (see @clouddocs/kv revocations.ts). A revocation made
// while a request is being served joins that request's audit transaction (audit-commit writes both
// or neither); one made outside a request (the CLI, a background job) is written at once.
// Expired rows are pruned on a timer by every auth server process (a DELETE is idempotent).
import type { Knex } from '@clouddocs/db';
import type { AlongsideWrite } from '@clouddocs/audit';
import type { DurableRevocations, RevocationRecord } from '@clouddocs/kv';
import type { Logger } from '@clouddocs/observability';
import { insertRevocations, liveRevocations, pruneRevocations } from '../queries/revocations';
import { revocationScope } from '../revocation-scope';

export const REVOCATION_PRUNE_MS = 10 * 60_000;

export function durableRevocations(knex: Knex): DurableRevocations {
  return {
    record(revocation) {
      const scope = revocationScope();
      if (scope && !scope.committed) {
        scope.revocations.push(revocation);
        return;
      }
      return insertRevocations(knex, [revocation]);
    },
    live: () => liveRevocations(knex),
  };
}

/** Deletes expired revocations now and every `everyMs`; returns the function that stops it. */
export function pruneRevocationsEvery(knex: Knex, logger: Logger, everyMs: number): () => void {
  const prune = () =>
    pruneRevocations(knex).then(
      (n) => n > 0 && logger.debug({ pruned: n }, 'expired revocations pruned'),
      (err: unknown) => logger.warn({ err: (err as Error).message }, 'could not prune expired revocations'),
    );
  void prune();
  const timer = setInterval(prune, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * For a process that serves no requests (the CLI): its revocations are held until the audit event that
 * describes them is recorded, and written in that event's batch transaction (`take()` as `alongside`).
 * `flush()` writes any left over (a command that failed after revoking): durable rather than lost.
 */
export function heldRevocations(knex: Knex) {
  const held: RevocationRecord[] = [];
  return {
    durable: { record: (revocation) => void held.push(revocation), live: () => liveRevocations(knex) } satisfies DurableRevocations,
    take(): AlongsideWrite | undefined {
      if (held.length === 0) return undefined;
      const rows = held.splice(0);
      return (trx) => insertRevocations(trx, rows);
    },
    async flush(): Promise<void> {
      if (held.length) await insertRevocations(knex, held.splice(0));
    },
  };
}
