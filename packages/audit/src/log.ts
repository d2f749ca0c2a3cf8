// The append-only writer. Each writer owns its chain, so concurrent processes never contend for a
// chain head. Every append moves the head row (`audit.chains`) in the same statement or transaction
// as the events it covers, so the head always names the last committed event and a deleted tail shows.
//
// Group commit: `record()` queues an event; while one batch is being written the next one gathers,
// and each batch is ONE statement (the head moves only if it is where this writer left it, and the
// rows are inserted only if it moved), so a batch is atomic without an explicit transaction and
// costs one round trip. A caller's own transaction (`appendInTransaction`) may move the head in
// between; the writer then re-reads it and recomputes the batch's hashes.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Knex } from '@clouddocs/db';
import { GENESIS_HASH, canonicalEvent, cleanDetail, cleanText, linkHash, type HashedFields } from './canonical';
import { type AuditEvent, type JsonValue } from './events';
import { signCheckpoint, type Checkpoint, type CheckpointSigner } from './checkpoint';

/** The audit log cannot take the event (database unreachable or refusing): fail the request, 503. */
export class AuditUnavailableError extends Error {
  override readonly name = 'AuditUnavailableError';
  static readonly code = 'ERR_AUDIT_UNAVAILABLE';
  readonly code = AuditUnavailableError.code;
}

/** The event itself is malformed (a programming error): refused before it can spoil a batch. */
export class InvalidAuditEventError extends TypeError {
  override readonly name = 'InvalidAuditEventError';
  static readonly code = 'ERR_AUDIT_EVENT_INVALID';
  readonly code = InvalidAuditEventError.code;
}

export interface AuditLogOptions {
  /**
   * Longest wait before the first event of an idle writer is written, in ms (group commit window).
   * 0 (the default) writes on the next turn of the event loop: events arriving while a batch is
   * being written already gather into the next one, so waiting longer only adds latency.
   */
  maxDelayMs?: number;
  /** Most events in one INSERT. */
  maxBatch?: number;
  /** Most events waiting for a batch; beyond it `record()` fails at once (database too slow or gone). Default 50,000. */
  maxQueue?: number;
  onCommit?: (rows: number, seconds: number) => void;
  onQueueDepth?: (depth: number) => void;
  /** Signed checkpoints of this writer's chain (see `CheckpointOptions`); none when absent. */
  checkpoints?: CheckpointOptions;
}

/**
 * The writer signs its chain's head every `everyEvents` events or `everyMs` milliseconds (whichever
 * comes first, and only when the chain moved), and once more at `close()`. A checkpoint due when a
 * batch goes out is part of that batch's statement (no extra round trip); otherwise (an idle
 * writer, events appended in callers' transactions) it is written on its own, off the request path.
 * Each committed checkpoint is then handed to `onCheckpoint` (the exported file, the logs), in order.
 */
export interface CheckpointOptions {
  signer: CheckpointSigner;
  /** Default 100. */
  everyEvents?: number;
  /** Default 10,000. */
  everyMs?: number;
  onCheckpoint?: (checkpoint: Checkpoint) => void | Promise<void>;
  /** A checkpoint that could not be written or exported (the events themselves are not affected). */
  onError?: (err: Error) => void;
}

export const DEFAULT_CHECKPOINT_EVERY_EVENTS = 100;
export const DEFAULT_CHECKPOINT_EVERY_MS = 10_000;

/** An event cleaned and checked at `record()` time; only its place in the chain is decided later. */
type PreparedEvent = Omit<HashedFields, 'chainId' | 'seq'>;

/** Other writes that must commit with a batch (in its transaction, before its events). */
export type AlongsideWrite = (trx: Knex.Transaction) => Promise<void>;

interface Pending {
  events: PreparedEvent[];
  alongside?: AlongsideWrite;
  resolve: () => void;
  reject: (err: Error) => void;
}

interface Head {
  seq: number;
  hash: string;
}

