// SQL for docs.documents.
import type { Knex } from '@clouddocs/db';
import type { SharePermission } from '../access';

export interface DocumentRecord {
  id: string;
  orgId: string | null;
  ownerId: string;
  title: string;
  content: string;
  createdAt: Date;
  updatedAt: Date;
}

const toDocument = (row: Record<string, any>): DocumentRecord => ({
  id: row.id,
  orgId: row.org_id,
  ownerId: row.owner_id,
  title: row.title,
  content: row.content,
  createdAt: new Date(row.created_at),
  updatedAt: new Date(row.updated_at),
});

export interface VisibleTo {
  /** Personal documents owned by this user, and documents shared with them (users only). */
  userId?: string;
  /** Documents of these orgs (the caller's memberships). */
  orgIds: string[];
}

export function createDocumentQueries(db: Knex | Knex.Transaction) {
  return {
    async insert(doc: { id: string; orgId: string | null; ownerId: string; title: string; content: string }): Promise<DocumentRecord> {
      const [row] = await db('docs.documents')
        .insert({ id: doc.id, org_id: doc.orgId, owner_id: doc.ownerId, title: doc.title, content: doc.content })
        .returning('*');
      return toDocument(row);
    },
    async findById(id: string): Promise<DocumentRecord | undefined> {
      const row = await db('docs.documents').where({ id }).first();
      return row ? toDocument(row) : undefined;
    },
    /** The document and a user's share of it, in one round trip. */
    async findWithShare(id: string, userId: string): Promise<{ doc: DocumentRecord | undefined; share: SharePermission | undefined }> {
      const row = await db('docs.documents as d')
        .leftJoin('docs.shares as s', (on) => on.on('s.document_id', 'd.id').andOnVal('s.user_id', userId))
        .where('d.id', id)
        .first('d.*', 's.permission');
      return row ? { doc: toDocument(row), share: row.permission ?? undefined } : { doc: undefined, share: undefined };
    },
    /** Locks the row for the rest of the transaction; undefined when it is gone. */
    async lock(id: string): Promise<DocumentRecord | undefined> {
      const row = await db('docs.documents').where({ id }).forUpdate().first();
      return row ? toDocument(row) : undefined;
    },
    async update(id: string, patch: { title?: string; content?: string }): Promise<DocumentRecord> {
      const [row] = await db('docs.documents')
        .where({ id })
        .update({ ...patch, updated_at: db.fn.now() })
        .returning('*');
      return toDocument(row);
    },
    async remove(id: string): Promise<void> {
      await db('docs.documents').where({ id }).delete();
    },
    /** Documents the caller may see, newest first, without their content, with the caller's share if any. */
    async listVisible(
      to: VisibleTo,
      options: { before?: { createdAt: Date; id: string }; limit: number },
    ): Promise<(Omit<DocumentRecord, 'content'> & { share: SharePermission | undefined })[]> {
      // One newest-first page from each source the caller sees (their orgs' documents, their own
      // personal ones, those shared with them), each read from its own index and cut to the page size,
      // then merged: the cost follows what the caller can see, not how many documents there are (one
      // query with ORs across the sources reads and sorts the whole table).
      const userId = to.userId;
      const page = (q: Knex.QueryBuilder) => {
        q.select('d.id', 'd.org_id', 'd.owner_id', 'd.title', 'd.created_at', 'd.updated_at');
        if (options.before) q.whereRaw('(d.created_at, d.id) < (?, ?)', [options.before.createdAt, options.before.id]);
        return q.orderBy([{ column: 'd.created_at', order: 'desc' }, { column: 'd.id', order: 'desc' }]).limit(options.limit).toSQL();
      };
      const sources: Knex.Sql[] = [];
      if (to.orgIds.length) sources.push(page(db('docs.documents as d').whereIn('d.org_id', to.orgIds)));
      if (userId !== undefined) {
        sources.push(page(db('docs.documents as d').whereNull('d.org_id').andWhere('d.owner_id', userId)));
        sources.push(page(db('docs.documents as d').join('docs.shares as ds', 'ds.document_id', 'd.id').where('ds.user_id', userId)));
      }
      if (sources.length === 0) return [];
      const union = sources.map((q) => `(${q.sql})`).join(' UNION ');
      const bindings = sources.flatMap((q) => q.bindings as Knex.Value[]);
      const share = userId !== undefined ? 'LEFT JOIN docs.shares s ON s.document_id = v.id AND s.user_id = ?' : '';
      const { rows } = (await db.raw(
        `SELECT v.*, ${userId !== undefined ? 's.permission' : 'NULL AS permission'} FROM (${union}) v ${share} ORDER BY v.created_at DESC, v.id DESC LIMIT ?`,
        [...bindings, ...(userId !== undefined ? [userId] : []), options.limit],
      )) as { rows: Record<string, any>[] };
      return rows.map((r) => {
        const { content: _omitted, ...rest } = toDocument({ ...r, content: '' });
        return { ...rest, share: r.permission ?? undefined };
      });
    },
  };
}
