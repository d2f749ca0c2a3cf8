// A route is data: its HTTP shape, scope, schemas and the steps of its pipeline. Mounting turns it
// into authenticate → require scope → load memberships → validate → (load object → check action →
// handle); /openapi.json is generated from the very same definitions.
import type Router from '@koa/router';
import type { z } from 'zod';
import type { Scope } from '../access';
import type { Step } from '../middleware/state';

export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

export interface RouteDefinition {
  method: Method;
  /** koa form, e.g. `/documents/:id` */
  path: string;
  operationId: string;
  summary: string;
  /** 'public': no token; 'token': any valid token; else the scope the route needs. */
  access: 'public' | 'token' | Scope;
  params?: Record<string, string>;
  query?: z.ZodType;
  body?: z.ZodType;
  success: { status: number; description: string; schema?: z.ZodType; contentType?: string };
  /** Statuses the route's own steps answer, besides those of authentication and validation. */
  errors: Partial<Record<400 | 403 | 404 | 409 | 503, string>>;
  /** The hot read: memberships from the authorization cache (its object step re-reads before denying). */
  cachedAccess?: true;
  steps: Step[];
}

export interface CommonSteps {
  authenticate: Step;
  requireScope(scope: Scope): Step;
  loadMemberships: Step;
  loadCachedMemberships: Step;
  validateBody(schema: z.ZodType): Step;
  validateQuery(schema: z.ZodType): Step;
}

export function pipeline(route: RouteDefinition, common: CommonSteps): Step[] {
  const steps: Step[] = [];
  if (route.access !== 'public') {
    steps.push(common.authenticate);
    if (route.access !== 'token') steps.push(common.requireScope(route.access));
    steps.push(route.cachedAccess ? common.loadCachedMemberships : common.loadMemberships);
  }
  if (route.query) steps.push(common.validateQuery(route.query));
  if (route.body) steps.push(common.validateBody(route.body));
  steps.push(...route.steps);
  return steps;
}

export function mount(router: Router, routes: RouteDefinition[], common: CommonSteps): void {
  for (const route of routes) {
    router.register(route.path, [route.method.toUpperCase()], pipeline(route, common) as never, { name: route.operationId });
  }
}
