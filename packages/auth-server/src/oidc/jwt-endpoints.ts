// Introspection (RFC 7662) and revocation (RFC 7009) for JWT access tokens, which oidc-provider
// refuses as `unsupported_token_type` (it stores no structured token). For a JWT the client is
// authenticated as oidc-provider would (same methods, constant-time secret comparison), the token is
// verified with the server's own keys, and the answer comes from the revocation list. Opaque tokens
// go on to oidc-provider unchanged.
import { timingSafeEqual } from 'node:crypto';
import type { RevocationList } from '@clouddocs/kv';
import { createLocalJWKSet, jwtVerify, type JWTPayload } from 'jose';
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import type { KeySetState } from '../keys/keys';
import { queueAudit, requestMeta } from '../audit-scope';

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

async function readUrlencoded(ctx: Context): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    size += (chunk as Buffer).length;
    if (size > 64 * 1024) break;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

type ClientAuth = { ok: true; clientId: string; confidential: boolean } | { ok: false };

export function jwtTokenEndpoints(deps: {
  provider: () => Provider;
  keys: () => KeySetState;
  revocations: RevocationList;
  issuer: string;
}) {
  let verifierFor: KeySetState | undefined;
  let verifier: ReturnType<typeof createLocalJWKSet> | undefined;
  const localKeys = () => {
    const state = deps.keys();
    if (state !== verifierFor) {
      verifierFor = state;
      verifier = createLocalJWKSet({
        keys: state.jwks.map(({ d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...pub }) => pub) as never,
      });
    }
    return verifier!;
  };

  async function authenticateClient(ctx: Context, body: URLSearchParams): Promise<ClientAuth> {
    const header = ctx.get('authorization');
    let clientId: string | undefined;
    let secret: string | undefined;
    let method: string;
    if (header) {
      const match = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(header);
      if (!match || body.has('client_secret')) return { ok: false };
      const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon === -1) return { ok: false };
      try {
        clientId = decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, '%20'));
        secret = decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, '%20'));
      } catch {
        return { ok: false };
      }
      method = 'client_secret_basic';
    } else if (body.has('client_secret')) {
      clientId = body.get('client_id') ?? undefined;
      secret = body.get('client_secret') ?? undefined;
      method = 'client_secret_post';
    } else {
      clientId = body.get('client_id') ?? undefined;
      method = 'none';
    }
    if (!clientId) return { ok: false };
    const client = await deps.provider().Client.find(clientId);
    // As oidc-provider does (shared/client_auth.js): a secret in the header or the body authenticates
    // either secret-based client; `none` only a public client.
    const secretBased = (m: string) => m === 'client_secret_basic' || m === 'client_secret_post';
    if (!client || (method === 'none' ? client.clientAuthMethod !== 'none' : !secretBased(client.clientAuthMethod ?? ""))) return { ok: false };
    if (method === 'none') return { ok: true, clientId, confidential: false };
    if (!secret || !client.clientSecret || !safeEqual(secret, client.clientSecret)) return { ok: false };
    return { ok: true, clientId, confidential: true };
  }

  async function verify(token: string): Promise<JWTPayload | undefined> {
    try {
      const { payload } = await jwtVerify(token, localKeys(), {
        issuer: deps.issuer,
        typ: 'at+jwt',
        algorithms: ['ES256', 'RS256', 'EdDSA'],
      });
      return payload;
    } catch {
      return undefined;
    }
  }

  function invalidClient(ctx: Context) {
    ctx.status = 401;
    ctx.set('WWW-Authenticate', 'Basic realm="clouddocs"');
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { error: 'invalid_client', error_description: 'client authentication failed' };
    queueAudit(ctx, {
      action: 'client.auth_failed',
      actor: { type: 'anonymous', id: null },
      target: { type: 'client', id: null },
      outcome: 'failure',
      detail: { endpoint: ctx.path },
      ...requestMeta(ctx),
    });
  }

  return (paths: { introspection: string; revocation: string }) => async (ctx: Context, next: Next) => {
    const endpoint = ctx.path === paths.introspection ? 'introspection' : ctx.path === paths.revocation ? 'revocation' : undefined;
    if (!endpoint || ctx.method !== 'POST' || !ctx.is('application/x-www-form-urlencoded')) return next();
    const raw = await readUrlencoded(ctx);
    const body = new URLSearchParams(raw);
    const token = body.get('token') ?? '';
    if (!JWT_SHAPE.test(token)) {
      // Not ours to answer: hand the already-read body to oidc-provider.
      (ctx.request as { body?: unknown }).body = raw;
      return next();
    }
    ctx.set('Cache-Control', 'no-store');
    const auth = await authenticateClient(ctx, body);
    if (!auth.ok || (endpoint === 'introspection' && !auth.confidential)) return invalidClient(ctx);
    const payload = await verify(token);
    const ownToken = payload !== undefined && payload.client_id === auth.clientId;

    if (endpoint === 'introspection') {
      const active = ownToken && !(await deps.revocations.isRevokedInStore(payload!));
      ctx.status = 200;
      ctx.body = active
        ? {
            active: true,
            client_id: payload!.client_id,
            scope: payload!.scope,
            sub: payload!.sub,
            aud: payload!.aud,
            iss: payload!.iss,
            exp: payload!.exp,
            iat: payload!.iat,
            jti: payload!.jti,
            token_type: 'Bearer',
          }
        : { active: false };
      return;
    }

    // RFC 7009 §2.2: an invalid or foreign token is answered 200 all the same.
    if (ownToken && typeof payload!.jti === 'string') {
      const remaining = Math.max(1, (payload!.exp ?? 0) - Math.floor(Date.now() / 1000) + 60);
      await deps.revocations.revoke('jti', payload!.jti, remaining);
      queueAudit(ctx, {
        action: 'token.revoked',
        actor: { type: 'client', id: auth.clientId },
        target: { type: 'access_token', id: payload!.jti },
        outcome: 'success',
        detail: { tokenType: 'access_token', format: 'jwt' },
        ...requestMeta(ctx),
      });
    }
    ctx.status = 200;
    ctx.body = '';
  };
}
