// SQL of auth.backchannel_deliveries: logout tokens waiting to be delivered (OIDC Back-Channel Logout).
import type { Knex } from '@clouddocs/db';

export interface DeliveryRow {
  id: string;
  client_id: string;
  sub: string;
  sid: string | null;
  jti: string;
  reason: string;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  next_attempt_at: Date | string;
  last_error: string | null;
}

const TABLE = 'auth.backchannel_deliveries';

export function createDeliveryQueries(knex: Knex) {
  return {
    async insert(rows: Omit<DeliveryRow, 'status' | 'attempts' | 'next_attempt_at' | 'last_error'>[]): Promise<void> {
      if (rows.length) await knex(TABLE).insert(rows);
    },
    /**
     * Claims up to `limit` due deliveries for this process: each one's next attempt moves `leaseSeconds`
     * ahead (so a process that dies mid-delivery leaves it to another one later) and its attempt is counted.
     * SKIP LOCKED: concurrent claimers in other processes get other rows, never the same one.
     */
    async claim(limit: number, leaseSeconds: number): Promise<DeliveryRow[]> {
      const { rows } = await knex.raw(
        `UPDATE ${TABLE} d SET attempts = d.attempts + 1, next_attempt_at = now() + make_interval(secs => ?)
         WHERE d.id IN (SELECT id FROM ${TABLE} WHERE status = 'pending' AND next_attempt_at <= now() ORDER BY next_attempt_at LIMIT ? FOR UPDATE SKIP LOCKED)
         RETURNING d.*`,
        [leaseSeconds, limit],
      );
      return rows as DeliveryRow[];
    },
    async delivered(id: string): Promise<void> {
      await knex(TABLE).where({ id }).update({ status: 'delivered', finished_at: knex.fn.now(), last_error: null });
    },
    /** A failed attempt: tried again after `retryInSeconds`, or given up for good (`retryInSeconds` null). */
    async failed(id: string, error: string, retryInSeconds: number | null): Promise<void> {
      if (retryInSeconds === null) await knex(TABLE).where({ id }).update({ status: 'failed', finished_at: knex.fn.now(), last_error: error });
      else await knex(TABLE).where({ id }).update({ last_error: error, next_attempt_at: knex.raw('now() + make_interval(secs => ?)', [retryInSeconds]) });
    },
    /**
     * Deletes up to `limit` finished deliveries (delivered or given up) older than `days`: the audit log
     * keeps their record, the queue only what is still to do. Returns how many went.
     */
    async pruneFinished(days: number, limit = 1000): Promise<number> {
      const { rowCount } = await knex.raw(
        `DELETE FROM ${TABLE} WHERE id IN (SELECT id FROM ${TABLE} WHERE status <> 'pending' AND finished_at < now() - make_interval(days => ?) LIMIT ?)`,
        [days, limit],
      );
      return Number(rowCount ?? 0);
    },
    /** When the next pending delivery is due, in milliseconds from now (undefined: none pending). */
    async nextDueInMs(): Promise<number | undefined> {
      // Clamped here, not with SQL's GREATEST, which skips NULLs: an empty queue would read as "due now".
      const { rows } = await knex.raw(`SELECT (EXTRACT(EPOCH FROM (min(next_attempt_at) - now())) * 1000)::float AS ms FROM ${TABLE} WHERE status = 'pending'`);
      const ms = (rows as { ms: number | null }[])[0]?.ms;
      return ms === null || ms === undefined ? undefined : Math.max(0, Number(ms));
    },
  };
}

export type DeliveryQueries = ReturnType<typeof createDeliveryQueries>;
