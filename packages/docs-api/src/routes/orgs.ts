// /orgs: create an org (the caller its owner), list the caller's orgs, read one.
import { z } from 'zod';
import { ForbiddenError } from '../errors';
import { loadOrg } from '../middleware/load-org';
import { bodyOf, eventContext, membershipsOf, orgOf, principalOf, queryOf } from '../middleware/state';
import { createMembershipQueries } from '../queries/memberships';
import { createOrgQueries, type OrgRecord } from '../queries/orgs';
import { createOrgBody, orgDetailView, orgView, page, pageQuery, PAGE_DEFAULT } from '../schemas';
import type { Role } from '../access';
import { pageOf, type RouteDeps } from './deps';
import type { RouteDefinition } from './route';

const position = z.object({ t: z.iso.datetime(), i: z.string().max(64) }).strict();
const toView = (org: OrgRecord, role: Role) => ({ id: org.id, name: org.name, role, createdAt: org.createdAt.toISOString() });

export function orgRoutes({ knex, cursors, organizations, recordDenial }: RouteDeps): RouteDefinition[] {
  const orgs = createOrgQueries(knex);
  const members = createMembershipQueries(knex);
  return [
    {
      method: 'post',
      path: '/orgs',
      operationId: 'createOrg',
      summary: 'Create an organization; the caller becomes its owner',
      access: 'orgs:write',
      body: createOrgBody,
      success: { status: 201, description: 'the new organization', schema: orgView },
      errors: { 403: 'a machine client cannot create organizations' },
      steps: [
        async (ctx) => {
          const principal = principalOf(ctx);
          if (principal.kind === 'client') {
            await recordDenial(ctx, { target: { type: 'org', id: null }, orgId: null, reason: 'a machine client cannot create organizations' });
            throw new ForbiddenError('a machine client acts only inside the organization it is bound to');
          }
          const { name } = bodyOf<z.infer<typeof createOrgBody>>(ctx);
          const org = await organizations.create(eventContext(ctx), { name, ownerId: principal.id });
          ctx.status = 201;
          ctx.set('Location', `/orgs/${org.id}`);
          ctx.body = toView(org, 'owner');
        },
      ],
    },
    {
      method: 'get',
      path: '/orgs',
      operationId: 'listOrgs',
      summary: "The caller's organizations, newest first",
      access: 'orgs:read',
      query: pageQuery,
      success: { status: 200, description: 'a page of organizations', schema: page(orgView, 'OrgPage') },
      errors: {},
      steps: [
        async (ctx) => {
          const query = queryOf<z.infer<typeof pageQuery>>(ctx);
          const limit = query.limit ?? PAGE_DEFAULT;
          const after = query.cursor ? cursors.decode('orgs', query.cursor, position) : undefined;
          const roles = new Map(membershipsOf(ctx).map((m) => [m.orgId, m.role]));
          const rows = await orgs.listByIds([...roles.keys()], { limit: limit + 1, ...(after ? { before: { createdAt: new Date(after.t), id: after.i } } : {}) });
          const result = pageOf(rows, limit, (last) => cursors.encode('orgs', { t: last.createdAt.toISOString(), i: last.id }));
          ctx.body = { items: result.items.map((org) => toView(org, roles.get(org.id)!)), nextCursor: result.nextCursor };
        },
      ],
    },
    {
      method: 'get',
      path: '/orgs/:orgId',
      operationId: 'getOrg',
      summary: 'One organization the caller is a member of, with its members (ids and roles only)',
      access: 'orgs:read',
      params: { orgId: 'the organization id' },
      success: { status: 200, description: 'the organization', schema: orgDetailView },
      errors: { 404: 'no such organization, or the caller is not a member' },
      steps: [
        loadOrg(knex, recordDenial),
        async (ctx) => {
          const org = orgOf(ctx);
          const list = await members.listForOrg(org.id);
          ctx.body = { ...toView(org, org.role), members: list.map((m) => ({ id: m.principalId, type: m.principalType, role: m.role })) };
        },
      ],
    },
  ];
}
