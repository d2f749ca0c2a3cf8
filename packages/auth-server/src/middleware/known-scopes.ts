// Unknown scopes are refused, not ignored (oidc-provider drops a scope it does not know and issues
// a token without it). Rules: at the token endpoint a `scope` naming anything outside ALL_SCOPES is
// 400 invalid_scope (RFC 6749 §5.2), client credentials included; at the authorization and PAR
// endpoints it is 400 invalid_scope before any redirect (the scope cannot be trusted to build one).
// Scopes the client may not have are oidc-provider's own check (also invalid_scope).
import type { Context, Next } from 'koa';
import { AuthServerError } from '../errors';
import { ALL_SCOPES } from '../scopes';

const KNOWN: ReadonlySet<string> = new Set(ALL_SCOPES);
const CHECKED = new Set(['/token', '/auth', '/request']);

export function knownScopes() {
  return async (ctx: Context, next: Next) => {
    if (!CHECKED.has(ctx.path)) return next();
    const params = ctx.method === 'POST' ? new URLSearchParams(typeof ctx.request.body === 'string' ? ctx.request.body : '') : new URLSearchParams(ctx.querystring);
    const unknown = (params.get('scope') ?? '').split(' ').filter((s) => s && !KNOWN.has(s));
    if (unknown.length) throw new AuthServerError(400, 'invalid_scope', `unknown scope ${JSON.stringify(unknown[0]!.slice(0, 64))}`, { title: 'Request not accepted' });
    return next();
  };
}
