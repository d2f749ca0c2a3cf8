// The admin API, assembled: every route table, its OpenAPI, mounted on one router that only sees
// paths under /admin/v1 (an unknown one there is a problem+json 404).
import Router from '@koa/router';
import type { Context, Next } from 'koa';
import { NotFoundError } from '../errors';
import { clientRoutes } from './clients';
import { keyAndAuditRoutes } from './keys-and-audit';
import { registrationTokenRoutes } from './registration-tokens';
import { buildAdminOpenApi } from './openapi';
import { ADMIN_PREFIX, mountAdmin, type AdminRoute, type AdminSteps } from './route';
import { userRoutes } from './users';

export interface AdminApiDeps {
  clients: Parameters<typeof clientRoutes>[0];
  users: Parameters<typeof userRoutes>[0];
  keysAndAudit: Parameters<typeof keyAndAuditRoutes>[0];
  registrationTokens: Parameters<typeof registrationTokenRoutes>[0];
  steps: AdminSteps;
  issuer: string;
  audience: string;
}

export function adminRouteTable(deps: Omit<AdminApiDeps, 'steps'>): AdminRoute[] {
  const routes = [...clientRoutes(deps.clients), ...userRoutes(deps.users), ...keyAndAuditRoutes(deps.keysAndAudit), ...registrationTokenRoutes(deps.registrationTokens)];
  const document = buildAdminOpenApi(routes, { issuer: deps.issuer, audience: deps.audience });
  const openapi: AdminRoute = {
    method: 'get',
    path: '/openapi.json',
    operationId: 'openapi',
    summary: 'This document',
    access: 'public',
    success: { status: 200, description: 'OpenAPI 3.1' },
    errors: {},
    handler: async (ctx) => {
      ctx.body = document;
    },
  };
  return [openapi, ...routes];
}

export function adminApi(deps: AdminApiDeps) {
  const router = new Router();
  mountAdmin(router, adminRouteTable(deps), deps.steps);
  const routes = router.routes() as unknown as (ctx: Context, next: Next) => Promise<unknown>;
  const methods = router.allowedMethods({ throw: true }) as unknown as (ctx: Context, next: Next) => Promise<unknown>;
  return async (ctx: Context, next: Next) => {
    if (ctx.path !== ADMIN_PREFIX && !ctx.path.startsWith(`${ADMIN_PREFIX}/`)) return next();
    await routes(ctx, () => methods(ctx, async () => undefined));
    if (ctx.status === 404 && ctx.body == null) throw new NotFoundError('no such admin API route; /admin/v1/openapi.json lists them');
  };
}
