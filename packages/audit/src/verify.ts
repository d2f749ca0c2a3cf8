// Walks every chain and recomputes each hash. A chain starts at the genesis hash, or, when its early
// events were archived, at the checkpoint recorded at the cut. The first event whose hash,
// predecessor link or sequence number does not fit, a checkpoint that disagrees with its event, a
// head that does not match the last event (a deleted tail), or an event beyond the head breaks it.
//
// Safe while writers run: each chain is walked only up to the head read at the start; the head and
// the events it covers commit together, so everything up to it is already visible.
//
// Signed checkpoints (the writers sign their chain's head every N events or T seconds with a key the
// database does not hold) catch what the chain alone cannot: a chain rewritten with every later hash
// recomputed no longer matches a checkpoint's hash at its seq, and a tail deleted with the head moved
// back leaves a checkpoint beyond the head. With `checkpointKeys`, every checkpoint must carry a valid
// signature by one of them (one signed by another key is refused); `exported` adds the checkpoints of
// the file the writers append to outside the database, for when the table's own were removed too.
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
  /** Checkpoints (stored and exported) whose hash was compared with the event at their seq. */
  checkpoints: number;
  /** Whether checkpoint signatures were checked (trusted keys were given). */
  signaturesChecked: boolean;
  firstBreak: ChainBreak | null;
}

export interface VerifyOptions {
  /** Trusted checkpoint keys by key id; when given, a checkpoint used as a starting point must be signed by one. */
  checkpointKeys?: Record<string, KeyObject>;
  /** Only these chains. */
  chainIds?: string[];
  /** Checkpoints exported outside the database (`readCheckpointFile`), checked like the stored ones. */
  exported?: Checkpoint[];
  /**
   * Called after each page of events (and once at the end) with the events checked so far and the
   * events the chains' heads say there are: the walk reads one page at a time, so memory stays flat
   * whatever the log's size, and a terminal can show how far it is.
   */
  onProgress?: (checked: number, total: number) => void;
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
    const checked =
      r.checkpoints > 0 ? `; ${r.checkpoints} checkpoint(s) matched${r.signaturesChecked ? ', signatures valid' : ', signatures not checked (no public key)'}` : '';
    return `audit log intact: ${r.events} event(s) in ${r.chains} chain(s)${anchored}${checked}`;
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
  checkpoints: number;
  failure: ChainBreak | null;
}

/** Where a checkpoint came from, for messages. */
const origin = (c: Checkpoint) => (c.line === undefined ? `the checkpoint at seq ${c.seq}` : `the exported checkpoint at seq ${c.seq} (line ${c.line})`);

