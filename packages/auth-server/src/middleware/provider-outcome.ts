// What oidc-provider answers, made consistent with the rest of the server: a path it does not serve
// is a 404 with a body that points at discovery, and its 500 `server_error` becomes the answer the
// error module gives for the failure behind it (a store outage: 503 with Retry-After).
import type { Context, Next } from 'koa';
import { NotFoundError, sendError, ServiceUnavailableError, toAuthServerError } from '../errors';
import { scopeOf } from '../request-scope';

export function providerOutcome(handler: () => (ctx: Context, next: Next) => Promise<unknown>) {
  return async (ctx: Context, next: Next) => {
    let passedOn = false;
    await handler()(ctx, async () => {
      passedOn = true;
      await next();
    });
    if (ctx.status === 404 && passedOn && (ctx.body === undefined || ctx.body === null)) return sendError(ctx, new NotFoundError());
    if (ctx.status === 500) {
      const cause = scopeOf(ctx)?.providerError;
      sendError(ctx, cause === undefined ? new ServiceUnavailableError() : toAuthServerError(cause));
    }
  };
}
