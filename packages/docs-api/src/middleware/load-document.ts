// Step 4 for document routes, load the document as the caller may see it. Rule: a caller who may
// not read it gets 404 whether or not it exists (never reveal existence); an existing one is
// recorded as access.denied. What the caller may do to it is computed here, once. The document and
// the caller's share come in one query. After cached memberships (`cachedAccess` routes) they come
// from the authorization cache too, which every document update or delete and every share change
// invalidates before its response; a denial is never decided on cached data: the memberships, the
// document and the share are read again first, so a grant made anywhere (the CLI too) is never missed.
import type { Knex } from '@clouddocs/db';
import { documentActions, type Principal } from '../access';
import type { AuthzCache } from '../authz-cache';
import { NotFoundError } from '../errors';
import { createDocumentQueries } from '../queries/documents';
import { createMembershipQueries } from '../queries/memberships';
import { isObjectId } from '../schemas';
import type { RecordDenial } from './record-denial';
import { principalOf, type DocsContext, type Step } from './state';

export function loadDocument(knex: Knex, authz: AuthzCache, recordDenial: RecordDenial): Step {
  const documents = createDocumentQueries(knex);
  const memberships = createMembershipQueries(knex);
  // documentActions decides whether the share counts (a machine client's never does)
  const load = (id: string, principal: Principal) => documents.findWithShare(id, principal.id);

  async function access(ctx: DocsContext, id: string, principal: Principal) {
    const { doc, share } = ctx.state.accessFromCache ? await authz.documentFor(id, principal, load) : await load(id, principal);
    return { doc, actions: doc && documentActions(doc, principal, ctx.state.memberships!, share) };
  }

  return async (ctx, next) => {
    const id = ctx.params.id!;
    const principal = principalOf(ctx);
    if (!isObjectId(id)) throw new NotFoundError('no such document');
    let { doc, actions } = await access(ctx, id, principal);
    if (doc && !actions!.has('read') && ctx.state.accessFromCache) {
      ctx.state.memberships = await memberships.forPrincipal(principal.id, principal.kind);
      ctx.state.accessFromCache = false;
      ({ doc, actions } = await access(ctx, id, principal));
    }
    if (!doc) throw new NotFoundError('no such document');
    if (!actions!.has('read')) {
      await recordDenial(ctx, { target: { type: 'document', id: doc.id }, orgId: doc.orgId, reason: 'not visible to the caller' });
      throw new NotFoundError('no such document');
    }
    ctx.state.document = { ...doc, actions: actions! };
    await next();
  };
}
