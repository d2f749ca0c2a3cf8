// Step 4 for document routes, load the document as the caller may see it. Rule: a caller who may
// not read it gets 404 whether or not it exists (never reveal existence); an existing one is
// recorded as access.denied. What the caller may do to it is computed here, once. The document and
// the caller's share come in one query; reads may take them from the authorization cache, which
// every document update or delete and every share change invalidates before its response.
import type { Knex } from '@clouddocs/db';
import { documentActions, type Principal } from '../access';
import type { AuthzCache } from '../authz-cache';
import { NotFoundError } from '../errors';
import { createDocumentQueries } from '../queries/documents';
import { isObjectId } from '../schemas';
import { mayUseCache } from './load-memberships';
import type { RecordDenial } from './record-denial';
import { membershipsOf, principalOf, type Step } from './state';

const NONE = { doc: undefined, share: undefined };

export function loadDocument(knex: Knex, authz: AuthzCache, recordDenial: RecordDenial): Step {
  const documents = createDocumentQueries(knex);
  // documentActions decides whether the share counts (a machine client's never does)
  const load = (id: string, principal: Principal) => documents.findWithShare(id, principal.id);
  return async (ctx, next) => {
    const id = ctx.params.id!;
    const principal = principalOf(ctx);
    const { doc, share } = !isObjectId(id) ? NONE : mayUseCache(ctx) ? await authz.documentFor(id, principal, load) : await load(id, principal);
    if (!doc) throw new NotFoundError('no such document');
    const actions = documentActions(doc, principal, membershipsOf(ctx), share);
    if (!actions.has('read')) {
      await recordDenial(ctx, { target: { type: 'document', id: doc.id }, orgId: doc.orgId, reason: 'not visible to the caller' });
      throw new NotFoundError('no such document');
    }
    ctx.state.document = { ...doc, actions };
    await next();
  };
}
