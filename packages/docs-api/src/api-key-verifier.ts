// Verifies API keys (`Authorization: Bearer cd_pat_…`). The auth server owns keys; this API reads
// them through its read-only view (queries/api-keys.ts) and learns of changes on the revocation list.
// Rules:
// - the key's shape and checksum are checked first (one character changed → 401 without a lookup);
// - a key is found by its SHA-256 (what the auth server stores), in a per-process cache of
//   API_KEY_CACHE_MS (unknown keys too, for a shorter time), so a warm request costs no round trip;
// - on every request, cached or not: its expiry and an `api_key` revocation of it (revoked in the
//   console, the CLI or the admin API). A `sub` revocation of its user (disabled, deleted, signed out
//   everywhere) made after the moment the key was read from the view makes this process read the view
//   again at once: the auth server publishes it after the change is committed, and the view leaves out
//   a disabled or deleted user's keys, so those are refused on the very next request while a user who
//   was only signed out (or is enabled again) keeps their keys. Any failure → 401 invalid_token;
// - no write per request: the first use of a key (the view says it was never used) is recorded at once
//   and audited once (`api_key.used`, in the same transaction; the database's row lock decides which
//   process's use was the first); later uses are recorded in batches every USE_FLUSH_MS.
// The key itself is never logged nor put in an event: only its id.
import { hash as digest } from 'node:crypto';
import { crc32 } from 'node:zlib';
import type { Knex } from '@clouddocs/db';
import type { RevocationList } from '@clouddocs/kv';
import type { Logger } from '@clouddocs/observability';
import type { Principal } from './access';
import { ServiceUnavailableError, UnauthorizedError } from './errors';
import type { AuditWriter } from './libraries/audit-writer';
import { event, type EventContext } from './libraries/event-context';
import { createApiKeyQueries, type ApiKeyCredential } from './queries/api-keys';

/** What marks an API key (the auth server's libraries/api-keys.ts makes them). */
export const API_KEY_PREFIX = 'cd_pat_';
const CHECKSUM_CHARS = 6;
const KEY_SHAPE = /^cd_pat_[0-9A-Za-z]{42}$/;
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

export const API_KEY_CACHE_MS = 30_000;
const UNKNOWN_KEY_CACHE_MS = 5_000;
const CACHE_MAX = 10_000;
export const USE_FLUSH_MS = 60_000;

/** The same checksum as the auth server's: CRC-32 of the key before it, 6 base62 characters. */
function checksumOk(key: string): boolean {
  let n = crc32(key.slice(0, -CHECKSUM_CHARS));
  let sum = '';
  for (let i = 0; i < CHECKSUM_CHARS; i += 1) {
    sum = BASE62[n % 62]! + sum;
    n = Math.floor(n / 62);
  }
  return sum === key.slice(-CHECKSUM_CHARS);
}

interface Cached {
  credential: ApiKeyCredential | undefined;
  /** When the view was read (ms): a `sub` revocation after it refuses the key. */
  readAt: number;
  until: number;
}

export interface ApiKeyVerifierOptions {
  knex: Knex;
  audit: AuditWriter;
  logger: Logger;
  revocations: RevocationList;
  revocationsLoaded: () => boolean;
  /** Waits (bounded) for a reload in progress; true when the list is current again. */
  awaitRevocations?: () => Promise<boolean>;
  cacheMs?: number;
}

