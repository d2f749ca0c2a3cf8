// Step 3, load the caller's org memberships live from the database on every request, so a role
// change or a removal applies to the very next request made with the same token. A machine client
// has only the membership it was bound with (principal_type 'client').
import type { Knex } from '@clouddocs/db';
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
