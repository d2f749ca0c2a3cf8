// GET /orgs/:orgId/audit: the org's audit events, newest first; owners and admins only.
import { queryEvents } from '@clouddocs/audit';
import { z } from 'zod';
import { requireOrgRole } from '../middleware/check-action';
import { loadOrg } from '../middleware/load-org';
import { orgOf, queryOf } from '../middleware/state';
import { auditEventView, auditQuery, page, PAGE_DEFAULT } from '../schemas';
import { pageOf, type RouteDeps } from './deps';
import type { RouteDefinition } from './route';

const position = z.object({ b: z.number().int().positive() }).strict();

export function auditRoutes({ knex, cursors, recordDenial }: RouteDeps): RouteDefinition[] {
  return [
    {
      method: 'get',
      path: '/orgs/:orgId/audit',
      operationId: 'listOrgAuditEvents',
      summary: "The organization's audit events, newest first (owners and admins)",
      access: 'audit:read',
      params: { orgId: 'the organization id' },
      query: auditQuery,
      success: { status: 200, description: 'a page of audit events', schema: page(auditEventView, 'AuditEventPage') },
      errors: { 403: 'the caller is a member but not an owner or admin', 404: 'no such organization, or the caller is not a member' },
      steps: [
        loadOrg(knex, recordDenial),
        requireOrgRole(['owner', 'admin'], 'read the audit log', recordDenial),
        async (ctx) => {
          const org = orgOf(ctx);
          const query = queryOf<z.infer<typeof auditQuery>>(ctx);
          const limit = query.limit ?? PAGE_DEFAULT;
          // The filters are bound into the cursor's list name, so a cursor only continues the listing it came from.
          const list = `audit:${org.id}:${query.action?.join(',') ?? ''}:${query.since ?? ''}:${query.until ?? ''}`;
          const before = query.cursor ? cursors.decode(list, query.cursor, position).b : undefined;
          const rows = await queryEvents(knex, {
            orgId: org.id,
            limit: limit + 1,
            ...(query.action ? { actions: query.action } : {}),
            ...(query.since ? { since: new Date(query.since) } : {}),
            ...(query.until ? { until: new Date(query.until) } : {}),
            ...(before !== undefined ? { beforeId: before } : {}),
          });
          const result = pageOf(rows, limit, (last) => cursors.encode(list, { b: last.id }));
          ctx.body = {
            items: result.items.map((e) => ({
              id: e.id,
              occurredAt: e.occurredAt,
              actor: e.actor,
              action: e.action,
              target: e.target,
              outcome: e.outcome,
              orgId: e.orgId,
              requestId: e.requestId,
              detail: e.detail,
            })),
            nextCursor: result.nextCursor,
          };
        },
      ],
    },
  ];
}
