// The admin API's shared steps. Rules:
// - authenticate: `Authorization: Bearer <JWT>` (scheme case-insensitive, RFC 9110 §11.1), one of this
//   server's RFC 9068 access tokens for ADMIN_API_AUDIENCE, not revoked; else 401 (no error attribute
//   without a token, `invalid_token` with one; a docs API token is for another audience: 401);
// - requireScope: admin:read for reads, admin:write for changes; else 403 insufficient_scope, audited;
// - validate: strict zod schemas (unknown fields are 400), JSON bodies only (415 otherwise).
import type { RevocationList } from '@clouddocs/kv';
import type { z } from 'zod';
import { AuthServerError, BadRequestError, InsufficientScopeError, UnauthorizedError, UnsupportedMediaTypeError } from '../errors';
import type { AccessTokenVerifier } from '../libraries/access-tokens';
import { actors, audit } from '../request-scope';
import type { AdminScope, AdminStep, AdminSteps } from './route';

function invalid(where: 'body' | 'query', error: z.ZodError): BadRequestError {
  const issues = error.issues.slice(0, 10).map((i) => (i.code === 'unrecognized_keys' ? `unknown field(s) ${i.keys.join(', ')}` : `${i.path.map(String).join('.') || where}: ${i.message}`));
  return new BadRequestError(`the ${where} is invalid: ${issues.join('; ')}`.slice(0, 500));
}

export function createAdminSteps(deps: { tokens: AccessTokenVerifier; revocations: RevocationList; audience: string }): AdminSteps {
  const authenticate: AdminStep = async (ctx, next) => {
    const header = ctx.get('authorization');
    if (!header) throw new UnauthorizedError('an admin API access token is required', false);
    const match = /^([A-Za-z]+) +([^\s]+)$/.exec(header);
    if (!match) throw new AuthServerError(400, 'invalid_request', 'the Authorization header must be "Bearer <token>"', { title: 'Bad Request' });
    if (match[1]!.toLowerCase() !== 'bearer') throw new UnauthorizedError('use a Bearer access token', false);
    const payload = await deps.tokens.verify(match[2]!, deps.audience);
    if (!payload || typeof payload.sub !== 'string' || typeof payload.client_id !== 'string') throw new UnauthorizedError('the token is not a valid admin API access token', true);
    // Refused while the list is being reloaded (503) rather than answered from a list that may miss one.
    if (await deps.revocations.isRevokedInStore(payload)) throw new UnauthorizedError('the token has been revoked', true);
    const clientId = payload.client_id;
    ctx.state.caller = {
      actor: payload.sub === clientId ? actors.client(clientId) : actors.user(payload.sub),
      scopes: new Set(typeof payload.scope === 'string' ? payload.scope.split(' ') : []),
      clientId,
    };
    return next();
  };

  const requireScope = (scope: AdminScope): AdminStep => async (ctx, next) => {
    const caller = ctx.state.caller!;
    if (!caller.scopes.has(scope)) {
      audit(ctx, { action: 'access.denied', actor: caller.actor, target: { type: 'admin_route', id: `${ctx.method} ${ctx._matchedRoute ?? ctx.path}` }, outcome: 'denied', detail: { reason: 'insufficient_scope', scope } });
      throw new InsufficientScopeError(scope);
    }
    return next();
  };

  const validateQuery = (schema: z.ZodType): AdminStep => async (ctx, next) => {
    const parsed = schema.safeParse({ ...ctx.query });
    if (!parsed.success) throw invalid('query', parsed.error);
    ctx.state.query = parsed.data;
    return next();
  };

  const validateBody = (schema: z.ZodType): AdminStep => async (ctx, next) => {
    const raw = typeof ctx.request.body === 'string' ? ctx.request.body : '';
    if (raw && !ctx.is('application/json')) throw new UnsupportedMediaTypeError('application/json');
    let value: unknown = {};
    if (raw) {
      try {
        value = JSON.parse(raw);
      } catch {
        throw new BadRequestError('the body is not valid JSON');
      }
    }
    const parsed = schema.safeParse(value);
    if (!parsed.success) throw invalid('body', parsed.error);
    ctx.state.body = parsed.data;
    return next();
  };

  return { authenticate, requireScope, validateQuery, validateBody };
}
