// Retention: whole month partitions of audit.events older than a given month are detached and
// dropped, after a signed checkpoint at each chain's cut, so that verification starts there
// (RETENTION.md). The cut of a chain is its last event in the dropped months, by seq; every event of
// the chain up to that seq must lie in the dropped months too, otherwise the chain's kept part would
// not be a contiguous suffix and the prune is refused before anything changes.
import { createPublicKey, type KeyObject } from 'node:crypto';
import type { Knex } from '@clouddocs/db';
import { checkpointSignatureValid, signCheckpoint, toCheckpoint, type Checkpoint, type CheckpointSigner } from './checkpoint';
import { checkpointKeyId } from './checkpoint-key';
import {
  DEFAULT_PARTITION,
  PARTITION_LOCK,
  createMonthPartition,
  ensureDefaultPartition,
  eventsArePartitioned,
  lockForPartitionChange,
  monthLabel,
  monthOf,
  monthPartitions,
  monthsInDefault,
  ownsEvents,
  parseMonth,
} from './partitions';
import { describeBreak, verifyAuditLog } from './verify';

/** The prune cannot be done as asked; nothing was changed. The message is one line, for the operator. */
export class PruneRefusedError extends Error {
  override readonly name = 'PruneRefusedError';
  static readonly code = 'ERR_AUDIT_PRUNE_REFUSED';
  readonly code = PruneRefusedError.code;
}

export interface PruneCut {
  chainId: string;
  /** The chain's last event in the dropped months; verification starts after it. */
  seq: number;
  hash: string;
  /** Events of this chain dropped. */
  events: number;
}

export interface PruneResult {
  before: string;
  /** The months dropped (`YYYY-MM`), oldest first. */
  months: string[];
  /** Events dropped in all. */
  events: number;
  cuts: PruneCut[];
  /** The checkpoints written at the cuts (one already there at a cut is reused, not written again). */
  checkpoints: Checkpoint[];
}

export interface PruneOptions {
  /** `YYYY-MM`: every whole month before it is dropped. */
  before: string;
  /** Signs the checkpoints at the cuts (the writers' checkpoint key). */
  signer: CheckpointSigner;
  /** Trusted keys for the verification done first (default: the signer's public key). */
  checkpointKeys?: Record<string, KeyObject>;
  now?: Date;
}

/** Checks `before` against the clock; throws PruneRefusedError with the reason. */
export function pruneBoundary(before: string, now: Date = new Date()): Date {
  const boundary = parseMonth(before);
  if (!boundary) throw new PruneRefusedError(`--before ${JSON.stringify(before)} is not a month: use YYYY-MM (e.g. 2026-01)`);
  const current = monthOf(now);
  if (boundary.getTime() > current.getTime()) {
    throw new PruneRefusedError(`--before ${before} is in the future: the current month (${monthLabel(current)}) and later are never pruned`);
  }
  return boundary;
}

/**
 * Drops every month partition of audit.events before `options.before`, as the schema owner, in one
 * transaction: checkpoints at the cuts, DETACH, DROP. Refuses (PruneRefusedError, nothing changed)
 * a bad or future month, a log that does not verify now, a chain that cannot be cut at the month
 * boundary, and nothing to prune.
 */
