import type { Knex } from '@clouddocs/db';
import type { StoredAuditEvent } from './events';

export interface EventQuery {
  orgId?: string;
  actions?: string[];
  since?: Date;
  until?: Date;
  /** Only events with an id below this one (newest-first pagination). */
  beforeId?: number;
  /** Only events with an id above this one (tailing). */
  afterId?: number;
  /** Only events by this actor id / about this target id. */
  actorId?: string;
  targetId?: string;
  limit: number;
  order?: 'newest' | 'oldest';
}

export function toStoredEvent(row: Record<string, any>): StoredAuditEvent {
  return {
    id: Number(row.id),
    chainId: row.chain_id,
    seq: Number(row.seq),
    occurredAt: (row.occurred_at instanceof Date ? row.occurred_at : new Date(row.occurred_at)).toISOString(),
    actor: { type: row.actor_type, id: row.actor_id },
    action: row.action,
    target: row.target_type ? { type: row.target_type, id: row.target_id } : null,
    outcome: row.outcome,
    orgId: row.org_id,
    requestId: row.request_id,
    ip: row.ip,
    userAgent: row.user_agent,
    detail: typeof row.detail === 'string' ? JSON.parse(row.detail) : row.detail,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

export async function queryEvents(knex: Knex, q: EventQuery): Promise<StoredAuditEvent[]> {
  const query = knex('audit.events').select('*');
  if (q.orgId !== undefined) query.where('org_id', q.orgId);
  if (q.actions?.length) query.whereIn('action', q.actions);
  if (q.actorId !== undefined) query.where('actor_id', q.actorId);
  if (q.targetId !== undefined) query.where('target_id', q.targetId);
  if (q.since) query.where('occurred_at', '>=', q.since.toISOString());
  if (q.until) query.where('occurred_at', '<', q.until.toISOString());
  if (q.beforeId !== undefined) query.where('id', '<', q.beforeId);
  if (q.afterId !== undefined) query.where('id', '>', q.afterId);
  query.orderBy('id', q.order === 'oldest' ? 'asc' : 'desc').limit(q.limit);
  return (await query).map(toStoredEvent);
}
