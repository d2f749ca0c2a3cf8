// Step 3, load the caller's org memberships, so a role change or a removal applies to the very next
// request made with the same token. A machine client has only the membership it was bound with
// (principal_type 'client'). Every route reads them from the database, except the hot read a route
// marks `cachedAccess` (GET /documents/:id): it takes them from the authorization cache, which every
// membership change invalidates before its response (authz-cache.ts), and its object step re-reads
// the database before it denies anything (load-document.ts).
import type { Knex } from '@clouddocs/db';
import type { Principal } from '../access';
import type { AuthzCache } from '../authz-cache';
import { createMembershipQueries } from '../queries/memberships';
import { principalOf, type Step } from './state';

export function loadMemberships(knex: Knex): Step {
  const memberships = createMembershipQueries(knex);
  return async (ctx, next) => {
    const principal = principalOf(ctx);
    ctx.state.memberships = await memberships.forPrincipal(principal.id, principal.kind);
    await next();
  };
}

export function loadCachedMemberships(knex: Knex, authz: AuthzCache): Step {
  const memberships = createMembershipQueries(knex);
  const load = (principal: Principal) => memberships.forPrincipal(principal.id, principal.kind);
  return async (ctx, next) => {
    ctx.state.memberships = await authz.membershipsOf(principalOf(ctx), load);
    ctx.state.accessFromCache = true;
    await next();
  };
}