export function createApiKeyVerifier(options: ApiKeyVerifierOptions) {
  const queries = createApiKeyQueries(options.knex);
  const cacheMs = options.cacheMs ?? API_KEY_CACHE_MS;
  const cache = new Map<string, Cached>();
  /** Keys this process knows to have been used already (no first use to record). */
  const used = new Set<string>();
  const pending = new Map<string, number>();

  async function lookup(hash: string, fresh = false): Promise<Cached> {
    const known = cache.get(hash);
    const now = Date.now();
    if (known && known.until > now && !fresh) return known;
    const readAt = Date.now();
    let credential: ApiKeyCredential | undefined;
    try {
      credential = await queries.byHash(hash);
    } catch {
      throw new ServiceUnavailableError('API keys cannot be checked right now');
    }
    const entry: Cached = { credential, readAt, until: readAt + (credential ? cacheMs : Math.min(cacheMs, UNKNOWN_KEY_CACHE_MS)) };
    cache.delete(hash);
    if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
    cache.set(hash, entry);
    return entry;
  }

  async function firstUse(credential: ApiKeyCredential, context: EventContext): Promise<void> {
    const at = Date.now();
    await options.knex.transaction(async (trx) => {
      const first = await createApiKeyQueries(trx).recordUse([{ id: credential.id, at }]);
      if (first.includes(credential.id)) {
        await options.audit.appendInTransaction(trx, [
          event(context, { action: 'api_key.used', target: { type: 'api_key', id: credential.id }, outcome: 'success', detail: { userId: credential.accountId, first: true } }),
        ]);
      }
    });
    used.add(credential.id);
  }

  let flushing: Promise<void> = Promise.resolve();
  async function flush(): Promise<void> {
    if (pending.size === 0) return;
    const uses = [...pending].map(([id, at]) => ({ id, at }));
    pending.clear();
    try {
      await queries.recordUse(uses);
    } catch (err) {
      // Put them back (a newer use recorded meanwhile wins): last use is kept, only late.
      for (const { id, at } of uses) pending.set(id, Math.max(pending.get(id) ?? 0, at));
      options.logger.warn({ err: (err as Error).message, keys: uses.length }, 'could not record API key use; will retry');
    }
  }
  const timer = setInterval(() => {
    flushing = flushing.then(flush);
  }, USE_FLUSH_MS);
  timer.unref();

  return {
    /** The principal of a valid key, else UnauthorizedError (invalid_token). */
    async verify(key: string, context: () => EventContext): Promise<Principal> {
      if (!options.revocationsLoaded() && !(await options.awaitRevocations?.())) throw new ServiceUnavailableError('the revocation list is not loaded yet');
      if (!KEY_SHAPE.test(key) || !checksumOk(key)) throw new UnauthorizedError('the API key is malformed', true);
      const hash = digest('sha256', key, 'hex');
      // iat in seconds as the list compares it; fractional, so a revocation in the same second after the read still counts.
      const userChangedSince = (c: ApiKeyCredential, readAt: number) => options.revocations.isRevoked({ sub: c.accountId, iat: readAt / 1000 });
      let { credential, readAt } = await lookup(hash);
      if (credential && userChangedSince(credential, readAt)) ({ credential, readAt } = await lookup(hash, true));
      if (!credential) throw new UnauthorizedError('the API key is unknown or revoked', true);
      if (credential.expiresAt <= Date.now()) throw new UnauthorizedError('the API key has expired', true);
      if (options.revocations.isRevoked({ api_key: credential.id })) throw new UnauthorizedError('the API key has been revoked', true);
      // Still before the change after a fresh read (the clocks of the two services differ): refused, fail closed.
      if (userChangedSince(credential, readAt)) throw new UnauthorizedError("the API key's user has been disabled or signed out", true);
      const principal: Principal = { id: credential.accountId, kind: 'user', clientId: credential.id, apiKeyId: credential.id, scopes: new Set(credential.scopes) };
      if (!credential.used && !used.has(credential.id)) {
        await firstUse(credential, { ...context(), actor: { type: 'user', id: credential.accountId } });
      } else {
        pending.set(credential.id, Date.now());
      }
      return principal;
    },
    /** Records the uses not yet recorded (at shutdown). */
    async close(): Promise<void> {
      clearInterval(timer);
      await flushing;
      await flush();
    },
  };
}

export type ApiKeyVerifier = ReturnType<typeof createApiKeyVerifier>;
