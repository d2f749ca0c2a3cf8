// Walks every chain and recomputes each hash. A chain starts at the genesis hash, or, when its early
// events were archived, at the checkpoint recorded at the cut. The first event whose hash,
// predecessor link or sequence number does not fit, a checkpoint that disagrees with its event, a
// head that does not match the last event (a deleted tail), or an event beyond the head breaks it.
//
// Safe while writers run: each chain is walked only up to the head read at the start; the head and
// the events it covers commit together, so everything up to it is already visible.
import type { KeyObject } from 'node:crypto';
import type { Knex } from '@clouddocs/db';
import { GENESIS_HASH, eventHash } from './canonical';
import { checkpointSignatureValid, toCheckpoint, type Checkpoint } from './checkpoint';
import type { JsonValue } from './events';

export interface ChainBreak {
  chainId: string;
  /** The offending event's id; null when the event is missing. */
  eventId: number | null;
  seq: number;
  reason: string;
}

export interface VerifyResult {
  ok: boolean;
  chains: number;
  events: number;
  /** Chains verified from a checkpoint because their earlier events were archived. */
  anchoredChains: number;
  firstBreak: ChainBreak | null;
}

export interface VerifyOptions {
  /** Trusted checkpoint keys by key id; when given, a checkpoint used as a starting point must be signed by one. */
  checkpointKeys?: Record<string, KeyObject>;
  /** Only these chains. */
  chainIds?: string[];
}

const PAGE = 2000;
const EVENT_COLUMNS = [
  'id', 'chain_id', 'seq', 'occurred_at', 'actor_type', 'actor_id', 'action', 'target_type', 'target_id', 'outcome',
  'org_id', 'request_id', 'ip', 'user_agent', 'detail', 'prev_hash', 'hash',
];

/** One line naming the break: chain, seq, event id and reason. */
export function describeBreak(b: ChainBreak): string {
  return `chain ${b.chainId} seq ${b.seq}${b.eventId === null ? '' : ` event ${b.eventId}`}: ${b.reason}`;
}

/** The verification outcome for people: a summary when intact, else the first break. */
export function formatVerifyResult(r: VerifyResult): string {
  if (r.ok) {
    const anchored = r.anchoredChains > 0 ? ` (${r.anchoredChains} from an archive checkpoint)` : '';
    return `audit log intact: ${r.events} event(s) in ${r.chains} chain(s)${anchored}`;
  }
  return `audit log broken at ${describeBreak(r.firstBreak!)}`;
}

function rowHash(prev: string, row: Record<string, any>): string {
  const occurredAt = (row.occurred_at instanceof Date ? row.occurred_at : new Date(row.occurred_at)).toISOString();
  return eventHash(prev, {
    chainId: row.chain_id,
    seq: Number(row.seq),
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
}

interface ChainOutcome {
  events: number;
  anchored: boolean;
  failure: ChainBreak | null;
}

async function verifyChain(knex: Knex, chain: { id: string; head_seq: number | string; head_hash: string }, options: VerifyOptions): Promise<ChainOutcome> {
  const chainId = chain.id;
  const headSeq = Number(chain.head_seq);
  let events = 0;
  let anchored = false;
  const broken = (seq: number, eventId: number | null, reason: string): ChainOutcome => ({
    events,
    anchored,
    failure: { chainId, seq, eventId, reason },
  });

  const checkpoints = new Map<number, Checkpoint>(
    (await knex('audit.checkpoints').where('chain_id', chainId).select('*')).map((r) => [Number(r.seq), toCheckpoint(r)]),
  );
  const [{ first } = { first: null }] = await knex('audit.events').where('chain_id', chainId).andWhere('seq', '<=', headSeq).min({ first: 'seq' });
  const firstSeq = first === null || first === undefined ? null : Number(first);

  // Where the walk starts: the genesis, or the checkpoint at the archive cut.
  let expectedSeq = 1;
  let prev = GENESIS_HASH;
  if (headSeq > 0 && firstSeq !== 1) {
    const cut = (firstSeq ?? headSeq + 1) - 1;
    const anchor = checkpoints.get(cut);
    if (!anchor) {
      return broken(1, null, firstSeq === null ? `events 1..${headSeq} are missing` : `events 1..${cut} are missing and no checkpoint covers them`);
    }
    if (options.checkpointKeys && !checkpointSignatureValid(anchor, options.checkpointKeys)) {
      return broken(cut, null, `the checkpoint at seq ${cut} is not signed by a trusted key`);
    }
    anchored = true;
    expectedSeq = cut + 1;
    prev = anchor.hash;
  }

  let afterSeq = expectedSeq - 1;
  while (afterSeq < headSeq) {
    const rows = await knex('audit.events')
      .select(EVENT_COLUMNS)
      .where('chain_id', chainId)
      .andWhere('seq', '>', afterSeq)
      .andWhere('seq', '<=', headSeq)
      .orderBy('seq')
      .limit(PAGE);
    for (const row of rows) {
      const seq = Number(row.seq);
      const id = Number(row.id);
      if (seq !== expectedSeq) {
        return broken(expectedSeq, null, `event ${expectedSeq} is missing (the next one present is seq ${seq}, event ${id})`);
      }
      if (row.prev_hash !== prev) return broken(seq, id, 'prev_hash does not match the previous event');
      if (rowHash(prev, row) !== row.hash) return broken(seq, id, 'content does not match its hash');
      const checkpoint = checkpoints.get(seq);
      if (checkpoint && checkpoint.hash !== row.hash) return broken(seq, id, `hash does not match the checkpoint taken at ${checkpoint.createdAt}`);
      prev = row.hash;
      expectedSeq += 1;
      events += 1;
    }
    if (rows.length < PAGE) break;
    afterSeq = Number(rows[rows.length - 1]!.seq);
  }

  if (expectedSeq - 1 < headSeq) {
    return broken(expectedSeq, null, `event ${expectedSeq} is missing (the chain head is at seq ${headSeq}: events ${expectedSeq}..${headSeq} are gone)`);
  }
  if (prev !== chain.head_hash) return broken(headSeq, null, 'the chain head hash does not match its last event');

  // One statement, one snapshot: an event past the head the writer last committed was not written by it.
  const stray = await knex('audit.events as e')
    .join('audit.chains as c', 'c.id', 'e.chain_id')
    .where('c.id', chainId)
    .andWhereRaw('e.seq > c.head_seq')
    .orderBy('e.seq')
    .first('e.id', 'e.seq', 'c.head_seq');
  if (stray) return broken(Number(stray.seq), Number(stray.id), `event beyond the chain head (head is at seq ${Number(stray.head_seq)})`);
  return { events, anchored, failure: null };
}

export async function verifyAuditLog(knex: Knex, options: VerifyOptions = {}): Promise<VerifyResult> {
  const query = knex('audit.chains').select('id', 'head_seq', 'head_hash').orderBy('created_at').orderBy('id');
  if (options.chainIds) query.whereIn('id', options.chainIds);
  const chains = await query;
  let events = 0;
  let anchoredChains = 0;
  for (const chain of chains) {
    const outcome = await verifyChain(knex, chain, options);
    events += outcome.events;
    if (outcome.anchored) anchoredChains += 1;
    if (outcome.failure) return { ok: false, chains: chains.length, events, anchoredChains, firstBreak: outcome.failure };
  }
  return { ok: true, chains: chains.length, events, anchoredChains, firstBreak: null };
}
