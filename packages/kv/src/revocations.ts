// Revoked JWT access tokens and grants, shared by the auth server (writer) and the docs API (reader).
// Each entry lives until the longest access token it can concern has expired. Readers keep an
// in-memory copy, loaded at start and kept current over pub/sub, so a check costs no round trip.
// `jti` and `grant` entries refuse one token or one grant's tokens; `sub` (a user) and `client`
// entries refuse every token of that user or client issued up to the moment of the revocation (a
// disabled user or client, a user signed out everywhere), so tokens issued after it still work.
// `api_key` entries refuse one API key (by its id) from the moment it is revoked.
//
// Durable copy: with a `durable` store (PostgreSQL, `auth.revocations`), every revocation is also
// recorded there (by the writer, in the transaction of its audit event) and Redis is only the fast
// path. A Redis that restarts empty or fails over loses its keys and the marker key with them; a
// follower that sees the marker gone, or its subscription drop, is not current (callers answer 503)
// until it has reloaded the live revocations from PostgreSQL and put them back into Redis.
import { createHash } from 'node:crypto';
import { acknowledge, publishAcknowledged } from './acknowledged';
import { KvUnavailableError, type Kv } from './kv';

const CHANNEL = 'revocations';
const PREFIX = 'revoked:';
/** Present while the cache holds every live durable revocation; gone after a restart or failover. */
export const REVOCATIONS_LOADED_KEY = 'revocations:loaded';
/** How often a follower looks for the marker (a cache emptied without dropping connections). */
const MARKER_CHECK_MS = 1_000;

export type RevocationKind = 'jti' | 'grant' | 'sub' | 'client' | 'api_key';

interface Entry {
  expiresAt: number; // ms epoch
  /** For `sub` and `client`: tokens issued at or before this (ms epoch) are refused. */
  at: number;
}

export interface RevocableToken {
  jti?: unknown;
  gid?: unknown;
  sub?: unknown;
  client_id?: unknown;
  iat?: unknown;
  /** An API key's id. */
  api_key?: unknown;
}

/** The grant claim published in access tokens: a hash of the grant id, never the id itself. */
export function grantClaim(grantId: string): string {
  return createHash('sha256').update(grantId).digest('base64url').slice(0, 32);
}

/** One revocation as the durable store keeps it (times in ms epoch). */
export interface RevocationRecord {
  kind: RevocationKind;
  value: string;
  at: number;
  expiresAt: number;
}

/** Where revocations outlive the cache: `record` is called before the cache is written, `live` on (re)load. */
export interface DurableRevocations {
  record(revocation: RevocationRecord): Promise<void> | void;
  live(): Promise<RevocationRecord[]>;
}

export class RevocationList {
  private readonly entries = new Map<string, Entry>(); // `${kind}:${value}`
  private loaded = false;
  private subscribed = false;
  /** Followed and complete: false from a lost subscription or a vanished marker until reloaded. */
  private current = false;
  private syncing: Promise<void> | undefined;
  private readonly waiters = new Set<() => void>();
  private timers: NodeJS.Timeout[] = [];
  private unwatch: (() => void) | undefined;

  constructor(
    private readonly kv: Kv,
    /** How long an entry must be remembered: the longest access token lifetime, in seconds. */
    private readonly retainSeconds: number,
    private readonly durable?: DurableRevocations,
    private readonly onSyncError?: (err: Error) => void,
  ) {}

  /**
   * Records a revocation durably in the shared store and tells every reader. Resolves once every
   * process that follows the list has acknowledged it (or after ACK_WAIT_MS if one does not), so the
   * response that confirms a revocation leaves only after the docs API processes refuse the token.
   */
  async revoke(kind: RevocationKind, value: string, ttlSeconds = this.retainSeconds): Promise<void> {
    const key = `${kind}:${value}`;
    const at = Date.now();
    await this.durable?.record({ kind, value, at, expiresAt: at + ttlSeconds * 1000 });
    await this.kv.set(`${PREFIX}${key}`, String(at), ttlSeconds);
    this.remember(key, at + ttlSeconds * 1000, at);
    await publishAcknowledged(this.kv, CHANNEL, { key, expiresAt: at + ttlSeconds * 1000, at });
  }

