// Refresh token reuse within AUTH_REFRESH_REUSE_GRACE_SECONDS: the same client presenting a used refresh
// token again that soon gets the answer its first use got (same new refresh token, same access and ID
// tokens), on every auth server process, instead of revoking the grant. oidc-provider checks
// `consumed`, then consumes; this plugs into the places it offers, without touching the library:
// - the storage adapter overlooks a consumption within the window while that very token is presented
//   at the token endpoint (so the library's checks run as for any refresh: client authentication, the
//   token's own client, grant, DPoP), and when its atomic `consume` loses within the window it waits
//   (bounded) for the first answer instead of revoking (`presentedNow`, `answerAgain`);
// - a koa layer inside the provider (`provider.use`) keeps the first answer of every refresh once its
//   body is known, and sends a kept answer again, audited as `token.refreshed` with `replay: true`.
// Past the window the library sees `consumed` and revokes the grant (audited as reuse in events.ts).
import { grantClaim } from '@clouddocs/kv';
import { calculateJwkThumbprint, decodeProtectedHeader, type JWK } from 'jose';
import Provider, { type KoaContextWithOIDC } from 'oidc-provider';
import type { Context, Next } from 'koa';
import type { Logger } from '@clouddocs/observability';
import { refreshRequestDigest, type RefreshAnswer, type RefreshAnswerLibrary } from '../libraries/refresh-answers';
import { actors, audit } from '../request-scope';

type Ctx = KoaContextWithOIDC & { state: Record<string, unknown>; ip: string };

/** What the storage adapter needs (see adapter.ts). */
export interface RefreshReuseGrace {
  readonly graceSeconds: number;
  /** Whether the request in progress is a refresh with this very token (and the grace is on). */
  presentedNow(tokenId: string): boolean;
  /** The request lost the consume race within the window: whether it will be answered again (it must still stop). */
  answerAgain(tokenId: string): Promise<'answered' | 'other-request' | 'unavailable'>;
}

function isRefresh(ctx: Ctx | undefined): ctx is Ctx {
  return ctx?.oidc?.route === 'token' && ctx.oidc.params?.grant_type === 'refresh_token';
}

/** The refresh request's digest: requested scope and resource, and the key of its DPoP proof (already verified by the provider). */
async function requestOf(ctx: Ctx): Promise<string> {
  let dpopJkt: string | null = null;
  const proof = ctx.get('dpop');
  if (proof) {
    try {
      dpopJkt = await calculateJwkThumbprint(decodeProtectedHeader(proof).jwk as JWK);
    } catch {
      dpopJkt = 'unreadable';
    }
  }
  return refreshRequestDigest({ scope: ctx.oidc.params?.scope, resource: ctx.oidc.params?.resource, dpopJkt });
}

export function createRefreshGrace(deps: { answers: RefreshAnswerLibrary; logger: Logger }) {
  const { answers, logger } = deps;
  /** Requests (koa contexts) that will be answered with a kept answer. */
  const replays = new WeakMap<object, RefreshAnswer>();
  const ambient = () => Provider.ctx as Ctx | undefined;

  const adapterHooks: RefreshReuseGrace = {
    graceSeconds: answers.graceSeconds,
    presentedNow(tokenId) {
      const ctx = ambient();
      return answers.enabled && isRefresh(ctx) && ctx.oidc.params?.refresh_token === tokenId;
    },
    async answerAgain(tokenId) {
      const ctx = ambient();
      if (!isRefresh(ctx)) return 'unavailable';
      const answer = await answers.waitFor(tokenId);
      if (!answer) return 'unavailable';
      // The library has already refused another client ("client mismatch"); this holds regardless.
      if (answer.clientId !== ctx.oidc.client?.clientId || answer.request !== (await requestOf(ctx))) return 'other-request';
      replays.set(ctx, answer);
      return 'answered';
    },
  };

  async function keepFirstAnswer(ctx: Ctx): Promise<void> {
    const used = ctx.oidc.entities.RotatedRefreshToken;
    const body = ctx.body as Record<string, unknown> | undefined;
    if (ctx.status !== 200 || !used?.jti || !body || typeof body.access_token !== 'string') return;
    type TokenModel = { jti?: string; resourceServer?: { accessTokenFormat?: string } };
    const accessToken = (ctx.oidc.entities as { AccessToken?: TokenModel }).AccessToken;
    const answer: RefreshAnswer = {
      clientId: ctx.oidc.client!.clientId,
      request: await requestOf(ctx),
      grantId: ctx.oidc.entities.Grant?.jti ?? used.grantId ?? null,
      accountId: ctx.oidc.account?.accountId ?? null,
      body,
      answeredAt: Date.now(),
      accessTokenJti: accessToken?.resourceServer?.accessTokenFormat === 'jwt' ? (accessToken.jti ?? null) : null,
    };
    try {
      await answers.keep(used.jti, answer);
    } catch (err) {
      // The answer itself is good; only a retry of it will not be answered again (nor revoke anything).
      logger.warn({ err: (err as Error).message }, 'could not keep a refresh answer for the reuse grace window');
    }
  }

  function answerAgain(ctx: Ctx, answer: RefreshAnswer): void {
    const body = answers.again(answer);
    // Audited before it leaves, like the first answer (audit-commit), and told apart from it.
    audit(ctx, {
      action: 'token.refreshed',
      actor: answer.accountId ? actors.user(answer.accountId) : actors.client(answer.clientId),
      target: answer.grantId ? { type: 'grant', id: grantClaim(answer.grantId) } : { type: 'client', id: answer.clientId },
      outcome: 'success',
      detail: {
        clientId: answer.clientId,
        grantType: 'refresh_token',
        scope: typeof body.scope === 'string' ? body.scope : null,
        format: answer.accessTokenJti ? 'jwt' : 'opaque',
        ...(answer.accessTokenJti ? { jti: answer.accessTokenJti } : {}),
        issued: ['access', ...(typeof body.refresh_token === 'string' ? ['refresh'] : []), ...(typeof body.id_token === 'string' ? ['id'] : [])],
        replay: true,
      },
    });
    ctx.remove('WWW-Authenticate');
    ctx.set('Cache-Control', 'no-store');
    ctx.status = 200;
    ctx.body = body;
  }

  return {
    adapterHooks,
    /** Whether this request is being answered with a kept answer (its provider error is no failure). */
    replaying(ctx: object | undefined): boolean {
      return ctx !== undefined && replays.has(ctx);
    },
    /** For `provider.use`: runs around every provider route, acts on refreshes only. */
    middleware: async (koaCtx: Context, next: Next): Promise<void> => {
      await next();
      const ctx = koaCtx as unknown as Ctx;
      if (!isRefresh(ctx)) return;
      const answer = replays.get(ctx);
      if (answer) return answerAgain(ctx, answer);
      if (answers.enabled) await keepFirstAnswer(ctx);
    },
  };
}

export type RefreshGrace = ReturnType<typeof createRefreshGrace>;
