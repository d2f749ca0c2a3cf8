// Introspection (RFC 7662) and revocation (RFC 7009) of JWT access tokens, which oidc-provider
// refuses as `unsupported_token_type` (it stores no structured token). For a JWT the client is
// authenticated as oidc-provider would (see libraries/client-authentication), the token is verified
// with the server's own keys, and the answer comes from the revocation list. Opaque tokens go on to
// oidc-provider with the body already read. Rules: only confidential clients introspect; a client
// sees and revokes only its own tokens; a foreign or invalid token is `active: false` / 200; a bound
// token introspects with its `cnf`, and a DPoP-bound one (`cnf.jkt`) as `token_type: DPoP` (RFC 9449 §6.2).
import type { RevocationList } from '@clouddocs/kv';
import type { Context, Next } from 'koa';
import { BadRequestError, InvalidClientError } from '../errors';
import type { AccessTokenVerifier } from '../libraries/access-tokens';
import type { ClientAuthentication } from '../libraries/client-authentication';
import { MalformedCertificateError, presentedCertificate, type CertificateHeaders } from '../libraries/client-certificates';
import { actors, audit } from '../request-scope';

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
export const JWT_ENDPOINTS = { introspection: '/token/introspection', revocation: '/token/revocation' } as const;

export function jwtTokenEndpoints(deps: {
  tokens: AccessTokenVerifier;
  revocations: RevocationList;
  clientAuthentication: ClientAuthentication;
  issuer: string;
  certificates: CertificateHeaders;
}) {
  async function authenticate(ctx: Context, body: URLSearchParams, endpoint: 'introspection' | 'revocation') {
    let certificate;
    try {
      certificate = presentedCertificate((name) => ctx.get(name), deps.certificates);
    } catch (err) {
      if (err instanceof MalformedCertificateError) throw new BadRequestError(err.message);
      throw err;
    }
    try {
      const client = await deps.clientAuthentication.authenticate({ authorization: ctx.get('authorization'), body, endpoint: `${deps.issuer}${JWT_ENDPOINTS[endpoint]}`, certificate });
      if (endpoint === 'introspection' && !client.confidential) throw new InvalidClientError();
      return client;
    } catch (err) {
      if (err instanceof InvalidClientError) audit(ctx, { action: 'client.auth_failed', actor: actors.anonymous(), target: { type: 'client', id: null }, outcome: 'failure', detail: { endpoint: ctx.path } });
      throw err;
    }
  }

  return async (ctx: Context, next: Next) => {
    const endpoint = ctx.path === JWT_ENDPOINTS.introspection ? 'introspection' : ctx.path === JWT_ENDPOINTS.revocation ? 'revocation' : undefined;
    if (!endpoint || ctx.method !== 'POST' || !ctx.is('application/x-www-form-urlencoded')) return next();
    const body = new URLSearchParams(typeof ctx.request.body === 'string' ? ctx.request.body : '');
    const token = body.get('token') ?? '';
    if (!JWT_SHAPE.test(token)) return next();
    ctx.set('Cache-Control', 'no-store');
    const client = await authenticate(ctx, body, endpoint);
    const payload = await deps.tokens.verify(token);
    const own = payload !== undefined && payload.client_id === client.clientId ? payload : undefined;

    if (endpoint === 'introspection') {
      const active = own !== undefined && !(await deps.revocations.isRevokedInStore(own));
      const cnf = own?.cnf as { jkt?: unknown } | undefined;
      ctx.status = 200;
      ctx.body = active
        ? {
            active: true,
            client_id: own.client_id,
            scope: own.scope,
            sub: own.sub,
            aud: own.aud,
            iss: own.iss,
            exp: own.exp,
            iat: own.iat,
            jti: own.jti,
            token_type: typeof cnf?.jkt === 'string' ? 'DPoP' : 'Bearer',
            ...(cnf !== undefined ? { cnf } : {}),
          }
        : { active: false };
      return;
    }
    // RFC 7009 §2.2: an invalid or foreign token is answered 200 all the same.
    if (own && typeof own.jti === 'string') {
      const remaining = Math.max(1, (own.exp ?? 0) - Math.floor(Date.now() / 1000) + 60);
      await deps.revocations.revoke('jti', own.jti, remaining);
      audit(ctx, { action: 'token.revoked', actor: actors.client(client.clientId), target: { type: 'access_token', id: own.jti }, outcome: 'success', detail: { tokenType: 'access_token', format: 'jwt' } });
    }
    ctx.status = 200;
    ctx.body = '';
  };
}
