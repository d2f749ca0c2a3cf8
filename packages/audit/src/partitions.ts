// Monthly partitions of audit.events (RANGE on occurred_at, UTC months, named `events_YYYY_MM`) and the
// DEFAULT partition that catches any month not created yet, so that an insert never fails for lack
// of a partition. Partitions are created by the schema owner only (migrations, `clouddocs migrate`,
// every CLI command's start, `audit prune`): the services' login cannot create tables, and needs not.
// Creating a month whose events already sit in the DEFAULT partition moves them into it in the same
// transaction, byte for byte (the only moment the append-only trigger is lifted, on that partition only).
import type { Knex } from '@clouddocs/db';

export const DEFAULT_PARTITION = 'events_default';

/** Advisory lock held (per transaction) while partitions are created, moved or dropped: one process at a time. */
export const PARTITION_LOCK = 0x61756470; // "audp"

const MONTH = /^(\d{4})-(\d{2})$/;
const PARTITION_NAME = /^events_(\d{4})_(\d{2})$/;

/** The first instant of the UTC month of `date`. */
export function monthOf(date: Date): Date {
  return new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1));
}

export function addMonths(month: Date, n: number): Date {
  return new Date(Date.UTC(month.getUTCFullYear(), month.getUTCMonth() + n, 1));
}

/** `YYYY-MM` of a month start. */
export function monthLabel(month: Date): string {
  return `${String(month.getUTCFullYear()).padStart(4, '0')}-${String(month.getUTCMonth() + 1).padStart(2, '0')}`;
}

/** A `YYYY-MM` string as the first instant of that UTC month, or null when it is not one (2026-13, 26-1…). */
export function parseMonth(text: string): Date | null {
  const m = MONTH.exec(text);
  if (!m) return null;
  const year = Number(m[1]);
  const month = Number(m[2]);
  if (month < 1 || month > 12 || year < 1970) return null;
  return new Date(Date.UTC(year, month - 1, 1));
}

export function partitionName(month: Date): string {
  return `events_${monthLabel(month).replace('-', '_')}`;
}

/** The month a partition name stands for, or null (the DEFAULT partition, anything else). */
export function partitionMonth(name: string): Date | null {
  const m = PARTITION_NAME.exec(name);
  return m ? parseMonth(`${m[1]}-${m[2]}`) : null;
}

/** Whether audit.events is a partitioned table (it is after `audit_003_partitions`). */
export async function eventsArePartitioned(knex: Knex): Promise<boolean> {
  const { rows } = await knex.raw(`SELECT c.relkind = 'p' AS partitioned FROM pg_class c WHERE c.oid = to_regclass('audit.events')`);
  return rows[0]?.partitioned === true;
}

/** Whether the current login may create and drop partitions (owns audit.events, directly or through a role). */
export async function ownsEvents(knex: Knex): Promise<boolean> {
  const { rows } = await knex.raw(`SELECT pg_has_role(current_user, c.relowner, 'USAGE') AS owner FROM pg_class c WHERE c.oid = to_regclass('audit.events')`);
  return rows[0]?.owner === true;
}

export interface MonthPartition {
  name: string;
  month: Date;
}

/** The month partitions of audit.events, oldest first (the DEFAULT partition is not one of them). */
export async function monthPartitions(knex: Knex): Promise<MonthPartition[]> {
  const { rows } = await knex.raw(`SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'audit.events'::regclass`);
  return rows
    .map((r: { name: string }) => ({ name: r.name, month: partitionMonth(r.name) }))
    .filter((p: { month: Date | null }): p is MonthPartition => p.month !== null)
    .sort((a: MonthPartition, b: MonthPartition) => a.month.getTime() - b.month.getTime());
}

/** The months (UTC) of the events that sit in the DEFAULT partition, oldest first. */
export async function monthsInDefault(knex: Knex): Promise<Date[]> {
  const { rows } = await knex.raw(`SELECT DISTINCT to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM') AS month FROM audit.${DEFAULT_PARTITION} ORDER BY 1`);
  return rows.map((r: { month: string }) => parseMonth(r.month)).filter((m: Date | null): m is Date => m !== null);
}

/**
 * Locks taken before a partition is created, moved or dropped, in the order the writers take theirs
 * (audit.chains, then audit.events), so that they wait instead of deadlocking: attaching or dropping
 * a partition adds or removes its foreign key's triggers on audit.chains. EXCLUSIVE on audit.chains
 * also waits for a caller's transaction that has read its chain head FOR UPDATE to finish first.
 * Readers are not blocked until the DDL itself runs.
 */
export async function lockForPartitionChange(trx: Knex.Transaction): Promise<void> {
  await trx.raw('LOCK TABLE audit.chains IN EXCLUSIVE MODE');
  await trx.raw('LOCK TABLE audit.events IN SHARE ROW EXCLUSIVE MODE');
}

/** The extra guarantees every partition carries that PostgreSQL does not clone from the parent. */
async function guardPartition(trx: Knex.Transaction, name: string): Promise<void> {
  // Within one partition (chain_id, seq) is unique without the partition key; across months the
  // parent's (chain_id, seq, occurred_at) and the hash chain's seq continuity (verify) do the rest.
  await trx.raw(`CREATE UNIQUE INDEX IF NOT EXISTS ${name}_chain_seq_key ON audit.${name} (chain_id, seq)`);
  // Statement-level triggers are not cloned to partitions: TRUNCATE of a partition would pass.
  await trx.raw(`DROP TRIGGER IF EXISTS events_no_truncate ON audit.${name}`);
  await trx.raw(`CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON audit.${name} FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change()`);
  // Reached only through audit.events; a direct grant, if any, is never more than the parent's.
  const { rows } = await trx.raw(`SELECT 1 FROM pg_roles WHERE rolname = 'clouddocs_service'`);
  if (rows.length) {
    await trx.raw(`REVOKE ALL ON audit.${name} FROM clouddocs_service`);
    await trx.raw(`GRANT SELECT, INSERT ON audit.${name} TO clouddocs_service`);
  }
}

