// The admin API (`/admin/v1`), built like the docs API: a route is data (its HTTP shape, scope and
// zod schemas) and mounting turns it into authenticate → require scope → validate → handle;
// /admin/v1/openapi.json is generated from the same definitions. Errors are typed (errors.ts
// renders them as problem+json under /admin); every change is audited with the caller as actor.
import type Router from '@koa/router';
import type { RouterContext, RouterMiddleware } from '@koa/router';
import type { Actor } from '@clouddocs/audit';
import type { z } from 'zod';
import { BadRequestError, NotFoundError } from '../errors';
import { audit, type RequestScope } from '../request-scope';
import type { EventFields } from '../libraries/client-lifecycle';

export const ADMIN_PREFIX = '/admin/v1';
export type AdminScope = 'admin:read' | 'admin:write';

export interface AdminState {
  scope: RequestScope;
  requestId?: string;
  caller?: { actor: Actor; scopes: Set<string>; clientId: string };
  query?: unknown;
  body?: unknown;
}

export type AdminContext = RouterContext<AdminState>;
export type AdminStep = RouterMiddleware<AdminState>;

export interface AdminRoute {
  method: 'get' | 'post' | 'patch' | 'delete';
  /** koa form under the prefix, e.g. `/clients/:clientId` */
  path: string;
  operationId: string;
  summary: string;
  /** GET reads (admin:read); everything else writes (admin:write). `public` needs no token. */
  access: AdminScope | 'public';
  params?: Record<string, string>;
  query?: z.ZodType;
  body?: z.ZodType;
  success: { status: number; description: string; schema?: z.ZodType };
  errors: Partial<Record<400 | 404 | 409, string>>;
  handler: AdminStep;
}

export interface AdminSteps {
  authenticate: AdminStep;
  requireScope(scope: AdminScope): AdminStep;
  validateQuery(schema: z.ZodType): AdminStep;
  validateBody(schema: z.ZodType): AdminStep;
}

export function pipeline(route: AdminRoute, steps: AdminSteps): AdminStep[] {
  const out: AdminStep[] = [];
  if (route.access !== 'public') out.push(steps.authenticate, steps.requireScope(route.access));
  if (route.query) out.push(steps.validateQuery(route.query));
  if (route.body) out.push(steps.validateBody(route.body));
  out.push(route.handler);
  return out;
}

export function mountAdmin(router: Router, routes: AdminRoute[], steps: AdminSteps): void {
  for (const route of routes) router.register(`${ADMIN_PREFIX}${route.path}`, [route.method.toUpperCase()], pipeline(route, steps) as never, { name: route.operationId });
}

function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`${what} is not loaded: a step is missing from this route's pipeline`);
  return value;
}

export const callerOf = (ctx: AdminContext) => need(ctx.state.caller, 'caller');
export const queryOf = <T>(ctx: AdminContext) => need(ctx.state.query, 'query') as T;
export const bodyOf = <T>(ctx: AdminContext) => need(ctx.state.body, 'body') as T;

/** `{ items, nextCursor }` paging by an opaque cursor naming the last item's sort key. */
export const cursor = {
  encode: (after: string | undefined) => (after === undefined ? null : Buffer.from(JSON.stringify({ after })).toString('base64url')),
  decode(value: string | undefined): string | undefined {
    if (value === undefined) return undefined;
    try {
      const { after } = JSON.parse(Buffer.from(value, 'base64url').toString('utf8')) as { after?: unknown };
      return typeof after === 'string' ? after : undefined;
    } catch {
      return undefined;
    }
  },
};

/** One page of a list: `fetch` gets one more than the limit, to know whether there is a next page. */
export async function page<T>(ctx: AdminContext, q: { cursor?: string; limit: number }, fetch: (after: string | undefined, limit: number) => Promise<T[]>, keyOf: (item: T) => string): Promise<void> {
  const after = cursor.decode(q.cursor);
  if (q.cursor !== undefined && after === undefined) throw new BadRequestError('the cursor is not valid');
  const items = await fetch(after, q.limit + 1);
  const more = items.length > q.limit;
  ctx.body = { items: items.slice(0, q.limit), nextCursor: more ? cursor.encode(keyOf(items[q.limit - 1]!)) : null };
}

/** Answers a lifecycle operation: 404 when the object does not exist, else its result, audited. */
export function answer<T>(ctx: AdminContext, outcome: { result: T; event: EventFields } | undefined, missing: string, status = 200): void {
  if (!outcome) throw new NotFoundError(missing);
  audit(ctx, outcome.event);
  ctx.status = status;
  ctx.body = status === 204 ? null : outcome.result;
}
