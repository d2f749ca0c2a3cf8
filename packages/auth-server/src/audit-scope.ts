// Each request collects the audit events it causes; they are committed (group commit) before the
// response leaves. If the audit log cannot be written the response becomes a 503 and nothing it
// described reaches the client.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { AuditEvent, AuditLog } from '@clouddocs/audit';
import type { Logger } from '@clouddocs/observability';
import type { Context, Next } from 'koa';

const current = new AsyncLocalStorage<{ events: AuditEvent[]; meta: Pick<AuditEvent, 'requestId' | 'ip' | 'userAgent'> }>();

export function requestMeta(ctx: { state: Record<string, unknown>; ip: string; get(h: string): string }) {
  return { requestId: (ctx.state.requestId as string | undefined) ?? null, ip: ctx.ip || null, userAgent: ctx.get('user-agent') || null };
}

/** Queues an event on the request in `ctx` (falls back to the ambient request). */
export function queueAudit(ctx: { state: Record<string, unknown> } | undefined, event: AuditEvent): void {
  const events = (ctx?.state?.auditEvents as AuditEvent[] | undefined) ?? current.getStore()?.events;
  if (events) events.push(event);
  else throw new Error(`audit event ${event.action} raised outside a request scope`);
}

/** Queues an event on the ambient request (for code that has no koa context, like the adapter). */
export function queueAmbientAudit(event: AuditEvent): boolean {
  const scope = current.getStore();
  if (!scope) return false;
  scope.events.push({ ...scope.meta, ...event });
  return true;
}

export function auditScope(audit: AuditLog, logger: Logger) {
  return async (ctx: Context, next: Next) => {
    const events: AuditEvent[] = [];
    ctx.state.auditEvents = events;
    await current.run({ events, meta: requestMeta(ctx) }, next);
    if (events.length === 0) return;
    try {
      await audit.recordAll(events);
    } catch (err) {
      logger.error({ err: (err as Error).message, actions: events.map((e) => e.action) }, 'audit log unavailable; response withheld');
      ctx.status = 503;
      ctx.remove('Location');
      ctx.remove('Set-Cookie');
      ctx.set('Retry-After', '5');
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { error: 'temporarily_unavailable', error_description: 'the audit log is unavailable; the request was not completed' };
    }
  };
}