/** Creates the DEFAULT partition when missing (in the caller's transaction, under the lock). */
export async function ensureDefaultPartition(trx: Knex.Transaction): Promise<boolean> {
  const { rows } = await trx.raw(`SELECT to_regclass('audit.${DEFAULT_PARTITION}') IS NOT NULL AS present`);
  if (rows[0]?.present) return false;
  await lockForPartitionChange(trx);
  await trx.raw(`CREATE TABLE audit.${DEFAULT_PARTITION} PARTITION OF audit.events DEFAULT`);
  await guardPartition(trx, DEFAULT_PARTITION);
  return true;
}

/**
 * Creates the partition of `month` when missing (in the caller's transaction, which holds the lock).
 * Events of that month already caught by the DEFAULT partition move into it unchanged. Returns
 * whether it was created and how many events moved.
 */
export async function createMonthPartition(trx: Knex.Transaction, month: Date): Promise<{ created: boolean; moved: number }> {
  // December 9999 has no upper bound PostgreSQL can read back: its events stay in the DEFAULT partition.
  if (addMonths(month, 1).getUTCFullYear() > 9999) return { created: false, moved: 0 };
  const name = partitionName(month);
  const { rows } = await trx.raw(`SELECT to_regclass(?) IS NOT NULL AS present`, [`audit.${name}`]);
  if (rows[0]?.present) return { created: false, moved: 0 };
  const from = month.toISOString();
  const to = addMonths(month, 1).toISOString();
  // Writers wait (they do not fail) while the month is created, so no event slips in between the
  // copy out of the DEFAULT partition and its delete.
  await lockForPartitionChange(trx);
  let moved = 0;
  const hasDefault = (await trx.raw(`SELECT to_regclass('audit.${DEFAULT_PARTITION}') IS NOT NULL AS present`)).rows[0]?.present === true;
  if (hasDefault) {
    const [{ n }] = (await trx.raw(`SELECT count(*)::int AS n FROM audit.${DEFAULT_PARTITION} WHERE occurred_at >= ? AND occurred_at < ?`, [from, to])).rows;
    moved = Number(n);
    if (moved > 0) {
      await trx.raw(`CREATE TEMP TABLE audit_partition_move ON COMMIT DROP AS
        SELECT * FROM audit.${DEFAULT_PARTITION} WHERE occurred_at >= ? AND occurred_at < ?`, [from, to]);
      await trx.raw(`ALTER TABLE audit.${DEFAULT_PARTITION} DISABLE TRIGGER events_append_only`);
      await trx.raw(`DELETE FROM audit.${DEFAULT_PARTITION} WHERE occurred_at >= ? AND occurred_at < ?`, [from, to]);
      await trx.raw(`ALTER TABLE audit.${DEFAULT_PARTITION} ENABLE TRIGGER events_append_only`);
    }
  }
  await trx.raw(`CREATE TABLE audit.${name} PARTITION OF audit.events FOR VALUES FROM ('${from}') TO ('${to}')`);
  await guardPartition(trx, name);
  if (moved > 0) {
    await trx.raw(`INSERT INTO audit.${name} SELECT * FROM audit_partition_move`);
    await trx.raw('DROP TABLE audit_partition_move');
  }
  return { created: true, moved };
}

export interface EnsurePartitionsResult {
  /** Partitions created now (`events_YYYY_MM`). */
  created: string[];
  /** Events moved out of the DEFAULT partition into a month created now. */
  moved: number;
  /** Why nothing was done, when nothing could be (not partitioned yet, not the owner). */
  skipped?: string;
}

/**
 * Creates the partitions of the current month and `ahead` more (and of any month whose events the
 * DEFAULT partition caught), idempotent and safe with several processes at once: one transaction
 * under an advisory lock, `CREATE … IF missing`. A login that does not own audit.events (the
 * services') does nothing: the DEFAULT partition takes its inserts until the owner runs this.
 */
export async function ensureAuditPartitions(knex: Knex, options: { now?: Date; ahead?: number; months?: Date[] } = {}): Promise<EnsurePartitionsResult> {
  if (!(await eventsArePartitioned(knex))) return { created: [], moved: 0, skipped: 'audit.events is not partitioned' };
  if (!(await ownsEvents(knex))) return { created: [], moved: 0, skipped: 'not the owner of audit.events' };
  const current = monthOf(options.now ?? new Date());
  const wanted = [current];
  for (let i = 1; i <= (options.ahead ?? 1); i += 1) wanted.push(addMonths(current, i));
  return knex.transaction(async (trx) => {
    await trx.raw('SELECT pg_advisory_xact_lock(?)', [PARTITION_LOCK]);
    await ensureDefaultPartition(trx);
    const months = [...(options.months ?? await monthsInDefault(trx)), ...wanted];
    const created: string[] = [];
    let moved = 0;
    for (const month of months) {
      const r = await createMonthPartition(trx, month);
      if (r.created) created.push(partitionName(month));
      moved += r.moved;
    }
    return { created, moved };
  });
}
