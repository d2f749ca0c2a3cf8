// What one request carries besides koa's own: the audit events it causes (committed together before
// the response leaves) and the work it started in listeners that must finish first (revocations
// raised by oidc-provider's events). One typed object, `ctx.state.scope`, replaces loose state keys.
// Code without a koa context (the storage adapter, token model events) reaches the request through
// oidc-provider's own async context (`Provider.ctx`). Revocations, made deep in libraries that know
// no koa context, find their request through `revocationScope` (one AsyncLocalStorage, entered by
// audit-commit): they are written to PostgreSQL in the transaction of the request's audit events.
import type { Actor, AuditEvent } from '@clouddocs/audit';
import type { RevocationRecord } from '@clouddocs/kv';
import type { Logger } from '@clouddocs/observability';
import Provider from 'oidc-provider';

export interface RequestScope {
  readonly events: AuditEvent[];
  readonly pending: Promise<unknown>[];
  /** Revocations to store durably with the request's audit events (one transaction). */
  readonly revocations: RevocationRecord[];
  /** Its audit transaction has been written: a later revocation is stored on its own. */
  committed?: boolean;
  readonly logger: Logger;
  /** The store failure behind an oidc-provider `server_error`, if any (see the provider outcome step). */
  providerError?: unknown;
}

interface ScopedContext {
  state: object;
  ip: string;
  get(header: string): string;
}

export function openScope(ctx: { state: object }, logger: Logger): RequestScope {
  const scope: RequestScope = { events: [], pending: [], revocations: [], logger };
  (ctx.state as { scope?: RequestScope }).scope = scope;
  return scope;
}

export function scopeOf(ctx: { state?: object } | undefined): RequestScope | undefined {
  return (ctx?.state as { scope?: RequestScope } | undefined)?.scope;
}

export { revocationScope, withRevocationScope } from './revocation-scope';

function ambientContext(): ScopedContext | undefined {
  return (Provider as unknown as { ctx?: ScopedContext }).ctx;
}

type EventFields = Omit<AuditEvent, 'requestId' | 'ip' | 'userAgent'>;

/** An audit event with this request's id, address and user agent. */
export function event(ctx: ScopedContext, fields: EventFields): AuditEvent {
  return { ...fields, requestId: (ctx.state as { requestId?: string }).requestId ?? null, ip: ctx.ip || null, userAgent: ctx.get('user-agent') || null };
}

/** Queues an event on this request; it is committed before the response leaves (see audit-commit). */
export function audit(ctx: ScopedContext, fields: EventFields): void {
  const scope = scopeOf(ctx);
  if (!scope) throw new Error(`audit event ${fields.action} raised outside a request scope`);
  scope.events.push(event(ctx, fields));
}

/** Queues an event on the request in `ctx`, else on the ambient request; false when there is none. */
export function auditAmbient(ctx: ScopedContext | undefined, fields: EventFields): boolean {
  const target = scopeOf(ctx) ? ctx : ambientContext();
  if (!target || !scopeOf(target)) return false;
  audit(target, fields);
  return true;
}

/** Work a listener started that the response must wait for; outside a request it runs detached. */
export function awaitBeforeResponse(ctx: ScopedContext | undefined, work: Promise<unknown>): void {
  const scope = scopeOf(ctx) ?? scopeOf(ambientContext());
  if (scope) scope.pending.push(work);
  else void work.catch(() => {});
}

export const actors = {
  user: (id: string): Actor => ({ type: 'user', id }),
  client: (id: string | null | undefined): Actor => ({ type: 'client', id: id ?? null }),
  system: (): Actor => ({ type: 'system', id: null }),
  anonymous: (): Actor => ({ type: 'anonymous', id: null }),
};
