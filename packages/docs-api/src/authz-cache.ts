// The authorization data of the read path, kept in this process for a few seconds: a principal's
// org memberships, and a document row with the caller's share of it. Rules:
// - every write that changes them (org creation, member added/changed/removed, client binding,
//   document update/delete, share put/delete) calls `changed()` after its commit and before its
//   response: this process forgets the entries at once, and every other docs API process forgets them
//   when the message published on the shared cache reaches it;
// - a read that raced with a change never stores what it read (the generation check below);
// - entries expire after `ttlMs` anyway, the bound when a message is lost;
// - while the subscription is not known to be live (not yet subscribed, or the connection to the
//   shared cache was lost), nothing is cached: every request reads the database, and the cache
//   starts empty once the subscription is back.
import { acknowledge, publishAcknowledged, type Kv } from '@clouddocs/kv';
import type { Logger } from '@clouddocs/observability';
import type { Membership, Principal, SharePermission } from './access';
import type { DocumentRecord } from './queries/documents';

export const AUTHZ_CHANNEL = 'docs:authz-changed';

/** What a write changed, as the cache names it. */
export const changeOf = {
  principal: (kind: 'user' | 'client', id: string) => `p:${kind}:${id}`,
  document: (id: string) => `d:${id}`,
};

/** Called by the libraries after a commit that changed authorization data. */
export type AuthzChanged = (changes: string[]) => Promise<void>;

export interface DocumentAccess {
  doc: DocumentRecord | undefined;
  share: SharePermission | undefined;
}

interface Entry<T> {
  value: T;
  expiresAt: number;
}

export interface AuthzCacheOptions {
  kv: Kv;
  logger: Logger;
  /** How long an entry may be used without an invalidation (the backstop). */
  ttlMs?: number;
  /** At most this many principals, and this many documents, are kept (oldest first out). */
  maxEntries?: number;
}

export const AUTHZ_CACHE_TTL_MS = 5_000;

export class AuthzCache {
  readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly memberships = new Map<string, Entry<Membership[]>>();
  /** document id → principal key → the document and that principal's share */
  private readonly documents = new Map<string, Map<string, Entry<DocumentAccess>>>();
  /** Bumped by every invalidation: a load that saw another generation start does not store. */
  private generation = 0;
  private live = false;
  private stopped = false;
  private stopWatching: (() => void) | undefined;
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly options: AuthzCacheOptions) {
    this.ttlMs = options.ttlMs ?? AUTHZ_CACHE_TTL_MS;
    this.maxEntries = options.maxEntries ?? 50_000;
    this.sweeper = setInterval(() => this.sweep(), Math.max(this.ttlMs, 1_000));
    this.sweeper.unref();
  }

  /** Subscribes to the changes of other processes (retrying); until then the cache is bypassed. */
  async follow(): Promise<void> {
    const { kv, logger } = this.options;
    for (let delay = 100; !this.stopped; delay = Math.min(delay * 2, 5_000)) {
      try {
        this.stopWatching = kv.onSubscriptionChange?.((live) => this.setLive(live));
        await kv.subscribe(AUTHZ_CHANNEL, (message) => this.apply(message));
        this.setLive(kv.subscriptionLive?.() ?? true);
        return;
      } catch (err) {
        this.stopWatching?.();
        logger.warn({ err: (err as Error).message }, 'could not follow authorization changes; reading them from the database meanwhile');
        await new Promise((r) => setTimeout(r, delay).unref());
      }
    }
  }

  /** Whether entries are used (and stored) now. */
  isLive(): boolean {
    return this.live && !this.stopped;
  }

  async membershipsOf(principal: Principal, load: (principal: Principal) => Promise<Membership[]>): Promise<Membership[]> {
    const key = changeOf.principal(principal.kind, principal.id);
    const hit = this.memberships.get(key);
    if (hit && this.isLive() && hit.expiresAt > Date.now()) return hit.value;
    const generation = this.generation;
    const value = await load(principal);
    if (generation === this.generation && this.isLive()) keep(this.memberships, key, { value, expiresAt: Date.now() + this.ttlMs }, this.maxEntries);
    return value;
  }

  async documentFor(id: string, principal: Principal, load: (id: string, principal: Principal) => Promise<DocumentAccess>): Promise<DocumentAccess> {
    const key = changeOf.principal(principal.kind, principal.id);
    const hit = this.documents.get(id)?.get(key);
    if (hit && this.isLive() && hit.expiresAt > Date.now()) return hit.value;
    const generation = this.generation;
    const value = await load(id, principal);
    // A missing document is remembered like a present one, so that a hidden document and a missing one
    // cost the same (load-document.ts); it can never deny a document made since, as every 404 re-reads.
    if (generation === this.generation && this.isLive()) {
      let perPrincipal = this.documents.get(id);
      if (!perPrincipal) keep(this.documents, id, (perPrincipal = new Map()), this.maxEntries);
      perPrincipal.set(key, { value, expiresAt: Date.now() + this.ttlMs });
    }
    return value;
  }

  /** After a committed change: forget it here at once, then tell the other processes. */
  readonly changed: AuthzChanged = async (changes) => {
    this.forget(changes);
    try {
      // Waits (bounded) until every docs API process has forgotten them: the next request anywhere sees the change.
      await publishAcknowledged(this.options.kv, AUTHZ_CHANNEL, { changes });
    } catch (err) {
      // Committed either way; other processes then see it when their entries expire (ttlMs).
      this.options.logger.error({ err: (err as Error).message }, 'could not publish an authorization change');
    }
  };

  stop(): void {
    this.stopped = true;
    this.stopWatching?.();
    clearInterval(this.sweeper);
    this.clear();
  }

  private apply(message: string): void {
    let changes: unknown;
    try {
      changes = JSON.parse(message);
    } catch {
      changes = undefined;
    }
    // `{ changes, ack }` from a docs API or the CLI; a bare array from older publishers.
    const body = changes as { changes?: unknown; ack?: unknown } | undefined;
    const list = Array.isArray(changes) ? changes : body?.changes;
    if (Array.isArray(list) && list.every((c) => typeof c === 'string')) this.forget(list);
    else this.clear(); // not understood: forget everything rather than miss a change
    acknowledge(this.options.kv, body?.ack);
  }

  private forget(changes: string[]): void {
    this.generation += 1;
    for (const change of changes) {
      if (change.startsWith('p:')) {
        this.memberships.delete(change);
      } else if (change.startsWith('d:')) {
        this.documents.delete(change.slice(2));
      } else {
        this.clear();
        return;
      }
    }
  }

  private setLive(live: boolean): void {
    // Down: messages may be missed from now on. Up again: some were. Either way start empty.
    this.clear();
    this.live = live;
  }

  private clear(): void {
    this.generation += 1;
    this.memberships.clear();
    this.documents.clear();
  }

  private sweep(): void {
    const now = Date.now();
    for (const [key, entry] of this.memberships) if (entry.expiresAt <= now) this.memberships.delete(key);
    for (const [id, perPrincipal] of this.documents) {
      for (const [key, entry] of perPrincipal) if (entry.expiresAt <= now) perPrincipal.delete(key);
      if (perPrincipal.size === 0) this.documents.delete(id);
    }
  }
}

/** Sets `key` as the newest entry, first dropping the oldest when `map` is full. */
function keep<V>(map: Map<string, V>, key: string, value: V, max: number): void {
  map.delete(key);
  if (map.size >= max) map.delete(map.keys().next().value!);
  map.set(key, value);
}