export async function pruneAuditLog(knex: Knex, options: PruneOptions): Promise<PruneResult> {
  const boundary = pruneBoundary(options.before, options.now);
  const before = monthLabel(boundary);
  if (!(await eventsArePartitioned(knex))) throw new PruneRefusedError('audit.events is not partitioned: run `clouddocs migrate` first');
  if (!(await ownsEvents(knex))) throw new PruneRefusedError("prune runs as the owner of the audit schema: set DATABASE_URL (DATABASE_SERVICE_URL is the services' login)");

  // Events of old months the DEFAULT partition caught go to their own month first, so that only whole
  // partitions are ever dropped.
  await knex.transaction(async (trx) => {
    await trx.raw('SELECT pg_advisory_xact_lock(?)', [PARTITION_LOCK]);
    await ensureDefaultPartition(trx);
    for (const month of await monthsInDefault(trx)) if (month.getTime() < boundary.getTime()) await createMonthPartition(trx, month);
  });
  const doomed = (await monthPartitions(knex)).filter((p) => p.month.getTime() < boundary.getTime());
  if (doomed.length === 0) throw new PruneRefusedError(`nothing to prune before ${before}: no month partition is older`);

  // Dropping evidence of a log that does not verify would hide the break: refuse, name it.
  const publicKey = createPublicKey(options.signer.privateKey);
  const checkpointKeys = options.checkpointKeys ?? { [checkpointKeyId(publicKey)]: publicKey };
  const verified = await verifyAuditLog(knex, { checkpointKeys });
  if (!verified.ok) throw new PruneRefusedError(`the audit log does not verify, nothing pruned: ${verified.firstBreak ? describeBreak(verified.firstBreak) : 'broken'}`);

  return knex.transaction(async (trx) => {
    await trx.raw('SELECT pg_advisory_xact_lock(?)', [PARTITION_LOCK]);
    // Writers wait (they do not fail) until the partitions are gone; nothing enters them meanwhile.
    await lockForPartitionChange(trx);
    const present = new Set((await monthPartitions(trx)).map((p) => p.name));
    const partitions = doomed.filter((p) => present.has(p.name));
    if (partitions.length === 0) throw new PruneRefusedError(`nothing to prune before ${before}: no month partition is older`);
    const cutoff = boundary.toISOString();
    const [{ n: strays }] = (await trx.raw(`SELECT count(*)::int AS n FROM audit.${DEFAULT_PARTITION} WHERE occurred_at < ?`, [cutoff])).rows;
    if (Number(strays) > 0) throw new PruneRefusedError(`${strays} event(s) before ${before} arrived in the DEFAULT partition meanwhile: run the prune again`);

    const cuts: PruneCut[] = (
      await trx.raw(
        `WITH cuts AS (SELECT chain_id, max(seq) AS seq, count(*) AS n FROM audit.events WHERE occurred_at < ? GROUP BY chain_id)
         SELECT e.chain_id, e.seq, e.hash, c.n FROM cuts c JOIN audit.events e ON e.chain_id = c.chain_id AND e.seq = c.seq AND e.occurred_at < ?
         ORDER BY e.chain_id`,
        [cutoff, cutoff],
      )
    ).rows.map((r: Record<string, unknown>) => ({ chainId: String(r.chain_id), seq: Number(r.seq), hash: String(r.hash), events: Number(r.n) }));

    // A chain whose events up to its cut do not all lie in the dropped months (an occurred_at out of
    // order) cannot be cut at the month boundary.
    const [split] = (
      await trx.raw(
        `WITH cuts AS (SELECT chain_id, max(seq) AS seq FROM audit.events WHERE occurred_at < ? GROUP BY chain_id)
         SELECT e.chain_id, e.seq, e.occurred_at, c.seq AS cut FROM cuts c JOIN audit.events e ON e.chain_id = c.chain_id AND e.seq <= c.seq
         WHERE e.occurred_at >= ? ORDER BY e.chain_id, e.seq LIMIT 1`,
        [cutoff, cutoff],
      )
    ).rows;
    if (split) {
      const at = split.occurred_at instanceof Date ? split.occurred_at.toISOString() : String(split.occurred_at);
      throw new PruneRefusedError(
        `chain ${split.chain_id} cannot be cut at ${before}: its event seq ${Number(split.seq)} (occurred ${at}) is kept but precedes seq ${Number(split.cut)}, which would be dropped`,
      );
    }

    const createdAt = new Date().toISOString();
    const checkpoints: Checkpoint[] = [];
    for (const cut of cuts) {
      const existing = await trx('audit.checkpoints').where({ chain_id: cut.chainId, seq: cut.seq }).first();
      if (existing) {
        const checkpoint = toCheckpoint(existing);
        if (checkpoint.hash !== cut.hash) throw new PruneRefusedError(`chain ${cut.chainId}: the checkpoint at seq ${cut.seq} does not match its event`);
        if (!checkpointSignatureValid(checkpoint, checkpointKeys)) {
          throw new PruneRefusedError(`chain ${cut.chainId}: the checkpoint already at seq ${cut.seq} is not signed by the checkpoint key, so verification could not start there`);
        }
        continue;
      }
      const base = { chainId: cut.chainId, seq: cut.seq, hash: cut.hash, createdAt };
      const checkpoint: Checkpoint = { ...base, keyId: options.signer.keyId, signature: signCheckpoint(base, options.signer) };
      await trx('audit.checkpoints').insert({
        chain_id: checkpoint.chainId,
        seq: checkpoint.seq,
        hash: checkpoint.hash,
        created_at: createdAt,
        key_id: checkpoint.keyId,
        signature: checkpoint.signature,
      });
      checkpoints.push(checkpoint);
    }

    let events = 0;
    for (const p of partitions) {
      const [{ n }] = (await trx.raw(`SELECT count(*)::int AS n FROM audit.${p.name}`)).rows;
      events += Number(n);
      await trx.raw(`ALTER TABLE audit.events DETACH PARTITION audit.${p.name}`);
      await trx.raw(`DROP TABLE audit.${p.name}`);
    }
    return { before, months: partitions.map((p) => monthLabel(p.month)), events, cuts, checkpoints };
  });
}
