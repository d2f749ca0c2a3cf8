// Step 4 for document routes, load the document as the caller may see it. Rule: a caller who may
// not read it gets 404 whether or not it exists (never reveal existence); an existing one is
// recorded as access.denied. What the caller may do to it is computed here, once.
import type { Knex } from '@clouddocs/db';
import { documentActions } from '../access';
import { NotFoundError } from '../errors';
import { createDocumentQueries } from '../queries/documents';
import { createShareQueries } from '../queries/shares';
import { isObjectId } from '../schemas';
import type { RecordDenial } from './record-denial';
import { membershipsOf, principalOf, type Step } from './state';

export function loadDocument(knex: Knex, recordDenial: RecordDenial): Step {
  const documents = createDocumentQueries(knex);
  const shares = createShareQueries(knex);
  return async (ctx, next) => {
    const id = ctx.params.id!;
    const principal = principalOf(ctx);
    const doc = isObjectId(id) ? await documents.findById(id) : undefined;
    if (!doc) throw new NotFoundError('no such document');
    const share = await shares.permissionOf(doc.id, principal.id); // documentActions decides whether it counts
    const actions = documentActions(doc, principal, membershipsOf(ctx), share);
    if (!actions.has('read')) {
      await recordDenial(ctx, { target: { type: 'document', id: doc.id }, orgId: doc.orgId, reason: 'not visible to the caller' });
      throw new NotFoundError('no such document');
    }
    ctx.state.document = { ...doc, actions };
    await next();
  };
}
