// Step 4 for org routes, load the org as the caller may see it. Rules: only members see an org;
// anyone else gets 404 whether or not it exists, and both cases do the same work: nothing is read (a
// membership implies its org: memberships go with it), and one `access.denied` event is recorded.
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
    if (!role) {
      if (isObjectId(orgId)) await recordDenial(ctx, { target: { type: 'org', id: orgId }, orgId, reason: 'not a member' });
      throw new NotFoundError('no such organization');
    }
    const org = await orgs.findById(orgId);
    if (!org) throw new NotFoundError('no such organization'); // deleted since the memberships were read
    ctx.state.org = { ...org, role };
    await next();
  };
}
