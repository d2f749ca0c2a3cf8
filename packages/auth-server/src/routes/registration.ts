// Dynamic client registration (RFC 7591) and its management (RFC 7592), in front of oidc-provider's
// own endpoints (`features.registration`, `features.registrationManagement`):
// - POST /reg: rate limited per IP; needs an initial access token (none: 401; unknown, used up, expired
//   or revoked: 401 invalid_token), one of whose uses it takes (given back when no client results);
//   the metadata is checked by the rules every client follows (libraries/clients.ts: redirect URIs,
//   grants, auth methods, scopes; never admin:*, never client_credentials) and handed to the provider
//   normalised, so what it registers is exactly what the rules allow;
// - PUT /reg/:clientId: the same rules for a change, once the registration access token is the client's;
// - DELETE /reg/:clientId: after the provider's 204, the client's grants and tokens die with it.
// Every registration, refusal, change and deletion is audited.
import type { Actor } from '@clouddocs/audit';
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import { ClientMetadataError, RegistrationTokenRequiredError } from '../errors';
import type { ClientLifecycle } from '../libraries/client-lifecycle';
import { ClientError, clientMetadata, registrationInput } from '../libraries/clients';
import type { Limits } from '../libraries/limits';
import type { RegistrationTokenLibrary } from '../libraries/registration-tokens';
import { actors, audit } from '../request-scope';

export interface RegistrationState {
  /** The initial access token whose use this registration took (read by the storage adapter). */
  registrationTokenId?: string;
}

const bearer = (ctx: Context) => /^Bearer\s+(\S+)$/i.exec(ctx.get('authorization'))?.[1];

function jsonBody(ctx: Context): Record<string, unknown> {
  const raw = (ctx.request as { body?: unknown }).body;
  let value: unknown;
  try {
    value = typeof raw === 'string' ? JSON.parse(raw) : raw;
  } catch {
    value = undefined;
  }
  if (!ctx.is('application/json') || !value || typeof value !== 'object' || Array.isArray(value)) throw new ClientMetadataError('invalid_client_metadata', 'the body must be a JSON object (application/json)');
  return value as Record<string, unknown>;
}

export function registrationGate(deps: { provider: () => Provider; tokens: RegistrationTokenLibrary; lifecycle: ClientLifecycle; limits: Limits; issuer: string }) {
  /** The client's metadata by the rules, as the JSON the provider registers; ClientMetadataError otherwise. */
  function normalised(ctx: Context, body: Record<string, unknown>, actor: Actor, clientId: string | null): Record<string, unknown> {
    try {
      return { ...clientMetadata(registrationInput(body), deps.issuer) };
    } catch (err) {
      if (!(err instanceof ClientError)) throw err;
      audit(ctx, { action: 'client.registration_refused', actor, target: clientId ? { type: 'client', id: clientId } : null, outcome: 'failure', detail: { error: err.registrationError, reason: err.message } });
      throw new ClientMetadataError(err.registrationError, err.message);
    }
  }

  async function register(ctx: Context, next: Next): Promise<void> {
    await deps.limits.take('registrationsPerIp', ctx.ip);
    const token = bearer(ctx);
    const tokenId = token ? await deps.tokens.takeUse(token) : undefined;
    if (!tokenId) {
      audit(ctx, { action: 'client.registration_refused', actor: actors.anonymous(), target: null, outcome: 'denied', detail: { error: 'invalid_token', tokenSent: Boolean(token) } });
      throw new RegistrationTokenRequiredError(Boolean(token));
    }
    let registered = false;
    try {
      const rules = normalised(ctx, jsonBody(ctx), actors.anonymous(), null);
      (ctx.request as { body?: unknown }).body = JSON.stringify(rules);
      (ctx.state as RegistrationState).registrationTokenId = tokenId;
      await next();
      registered = ctx.status === 201;
    } finally {
      if (!registered) await deps.tokens.giveBackUse(tokenId);
    }
    const client = ctx.body as { client_id: string; client_name?: string; grant_types?: string[]; token_endpoint_auth_method?: string };
    audit(ctx, { action: 'client.registered', actor: actors.client(client.client_id), target: { type: 'client', id: client.client_id }, outcome: 'success', detail: { registration_token: tokenId, name: client.client_name ?? null, grants: client.grant_types ?? [], public: client.token_endpoint_auth_method === 'none' } });
  }

  /** The client the registration access token belongs to, when it is `clientId` (else the provider answers 401). */
  async function tokenHolder(ctx: Context, clientId: string): Promise<boolean> {
    const token = bearer(ctx);
    const rat = token ? await deps.provider().RegistrationAccessToken.find(token) : undefined;
    return rat?.clientId === clientId;
  }

  async function update(ctx: Context, next: Next, clientId: string): Promise<void> {
    if (!(await tokenHolder(ctx, clientId))) return next();
    const body = jsonBody(ctx);
    const rules = normalised(ctx, body, actors.client(clientId), clientId);
    // RFC 7592 §2.2: client_id (and client_secret, if sent) must match; the provider checks them.
    (ctx.request as { body?: unknown }).body = JSON.stringify({ ...rules, client_id: body.client_id, ...(body.client_secret !== undefined ? { client_secret: body.client_secret } : {}) });
    await next();
    if (ctx.status !== 200) return;
    await deps.lifecycle.announce(clientId);
    audit(ctx, { action: 'client.updated', actor: actors.client(clientId), target: { type: 'client', id: clientId }, outcome: 'success', detail: { route: 'registration' } });
  }

  async function remove(ctx: Context, next: Next, clientId: string): Promise<void> {
    await next();
    if (ctx.status !== 204) return;
    const outcome = await deps.lifecycle.remove(actors.client(clientId), clientId);
    if (outcome) audit(ctx, { ...outcome.event, detail: { ...outcome.event.detail, route: 'registration' } });
  }

  return async (ctx: Context, next: Next) => {
    // Matched as oidc-provider's router matches: ASCII case-insensitive, one trailing slash allowed.
    const path = ctx.path.length > 1 && ctx.path.endsWith('/') ? ctx.path.slice(0, -1) : ctx.path;
    const [root, segment, clientId, ...more] = path.split('/');
    if (root !== '' || !segment || !/^reg$/i.test(segment) || more.length) return next();
    if (clientId === undefined) return ctx.method === 'POST' ? register(ctx, next) : next();
    if (ctx.method === 'PUT') return update(ctx, next, decoded(clientId));
    if (ctx.method === 'DELETE') return remove(ctx, next, decoded(clientId));
    return next();
  };
}

function decoded(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