async function verifyChain(
  knex: Knex,
  chain: { id: string; head_seq: number | string; head_hash: string },
  options: VerifyOptions,
  exported: Checkpoint[],
  progress: (checkedInChain: number) => void = () => {},
): Promise<ChainOutcome> {
  const chainId = chain.id;
  const headSeq = Number(chain.head_seq);
  const keys = options.checkpointKeys;
  let events = 0;
  let anchored = false;
  let matched = 0;
  const broken = (seq: number, eventId: number | null, reason: string): ChainOutcome => ({
    events,
    anchored,
    checkpoints: matched,
    failure: { chainId, seq, eventId, reason },
  });
  const untrusted = (c: Checkpoint) => (keys && !checkpointSignatureValid(c, keys) ? `${origin(c)} is not signed by a trusted key` : null);

  const stored = (await knex('audit.checkpoints').where('chain_id', chainId).orderBy('seq').select('*')).map(toCheckpoint);
  const checkpoints = new Map<number, Checkpoint[]>();
  for (const c of [...stored, ...exported]) checkpoints.set(c.seq, [...(checkpoints.get(c.seq) ?? []), c]);
  const [{ first } = { first: null }] = await knex('audit.events').where('chain_id', chainId).andWhere('seq', '<=', headSeq).min({ first: 'seq' });
  const firstSeq = first === null || first === undefined ? null : Number(first);

  // Where the walk starts: the genesis, or the checkpoint at the archive cut.
  let expectedSeq = 1;
  let prev = GENESIS_HASH;
  /** The last seq a checkpoint vouched for: a rewrite found at a later checkpoint happened after it. */
  let vouched = 0;
  if (headSeq > 0 && firstSeq !== 1) {
    const cut = (firstSeq ?? headSeq + 1) - 1;
    const anchors = checkpoints.get(cut);
    if (!anchors) {
      return broken(1, null, firstSeq === null ? `events 1..${headSeq} are missing` : `events 1..${cut} are missing and no checkpoint covers them`);
    }
    for (const anchor of anchors) {
      if (untrusted(anchor)) return broken(cut, null, `${origin(anchor)} is not signed by a trusted key`);
    }
    if (new Set(anchors.map((a) => a.hash)).size > 1) return broken(cut, null, `the checkpoints at seq ${cut} disagree`);
    anchored = true;
    expectedSeq = cut + 1;
    prev = anchors[0]!.hash;
    vouched = cut;
    matched += anchors.length;
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
      for (const checkpoint of checkpoints.get(seq) ?? []) {
        const refused = untrusted(checkpoint);
        if (refused) return broken(seq, id, refused);
        if (checkpoint.hash !== row.hash) {
          const what = `${keys ? 'signed ' : ''}${origin(checkpoint).replace(/^the /, '')}`;
          return broken(
            seq,
            id,
            `hash does not match the ${what} taken at ${checkpoint.createdAt}: the chain was rewritten after seq ${vouched} (${vouched === 0 ? 'its start' : 'the last checkpoint it matches'}), at or before this event`,
          );
        }
        matched += 1;
        vouched = seq;
      }
      prev = row.hash;
      expectedSeq += 1;
      events += 1;
    }
    progress(events);
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

  // A checkpoint beyond the head: the tail it covered was deleted and the head moved back. A writer
  // checkpoints only what it has committed, and the head never moves back, so checkpoints read before
  // the current head can only lie beyond it when the tail is gone (newer ones past the head read at
  // the start are merely new).
  const beyond = [...checkpoints.values()].flat().filter((c) => c.seq > headSeq);
  if (beyond.length > 0) {
    const current = await knex('audit.chains').where('id', chainId).first('head_seq');
    const currentSeq = current ? Number(current.head_seq) : 0;
    const gone = beyond.filter((c) => c.seq > currentSeq).sort((a, b) => b.seq - a.seq);
    for (const c of gone) {
      const refused = untrusted(c);
      if (refused) return broken(c.seq, null, refused);
    }
    const last = gone[0];
    if (last) {
      return broken(
        currentSeq + 1,
        null,
        `events ${currentSeq + 1}..${last.seq} are gone: the chain head is at seq ${currentSeq} but ${keys ? 'signed ' : ''}${origin(last).replace(/^the /, '')} taken at ${last.createdAt} covers them`,
      );
    }
  }
  return { events, anchored, checkpoints: matched, failure: null };
}

export async function verifyAuditLog(knex: Knex, options: VerifyOptions = {}): Promise<VerifyResult> {
  const query = knex('audit.chains').select('id', 'head_seq', 'head_hash').orderBy('created_at').orderBy('id');
  if (options.chainIds) query.whereIn('id', options.chainIds);
  const chains = await query;
  const exported = new Map<string, Checkpoint[]>();
  for (const c of options.exported ?? []) {
    if (options.chainIds && !options.chainIds.includes(c.chainId)) continue;
    exported.set(c.chainId, [...(exported.get(c.chainId) ?? []), c]);
  }
  const signaturesChecked = options.checkpointKeys !== undefined;
  let events = 0;
  let anchoredChains = 0;
  let checkpoints = 0;
  const result = (firstBreak: ChainBreak | null): VerifyResult => ({ ok: firstBreak === null, chains: chains.length, events, anchoredChains, checkpoints, signaturesChecked, firstBreak });
  const total = chains.reduce((sum, c) => sum + Number(c.head_seq), 0);
  const report = options.onProgress ?? (() => {});
  for (const chain of chains) {
    const outcome = await verifyChain(knex, chain, options, exported.get(chain.id) ?? [], (inChain) => report(events + inChain, total));
    exported.delete(chain.id);
    events += outcome.events;
    checkpoints += outcome.checkpoints;
    if (outcome.anchored) anchoredChains += 1;
    if (outcome.failure) return result(outcome.failure);
  }
  report(events, total);
  // An exported checkpoint whose chain is not in the database: the whole chain was removed.
  for (const [chainId, list] of exported) {
    const last = list.reduce((a, b) => (b.seq > a.seq ? b : a));
    if (options.checkpointKeys && !checkpointSignatureValid(last, options.checkpointKeys)) {
      return result({ chainId, seq: last.seq, eventId: null, reason: `${origin(last)} is not signed by a trusted key` });
    }
    return result({ chainId, seq: 1, eventId: null, reason: `the chain is gone: events 1..${last.seq} are covered by ${origin(last).replace(/^the /, '')} taken at ${last.createdAt}` });
  }
  return result(null);
}
