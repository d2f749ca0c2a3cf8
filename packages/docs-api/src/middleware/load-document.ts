// Step 4 for document routes, load the document as the caller may see it. Rules:
// - a caller who may not read it gets 404 whether or not it exists (never reveal existence), and the
//   two cases do the same work, so neither the answer nor its cost tells them apart: the same reads
//   (after cached memberships, the memberships and the document are read again from the database
//   before any 404; a missing document is cached like a present one), and one `access.denied` event,
//   a denied lookup, for every 404 of a well-formed id;
// - a denial is never decided on cached data, so a grant made anywhere (the CLI too) is never missed;
// - what the caller may do to it is computed here, once; the document and the caller's share come in
//   one query, after cached memberships (`cachedAccess` routes) from the authorization cache, which
//   every document update or delete and every share change invalidates before its response.
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
    if (!isObjectId(id)) throw new NotFoundError('no such document'); // cannot name a document: nothing to hide
    let { doc, actions } = await access(ctx, id, principal);
    if (!actions?.has('read')) {
      if (ctx.state.accessFromCache) {
        ctx.state.memberships = await memberships.forPrincipal(principal.id, principal.kind);
        ctx.state.accessFromCache = false;
        ({ doc, actions } = await access(ctx, id, principal));
      }
      if (!actions?.has('read')) {
        await recordDenial(ctx, { target: { type: 'document', id }, orgId: doc?.orgId ?? null, reason: doc ? 'not visible to the caller' : 'no such document' });
        throw new NotFoundError('no such document');
      }
    }
    ctx.state.document = doc!;
    ctx.state.documentActions = actions;
    await next();
  };
}
