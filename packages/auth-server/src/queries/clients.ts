// SQL of auth.clients: operator-registered OAuth clients, metadata as JSON, secrets sealed.
import type { Knex } from '@clouddocs/db';

export interface ClientRow {
  client_id: string;
  name: string;
  metadata: Record<string, unknown>;
  secret_enc: string | null;
  previous_secret_enc: string | null;
  previous_secret_expires_at: Date | string | null;
  disabled_at: Date | string | null;
  /** The initial access token a dynamically registered client came with (null: an operator's client). */
  registered_with?: string | null;
  created_at: Date | string;
  updated_at: Date | string;
}

const TABLE = 'auth.clients';

function parse(row: ClientRow | undefined): ClientRow | undefined {
  if (!row) return undefined;
  return typeof row.metadata === 'string' ? { ...row, metadata: JSON.parse(row.metadata) as Record<string, unknown> } : row;
}

export function createClientQueries(knex: Knex) {
  return {
    async insert(row: { client_id: string; name: string; metadata: string; secret_enc: string | null; registered_with?: string }, trx?: Knex.Transaction): Promise<void> {
      await (trx ?? knex)(TABLE).insert(row);
    },
    async byId(clientId: string, trx?: Knex.Transaction): Promise<ClientRow | undefined> {
      return parse(await (trx ?? knex)(TABLE).where({ client_id: clientId }).first());
    },
    /** Clients by id, after `after`; `q` matches the id or the name (case-insensitive). */
    async list(page: { q?: string; after?: string; limit: number }): Promise<ClientRow[]> {
      const query = knex(TABLE).orderBy('client_id').limit(page.limit);
      if (page.after) query.where('client_id', '>', page.after);
      if (page.q) query.where((w) => w.whereILike('name', `%${page.q!.replace(/[\\%_]/g, '\\$&')}%`).orWhere('client_id', page.q!));
      return ((await query) as ClientRow[]).map((r) => parse(r)!);
    },
    async update(clientId: string, change: Record<string, unknown>, trx?: Knex.Transaction): Promise<number> {
      return (trx ?? knex)(TABLE).where({ client_id: clientId }).update({ ...change, updated_at: knex.fn.now() });
    },
    async withPreviousSecret(): Promise<string[]> {
      const rows = await knex(TABLE).where('previous_secret_expires_at', '>', knex.fn.now()).select('client_id');
      return rows.map((r: { client_id: string }) => r.client_id);
    },
    async remove(clientId: string, trx?: Knex.Transaction): Promise<boolean> {
      return (await (trx ?? knex)(TABLE).where({ client_id: clientId }).delete()) > 0;
    },
  };
}