/** Metrics callbacks must never decide an event's fate. */
function observe(callback: () => void) {
  try {
    callback();
  } catch {
    // a failing metrics hook is not an audit failure
  }
}

const OUTCOMES = new Set(['success', 'failure', 'denied']);
const ACTOR_TYPES = new Set(['user', 'client', 'system', 'anonymous']);
const ACTION_NAME = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/;

function invalid(why: string): InvalidAuditEventError {
  return new InvalidAuditEventError(`invalid audit event: ${why}`);
}

/** A text field cleaned and cut to `max` characters; absent stays null. */
function text(v: unknown, max = 256): string | null {
  return v === null || v === undefined ? null : cleanText(String(v), max);
}

/** Checks and cleans an event (escaping, secret keys dropped); throws InvalidAuditEventError. */
export function prepareEvent(event: AuditEvent): PreparedEvent {
  if (!event || typeof event !== 'object') throw invalid('not an object');
  if (typeof event.action !== 'string' || event.action.length > 64 || !ACTION_NAME.test(event.action)) throw invalid(`action ${JSON.stringify(event.action)}`);
  if (!OUTCOMES.has(event.outcome)) throw invalid(`outcome ${JSON.stringify(event.outcome)}`);
  if (!event.actor || !ACTOR_TYPES.has(event.actor.type)) throw invalid(`actor type ${JSON.stringify(event.actor?.type)}`);
  const occurredAt = event.occurredAt ?? new Date();
  if (!(occurredAt instanceof Date) || Number.isNaN(occurredAt.getTime()) || occurredAt.getUTCFullYear() > 9999 || occurredAt.getUTCFullYear() < 1970) {
    throw invalid('occurredAt is not a valid date');
  }
  const detail = event.detail === undefined || event.detail === null ? {} : cleanDetail(event.detail as JsonValue);
  if (typeof detail !== 'object' || detail === null || Array.isArray(detail)) throw invalid('detail must be an object');
  return {
    occurredAt: occurredAt.toISOString(),
    actorType: event.actor.type,
    actorId: text(event.actor.id),
    action: event.action,
    targetType: text(event.target?.type, 64),
    targetId: text(event.target?.id),
    outcome: event.outcome,
    orgId: text(event.orgId, 128),
    requestId: text(event.requestId, 128),
    ip: text(event.ip, 64),
    userAgent: text(event.userAgent, 256),
    detail: detail as Record<string, JsonValue>,
  };
}

interface ChainedRows {
  /** JSON array of rows for json_to_recordset (keys: the hashed fields' names, prevHash, hash). */
  json: string;
  head: Head;
}

/**
 * Places prepared events after `head`, computing each one's seq, predecessor and hash. Each row is the
 * canonical text the hash was computed over, with `prevHash` and `hash` added: the event is encoded
 * once, and what is stored is exactly what was hashed (canonical JSON is JSON; the fixed fields are
 * strings, null or the seq number, and the detail went through cleanDetail).
 */
function chainEvents(chainId: string, head: Head, events: PreparedEvent[]): ChainedRows {
  let seq = head.seq;
  let prev = head.hash;
  let json = '[';
  for (let i = 0; i < events.length; i += 1) {
    seq += 1;
    const canonical = canonicalEvent(chainId, seq, events[i]!);
    const hash = linkHash(prev, canonical);
    // Both hashes are hex: nothing in them needs escaping.
    json += `${i === 0 ? '' : ','}${canonical.slice(0, -1)},"prevHash":"${prev}","hash":"${hash}"}`;
    prev = hash;
  }
  return { json: `${json}]`, head: { seq, hash: prev } };
}

// The rows of a batch, as `audit.group_append` (migration audit_004_group_append) reads them too.
const COLUMNS = 'chain_id, seq, occurred_at, actor_type, actor_id, action, target_type, target_id, outcome, org_id, request_id, ip, user_agent, detail, prev_hash, hash';
const ROW_FIELDS =
  'r."chainId", r.seq, r."occurredAt", r."actorType", r."actorId", r.action, r."targetType", r."targetId", r.outcome, r."orgId", r."requestId", r.ip, r."userAgent", r.detail, r."prevHash", r.hash';
