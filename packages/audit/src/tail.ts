// Reading the log as it grows (`clouddocs audit tail`). Event ids come from one sequence but
// commit out of order (two writers, or a caller's transaction that holds its ids until it ends),
// so following "id > last seen" alone could skip an event for good. The follower remembers the ids
// it jumped over and looks for them again until they appear or `holeMs` passes (a rolled-back
// transaction leaves its ids unused forever).
import type { Knex } from '@clouddocs/db';
import { canonicalJson, cleanText } from './canonical';
import type { JsonValue, StoredAuditEvent } from './events';
import { queryEvents, toStoredEvent } from './query';

export interface TailQuery {
  limit: number;
  actions?: string[];
}

/** The newest `limit` events, oldest first, and the id to follow from. */
export async function latestEvents(knex: Knex, q: TailQuery): Promise<{ items: StoredAuditEvent[]; cursor: number }> {
  const [{ max } = { max: null }] = await knex('audit.events').max({ max: 'id' });
  const cursor = max === null || max === undefined ? 0 : Number(max);
  const items = q.limit > 0 ? await queryEvents(knex, { limit: q.limit, actions: q.actions, beforeId: cursor + 1, order: 'newest' }) : [];
  return { items: items.reverse(), cursor };
}

export interface FollowOptions {
  /** Follow events with ids above this one. */
  afterId: number;
  actions?: string[];
  /** How long an id that was skipped is looked for again. */
  holeMs?: number;
  page?: number;
  now?: () => number;
}

const MAX_HOLES = 10_000;

export class EventFollower {
  private cursor: number;
  private readonly holes = new Map<number, number>();
  private readonly actions: Set<string> | undefined;
  private readonly holeMs: number;
  private readonly page: number;
  private readonly now: () => number;

  constructor(
    private readonly knex: Knex,
    options: FollowOptions,
  ) {
    this.cursor = options.afterId;
    this.actions = options.actions?.length ? new Set(options.actions) : undefined;
    this.holeMs = options.holeMs ?? 10_000;
    this.page = options.page ?? 500;
    this.now = options.now ?? Date.now;
  }

  /** Also watches for ids at or below `afterId` that were not committed yet when following began. */
  async watchRecentGaps(window = 1000): Promise<void> {
    const ids = new Set(
      (await this.knex('audit.events').where('id', '>', Math.max(0, this.cursor - window)).andWhere('id', '<=', this.cursor).pluck('id')).map(Number),
    );
    const since = this.now();
    for (let id = Math.max(1, this.cursor - window + 1); id <= this.cursor && this.holes.size < MAX_HOLES; id += 1) {
      if (!ids.has(id)) this.holes.set(id, since);
    }
  }

  /** Events committed since the last poll (late ones included), in id order. */
  async poll(): Promise<StoredAuditEvent[]> {
    const found: StoredAuditEvent[] = [];
    const now = this.now();
    for (const [id, since] of this.holes) if (now - since > this.holeMs) this.holes.delete(id);
    if (this.holes.size > 0) {
      const late = await this.knex('audit.events').whereIn('id', [...this.holes.keys()]).orderBy('id');
      for (const row of late) {
        this.holes.delete(Number(row.id));
        found.push(toStoredEvent(row));
      }
    }
    for (;;) {
      const rows = await this.knex('audit.events').where('id', '>', this.cursor).orderBy('id').limit(this.page);
      for (const row of rows) {
        const id = Number(row.id);
        for (let gap = this.cursor + 1; gap < id && this.holes.size < MAX_HOLES; gap += 1) this.holes.set(gap, now);
        this.cursor = id;
        found.push(toStoredEvent(row));
      }
      if (rows.length < this.page) break;
    }
    found.sort((a, b) => a.id - b.id);
    return this.actions ? found.filter((e) => this.actions!.has(e.action)) : found;
  }

  /** Polls every `intervalMs` until `signal` aborts, yielding each new event. */
  async *follow(intervalMs: number, signal?: AbortSignal): AsyncGenerator<StoredAuditEvent> {
    while (!signal?.aborted) {
      for (const event of await this.poll()) yield event;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', done);
          resolve();
        };
        const timer = setTimeout(done, intervalMs);
        signal?.addEventListener('abort', done, { once: true });
      });
    }
  }
}

/** One line per event for people; values are escaped again in case a row was written by hand. */
export function formatEventLine(e: StoredAuditEvent): string {
  const t = (v: string | null | undefined) => (v === null || v === undefined ? '-' : cleanText(String(v), 256));
  const parts = [
    e.occurredAt,
    `#${e.id}`,
    t(e.action),
    t(e.outcome),
    `actor=${t(e.actor.type)}:${t(e.actor.id)}`,
    `target=${e.target ? `${t(e.target.type)}:${t(e.target.id)}` : '-'}`,
  ];
  if (e.orgId) parts.push(`org=${t(e.orgId)}`);
  if (e.requestId) parts.push(`req=${t(e.requestId)}`);
  if (e.ip) parts.push(`ip=${t(e.ip)}`);
  if (e.detail && Object.keys(e.detail).length > 0) parts.push(`detail=${cleanText(canonicalJson(e.detail as JsonValue), 1024)}`);
  return parts.join(' ');
}
