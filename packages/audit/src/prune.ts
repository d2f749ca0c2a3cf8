// Retention by partition: `pruneAuditLog` drops the monthly partitions of audit.events older than a
// month, after writing, for every chain it cuts, a signed checkpoint at the last event it removes, so
// that `verifyAuditLog` starts that chain from the checkpoint (see RETENTION.md). Everything happens in
// one transaction, with the `audit.pruned` event appended to the pruner's own chain: the checkpoints,
// the drop and its record commit together or not at all. The schema owner runs it (the services'
// login may not drop tables), and it refuses to cut a chain where it would leave a gap: a chain whose
// events older than the month are not a prefix of it (an occurredAt given out of order).
import type { Knex } from '@clouddocs/db';
import { signCheckpoint, type Checkpoint, type CheckpointSigner } from './checkpoint';
import type { AuditLog } from './log';

export class AuditPruneError extends Error {
  override readonly name = 'AuditPruneError';
}

export interface PruneResult {
  before: string;
  partitions: string[];
  chains: number;
  events: number;
  checkpoints: Checkpoint[];
}

/** `YYYY-MM` → the first instant of that month (UTC); throws AuditPruneError on anything else. */
export function parseMonth(text: string): Date {
  const match = /^(\d{4})-(0[1-9]|1[0-2])$/.exec(text);
  if (!match) throw new AuditPruneError(`--before must be a month as YYYY-MM (got ${JSON.stringify(text)})`);
  return new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, 1));
}

const PARTITION = /^events_y(\d{4})m(\d{2})$/;

export async function pruneAuditLog(knex: Knex, options: { before: Date; signer: CheckpointSigner; log: AuditLog; actor: { type: 'system'; id: string } }): Promise<PruneResult> {
  const { before, signer } = options;
  const thisMonth = new Date(Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), 1));
  const label = before.toISOString().slice(0, 7);
  if (before > thisMonth) throw new AuditPruneError(`--before ${label} is after the current month: only past months can be pruned`);
  return knex.transaction(async (trx) => {
    // No writer moves a chain head, and no partition is attached, while the cut is taken.
    await trx.raw('LOCK TABLE audit.chains IN SHARE MODE');
    const { rows: parts } = (await trx.raw(
      `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'audit.events'::regclass`,
    )) as { rows: { name: string }[] };
    const doomed = parts
      .map((p) => ({ name: p.name, match: PARTITION.exec(p.name) }))
      .filter((p) => p.match && Date.UTC(Number(p.match[1]), Number(p.match[2]) - 1, 1) < before.getTime())
      .map((p) => p.name)
      .sort();
    const stranded = await trx('audit.events_default').where('occurred_at', '<', before).count({ n: '*' }).first();
    if (Number(stranded?.n ?? 0) > 0) {
      throw new AuditPruneError(`${stranded!.n} event(s) before ${label} are in the default partition (a month that had no partition of its own); they cannot be dropped by month`);
    }
    // Each chain's cut: its last event before the month; everything up to it must be before the month.
    const cuts = (await trx('audit.events')
      .where('occurred_at', '<', before)
      .groupBy('chain_id')
      .select('chain_id', trx.raw('max(seq)::bigint AS seq'), trx.raw('count(*)::bigint AS n'))) as { chain_id: string; seq: number; n: number }[];
    const checkpoints: Checkpoint[] = [];
    let events = 0;
    const createdAt = new Date().toISOString();
    for (const cut of cuts) {
      const later = await trx('audit.events').where({ chain_id: cut.chain_id }).andWhere('seq', '<=', cut.seq).andWhere('occurred_at', '>=', before).first('seq');
      if (later) {
        throw new AuditPruneError(`chain ${cut.chain_id}: event ${later.seq} is dated ${label} or later but comes before seq ${cut.seq}, which is older; pruning would leave a gap`);
      }
      const last = await trx('audit.events').where({ chain_id: cut.chain_id, seq: cut.seq }).first('hash');
      const base = { chainId: cut.chain_id, seq: Number(cut.seq), hash: String(last.hash), createdAt };
      const checkpoint: Checkpoint = { ...base, keyId: signer.keyId, signature: signCheckpoint(base, signer) };
      const existing = await trx('audit.checkpoints').where({ chain_id: cut.chain_id, seq: checkpoint.seq }).first('hash', 'key_id');
      if (existing && existing.hash !== checkpoint.hash) throw new AuditPruneError(`chain ${cut.chain_id}: the checkpoint at seq ${checkpoint.seq} does not match its event; run audit verify`);
      if (!existing || existing.key_id !== signer.keyId) {
        if (existing) throw new AuditPruneError(`chain ${cut.chain_id}: the checkpoint at seq ${checkpoint.seq} is signed by another key (${existing.key_id ?? 'none'})`);
        await trx('audit.checkpoints').insert({ chain_id: base.chainId, seq: base.seq, hash: base.hash, created_at: createdAt, key_id: checkpoint.keyId, signature: checkpoint.signature });
      }
      checkpoints.push(checkpoint);
      events += Number(cut.n);
    }
    for (const name of doomed) await trx.raw(`DROP TABLE audit.${name}`);
    // Partitions for the coming months, so new events never land in the default partition.
    await trx.raw(`SELECT audit.ensure_partitions(now(), now() + interval '3 months')`);
    await options.log.appendInTransaction(trx, [
      {
        action: 'audit.pruned',
        actor: options.actor,
        target: { type: 'audit_log', id: label },
        outcome: 'success',
        detail: { before: label, partitions: doomed, chains: cuts.length, events, checkpointKeyId: signer.keyId },
      },
    ]);
    return { before: label, partitions: doomed, chains: cuts.length, events, checkpoints };
  });
}
