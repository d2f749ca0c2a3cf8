// Opens the request scope and, once the handlers are done, waits for the work their listeners
// started (revocations), then commits the request's audit events in one group commit before the
// response leaves. Revocations the request made are stored in PostgreSQL in the same transaction as
// those events (the cache already holds them). If the audit log cannot be written, nothing the
// response described reaches the client: it becomes a 503 without its Location or cookies.
import type { AuditLog } from '@clouddocs/audit';
import type { Logger } from '@clouddocs/observability';
import type { Context, Next } from 'koa';
import { sendError, ServiceUnavailableError } from '../errors';
import { insertRevocations } from '../queries/revocations';
import { openScope, withRevocationScope } from '../request-scope';

export function auditCommit(audit: AuditLog, logger: Logger) {
  return async (ctx: Context, next: Next) => {
    const scope = openScope(ctx, logger);
    await withRevocationScope(scope, next);
    // A revocation that could not be stored fails the request (503 by the error boundary).
    if (scope.pending.length) await Promise.all(scope.pending);
    scope.committed = true;
    if (scope.events.length === 0 && scope.revocations.length === 0) return;
    try {
      const revocations = scope.revocations;
      // The writer's own transaction for that batch: requests never contend for the chain head.
      await audit.recordAll(scope.events, revocations.length ? { alongside: (trx) => insertRevocations(trx, revocations) } : {});
    } catch (err) {
      logger.error({ err: (err as Error).message, actions: scope.events.map((e) => e.action) }, 'audit log unavailable; response withheld');
      ctx.remove('Location');
      ctx.remove('Set-Cookie');
      sendError(ctx, new ServiceUnavailableError('the audit log is unavailable; the request was not completed'));
    }
  };
}
