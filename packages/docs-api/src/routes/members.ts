// /orgs/:orgId/members/:userId: owners and admins add members, change roles and remove members.
import type { z } from 'zod';
import { BadRequestError, ForbiddenError } from '../errors';
import { requireOrgRole } from '../middleware/check-action';
import { loadOrg } from '../middleware/load-org';
import { bodyOf, eventContext, orgOf, type DocsContext } from '../middleware/state';
import { membershipResult, principalId, putMemberBody } from '../schemas';
import type { RouteDeps } from './deps';
import type { RouteDefinition } from './route';

function targetId(ctx: DocsContext): string {
  const parsed = principalId.safeParse(ctx.params.userId);
  if (!parsed.success) throw new BadRequestError('userId must be a user id');
  return parsed.data;
}

export function memberRoutes({ knex, organizations, recordDenial }: RouteDeps): RouteDefinition[] {
  /** A 403 from the owner rules is a denied access like any other: recorded, then answered. */
  const recordingDenials = async <T>(ctx: DocsContext, userId: string, change: () => Promise<T>): Promise<T> => {
    try {
      return await change();
    } catch (err) {
      if (err instanceof ForbiddenError) {
        await recordDenial(ctx, { target: { type: 'user', id: userId }, orgId: orgOf(ctx).id, reason: err.detail });
      }
      throw err;
    }
  };
  const managers = requireOrgRole(['owner', 'admin'], 'manage members', recordDenial);
  const params = { orgId: 'the organization id', userId: "the member's user id (a token's sub)" };
  return [
    {
      method: 'put',
      path: '/orgs/:orgId/members/:userId',
      operationId: 'putMember',
      summary: "Add a member or change a member's role (owners and admins; only owners touch owners)",
      access: 'orgs:write',
      params,
      body: putMemberBody,
      success: { status: 200, description: 'the membership (201 when it was created)', schema: membershipResult },
      errors: {
        400: 'userId is not a user id',
        403: 'the caller is not an owner or admin, or an admin touches an owner',
        404: 'no such organization, or the caller is not a member, or userId is not an existing, enabled user',
        409: 'the last owner would be demoted',
      },
      steps: [
        loadOrg(knex, recordDenial),
        managers,
        async (ctx) => {
          const org = orgOf(ctx);
          const { role } = bodyOf<z.infer<typeof putMemberBody>>(ctx);
          const userId = targetId(ctx);
          const { member, created } = await recordingDenials(ctx, userId, () =>
            organizations.setMember(eventContext(ctx), { orgId: org.id, callerRole: org.role, principalId: userId, role }),
          );
          ctx.status = created ? 201 : 200;
          ctx.body = { orgId: member.orgId, userId: member.principalId, role: member.role };
        },
      ],
    },
    {
      method: 'delete',
      path: '/orgs/:orgId/members/:userId',
      operationId: 'deleteMember',
      summary: 'Remove a member (owners and admins; only owners remove owners; never the last owner)',
      access: 'orgs:write',
      params,
      success: { status: 204, description: 'removed' },
      errors: {
        400: 'userId is not a user id',
        403: 'the caller is not an owner or admin, or an admin removes an owner',
        404: 'no such organization or member',
        409: 'the last owner would leave',
      },
      steps: [
        loadOrg(knex, recordDenial),
        managers,
        async (ctx) => {
          const org = orgOf(ctx);
          const userId = targetId(ctx);
          await recordingDenials(ctx, userId, () => organizations.removeMember(eventContext(ctx), { orgId: org.id, callerRole: org.role, principalId: userId }));
          ctx.status = 204;
        },
      ],
    },
  ];
}
