// SQL of auth.oidc_payloads: oidc-provider's durable models (grants, refresh tokens), one row per
// model instance. `consume` is an atomic compare-and-set: of two concurrent redemptions exactly one
// updates the row; `consumedWithin` says how recently (the refresh token reuse grace window). Grants
// also carry their account and client in columns of their own.
import type { Knex } from '@clouddocs/db';
import type { AdapterPayload } from 'oidc-provider';

const TABLE = 'auth.oidc_payloads';

export interface StoredGrant {
  id: string;
  clientId: string;
  iat: number | undefined;
  scopes: string[];
}

function parse(payload: unknown): AdapterPayload {
  return (typeof payload === 'string' ? JSON.parse(payload) : payload) as AdapterPayload;
}

export function createPayloadQueries(knex: Knex) {
  const live = (q: Knex.QueryBuilder) => q.andWhere((w) => w.whereNull('expires_at').orWhere('expires_at', '>', knex.fn.now()));
  return {
    async upsert(model: string, id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
      const grant = model === 'Grant';
      await knex(TABLE)
        .insert({
          model,
          id,
          payload: JSON.stringify(payload),
          grant_id: payload.grantId ?? null,
          uid: payload.uid ?? null,
          user_code: payload.userCode ?? null,
          account_id: grant && typeof payload.accountId === 'string' ? payload.accountId : null,
          client_id: grant && typeof payload.clientId === 'string' ? payload.clientId : null,
          expires_at: expiresIn ? new Date(Date.now() + expiresIn * 1000).toISOString() : null,
        })
        .onConflict(['model', 'id'])
        .merge(['payload', 'grant_id', 'uid', 'user_code', 'account_id', 'client_id', 'expires_at']);
    },

    async find(model: string, where: { id: string } | { uid: string } | { user_code: string }): Promise<AdapterPayload | undefined> {
      const row = await live(knex(TABLE).where({ model, ...where })).first('payload', 'consumed_at');
      if (!row) return undefined;
      const payload = parse(row.payload);
      if (row.consumed_at) payload.consumed = Math.floor(new Date(row.consumed_at).getTime() / 1000);
      return payload;
    },

    /** Marks the row consumed; false when it already was (or is gone), with the grant it belongs to. */
    async consume(model: string, id: string): Promise<{ won: true } | { won: false; grantId: string | undefined }> {
      const updated = await knex(TABLE).where({ model, id }).whereNull('consumed_at').update({ consumed_at: knex.fn.now() });
      if (updated > 0) return { won: true };
      const row = await knex(TABLE).where({ model, id }).first('grant_id');
      return { won: false, grantId: row?.grant_id ?? undefined };
    },

    /** Whether the row was consumed less than `seconds` ago, by the database's clock (the one that stamped it). */
    async consumedWithin(model: string, id: string, seconds: number): Promise<boolean> {
      const row = await knex(TABLE)
        .where({ model, id })
        .whereNotNull('consumed_at')
        .whereRaw(`consumed_at > now() - (? * interval '1 second')`, [seconds])
        .first('id');
      return row !== undefined;
    },

    async destroy(model: string, id: string): Promise<void> {
      await knex(TABLE).where({ model, id }).delete();
    },

    async destroyByGrant(grantId: string, model?: string): Promise<void> {
      await knex(TABLE).where({ grant_id: grantId, ...(model ? { model } : {}) }).delete();
    },

    /** The ids of the grants of an account or of a client. */
    async grantIds(owner: { account_id: string } | { client_id: string }): Promise<string[]> {
      const rows = await knex(TABLE).where({ model: 'Grant', ...owner }).select('id');
      return rows.map((r: { id: string }) => r.id);
    },

    /** An account's live grants, newest first. */
    async grantsOfAccount(accountId: string): Promise<StoredGrant[]> {
      const rows = await live(knex(TABLE).where({ model: 'Grant', account_id: accountId })).select('id', 'client_id', 'payload');
      return rows
        .map((row: { id: string; client_id: string; payload: unknown }) => {
          const payload = parse(row.payload) as { iat?: number; openid?: { scope?: string }; resources?: Record<string, string> };
          const scopes = [...(payload.openid?.scope?.split(' ') ?? []), ...Object.values(payload.resources ?? {}).flatMap((s) => s.split(' '))].filter(Boolean);
          return { id: row.id, clientId: row.client_id, iat: payload.iat, scopes: [...new Set(scopes)] };
        })
        .sort((a: StoredGrant, b: StoredGrant) => (b.iat ?? 0) - (a.iat ?? 0));
    },
  };
}

export type PayloadQueries = ReturnType<typeof createPayloadQueries>;
