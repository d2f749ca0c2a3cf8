// Step 3, load the caller's org memberships, so a role change or a removal applies to the very next
// request made with the same token. A machine client has only the membership it was bound with
// (principal_type 'client'). Reads (GET) may take them from the authorization cache, which every
// membership change invalidates before its response (authz-cache.ts); writes always read the
// database, so what a write may do is decided on committed data in every process.
import type { Knex } from '@clouddocs/db';
import type { Principal } from '../access';
import type { AuthzCache } from '../authz-cache';
import { createMembershipQueries } from '../queries/memberships';
import { principalOf, type DocsContext, type Step } from './state';

/** Whether this request may use the authorization cache: reads only. */
export const mayUseCache = (ctx: DocsContext) => ctx.method === 'GET' || ctx.method === 'HEAD';

export function loadMemberships(knex: Knex, authz: AuthzCache): Step {
  const memberships = createMembershipQueries(knex);
  const load = (principal: Principal) => memberships.forPrincipal(principal.id, principal.kind);
  return async (ctx, next) => {
    const principal = principalOf(ctx);
    ctx.state.memberships = mayUseCache(ctx) ? await authz.membershipsOf(principal, load) : await load(principal);
    await next();
  };
}