const RECORDSET = `json_to_recordset(?::json) AS r("chainId" text, seq bigint, "occurredAt" timestamptz, "actorType" text,
  "actorId" text, action text, "targetType" text, "targetId" text, outcome text, "orgId" text, "requestId" text, ip text,
  "userAgent" text, detail jsonb, "prevHash" text, hash text)`;

// One statement (a PL/pgSQL function, whose plans PostgreSQL keeps for the session instead of parsing and
// planning a batch's statement each time): the head moves only from where this writer expects it, the
// rows go in only if it moved, and so does the signed checkpoint of the new head when one is given.
// Returns the rows appended (0 when the head was not where this writer left it).
const GROUP_APPEND = 'SELECT audit.group_append(?, ?, ?, ?, ?, ?::json) AS appended';
const GROUP_APPEND_CHECKPOINT = 'SELECT audit.group_append(?, ?, ?, ?, ?, ?::json, ?::timestamptz, ?, ?) AS appended';

const TRANSACTION_APPEND = `INSERT INTO audit.events (${COLUMNS}) SELECT ${ROW_FIELDS} FROM ${RECORDSET}`;

/** Runs a group append (either statement above): the rows it appended. */
async function groupAppend(db: Knex | Knex.Transaction, sql: string, values: unknown[]): Promise<number> {
  return Number((await db.raw<{ rows: { appended: number }[] }>(sql, values as Knex.RawBinding[])).rows[0]?.appended ?? 0);
}

/** The chain head moved under a batch written in a transaction: roll back and chain again. */
class HeadMoved extends Error {}

export class AuditLog {
  private queue: Pending[] = [];
  private queuedEvents = 0;
  private timer: { cancel(): void } | undefined;
  private closed = false;
  /** Where this writer last left its chain head; unknown after a failure or an in-transaction append. */
  private head: Head | undefined = { seq: 0, hash: GENESIS_HASH };
  /** The batches being written, one after another, while the queue has any; never rejects. */
  private running: Promise<void> | undefined;
  private readonly maxDelayMs: number;
  private readonly maxBatch: number;
  /** Events appended (or maybe appended, in a caller's transaction) since the last checkpoint. */
  private sinceCheckpoint = 0;
  private lastCheckpointSeq = 0;
  /** The next batch should carry a checkpoint (the timer fired, or a caller's transaction crossed everyEvents). */
  private checkpointDue = false;
  private checkpointTimer: NodeJS.Timeout | undefined;
  /** The checkpoint being written on its own, if any. */
  private checkpointing: Promise<void> | undefined;
  /** Checkpoints handed to `onCheckpoint`, one after another; never rejects. */
  private exported: Promise<void> = Promise.resolve();

  private constructor(
    private readonly knex: Knex,
    /** This writer's chain: the one every batch and `appendInTransaction` extends. */
    readonly chainId: string,
    private readonly options: AuditLogOptions,
  ) {
    this.maxDelayMs = options.maxDelayMs ?? 0;
    this.maxBatch = options.maxBatch ?? 1000;
    const checkpoints = options.checkpoints;
    if (checkpoints) {
      this.checkpointTimer = setInterval(() => {
        // Also when callers' transactions moved the head since this writer last knew it.
        if (this.sinceCheckpoint > 0 || this.head === undefined) this.requestCheckpoint();
      }, checkpoints.everyMs ?? DEFAULT_CHECKPOINT_EVERY_MS);
      this.checkpointTimer.unref();
    }
  }

