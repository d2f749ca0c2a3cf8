// SQL of auth.api_keys: a user's API keys, found by the SHA-256 of the key (never the key itself).
import type { Knex } from '@clouddocs/db';

export interface ApiKeyRow {
  id: string;
  account_id: string;
  name: string;
  prefix: string;
  scopes: string[];
  created_at: Date;
  last_used_at: Date | null;
  expires_at: Date;
  revoked_at: Date | null;
}

const TABLE = 'auth.api_keys';
const LISTED = ['id', 'account_id', 'name', 'prefix', 'scopes', 'created_at', 'last_used_at', 'expires_at', 'revoked_at'];

export function createApiKeyQueries(knex: Knex) {
  return {
    async insert(row: { id: string; account_id: string; name: string; prefix: string; key_hash: string; scopes: string[]; expires_at: Date }): Promise<ApiKeyRow> {
      const [inserted] = (await knex(TABLE).insert(row).returning(LISTED)) as ApiKeyRow[];
      return inserted!;
    },
    /** The account's keys, newest first, revoked ones included. */
    async byAccount(accountId: string): Promise<ApiKeyRow[]> {
      return (await knex(TABLE).where({ account_id: accountId }).orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'desc' }]).select(LISTED)) as ApiKeyRow[];
    },
    async byId(id: string): Promise<ApiKeyRow | undefined> {
      return (await knex(TABLE).where({ id }).first(LISTED)) as ApiKeyRow | undefined;
    },
    async byHash(keyHash: string): Promise<ApiKeyRow | undefined> {
      return (await knex(TABLE).where({ key_hash: keyHash }).first(LISTED)) as ApiKeyRow | undefined;
    },
    /** Marks a live key revoked; the row as it is now, or undefined when it was not live. */
    async revoke(id: string, accountId?: string): Promise<ApiKeyRow | undefined> {
      const query = knex(TABLE).where({ id }).whereNull('revoked_at');
      if (accountId !== undefined) query.where({ account_id: accountId });
      const [row] = (await query.update({ revoked_at: knex.fn.now() }).returning(LISTED)) as ApiKeyRow[];
      return row;
    },
    /** Records uses (the latest per key wins); answers the ids used for the first time. */
    async recordUse(uses: { id: string; at: Date }[]): Promise<string[]> {
      if (uses.length === 0) return [];
      // JSON text in, arrays built in SQL: knex would spread a JS array binding into a list.
      const { rows } = await knex.raw(
        'SELECT key_id, first_use FROM auth.record_api_key_use(ARRAY(SELECT json_array_elements_text(?::json)), ARRAY(SELECT json_array_elements_text(?::json)::timestamptz))',
        [JSON.stringify(uses.map((u) => u.id)), JSON.stringify(uses.map((u) => u.at.toISOString()))],
      );
      return (rows as { key_id: string; first_use: boolean }[]).filter((r) => r.first_use).map((r) => r.key_id);
    },
  };
}

export type ApiKeyQueries = ReturnType<typeof createApiKeyQueries>;
