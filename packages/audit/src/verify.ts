// Walks every chain from its first event and recomputes each hash; the first event whose hash,
// predecessor link or sequence number does not fit, or a head that does not match the last event,
// breaks the chain.
import type { Knex } from '@clouddocs/db';
import { GENESIS_HASH, eventHash } from './canonical';
import type { JsonValue } from './events';

export interface ChainBreak {
  chainId: string;
  eventId: number | null;
  seq: number;
  reason: string;
}

export interface VerifyResult {
  ok: boolean;
  chains: number;
  events: number;
  firstBreak: ChainBreak | null;
}

const PAGE = 2000;

export async function verifyAuditLog(knex: Knex): Promise<VerifyResult> {
  const chains = await knex('audit.chains').select('id', 'head_seq', 'head_hash').orderBy('created_at').orderBy('id');
  let events = 0;
  for (const chain of chains) {
    let expectedSeq = 1;
    let prev = GENESIS_HASH;
    let afterSeq = 0;
    for (;;) {
      const rows = await knex('audit.events')
        .where('chain_id', chain.id)
        .andWhere('seq', '>', afterSeq)
        .orderBy('seq')
        .limit(PAGE);
      for (const row of rows) {
        const seq = Number(row.seq);
        const at = (reason: string): VerifyResult => ({
          ok: false,
          chains: chains.length,
          events,
          firstBreak: { chainId: chain.id, eventId: Number(row.id), seq, reason },
        });
        if (seq !== expectedSeq) {
          return {
            ok: false,
            chains: chains.length,
            events,
            firstBreak: { chainId: chain.id, eventId: null, seq: expectedSeq, reason: `event ${expectedSeq} is missing` },
          };
        }
        if (row.prev_hash !== prev) return at('prev_hash does not match the previous event');
        const occurredAt = row.occurred_at instanceof Date ? row.occurred_at.toISOString() : new Date(row.occurred_at).toISOString();
        const hash = eventHash(prev, {
          chainId: row.chain_id,
          seq,
          occurredAt,
          actorType: row.actor_type,
          actorId: row.actor_id,
          action: row.action,
          targetType: row.target_type,
          targetId: row.target_id,
          outcome: row.outcome,
          orgId: row.org_id,
          requestId: row.request_id,
          ip: row.ip,
          userAgent: row.user_agent,
          detail: (typeof row.detail === 'string' ? JSON.parse(row.detail) : row.detail) as Record<string, JsonValue>,
        });
        if (hash !== row.hash) return at('content does not match its hash');
        prev = row.hash;
        expectedSeq += 1;
        events += 1;
      }
      if (rows.length < PAGE) break;
      afterSeq = Number(rows[rows.length - 1].seq);
    }
    const headSeq = Number(chain.head_seq);
    if (headSeq !== expectedSeq - 1 || chain.head_hash !== prev) {
      return {
        ok: false,
        chains: chains.length,
        events,
        firstBreak: {
          chainId: chain.id,
          eventId: null,
          seq: Math.max(headSeq, expectedSeq),
          reason: headSeq > expectedSeq - 1 ? `events after ${expectedSeq - 1} are missing (head is ${headSeq})` : 'chain head does not match its last event',
        },
      };
    }
  }
  return { ok: true, chains: chains.length, events, firstBreak: null };
}
