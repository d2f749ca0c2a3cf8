// Operations: /healthz (the process is up), /readyz (database, cache, auth server keys and the
// revocation feed are all usable), /metrics (Prometheus).
import { z } from 'zod';
import type { Registry } from '@clouddocs/observability';
import { ProblemError } from '../errors';
import type { RouteDefinition } from './route';

export interface ReadinessChecks {
  [name: string]: () => Promise<boolean> | boolean;
}

const readiness = z.object({ status: z.literal('ready'), checks: z.record(z.string(), z.boolean()) });

async function settle(check: () => Promise<boolean> | boolean): Promise<boolean> {
  try {
    return await Promise.race([Promise.resolve(check()), new Promise<boolean>((r) => setTimeout(() => r(false), 2_000).unref())]);
  } catch {
    return false;
  }
}

export function healthRoutes(checks: ReadinessChecks, registry: Registry): RouteDefinition[] {
  return [
    {
      method: 'get',
      path: '/healthz',
      operationId: 'healthz',
      summary: 'The process is up',
      access: 'public',
      success: { status: 200, description: 'up', schema: z.object({ status: z.literal('ok') }) },
      errors: {},
      steps: [
        (ctx) => {
          ctx.body = { status: 'ok' };
        },
      ],
    },
    {
      method: 'get',
      path: '/readyz',
      operationId: 'readyz',
      summary: 'Database, cache, auth server keys and revocation feed are usable (503 otherwise)',
      access: 'public',
      success: { status: 200, description: 'ready', schema: readiness },
      errors: { 503: 'not ready' },
      steps: [
        async (ctx) => {
          const names = Object.keys(checks);
          const results = await Promise.all(names.map((n) => settle(checks[n]!)));
          const status = Object.fromEntries(names.map((n, i) => [n, results[i]!]));
          const failing = names.filter((_, i) => !results[i]);
          ctx.set('Cache-Control', 'no-store');
          if (failing.length) {
            throw new ProblemError(503, 'not-ready', 'Service Unavailable', `not ready: ${failing.join(', ')}`, { extensions: { checks: status } });
          }
          ctx.body = { status: 'ready', checks: status };
        },
      ],
    },
    {
      method: 'get',
      path: '/metrics',
      operationId: 'metrics',
      summary: 'Prometheus metrics',
      access: 'public',
      success: { status: 200, description: 'metrics in the Prometheus text format', contentType: 'text/plain' },
      errors: {},
      steps: [
        async (ctx) => {
          ctx.type = registry.contentType;
          ctx.body = await registry.metrics();
        },
      ],
    },
  ];
}
