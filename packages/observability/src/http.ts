import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Logger } from './logger';
import type { Metrics } from './metrics';

// Minimal structural type of a koa context, so this package does not depend on koa.
interface HttpContext {
  method: string;
  path: string;
  status: number;
  state: Record<string, unknown>;
  get(field: string): string;
  set(field: string, value: string): void;
  _matchedRoute?: string | RegExp;
  routePath?: string;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Takes a well-formed `x-request-id` or makes one, echoes it, and logs/measures each request. */
export function requestContext(options: { logger: Logger; metrics: Metrics; routeOf?: (ctx: HttpContext) => string }) {
  const { logger, metrics } = options;
  return async (ctx: HttpContext, next: () => Promise<unknown>) => {
    const incoming = ctx.get('x-request-id');
    const requestId = REQUEST_ID.test(incoming) ? incoming : randomUUID();
    ctx.state.requestId = requestId;
    ctx.set('x-request-id', requestId);
    const started = performance.now(); // monotonic, and a plain number: no BigInt per request
    try {
      await next();
    } finally {
      const seconds = (performance.now() - started) / 1e3;
      const route = options.routeOf?.(ctx) ?? (typeof ctx._matchedRoute === 'string' ? ctx._matchedRoute : 'unmatched');
      metrics.httpDuration.observe({ method: ctx.method, route, status: String(ctx.status) }, seconds);
      if (logger.isLevelEnabled('debug') || ctx.status >= 500) {
        logger[ctx.status >= 500 ? 'error' : 'debug'](
          { requestId, method: ctx.method, route, status: ctx.status, ms: Math.round(seconds * 1000) },
          'request',
        );
      }
    }
  };
}