  /** Registers this writer's chain (service name + host + pid + random suffix). */
  static async open(knex: Knex, service: string, options: AuditLogOptions = {}): Promise<AuditLog> {
    const chainId = `${cleanText(service, 64)}:${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
    try {
      await knex('audit.chains').insert({ id: chainId, service, head_seq: 0, head_hash: GENESIS_HASH });
    } catch (err) {
      throw new AuditUnavailableError(`audit chain could not be registered: ${(err as Error).message}`, { cause: err });
    }
    return new AuditLog(knex, chainId, options);
  }

  /**
   * Appends events inside the caller's transaction: they commit or roll back with the state change
   * they describe. Holds the chain's head lock until that transaction ends, so call it as the last
   * statement of the transaction, and never await `record()` while the transaction is open.
   */
  async appendInTransaction(trx: Knex.Transaction, events: AuditEvent[]): Promise<void> {
    if (events.length === 0) return;
    const prepared = events.map(prepareEvent);
    this.head = undefined; // the caller's transaction may still roll back: re-read the head next time
    const row = await trx('audit.chains').where({ id: this.chainId }).forUpdate().first('head_seq', 'head_hash');
    if (!row) throw new AuditUnavailableError(`audit chain ${this.chainId} is not registered`);
    const chained = chainEvents(this.chainId, { seq: Number(row.head_seq), hash: String(row.head_hash) }, prepared);
    await trx.raw(TRANSACTION_APPEND, [chained.json]);
    await trx('audit.chains').where({ id: this.chainId }).update({ head_seq: chained.head.seq, head_hash: chained.head.hash });
    const checkpoints = this.options.checkpoints;
    if (checkpoints) {
      this.sinceCheckpoint += prepared.length;
      // Once the caller's transaction has committed (a rolled-back one leaves nothing to sign).
      if (this.sinceCheckpoint >= (checkpoints.everyEvents ?? DEFAULT_CHECKPOINT_EVERY_EVENTS)) {
        trx.executionPromise?.then(
          () => this.requestCheckpoint(),
          () => {},
        );
      }
    }
  }

  /**
   * Queues an event for the next group commit; resolves once it is committed. Concurrent callers
   * share one multi-row INSERT. Rejects with AuditUnavailableError when the database refuses, and
   * with InvalidAuditEventError (before queueing) when the event is malformed.
   */
  record(event: AuditEvent): Promise<void> {
    return this.enqueue([event]);
  }

  /**
   * Queues several events that commit together (one batch, all or none). `alongside` writes other rows
   * the events describe in the same transaction (the batch is then written in one, by this writer, so
   * it never contends with itself for the chain head).
   */
  recordAll(events: AuditEvent[], options: { alongside?: AlongsideWrite } = {}): Promise<void> {
    if (events.length === 0 && !options.alongside) return Promise.resolve();
    return this.enqueue(events, options.alongside);
  }

  private enqueue(events: AuditEvent[], alongside?: AlongsideWrite): Promise<void> {
    if (this.closed) return Promise.reject(new AuditUnavailableError('audit log is closed'));
    if (this.queuedEvents + events.length > (this.options.maxQueue ?? 50_000)) {
      return Promise.reject(new AuditUnavailableError(`audit queue is full (${this.queuedEvents} events waiting for the database)`));
    }
    let prepared: PreparedEvent[];
    try {
      prepared = events.map(prepareEvent);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ events: prepared, resolve, reject, ...(alongside ? { alongside } : {}) });
      this.queuedEvents += prepared.length;
      observe(() => this.options.onQueueDepth?.(this.queuedEvents));
      this.schedule();
    });
  }

  private schedule() {
    if (this.queue.length === 0 || this.running) return; // a batch being written takes the queue when it ends
    if (this.queuedEvents >= this.maxBatch) {
      this.start();
      return;
    }
    if (this.timer) return;
    const go = () => {
      this.timer = undefined;
      this.start();
    };
    if (this.maxDelayMs > 0) {
      const timeout = setTimeout(go, this.maxDelayMs);
      this.timer = { cancel: () => clearTimeout(timeout) };
    } else {
      const immediate = setImmediate(go);
      this.timer = { cancel: () => clearImmediate(immediate) };
    }
  }

  /** Starts writing what is queued, unless a batch is already being written. */
  private start() {
    if (this.timer) {
      this.timer.cancel();
      this.timer = undefined;
    }
    if (this.running || this.queue.length === 0) return;
    this.running = this.drain().finally(() => {
      this.running = undefined;
      this.schedule();
      if (this.checkpointDue && !this.running) void this.writeCheckpointAlone();
    });
  }

  /** Writes batches until the queue is empty (what arrives during a write is the next batch); never rejects. */
  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.takeBatch();
      const events = batch.flatMap((p) => p.events);
      const alongside = batch.flatMap((p) => (p.alongside ? [p.alongside] : []));
      const started = process.hrtime.bigint();
      try {
        await this.writeBatch(events, alongside);
        observe(() => this.options.onCommit?.(events.length, Number(process.hrtime.bigint() - started) / 1e9));
        for (const p of batch) p.resolve();
      } catch (err) {
        this.head = undefined;
        const failure =
          err instanceof AuditUnavailableError
            ? err
            : new AuditUnavailableError(`audit events could not be written: ${(err as Error).message}`, { cause: err });
        for (const p of batch) p.reject(failure);
      }
    }
  }

  /** Whole pending entries (so `recordAll` stays atomic) up to maxBatch events. */
  private takeBatch(): Pending[] {
    let count = 0;
    let take = 0;
    while (take < this.queue.length && (take === 0 || count + this.queue[take]!.events.length <= this.maxBatch)) {
      count += this.queue[take]!.events.length;
      take += 1;
    }
    const batch = this.queue.splice(0, take);
    this.queuedEvents -= count;
    observe(() => this.options.onQueueDepth?.(this.queuedEvents));
    return batch;
  }

  private async writeBatch(events: PreparedEvent[], alongside: AlongsideWrite[] = []): Promise<void> {
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const head = this.head ?? (await this.readHead());
      const chained = chainEvents(this.chainId, head, events);
      const bindings = [this.chainId, head.seq, head.hash, chained.head.seq, chained.head.hash, chained.json];
      const checkpoint = alongside.length === 0 && this.checkpointWanted(events.length) ? this.signHead(chained.head) : undefined;
      let appended: number;
      if (checkpoint) {
        // The checkpoint signs the new head (its chain, seq and hash are the batch's own).
        const { createdAt, keyId, signature } = checkpoint;
        appended = await groupAppend(this.knex, GROUP_APPEND_CHECKPOINT, [...bindings, createdAt, keyId, signature]);
      } else if (alongside.length > 0) {
        // The other writes and the events, one transaction; rolled back when the head had moved.
        appended = await this.knex
          .transaction(async (trx) => {
            for (const write of alongside) await write(trx);
            const count = events.length ? await groupAppend(trx, GROUP_APPEND, bindings) : 0;
            if (count !== events.length) throw new HeadMoved();
            return count;
          })
          .catch((err: unknown) => {
            if (err instanceof HeadMoved) return -1;
            throw err;
          });
      } else {
        appended = await groupAppend(this.knex, GROUP_APPEND, bindings);
      }
      if (appended === events.length) {
        this.head = chained.head;
        if (checkpoint) this.checkpointWritten(checkpoint, this.sinceCheckpoint + events.length);
        else this.sinceCheckpoint += events.length;
        return;
      }
      this.head = undefined; // someone else's transaction moved the head: re-read it and chain again
    }
    throw new AuditUnavailableError(`audit chain ${this.chainId} head kept moving; batch not written`);
  }

  private async readHead(): Promise<Head> {
    const row = await this.knex('audit.chains').where({ id: this.chainId }).first('head_seq', 'head_hash');
    if (!row) throw new AuditUnavailableError(`audit chain ${this.chainId} is not registered`);
    return { seq: Number(row.head_seq), hash: String(row.head_hash) };
  }

  private checkpointWanted(batchSize: number): boolean {
    const checkpoints = this.options.checkpoints;
    if (!checkpoints) return false;
    return this.checkpointDue || this.sinceCheckpoint + batchSize >= (checkpoints.everyEvents ?? DEFAULT_CHECKPOINT_EVERY_EVENTS);
  }

  private signHead(head: Head): Checkpoint {
    const signer = this.options.checkpoints!.signer;
    const base = { chainId: this.chainId, seq: head.seq, hash: head.hash, createdAt: new Date().toISOString() };
    return { ...base, keyId: signer.keyId, signature: signCheckpoint(base, signer) };
  }

  /** After a checkpoint committed: count from it, and export it. */
  private checkpointWritten(checkpoint: Checkpoint, eventsCovered: number) {
    this.sinceCheckpoint = Math.max(0, this.sinceCheckpoint - eventsCovered);
    this.checkpointDue = false;
    this.lastCheckpointSeq = Math.max(this.lastCheckpointSeq, checkpoint.seq);
    const { onCheckpoint, onError } = this.options.checkpoints!;
    if (!onCheckpoint) return;
    this.exported = this.exported
      .then(() => onCheckpoint(checkpoint))
      .catch((err) => observe(() => onError?.(err as Error)));
  }

  /** A checkpoint is due: the next batch carries it, or, when none is on its way, it is written alone. */
  private requestCheckpoint() {
    if (!this.options.checkpoints || this.closed) return;
    this.checkpointDue = true;
    if (!this.running && this.queue.length === 0) void this.writeCheckpointAlone();
  }

  /** Signs the committed head (this writer's own, or read back after callers' transactions) unless already signed; never rejects. */
  private writeCheckpointAlone(): Promise<void> {
    if (this.checkpointing) return this.checkpointing;
    this.checkpointing = (async () => {
      this.checkpointDue = false;
      const counted = this.sinceCheckpoint;
      try {
        const head = this.head ?? (await this.readHead());
        if (head.seq > this.lastCheckpointSeq) {
          const checkpoint = this.signHead(head);
          await this.knex('audit.checkpoints')
            .insert({
              chain_id: checkpoint.chainId,
              seq: checkpoint.seq,
              hash: checkpoint.hash,
              created_at: checkpoint.createdAt,
              key_id: checkpoint.keyId,
              signature: checkpoint.signature,
            })
            .onConflict(['chain_id', 'seq'])
            .ignore();
          this.checkpointWritten(checkpoint, counted);
        } else {
          this.sinceCheckpoint = Math.max(0, this.sinceCheckpoint - counted);
        }
      } catch (err) {
        this.checkpointDue = true; // tried again with the next batch or tick
        const { onError } = this.options.checkpoints!;
        observe(() => onError?.(new AuditUnavailableError(`audit checkpoint could not be written: ${(err as Error).message}`, { cause: err })));
      } finally {
        this.checkpointing = undefined;
      }
    })();
    return this.checkpointing;
  }

  /**
   * Writes whatever is queued; resolves when every event queued before the call has settled, and
   * every checkpoint committed so far has been exported.
   */
  async flush(): Promise<void> {
    while (this.queue.length > 0 || this.running) {
      this.start();
      await this.running;
    }
    await this.checkpointing;
    await this.exported;
  }

  /** Events waiting for a batch (not counting the batch being written). */
  get queueDepth(): number {
    return this.queuedEvents;
  }

  /** Refuses new events, then writes everything already queued. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
    if (this.checkpointTimer) {
      clearInterval(this.checkpointTimer);
      this.checkpointTimer = undefined;
      // The whole chain signed at a clean shutdown.
      await this.checkpointing;
      if (this.sinceCheckpoint > 0 || this.head === undefined || this.head.seq > this.lastCheckpointSeq) await this.writeCheckpointAlone();
      await this.exported;
    }
  }

  /** Signs the chain's committed head now (if it moved since the last checkpoint) and waits for its export. */
  async checkpoint(): Promise<void> {
    if (!this.options.checkpoints) return;
    await this.flush();
    await this.checkpointing;
    await this.writeCheckpointAlone();
    await this.exported;
  }
}
