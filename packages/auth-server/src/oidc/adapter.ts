// oidc-provider storage behind one seam. Durable models (grants, refresh tokens) go to PostgreSQL;
// short-lived ones (sessions, interactions, codes, opaque access tokens, replay detection: its find
// is an atomic claim) go to the cache (Redis, or the in-process store). Clients come from auth.clients
// (operator-registered, or registered by themselves through RFC 7591, checked by the same rules);
// registration access tokens are durable (they live as long as their client); initial access tokens
// are the operator's auth.registration_tokens (libraries/registration-tokens.ts), read-only here.
// `consume` is an atomic compare-and-set in both stores: of two concurrent redemptions exactly one
// wins; the loser revokes the grant and gets invalid_grant (oidc-provider checks, then consumes).
// Refresh tokens have a grace window (AUTH_REFRESH_REUSE_GRACE_SECONDS, see refresh-grace.ts): while a
// used one is presented again within it, its consumption is overlooked by `find`, and a lost `consume`
// waits for the first answer to be given again instead of revoking.
import type { Kv } from '@clouddocs/kv';
import Provider, { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import { kvKeys } from '../constants';
import { followClientChanges } from '../libraries/client-lifecycle';
import type { ClientLibrary } from '../libraries/clients';
import { claimReplayId, PROVISIONAL_CLAIM_SECONDS, REPLAY_MODEL } from '../libraries/replay-detection';
import type { RegistrationTokenLibrary } from '../libraries/registration-tokens';
import type { RegistrationState } from '../routes/registration';
import type { PayloadQueries } from '../queries/payloads';
import type { RefreshReuseGrace } from './refresh-grace';

const DURABLE = new Set(['Grant', 'RefreshToken', 'RegistrationAccessToken']);
const CONSUMABLE = new Set(['AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest', 'PushedAuthorizationRequest']);
const GRANT_INDEXED_KV = ['AuthorizationCode', 'AccessToken', 'DeviceCode', 'BackchannelAuthenticationRequest'];

export interface AdapterDeps {
  payloads: PayloadQueries;
  kv: Kv;
  clients: ClientLibrary;
  /** Initial access tokens for dynamic registration (absent: none is ever found). */
  registrationTokens?: RegistrationTokenLibrary;
  /** Called when a consume race is lost: the grant must die everywhere (tokens, revocation list, audit). */
  onReuse(model: string, grantId: string | undefined): Promise<void>;
  /** The refresh token reuse grace window (absent or 0 seconds: every reuse revokes). */
  refreshGrace?: RefreshReuseGrace;
}

const epoch = () => Math.floor(Date.now() / 1000);
/** Clients kept in each process's cache at most (each entry is the client's metadata). */
export const CLIENT_CACHE_ENTRIES = 2000;

export function createAdapterClass(deps: AdapterDeps): new (name: string) => Adapter {
  const { payloads, kv, refreshGrace } = deps;
  /** A used refresh token presented again, now, within the grace window (by the database's clock). */
  const withinRefreshGrace = async (model: string, id: string) =>
    model === 'RefreshToken' && refreshGrace !== undefined && refreshGrace.graceSeconds > 0 && refreshGrace.presentedNow(id) && (await payloads.consumedWithin(model, id, refreshGrace.graceSeconds));
  // A short cache keeps the token endpoint off the database; an operator's change to a client drops
  // it in every process at once (see libraries/client-lifecycle), the TTL is only a backstop.
  const clientCache = new Map<string, { value: AdapterPayload; until: number }>();
  void followClientChanges(kv, (clientId) => clientCache.delete(clientId)).catch(() => undefined);

  const key = kvKeys.model;

  class ClientAdapter implements Adapter {
    /** Dynamic registration (RFC 7591) and its management (RFC 7592); operators' clients come from the CLI and admin API. */
    async upsert(id: string, payload: AdapterPayload) {
      const state = (Provider as unknown as { ctx?: { state?: RegistrationState } }).ctx?.state;
      await deps.clients.upsertRegistered({ ...payload, client_id: id }, state?.registrationTokenId ?? 'registration');
      clientCache.delete(id);
    }
    async find(id: string) {
      const cached = clientCache.get(id);
      if (cached && cached.until > Date.now()) return cached.value;
      if (cached) clientCache.delete(id);
      const value = (await deps.clients.findForProvider(id)) as AdapterPayload | undefined;
      if (value) {
        // Bounded: with more clients than this in use, the oldest entry makes room (a Map keeps insertion order).
        if (clientCache.size >= CLIENT_CACHE_ENTRIES) clientCache.delete(clientCache.keys().next().value!);
        clientCache.set(id, { value, until: Date.now() + 30_000 });
      }
      return value;
    }
    async findByUserCode() {
      return undefined;
    }
    async findByUid() {
      return undefined;
    }
    async consume() {}
    async destroy(id: string) {
      clientCache.delete(id);
    }
    async revokeByGrantId() {}
  }

  /** Initial access tokens: looked up by their value (hashed), never written by the provider. */
  class InitialAccessTokenAdapter implements Adapter {
    async upsert() {
      throw new Error('initial access tokens are made with `clouddocs client registration-token create` or the admin API');
    }
    async find(value: string) {
      const id = value && deps.registrationTokens ? await deps.registrationTokens.live(value) : undefined;
      return id ? ({ jti: value, kind: 'InitialAccessToken', iat: epoch() } as AdapterPayload) : undefined;
    }
    async findByUserCode() {
      return undefined;
    }
    async findByUid() {
      return undefined;
    }
    async consume() {}
    async destroy() {}
    async revokeByGrantId() {}
  }

  class PgAdapter implements Adapter {
    constructor(private readonly model: string) {}

    async upsert(id: string, payload: AdapterPayload, expiresIn: number) {
      await payloads.upsert(this.model, id, payload, expiresIn);
      if (this.model === 'Grant' && typeof payload.accountId === 'string' && typeof payload.clientId === 'string') {
        // Remembered consent: a returning user's next sign-in at the same client finds this grant.
        await kv.set(kvKeys.grantFor(payload.accountId, payload.clientId), id, expiresIn || undefined);
      }
    }
    async find(id: string) {
      const payload = await payloads.find(this.model, { id });
      // Within the grace window the library goes on as for an unused token (its client, grant and
      // binding checks included) up to `consume`, where the first answer is given again.
      if (payload?.consumed && (await withinRefreshGrace(this.model, id))) delete payload.consumed;
      return payload;
    }
    findByUid(uid: string) {
      return payloads.find(this.model, { uid });
    }
    findByUserCode(userCode: string) {
      return payloads.find(this.model, { user_code: userCode });
    }
    async consume(id: string) {
      const result = await payloads.consume(this.model, id);
      if (!result.won && (await withinRefreshGrace(this.model, id))) {
        // Not reuse: a retry or a parallel request of the first use. It stops here either way; the
        // provider layer then sends the first answer again when there is one for this client and request.
        const outcome = await refreshGrace!.answerAgain(id);
        throw new errors.InvalidGrant(
          outcome === 'answered'
            ? 'refresh token already used; answered again'
            : outcome === 'other-request'
              ? 'refresh token already used for a different request'
              : 'refresh token already used; its first answer is not available',
        );
      }
      if (!result.won) {
        await deps.onReuse(this.model, result.grantId);
        throw new errors.InvalidGrant(`${this.model === 'RefreshToken' ? 'refresh token' : 'grant source'} already consumed`);
      }
    }
    async destroy(id: string) {
      await payloads.destroy(this.model, id);
    }
    async revokeByGrantId(grantId: string) {
      await payloads.destroyByGrant(grantId, this.model);
    }
  }

  class KvAdapter implements Adapter {
    constructor(private readonly model: string) {}

    async upsert(id: string, payload: AdapterPayload, expiresIn: number) {
      const ttl = expiresIn || 24 * 3600;
      await kv.set(key(this.model, id), JSON.stringify(payload), ttl);
      if (payload.grantId && GRANT_INDEXED_KV.includes(this.model)) await kv.addToSet(kvKeys.grantMembers(payload.grantId), key(this.model, id), ttl);
      if (payload.uid) await kv.set(kvKeys.byUid(this.model, payload.uid), id, ttl);
      // The account page lists and ends a person's sessions: index them by account (uids, not ids).
      if (this.model === 'Session' && payload.accountId && payload.uid) await kv.addToSet(kvKeys.accountSessions(payload.accountId), payload.uid, ttl);
      if (payload.userCode) await kv.set(kvKeys.byUserCode(payload.userCode), id, ttl);
    }
    async find(id: string) {
      // ReplayDetection.unique() finds, then saves: the find claims the id atomically instead, so two
      // processes presented the same assertion or proof at once cannot both see it as new.
      if (this.model === REPLAY_MODEL) return (await claimReplayId(kv, id, '', PROVISIONAL_CLAIM_SECONDS)) ? undefined : { jti: id };
      const consumable = CONSUMABLE.has(this.model);
      const [raw, consumed] = await Promise.all([kv.get(key(this.model, id)), consumable ? kv.get(kvKeys.consumed(this.model, id)) : null]);
      if (!raw) return undefined;
      const payload = JSON.parse(raw) as AdapterPayload;
      if (consumed) payload.consumed = Number(consumed);
      return payload;
    }
    async findByUid(uid: string) {
      const id = await kv.get(kvKeys.byUid(this.model, uid));
      return id ? this.find(id) : undefined;
    }
    async findByUserCode(userCode: string) {
      const id = await kv.get(kvKeys.byUserCode(userCode));
      return id ? this.find(id) : undefined;
    }
    async consume(id: string) {
      const won = await kv.setIfAbsent(kvKeys.consumed(this.model, id), String(epoch()), 24 * 3600);
      if (!won) {
        const raw = await kv.get(key(this.model, id));
        const grantId = raw ? (JSON.parse(raw) as AdapterPayload).grantId : undefined;
        await deps.onReuse(this.model, grantId);
        throw new errors.InvalidGrant(`${this.model === 'AuthorizationCode' ? 'authorization code' : 'grant source'} already consumed`);
      }
    }
    async destroy(id: string) {
      await kv.del(key(this.model, id));
    }
    async revokeByGrantId(grantId: string) {
      const members = await kv.setMembers(kvKeys.grantMembers(grantId));
      await kv.del(...members, kvKeys.grantMembers(grantId));
    }
  }

  return class StoreAdapter implements Adapter {
    private readonly inner: Adapter;
    constructor(name: string) {
      this.inner = name === 'Client' ? new ClientAdapter() : name === 'InitialAccessToken' ? new InitialAccessTokenAdapter() : DURABLE.has(name) ? new PgAdapter(name) : new KvAdapter(name);
    }
    upsert(id: string, payload: AdapterPayload, expiresIn: number) {
      return this.inner.upsert(id, payload, expiresIn);
    }
    find(id: string) {
      return this.inner.find(id);
    }
    findByUserCode(userCode: string) {
      return this.inner.findByUserCode(userCode);
    }
    findByUid(uid: string) {
      return this.inner.findByUid(uid);
    }
    consume(id: string) {
      return this.inner.consume(id);
    }
    destroy(id: string) {
      return this.inner.destroy(id);
    }
    revokeByGrantId(grantId: string) {
      return this.inner.revokeByGrantId(grantId);
    }
  };
}
