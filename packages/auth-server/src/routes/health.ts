// GET /healthz (the process is up), /readyz (database and cache reachable, and the server accepting
// requests: 503 while it shuts down) and /metrics (Prometheus). Outside audit and rate limits.
import type { Knex } from '@clouddocs/db';
import type { Kv } from '@clouddocs/kv';
import type { Metrics } from '@clouddocs/observability';
import type { Context, Next } from 'koa';

export function healthRoutes(deps: { knex: Knex; kv: Kv; metrics: Metrics; accepting: () => boolean }) {
  return async (ctx: Context, next: Next) => {
    if (ctx.method !== 'GET') return next();
    switch (ctx.path) {
      case '/healthz':
        ctx.body = { status: 'ok' };
        return;
      case '/readyz': {
        const [database, cache] = await Promise.all([deps.knex.raw('SELECT 1').then(() => true, () => false), deps.kv.ping()]);
        const accepting = deps.accepting();
        ctx.status = accepting && database && cache ? 200 : 503;
        ctx.body = { status: ctx.status === 200 ? 'ready' : 'unavailable', database, cache, accepting };
        return;
      }
      case '/metrics':
        ctx.type = deps.metrics.registry.contentType;
        ctx.body = await deps.metrics.registry.metrics();
        return;
      default:
        return next();
    }
  };
}