  /** Loads what the stores hold now and follows new revocations (and the cache's losses). */
  async follow(): Promise<void> {
    if (this.loaded) return;
    if (!this.subscribed) {
      this.subscribed = true;
      await this.kv.subscribe(CHANNEL, (message) => {
        try {
          const { key, expiresAt, at, ack } = JSON.parse(message) as { key: string; expiresAt: number; at?: unknown; ack?: unknown };
          if (typeof key === 'string' && typeof expiresAt === 'number') this.remember(key, expiresAt, typeof at === 'number' ? at : expiresAt);
          // Acknowledge once the entry is in memory: the revoker waits for every follower.
          acknowledge(this.kv, ack);
        } catch {
          // malformed message: ignored
        }
      });
    }
    await this.sync();
    this.loaded = true;
    // Messages published while the subscription was down were missed: not current until reloaded.
    this.unwatch = this.kv.onSubscriptionChange?.((live) => {
      if (!live) this.current = false;
      else this.resync();
    });
    const sweep = setInterval(() => {
      const now = Date.now();
      for (const [k, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(k);
    }, 60_000);
    this.timers.push(sweep);
    if (this.durable) {
      const marker = setInterval(() => {
        if (this.syncing) return;
        this.kv.get(REVOCATIONS_LOADED_KEY).then(
          (present) => {
            if (present === null) {
              this.current = false;
              this.resync();
            }
          },
          () => {
            this.current = false; // the cache is unreachable: what it was told meanwhile is unknown
            this.resync();
          },
        );
      }, MARKER_CHECK_MS);
      this.timers.push(marker);
    }
    for (const t of this.timers) t.unref();
  }

  /** Stops the follower's timers (the cache connection is the caller's). */
  stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.unwatch?.();
  }

  /** Whether a check now may trust a "not revoked" (followed, nothing missed, cache reloaded). */
  isCurrent(): boolean {
    return this.loaded && this.current && (this.kv.subscriptionLive?.() ?? true);
  }

  /** Resolves true once current (false after `timeoutMs`): a request may wait out a short reload. */
  whenCurrent(timeoutMs: number): Promise<boolean> {
    if (this.isCurrent()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve(this.isCurrent());
      };
      const timer = setTimeout(done, timeoutMs);
      this.waiters.add(done);
    });
  }

  /** Reloads until it succeeds (the cache or the database may still be down); never rejects. */
  private resync(): void {
    if (this.syncing) return;
    this.syncing = (async () => {
      for (let delay = 50; ; delay = Math.min(delay * 2, 2_000)) {
        try {
          await this.sync();
          return;
        } catch (err) {
          this.onSyncError?.(err as Error);
          await new Promise((r) => setTimeout(r, delay).unref());
          if (this.timers.length === 0 && this.loaded) return; // stopped
        }
      }
    })().finally(() => {
      this.syncing = undefined;
    });
  }

  /**
   * One load: with a durable store, its live rows go into memory, and into the cache when the
   * marker is missing (then the marker is set again); without one, the cache's keys are read.
   */
  private async sync(): Promise<void> {
    this.current = false;
    if (this.durable) {
      const marker = await this.kv.get(REVOCATIONS_LOADED_KEY);
      const rows = await this.durable.live();
      const now = Date.now();
      for (const row of rows) this.remember(`${row.kind}:${row.value}`, row.expiresAt, row.at);
      if (marker === null) {
        for (const row of rows) {
          const ttl = (row.expiresAt - now) / 1000;
          if (ttl > 0) await this.kv.set(`${PREFIX}${row.kind}:${row.value}`, String(row.at), ttl);
        }
        await this.kv.set(REVOCATIONS_LOADED_KEY, String(now));
      }
    }
    // The cache's own keys too: a revocation written there whose transaction had not committed when
    // PostgreSQL was read, and whose message came before this process subscribed again, is not missed.
    const keys = await this.kv.keys(PREFIX);
    const horizon = Date.now() + this.retainSeconds * 1000;
    const userOrClient = keys.filter((k) => /^revoked:(sub|client):/.test(k));
    const times = await Promise.all(userOrClient.map((k) => this.kv.get(k)));
    const atOf = new Map(userOrClient.map((k, i) => [k, Number(times[i]) || Date.now()]));
    for (const k of keys) this.remember(k.slice(PREFIX.length), horizon, atOf.get(k) ?? Date.now());
    this.current = this.kv.subscriptionLive?.() ?? true;
    for (const wake of [...this.waiters]) wake();
  }

  private remember(key: string, expiresAt: number, at: number) {
    const known = this.entries.get(key);
    this.entries.set(key, { expiresAt: Math.max(known?.expiresAt ?? 0, expiresAt), at: Math.max(known?.at ?? 0, at) });
  }

  /** A token issued (iat, seconds) at or before `at` (ms); a token without iat counts as old. */
  private static issuedBefore(token: RevocableToken, at: number): boolean {
    return typeof token.iat !== 'number' || token.iat * 1000 <= at;
  }

  /** Answers from memory (after `follow`), so it is cheap on every request. */
  isRevoked(token: RevocableToken): boolean {
    if (this.entries.size === 0) return false;
    if (typeof token.jti === 'string' && this.entries.has(`jti:${token.jti}`)) return true;
    if (typeof token.gid === 'string' && this.entries.has(`grant:${token.gid}`)) return true;
    if (typeof token.api_key === 'string' && this.entries.has(`api_key:${token.api_key}`)) return true;
    for (const [kind, id] of [['sub', token.sub], ['client', token.client_id]] as const) {
      const entry = typeof id === 'string' ? this.entries.get(`${kind}:${id}`) : undefined;
      if (entry && RevocationList.issuedBefore(token, entry.at)) return true;
    }
    return false;
  }

  /** Asks the shared store directly (for a process that does not follow). */
  async isRevokedInStore(token: RevocableToken): Promise<boolean> {
    if (this.isRevoked(token)) return true;
    // A follower that missed messages or lost the cache's keys cannot say "not revoked" yet.
    if (this.loaded && !this.isCurrent() && !(await this.whenCurrent(2_000))) {
      throw new KvUnavailableError('the revocation list is being reloaded');
    }
    // A current durable follower holds every live revocation in memory.
    if (this.durable && this.loaded) return false;
    const exact: Promise<string | null>[] = [];
    if (typeof token.jti === 'string') exact.push(this.kv.get(`${PREFIX}jti:${token.jti}`));
    if (typeof token.gid === 'string') exact.push(this.kv.get(`${PREFIX}grant:${token.gid}`));
    if (typeof token.api_key === 'string') exact.push(this.kv.get(`${PREFIX}api_key:${token.api_key}`));
    const since: Promise<string | null>[] = [];
    if (typeof token.sub === 'string') since.push(this.kv.get(`${PREFIX}sub:${token.sub}`));
    if (typeof token.client_id === 'string') since.push(this.kv.get(`${PREFIX}client:${token.client_id}`));
    const [a, b] = await Promise.all([Promise.all(exact), Promise.all(since)]);
    return a.some((v) => v !== null) || b.some((v) => v !== null && RevocationList.issuedBefore(token, Number(v)));
  }
}
