// Admin API: signing keys (their states; a rotation that publishes a new generation now and signs with
// it after AUTH_KEY_ACTIVATION_DELAY_SECONDS) and the audit log (search newest first; verification).
import { queryEvents, verifyAuditLog, type AuditAction } from '@clouddocs/audit';
import type { Knex } from '@clouddocs/db';
import { BadRequestError } from '../errors';
import type { KeyStore } from '../keys/keys';
import { audit } from '../request-scope';
import { callerOf, cursor, queryOf, type AdminRoute } from './route';
import { auditQuery } from './schemas';
import type { z } from 'zod';

export function keyAndAuditRoutes(deps: { knex: Knex; keyStore: KeyStore; activationDelaySeconds: number; refreshKeys: () => Promise<boolean> }): AdminRoute[] {
  return [
    {
      method: 'get',
      path: '/keys',
      operationId: 'listKeys',
      summary: 'Published signing keys and their state (pending, active, retiring)',
      access: 'admin:read',
      success: { status: 200, description: 'the keys' },
      errors: {},
      handler: async (ctx) => {
        ctx.body = { items: await deps.keyStore.list(), nextCursor: null };
      },
    },
    {
      method: 'post',
      path: '/keys/rotate',
      operationId: 'rotateKeys',
      summary: 'A new key generation: published now, signing after the activation delay',
      access: 'admin:write',
      success: { status: 200, description: 'the new generation' },
      errors: {},
      handler: async (ctx) => {
        const rotated = await deps.keyStore.rotate(deps.activationDelaySeconds);
        await deps.refreshKeys();
        audit(ctx, { action: 'key.rotated', actor: callerOf(ctx).actor, target: { type: 'key_generation', id: String(rotated.generation) }, outcome: 'success', detail: { kids: rotated.keys.map((k) => k.kid), activatesAt: rotated.activatesAt.toISOString() } });
        ctx.body = { generation: rotated.generation, activates_at: rotated.activatesAt.toISOString(), keys: rotated.keys };
      },
    },
    {
      method: 'get',
      path: '/audit',
      operationId: 'searchAudit',
      summary: 'Audit events, newest first, by action, actor, target and time',
      access: 'admin:read',
      query: auditQuery,
      success: { status: 200, description: 'a page of events' },
      errors: { 400: 'bad query or cursor' },
      handler: async (ctx) => {
        const q = queryOf<z.infer<typeof auditQuery>>(ctx);
        const before = cursor.decode(q.cursor);
        if (q.cursor !== undefined && !/^[0-9]+$/.test(before ?? '')) throw new BadRequestError('the cursor is not valid');
        const events = await queryEvents(deps.knex, {
          actions: q.action ? [q.action as AuditAction] : undefined,
          actorId: q.actor,
          targetId: q.target,
          since: q.since ? new Date(q.since) : undefined,
          until: q.until ? new Date(q.until) : undefined,
          beforeId: before ? Number(before) : undefined,
          limit: q.limit + 1,
        });
        const more = events.length > q.limit;
        const items = events.slice(0, q.limit).map((e) => ({ id: String(e.id), occurredAt: e.occurredAt, actor: e.actor, action: e.action, target: e.target, outcome: e.outcome, requestId: e.requestId, orgId: e.orgId, detail: e.detail }));
        ctx.body = { items, nextCursor: more ? cursor.encode(String(events[q.limit - 1]!.id)) : null };
      },
    },
    {
      method: 'get',
      path: '/audit/verify',
      operationId: 'verifyAudit',
      summary: 'Walks the hash chains: intact, or the first broken event',
      access: 'admin:read',
      success: { status: 200, description: '{ intact, chains, events, firstBreak }' },
      errors: {},
      handler: async (ctx) => {
        const result = await verifyAuditLog(deps.knex);
        ctx.body = { intact: result.ok, chains: result.chains, events: result.events, firstBreak: result.firstBreak };
      },
    },
  ];
}
