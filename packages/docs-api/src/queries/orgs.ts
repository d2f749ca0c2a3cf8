// SQL for docs.orgs.
import type { Knex } from '@clouddocs/db';

export interface OrgRecord {
  id: string;
  name: string;
  createdAt: Date;
}

const toOrg = (row: Record<string, any>): OrgRecord => ({ id: row.id, name: row.name, createdAt: new Date(row.created_at) });

export function createOrgQueries(db: Knex | Knex.Transaction) {
  return {
    async insert(org: { id: string; name: string }): Promise<OrgRecord> {
      const [row] = await db('docs.orgs').insert(org).returning('*');
      return toOrg(row);
    },
    async findById(id: string): Promise<OrgRecord | undefined> {
      const row = await db('docs.orgs').where({ id }).first();
      return row ? toOrg(row) : undefined;
    },
    /** Locks the org row: member changes of one org are serialised, so the owner count cannot race. */
    async lock(id: string): Promise<OrgRecord | undefined> {
      const row = await db('docs.orgs').where({ id }).forUpdate().first();
      return row ? toOrg(row) : undefined;
    },
    /** Orgs among `ids`, newest first, after the keyset position `before`. */
    async listByIds(ids: string[], options: { before?: { createdAt: Date; id: string }; limit: number }): Promise<OrgRecord[]> {
      if (ids.length === 0) return [];
      const query = db('docs.orgs').whereIn('id', ids);
      if (options.before) query.whereRaw('(created_at, id) < (?, ?)', [options.before.createdAt, options.before.id]);
      const rows = await query.orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'desc' }]).limit(options.limit);
      return rows.map(toOrg);
    },
  };
}
