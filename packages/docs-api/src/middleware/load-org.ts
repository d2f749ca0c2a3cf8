// Step 4 for org routes, load the org as the caller may see it. Rule: only members see an org;
// anyone else gets 404 whether or not it exists (an existing one is recorded as access.denied).
import type { Knex } from '@clouddocs/db';
import { roleIn } from '../access';
import { NotFoundError } from '../errors';
import { createOrgQueries } from '../queries/orgs';
import { isObjectId } from '../schemas';
import type { RecordDenial } from './record-denial';
import { membershipsOf, type Step } from './state';

export function loadOrg(knex: Knex, recordDenial: RecordDenial): Step {
  const orgs = createOrgQueries(knex);
  return async (ctx, next) => {
    const orgId = ctx.params.orgId!;
    const role = roleIn(membershipsOf(ctx), orgId);
    const org = isObjectId(orgId) ? await orgs.findById(orgId) : undefined;
    if (!org || !role) {
      if (org) await recordDenial(ctx, { target: { type: 'org', id: org.id }, orgId: org.id, reason: 'not a member' });
      throw new NotFoundError('no such organization');
    }
    ctx.state.org = { ...org, role };
    await next();
  };
}
