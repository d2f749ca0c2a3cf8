// oidc-provider's own events, turned into audit events and revocations (rather than re-deriving
// them). Listeners cannot be awaited by the emitter, so their async work is attached to the request
// and awaited before the response leaves (see middleware/audit-commit).
import type { AuditEvent } from '@clouddocs/audit';
import { grantClaim } from '@clouddocs/kv';
import type { Logger } from '@clouddocs/observability';
import { decodeJwt } from 'jose';
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { GrantLibrary } from '../libraries/grants';
import { auditAmbient, awaitBeforeResponse, scopeOf } from '../request-scope';

type Ctx = KoaContextWithOIDC & { state: Record<string, unknown>; ip: string; get(header: string): string };

function jwtId(token: unknown): string | undefined {
  if (typeof token !== 'string' || token.split('.').length !== 3) return undefined;
  try {
    const jti = decodeJwt(token).jti;
    return typeof jti === 'string' ? jti : undefined;
  } catch {
    return undefined;
  }
}

export function wireProviderEvents(
  provider: Provider,
  deps: {
    grants: GrantLibrary;
    logger: Logger;
    onTokenIssued?: (grantType: string) => void;
    /** Whether a token request is being answered with a refresh's first answer again (refresh-grace.ts). */
    replaying?: (ctx: object) => boolean;
  },
) {
  const { grants, logger } = deps;
  const add = (ctx: Ctx | undefined, event: Omit<AuditEvent, 'requestId' | 'ip' | 'userAgent'>) => {
    auditAmbient(ctx, event);
  };

  provider.on('grant.success', (ctx: Ctx) => {
    const grantType = String(ctx.oidc.params?.grant_type ?? '');
    const body = (ctx.body ?? {}) as Record<string, unknown>;
    const client = ctx.oidc.client;
    const accountId = ctx.oidc.account?.accountId ?? (ctx.oidc.entities as { Grant?: { accountId?: string } }).Grant?.accountId;
    const grantId = (ctx.oidc.entities as { Grant?: { jti?: string } }).Grant?.jti;
    // The access token's id from its model (no need to decode the JWT); opaque tokens keep theirs secret.
    type TokenModel = { jti?: string; resourceServer?: { accessTokenFormat?: string } };
    const entities = ctx.oidc.entities as { AccessToken?: TokenModel; ClientCredentials?: TokenModel };
    const model = entities.AccessToken ?? entities.ClientCredentials;
    const jti = model?.resourceServer?.accessTokenFormat === 'jwt' ? model.jti : jwtId(body.access_token);
    deps.onTokenIssued?.(grantType);
    add(ctx, {
      action: grantType === 'refresh_token' ? 'token.refreshed' : 'token.issued',
      actor: accountId ? { type: 'user', id: accountId } : { type: 'client', id: client?.clientId ?? null },
      target: grantId ? { type: 'grant', id: grantClaim(grantId) } : { type: 'client', id: client?.clientId ?? null },
      outcome: 'success',
      detail: {
        clientId: client?.clientId ?? null,
        grantType,
        scope: typeof body.scope === 'string' ? body.scope : null,
        format: jti ? 'jwt' : 'opaque',
        ...(jti ? { jti } : {}),
        issued: ['access', ...(typeof body.refresh_token === 'string' ? ['refresh'] : []), ...(typeof body.id_token === 'string' ? ['id'] : [])],
      },
    });
  });

  const clientFailure = (endpoint: string) => (ctx: Ctx, err: { error?: string; error_description?: string; status?: number }) => {
    // A refresh within the reuse grace window stops with an error inside the provider and then gets
    // the first answer again, audited as such: no failure to record.
    if (endpoint === 'token' && deps.replaying?.(ctx)) return;
    if (err?.error === 'invalid_client') {
      add(ctx, {
        action: 'client.auth_failed',
        actor: { type: 'anonymous', id: null },
        target: { type: 'client', id: (ctx.oidc?.params?.client_id as string | undefined) ?? ctx.oidc?.client?.clientId ?? null },
        outcome: 'failure',
        detail: { endpoint, error: err.error },
      });
    } else if (endpoint === 'token' && err?.error === 'authorization_pending') {
      // A device polling while the person has not yet answered (RFC 8628 §3.5): no decision to record.
    } else if (endpoint === 'token' && err?.error) {
      add(ctx, {
        action: 'token.issued',
        actor: { type: 'client', id: ctx.oidc?.client?.clientId ?? null },
        target: { type: 'client', id: ctx.oidc?.client?.clientId ?? null },
        outcome: 'failure',
        detail: { grantType: String(ctx.oidc?.params?.grant_type ?? ''), error: err.error, description: err.error_description ?? null },
      });
    }
  };
  provider.on('grant.error', clientFailure('token'));
  provider.on('introspection.error', clientFailure('introspection'));
  provider.on('revocation.error', clientFailure('revocation'));

  provider.on('device_authorization.success', (ctx: Ctx) => {
    const clientId = ctx.oidc.client?.clientId ?? null;
    add(ctx, { action: 'device.authorization_requested', actor: { type: 'client', id: clientId }, target: { type: 'client', id: clientId }, outcome: 'success', detail: { scope: (ctx.oidc.params?.scope as string | undefined) ?? null } });
  });

  provider.on('grant.revoked', (ctx: Ctx, grantId: string) => {
    const duringTokenRequest = ctx?.oidc?.route === 'token';
    awaitBeforeResponse(ctx, grants.listRevoked(grantId));
    add(ctx, {
      action: duringTokenRequest ? 'token.reuse_detected' : 'grant.revoked',
      actor: ctx?.oidc?.client ? { type: 'client', id: ctx.oidc.client.clientId } : { type: 'system', id: null },
      target: { type: 'grant', id: grantClaim(grantId) },
      outcome: duringTokenRequest ? 'denied' : 'success',
      detail: { route: ctx?.oidc?.route ?? null, grantType: (ctx?.oidc?.params?.grant_type as string | undefined) ?? null },
    });
  });

  for (const model of ['access_token', 'refresh_token', 'client_credentials'] as const) {
    (provider.on as (event: string, listener: (token: never) => void) => void)(`${model}.destroyed`, (token: { clientId?: string; grantId?: string; kind?: string }) => {
      auditAmbient(undefined, {
        action: 'token.revoked',
        actor: { type: 'client', id: token.clientId ?? null },
        target: token.grantId ? { type: 'grant', id: grantClaim(token.grantId) } : { type: 'client', id: token.clientId ?? null },
        outcome: 'success',
        detail: { tokenType: model, format: 'opaque' },
      });
    });
  }

  provider.on('end_session.success', (ctx: Ctx) => {
    add(ctx, {
      action: 'auth.logout',
      actor: ctx.oidc.session?.accountId ? { type: 'user', id: ctx.oidc.session.accountId } : { type: 'anonymous', id: null },
      target: { type: 'session', id: null },
      outcome: 'success',
      detail: { clientId: ctx.oidc.client?.clientId ?? null },
    });
  });

  provider.on('server_error', (ctx: Ctx, err: Error) => {
    // The failure behind the provider's 500, for the error module to classify (store outage → 503).
    const scope = scopeOf(ctx);
    if (scope) scope.providerError = err;
    logger.error({ err: err.message, name: err.name, code: (err as { code?: unknown }).code }, 'authorization server error');
  });
}
