// What the request path learns, step by step, in ctx.state.
import type { RouterContext, RouterMiddleware } from '@koa/router';
import type { DocumentAction, Membership, Principal, Role } from '../access';
import type { AuthScheme } from '../errors';
import type { EventContext } from '../libraries/event-context';
import type { DocumentRecord } from '../queries/documents';
import type { OrgRecord } from '../queries/orgs';

export interface DocsState {
  requestId?: string;
  /** The scheme of the request's credential (Bearer or DPoP): errors challenge in it. */
  authScheme?: AuthScheme;
  principal?: Principal;
  memberships?: Membership[];
  /** The memberships came from the authorization cache (a `cachedAccess` route). */
  accessFromCache?: boolean;
  org?: OrgRecord & { role: Role };
  /** The row as loaded (the authorization cache's own, on a cache hit: never changed in place). */
  document?: DocumentRecord;
  /** What the caller may do to `document`. */
  documentActions?: Set<DocumentAction>;
  body?: unknown;
  query?: unknown;
}

export type DocsContext = RouterContext<DocsState>;
export type Step = RouterMiddleware<DocsState>;

function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`${what} is not loaded: a step is missing from this route's pipeline`);
  return value;
}

export const principalOf = (ctx: DocsContext) => need(ctx.state.principal, 'principal');
export const membershipsOf = (ctx: DocsContext) => need(ctx.state.memberships, 'memberships');
export const orgOf = (ctx: DocsContext) => need(ctx.state.org, 'org');
export const documentOf = (ctx: DocsContext) => need(ctx.state.document, 'document');
export const documentActionsOf = (ctx: DocsContext) => need(ctx.state.documentActions, 'document');
export const bodyOf = <T>(ctx: DocsContext) => need(ctx.state.body, 'body') as T;
export const queryOf = <T>(ctx: DocsContext) => need(ctx.state.query, 'query') as T;

/** The audit actor and request facts of this request. */
export function eventContext(ctx: DocsContext): EventContext {
  const principal = ctx.state.principal;
  return {
    actor: principal ? { type: principal.kind, id: principal.id } : { type: 'anonymous', id: null },
    requestId: ctx.state.requestId ?? null,
    ip: ctx.ip || null,
    userAgent: ctx.get('user-agent') || null,
  };
}
