// Document changes: each one commits in one transaction with its audit event, or not at all.
// A document is shared only with an existing, enabled user (404 for anyone else: no share for nobody,
// and a machine client's id never gets one); unsharing needs only the share.
import { randomUUID } from 'node:crypto';
import type { Knex } from '@clouddocs/db';
import type { SharePermission } from '../access';
import { changeOf, type AuthzChanged } from '../authz-cache';
import { NotFoundError } from '../errors';
import { createDocumentQueries, type DocumentRecord } from '../queries/documents';
import { createShareQueries } from '../queries/shares';
import { createUserQueries } from '../queries/users';
import type { AuditWriter } from './audit-writer';
import { event, type EventContext } from './event-context';

export interface DocumentLibraryDeps {
  knex: Knex;
  audit: AuditWriter;
  /** Told, after the commit, which document changed (the authorization cache forgets it). */
  changed?: AuthzChanged;
}

const target = (doc: { id: string }) => ({ type: 'document', id: doc.id });

/** The document may have been deleted since the request loaded it: then there is nothing to change. */
async function lockExisting(trx: Knex.Transaction, doc: DocumentRecord): Promise<void> {
  if (!(await createDocumentQueries(trx).lock(doc.id))) throw new NotFoundError('no such document');
}

export function createDocumentLibrary({ knex, audit, changed = async () => {} }: DocumentLibraryDeps) {
  const documentChanged = (doc: { id: string }) => changed([changeOf.document(doc.id)]);
  return {
    async create(context: EventContext, input: { ownerId: string; orgId: string | null; title: string; content: string }): Promise<DocumentRecord> {
      return knex.transaction(async (trx) => {
        const doc = await createDocumentQueries(trx).insert({ id: randomUUID(), ...input });
        await audit.appendInTransaction(trx, [event(context, { action: 'document.created', target: target(doc), outcome: 'success', orgId: doc.orgId })]);
        return doc;
      });
    },

    async update(context: EventContext, doc: DocumentRecord, patch: { title?: string; content?: string }): Promise<DocumentRecord> {
      const result = await knex.transaction(async (trx) => {
        await lockExisting(trx, doc);
        const updated = await createDocumentQueries(trx).update(doc.id, patch);
        await audit.appendInTransaction(trx, [
          event(context, { action: 'document.updated', target: target(doc), outcome: 'success', orgId: doc.orgId, detail: { fields: Object.keys(patch) } }),
        ]);
        return updated;
      });
      await documentChanged(doc);
      return result;
    },

    async remove(context: EventContext, doc: DocumentRecord): Promise<void> {
      await knex.transaction(async (trx) => {
        await lockExisting(trx, doc);
        await createDocumentQueries(trx).remove(doc.id);
        await audit.appendInTransaction(trx, [event(context, { action: 'document.deleted', target: target(doc), outcome: 'success', orgId: doc.orgId })]);
      });
      await documentChanged(doc);
    },

    /** Shares with a user, or changes the permission; `created` tells which. */
    async share(context: EventContext, doc: DocumentRecord, userId: string, permission: SharePermission): Promise<{ created: boolean }> {
      const result = await knex.transaction(async (trx) => {
        await lockExisting(trx, doc);
        if (!(await createUserQueries(trx).isEnabledUser(userId))) throw new NotFoundError('no such user');
        const shares = createShareQueries(trx);
        const before = await shares.permissionOf(doc.id, userId);
        if (before === permission) return { created: false };
        await shares.upsert(doc.id, userId, permission);
        await audit.appendInTransaction(trx, [
          event(context, { action: 'document.shared', target: target(doc), outcome: 'success', orgId: doc.orgId, detail: { userId, permission } }),
        ]);
        return { created: before === undefined };
      });
      await documentChanged(doc);
      return result;
    },

    async unshare(context: EventContext, doc: DocumentRecord, userId: string): Promise<void> {
      await knex.transaction(async (trx) => {
        await lockExisting(trx, doc);
        if (!(await createShareQueries(trx).remove(doc.id, userId))) throw new NotFoundError('the document is not shared with this user');
        await audit.appendInTransaction(trx, [
          event(context, { action: 'document.unshared', target: target(doc), outcome: 'success', orgId: doc.orgId, detail: { userId } }),
        ]);
      });
      await documentChanged(doc);
    },
  };
}

export type DocumentLibrary = ReturnType<typeof createDocumentLibrary>;
