// oidc-provider storage behind one seam. Durable models (grants, refresh tokens) go to PostgreSQL;
// short-lived ones (sessions, interactions, codes, opaque access tokens, replay detection) go to the
// cache (Redis, or the in-process store). Clients come from auth.clients (operator-registered).
// `consume` is an atomic compare-and-set in both stores: of two concurrent redemptions exactly one
// wins; the loser revokes the grant and gets invalid_grant (oidc-provider checks, then consumes).
import type { Knex } from '@clouddocs/db';
import type { Kv } from '@clouddocs/kv';
import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import type { ClientLibrary } from '../clients/clients';

const DURABLE = new Set(['Grant', 'RefreshToken']);
const CONSUMABLE = new Set(['AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest', 'PushedAuthorizationRequest']);
const GRANT_INDEXED_KV = ['AuthorizationCode', 'AccessToken', 'DeviceCode', 'BackchannelAuthenticationRequest'];

export interface AdapterDeps {
  knex: Knex;
  kv: Kv;
  clients: ClientLibrary;
  /** Called when a consume race is lost: the grant must die everywhere (tokens, revocation list, audit). */
  onReuse(model: string, grantId: string | undefined): Promise<void>;
}

const epoch = () => Math.floor(Date.now() / 1000);

/** The cache set of an account's session uids (see the account page). */
export const accountSessionsKey = (accountId: string) => `oidc:account-sessions:${accountId}`;

