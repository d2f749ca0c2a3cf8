// The append-only writer. Each writer process owns one chain (registered at open), so concurrent
// processes never contend for a chain head; within a chain the head row is locked (FOR UPDATE) by
// whichever transaction appends, so group commits and in-transaction appends interleave safely.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Knex } from '@clouddocs/db';
import { GENESIS_HASH, cleanDetail, cleanText, eventHash, type HashedFields } from './canonical';
import type { AuditEvent, JsonValue } from './events';

export class AuditUnavailableError extends Error {
  override readonly name = 'AuditUnavailableError';
}

interface Pending {
  event: AuditEvent;
  resolve: () => void;
  reject: (err: Error) => void;
}

export interface AuditLogOptions {
  /** Longest wait before a batch is written, in ms (group commit window). */
  maxDelayMs?: number;
  maxBatch?: number;
  onCommit?: (rows: number, seconds: number) => void;
  onQueueDepth?: (depth: number) => void;
}

function toFields(chainId: string, seq: number, event: AuditEvent): HashedFields {
  const text = (v: string | null | undefined, max = 256) => (v === null || v === undefined ? null : cleanText(v, max));
  return {
    chainId,
    seq,
    occurredAt: (event.occurredAt ?? new Date()).toISOString(),
    actorType: event.actor.type,
    actorId: text(event.actor.id),
    action: event.action,
    targetType: text(event.target?.type),
    targetId: text(event.target?.id),
    outcome: event.outcome,
    orgId: text(event.orgId),
    requestId: text(event.requestId, 128),
    ip: text(event.ip, 64),
    userAgent: text(event.userAgent, 256),
    detail: cleanDetail((event.detail ?? {}) as JsonValue) as Record<string, JsonValue>,
  };
}

function toRow(fields: HashedFields, prevHash: string, hash: string) {
  return {
    chain_id: fields.chainId,
    seq: fields.seq,
    occurred_at: fields.occurredAt,
    actor_type: fields.actorType,
    actor_id: fields.actorId,
    action: fields.action,
    target_type: fields.targetType,
    target_id: fields.targetId,
    outcome: fields.outcome,
    org_id: fields.orgId,
    request_id: fields.requestId,
    ip: fields.ip,
    user_agent: fields.userAgent,
    detail: JSON.stringify(fields.detail),
    prev_hash: prevHash,
    hash,
  };
}

export class AuditLog {
  private queue: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly maxDelayMs: number;
  private readonly maxBatch: number;

  private constructor(
    private readonly knex: Knex,
    readonly chainId: string,
    private readonly options: AuditLogOptions,
  ) {
    this.maxDelayMs = options.maxDelayMs ?? 2;
    this.maxBatch = options.maxBatch ?? 500;
  }

  /** Registers a new chain for this writer (service name + host + pid + random suffix). */
  static async open(knex: Knex, service: string, options: AuditLogOptions = {}): Promise<AuditLog> {
    const chainId = `${service}:${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
    await knex('audit.chains').insert({ id: chainId, service, head_seq: 0, head_hash: GENESIS_HASH });
    return new AuditLog(knex, chainId, options);
  }

  /**
   * Appends events inside the caller's transaction: they commit or roll back with the state change
   * they describe. Holds this chain's head lock until that transaction ends.
   */
  async appendInTransaction(trx: Knex.Transaction, events: AuditEvent[]): Promise<void> {
    if (events.length === 0) return;
    const head = await trx('audit.chains').where({ id: this.chainId }).forUpdate().first('head_seq', 'head_hash');
    if (!head) throw new AuditUnavailableError(`audit chain ${this.chainId} is not registered`);
    let seq = Number(head.head_seq);
    let prev = String(head.head_hash);
    const rows = events.map((event) => {
      seq += 1;
      const fields = toFields(this.chainId, seq, event);
      const hash = eventHash(prev, fields);
      const row = toRow(fields, prev, hash);
      prev = hash;
      return row;
    });
    await trx('audit.events').insert(rows);
    await trx('audit.chains').where({ id: this.chainId }).update({ head_seq: seq, head_hash: prev });
  }

  /**
   * Queues an event for the next group commit; resolves once it is committed. Concurrent callers
   * share one multi-row INSERT. Rejects with AuditUnavailableError when the database refuses.
   */
  record(event: AuditEvent): Promise<void> {
    if (this.closed) return Promise.reject(new AuditUnavailableError('audit log is closed'));
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ event, resolve, reject });
      this.options.onQueueDepth?.(this.queue.length);
      this.schedule();
    });
  }

  recordAll(events: AuditEvent[]): Promise<void> {
    return Promise.all(events.map((e) => this.record(e))).then(() => undefined);
  }

  private schedule() {
    if (this.timer || this.flushing) return;
    if (this.queue.length >= this.maxBatch) {
      this.flushing = this.drain();
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flushing = this.drain();
    }, this.maxDelayMs);
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.maxBatch);
        this.options.onQueueDepth?.(this.queue.length);
        const started = process.hrtime.bigint();
        try {
          await this.knex.transaction((trx) => this.appendInTransaction(trx, batch.map((p) => p.event)));
          this.options.onCommit?.(batch.length, Number(process.hrtime.bigint() - started) / 1e9);
          for (const p of batch) p.resolve();
        } catch (err) {
          const failure = new AuditUnavailableError(`audit events could not be written: ${(err as Error).message}`);
          for (const p of batch) p.reject(failure);
        }
      }
    } finally {
      this.flushing = undefined;
    }
  }

  /** Writes whatever is queued. */
  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    while (this.flushing || this.queue.length > 0) {
      this.flushing ??= this.drain();
      await this.flushing;
    }
  }

  get queueDepth(): number {
    return this.queue.length;
  }

  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
  }
}
