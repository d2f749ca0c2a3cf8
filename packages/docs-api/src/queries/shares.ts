// SQL for docs.shares: a document shared with a user, read or write.
import type { Knex } from '@clouddocs/db';
import type { SharePermission } from '../access';

export function createShareQueries(db: Knex | Knex.Transaction) {
  return {
    async permissionOf(documentId: string, userId: string): Promise<SharePermission | undefined> {
      const row = await db('docs.shares').where({ document_id: documentId, user_id: userId }).first('permission');
      return row?.permission;
    },
    async upsert(documentId: string, userId: string, permission: SharePermission): Promise<void> {
      await db('docs.shares').insert({ document_id: documentId, user_id: userId, permission }).onConflict(['document_id', 'user_id']).merge(['permission']);
    },
    async remove(documentId: string, userId: string): Promise<boolean> {
      return (await db('docs.shares').where({ document_id: documentId, user_id: userId }).delete()) > 0;
    },
  };
}