export function createAdapterClass(deps: AdapterDeps): new (name: string) => Adapter {
  const { knex, kv } = deps;
  // Clients change only through the CLI; a short cache keeps the token endpoint off the database.
  const clientCache = new Map<string, { value: AdapterPayload; until: number }>();

  const key = (model: string, id: string) => `oidc:${model}:${id}`;
  const grantKey = (grantId: string) => `oidc:grant:${grantId}`;
  const consumedKey = (model: string, id: string) => `oidc:consumed:${model}:${id}`;
  const grantForKey = (accountId: string, clientId: string) => `oidc:grant-for:${accountId}:${clientId}`;

  async function revokeKvByGrant(grantId: string) {
    const members = await kv.setMembers(grantKey(grantId));
    await kv.del(...members, grantKey(grantId));
  }

  class ClientAdapter implements Adapter {
    async upsert() {
      throw new Error('clients are registered with `clouddocs client create`');
    }
    async find(id: string) {
      const cached = clientCache.get(id);
      if (cached && cached.until > Date.now()) return cached.value;
      const value = (await deps.clients.findForProvider(id)) as AdapterPayload | undefined;
      if (value) clientCache.set(id, { value, until: Date.now() + 30_000 });
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

  class PgAdapter implements Adapter {
    constructor(private readonly model: string) {}

    async upsert(id: string, payload: AdapterPayload, expiresIn: number) {
      const row = {
        model: this.model,
        id,
        payload: JSON.stringify(payload),
        grant_id: payload.grantId ?? null,
        uid: payload.uid ?? null,
        user_code: payload.userCode ?? null,
        expires_at: expiresIn ? new Date(Date.now() + expiresIn * 1000).toISOString() : null,
      };
      await knex('auth.oidc_payloads').insert(row).onConflict(['model', 'id']).merge(['payload', 'grant_id', 'uid', 'user_code', 'expires_at']);
      if (this.model === 'Grant' && typeof payload.accountId === 'string' && typeof payload.clientId === 'string') {
        // Remembered consent: a returning user's next sign-in at the same client finds this grant.
        await kv.set(grantForKey(payload.accountId, payload.clientId), id, expiresIn || undefined);
      }
    }
    private async findWhere(where: Record<string, string>) {
      const row = await knex('auth.oidc_payloads')
        .where({ model: this.model, ...where })
        .andWhere((q) => q.whereNull('expires_at').orWhere('expires_at', '>', knex.fn.now()))
        .first('payload', 'consumed_at');
      if (!row) return undefined;
      const payload = (typeof row.payload === 'string' ? JSON.parse(row.payload) : row.payload) as AdapterPayload;
      if (row.consumed_at) payload.consumed = Math.floor(new Date(row.consumed_at).getTime() / 1000);
      return payload;
    }
    find(id: string) {
      return this.findWhere({ id });
    }
    findByUid(uid: string) {
      return this.findWhere({ uid });
    }
    findByUserCode(userCode: string) {
      return this.findWhere({ user_code: userCode });
    }
    async consume(id: string) {
      const updated = await knex('auth.oidc_payloads').where({ model: this.model, id }).whereNull('consumed_at').update({ consumed_at: knex.fn.now() });
      if (updated === 0) {
        const row = await knex('auth.oidc_payloads').where({ model: this.model, id }).first('grant_id');
        await deps.onReuse(this.model, row?.grant_id ?? undefined);
        throw new errors.InvalidGrant(`${this.model === 'RefreshToken' ? 'refresh token' : 'grant source'} already consumed`);
      }
    }
    async destroy(id: string) {
      await knex('auth.oidc_payloads').where({ model: this.model, id }).delete();
    }
    async revokeByGrantId(grantId: string) {
      await knex('auth.oidc_payloads').where({ model: this.model, grant_id: grantId }).delete();
    }
  }

  class KvAdapter implements Adapter {
    constructor(private readonly model: string) {}

    async upsert(id: string, payload: AdapterPayload, expiresIn: number) {
      const ttl = expiresIn || 24 * 3600;
      await kv.set(key(this.model, id), JSON.stringify(payload), ttl);
      if (payload.grantId && GRANT_INDEXED_KV.includes(this.model)) await kv.addToSet(grantKey(payload.grantId), key(this.model, id), ttl);
      if (payload.uid) await kv.set(`oidc:uid:${this.model}:${payload.uid}`, id, ttl);
      // The account page lists and ends a person's sessions: index them by account (uids, not ids).
      if (this.model === 'Session' && payload.accountId && payload.uid) await kv.addToSet(accountSessionsKey(payload.accountId), payload.uid, ttl);
      if (payload.userCode) await kv.set(`oidc:usercode:${payload.userCode}`, id, ttl);
    }
    async find(id: string) {
      const consumable = CONSUMABLE.has(this.model);
      const [raw, consumed] = await Promise.all([kv.get(key(this.model, id)), consumable ? kv.get(consumedKey(this.model, id)) : null]);
      if (!raw) return undefined;
      const payload = JSON.parse(raw) as AdapterPayload;
      if (consumed) payload.consumed = Number(consumed);
      return payload;
    }
    async findByUid(uid: string) {
      const id = await kv.get(`oidc:uid:${this.model}:${uid}`);
      return id ? this.find(id) : undefined;
    }
    async findByUserCode(userCode: string) {
      const id = await kv.get(`oidc:usercode:${userCode}`);
      return id ? this.find(id) : undefined;
    }
    async consume(id: string) {
      const won = await kv.setIfAbsent(consumedKey(this.model, id), String(epoch()), 24 * 3600);
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
      await revokeKvByGrant(grantId);
    }
  }

  return class StoreAdapter implements Adapter {
    private readonly inner: Adapter;
    constructor(name: string) {
      this.inner = name === 'Client' ? new ClientAdapter() : DURABLE.has(name) ? new PgAdapter(name) : new KvAdapter(name);
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

/** The grant a user already gave a client (remembered consent), if it still exists. */
export function findRememberedGrantId(kv: Kv, accountId: string, clientId: string): Promise<string | null> {
  return kv.get(`oidc:grant-for:${accountId}:${clientId}`);
}

/** Revokes everything a grant issued, across both stores, without going through a request. */
export async function revokeGrantInStores(deps: { knex: Knex; kv: Kv }, grantId: string): Promise<void> {
  const members = await deps.kv.setMembers(`oidc:grant:${grantId}`);
  await deps.kv.del(...members, `oidc:grant:${grantId}`);
  await deps.knex('auth.oidc_payloads').where({ grant_id: grantId }).delete();
  await deps.knex('auth.oidc_payloads').where({ model: 'Grant', id: grantId }).delete();
}
