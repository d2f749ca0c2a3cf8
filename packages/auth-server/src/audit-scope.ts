// Each request collects the audit events it causes; they are committed (group commit) before the
// response leaves. If the audit log cannot be written the response becomes a 503 and nothing it
// described reaches the client.
import type { AuditEvent, AuditLog } from '@clouddocs/audit';
import type { Logger } from '@clouddocs/observability';
import type { Context, Next } from 'koa';
import Provider from 'oidc-provider';

// Code without a koa context (the storage adapter, token model events) reaches the request through
// oidc-provider's own async context (`Provider.ctx`): no second AsyncLocalStorage on the hot path.
function ambientContext(): (Context & { state: Record<string, unknown> }) | undefined {
  return (Provider as unknown as { ctx?: Context }).ctx as (Context & { state: Record<string, unknown> }) | undefined;
}

export function requestMeta(ctx: { state: Record<string, unknown>; ip: string; get(h: string): string }) {
  return { requestId: (ctx.state.requestId as string | undefined) ?? null, ip: ctx.ip || null, userAgent: ctx.get('user-agent') || null };
}

/** Queues an event on the request in `ctx` (falls back to the ambient request). */
export function queueAudit(ctx: { state: Record<string, unknown> } | undefined, event: AuditEvent): void {
  const events = (ctx?.state?.auditEvents as AuditEvent[] | undefined) ?? (ambientContext()?.state?.auditEvents as AuditEvent[] | undefined);
  if (events) events.push(event);
  else throw new Error(`audit event ${event.action} raised outside a request scope`);
}

/** Queues an event on the ambient request (for code that has no koa context, like the adapter). */
export function queueAmbientAudit(event: AuditEvent): boolean {
  const ctx = ambientContext();
  const events = ctx?.state?.auditEvents as AuditEvent[] | undefined;
  if (!ctx || !events) return false;
  events.push({ ...requestMeta(ctx), ...event });
  return true;
}

export function auditScope(audit: AuditLog, logger: Logger) {
  return async (ctx: Context, next: Next) => {
    const events: AuditEvent[] = [];
    ctx.state.auditEvents = events;
    await next();
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
