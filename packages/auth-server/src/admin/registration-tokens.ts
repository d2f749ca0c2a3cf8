// Admin API: initial access tokens for dynamic client registration (RFC 7591 §3.1). Create (the token
// shown once), list, read, revoke. Audited with the caller as actor; the token itself never is.
import type { z } from 'zod';
import { NotFoundError } from '../errors';
import type { RegistrationTokenLibrary } from '../libraries/registration-tokens';
import { audit } from '../request-scope';
import { bodyOf, callerOf, page, queryOf, type AdminRoute } from './route';
import { list, pageOnlyQuery, registrationTokenCreate, registrationTokenView } from './schemas';

const ID = { tokenId: 'the registration token id (not the token)' };
const missing = () => new NotFoundError('no such registration token');

export function registrationTokenRoutes(deps: { tokens: RegistrationTokenLibrary }): AdminRoute[] {
  return [
    {
      method: 'post',
      path: '/registration-tokens',
      operationId: 'createRegistrationToken',
      summary: 'An initial access token for dynamic client registration, shown once (no limits given: unlimited uses, no expiry)',
      access: 'admin:write',
      body: registrationTokenCreate,
      success: { status: 201, description: 'the token and its limits' },
      errors: { 400: 'a limit out of range' },
      handler: async (ctx) => {
        const body = bodyOf<z.infer<typeof registrationTokenCreate>>(ctx);
        const created = await deps.tokens.create({ maxUses: body.max_uses, expiresIn: body.expires_in });
        audit(ctx, { action: 'registration_token.created', actor: callerOf(ctx).actor, target: { type: 'registration_token', id: created.id }, outcome: 'success', detail: { max_uses: created.max_uses, expires_at: created.expires_at, route: 'admin' } });
        ctx.status = 201;
        ctx.body = created;
      },
    },
    {
      method: 'get',
      path: '/registration-tokens',
      operationId: 'listRegistrationTokens',
      summary: 'Registration tokens by id, with their uses (never the tokens)',
      access: 'admin:read',
      query: pageOnlyQuery,
      success: { status: 200, description: 'a page of registration tokens', schema: list(registrationTokenView) },
      errors: { 400: 'bad query or cursor' },
      handler: async (ctx) => {
        const q = queryOf<{ cursor?: string; limit: number }>(ctx);
        await page(ctx, q, (after, limit) => deps.tokens.list({ after, limit }), (t) => t.id);
      },
    },
    {
      method: 'get',
      path: '/registration-tokens/:tokenId',
      operationId: 'getRegistrationToken',
      summary: 'One registration token (never the token)',
      access: 'admin:read',
      params: ID,
      success: { status: 200, description: 'the registration token', schema: registrationTokenView },
      errors: { 404: 'no such registration token' },
      handler: async (ctx) => {
        const token = await deps.tokens.get(ctx.params.tokenId!);
        if (!token) throw missing();
        ctx.body = token;
      },
    },
    {
      method: 'delete',
      path: '/registration-tokens/:tokenId',
      operationId: 'revokeRegistrationToken',
      summary: 'Revokes a registration token at once (clients already registered with it stay)',
      access: 'admin:write',
      params: ID,
      success: { status: 204, description: 'revoked' },
      errors: { 404: 'no such registration token, or already revoked' },
      handler: async (ctx) => {
        if (!(await deps.tokens.revoke(ctx.params.tokenId!))) throw missing();
        audit(ctx, { action: 'registration_token.revoked', actor: callerOf(ctx).actor, target: { type: 'registration_token', id: ctx.params.tokenId! }, outcome: 'success', detail: { route: 'admin' } });
        ctx.status = 204;
        ctx.body = null;
      },
    },
  ];
}
