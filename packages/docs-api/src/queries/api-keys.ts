// SQL for API keys: the docs API sees them only through what the auth server's migration auth_006 offers
// it — the read-only view `auth.api_key_credentials` (live keys of enabled users, by the key's SHA-256)
// and the function `auth.record_api_key_use` (last use, in batches; it answers which keys were used for
// the first time). Nothing else of the auth schema is read or written.
import type { Knex } from '@clouddocs/db';

export interface ApiKeyCredential {
  id: string;
  accountId: string;
  scopes: string[];
  expiresAt: number; // ms epoch
  used: boolean;
}

export function createApiKeyQueries(db: Knex | Knex.Transaction) {
  return {
    async byHash(keyHash: string): Promise<ApiKeyCredential | undefined> {
      const row = (await db('auth.api_key_credentials').where({ key_hash: keyHash }).first('id', 'account_id', 'scopes', 'expires_at', 'used')) as
        | { id: string; account_id: string; scopes: string[]; expires_at: Date | string; used: boolean }
        | undefined;
      return row && { id: row.id, accountId: row.account_id, scopes: row.scopes, expiresAt: new Date(row.expires_at).getTime(), used: row.used };
    },
    /** Records uses (the latest per key wins); answers the ids used for the first time. */
    async recordUse(uses: { id: string; at: number }[]): Promise<string[]> {
      if (uses.length === 0) return [];
      // JSON text in, arrays built in SQL: knex would spread a JS array binding into a list.
      const { rows } = await db.raw(
        'SELECT key_id, first_use FROM auth.record_api_key_use(ARRAY(SELECT json_array_elements_text(?::json)), ARRAY(SELECT json_array_elements_text(?::json)::timestamptz))',
        [JSON.stringify(uses.map((u) => u.id)), JSON.stringify(uses.map((u) => new Date(u.at).toISOString()))],
      );
      return (rows as { key_id: string; first_use: boolean }[]).filter((r) => r.first_use).map((r) => r.key_id);
    },
  };
}
