// The authorization server: oidc-provider on koa, with its stores, keys, interactions, audit and
// the JWT introspection/revocation front. Layers, outermost first: request id + metrics, security
// headers, error boundary, health, audit scope (events committed before the response), credential
// rate limits, JWT introspection/revocation, interaction pages, oidc-provider.
import type { Server } from 'node:http';
import { AuditLog, type AuditLogOptions } from '@clouddocs/audit';
import type { AuthConfig } from '@clouddocs/config';
import type { Knex } from '@clouddocs/db';
import { RevocationList, type Kv } from '@clouddocs/kv';
import { Counter, createMetrics, Gauge, Histogram, requestContext, type Logger, type Metrics } from '@clouddocs/observability';
import Koa, { type Context, type Next } from 'koa';
import mount from 'koa-mount';
import Provider from 'oidc-provider';
import { createAccountLibrary } from './accounts/accounts';
import { argon2ParamsFrom, PasswordHasher } from './accounts/passwords';
import { createLoginThrottle } from './accounts/throttle';
import { auditScope, queueAmbientAudit } from './audit-scope';
import { createClientLibrary } from './clients/clients';
import { securityHeaders } from './http/security-headers';
import { createAccountSecurity } from './account';
import { FormError } from './interactions/routes';
import { messageView, renderPage } from './interactions/views';
import { createKeyStore, type KeySetState } from './keys/keys';
import { createAdapterClass, findRememberedGrantId, revokeGrantInStores } from './oidc/adapter';
import { buildConfiguration } from './oidc/configuration';
import { wireProviderEvents } from './oidc/events';
import { jwtTokenEndpoints } from './oidc/jwt-endpoints';
import { LONGEST_ACCESS_TOKEN, LONGEST_SIGNED_TOKEN } from './oidc/ttl';
import { SecretBox } from './secret-box';
import { grantClaim } from '@clouddocs/kv';

export interface AuthServerDeps {
  config: AuthConfig;
  knex: Knex;
  kv: Kv;
  logger: Logger;
  metrics?: Metrics;
  audit?: AuditLog;
}

export interface AuthServer {
  app: Koa;
  provider(): Provider;
  keys(): KeySetState;
  /** Reloads the signing keys now (otherwise every AUTH_KEY_REFRESH_SECONDS). */
  refreshKeys(): Promise<boolean>;
  audit: AuditLog;
  metrics: Metrics;
  listen(port?: number, host?: string): Promise<Server>;
  close(): Promise<void>;
  setReady(ready: boolean): void;
}

export async function createAuthServer(deps: AuthServerDeps): Promise<AuthServer> {
  const { config, knex, kv, logger } = deps;
  const metrics = deps.metrics ?? createMetrics('auth-server');
  const box = new SecretBox(config.AUTH_ENCRYPTION_KEY);
  const hasher = new PasswordHasher(argon2ParamsFrom(config));
  const accounts = createAccountLibrary({ knex, hasher });
  const clients = createClientLibrary({ knex, box, issuer: config.AUTH_ISSUER });
  const keyStore = createKeyStore({ knex, box, retainSeconds: LONGEST_SIGNED_TOKEN + 60 });
  if (await keyStore.ensure()) logger.info('created the first signing key set');

  const tokensIssued = new Counter({ name: 'oauth_tokens_issued_total', help: 'Tokens issued by grant type', labelNames: ['grant_type'] as const, registers: [metrics.registry] });
  const loginOutcomes = new Counter({ name: 'auth_login_total', help: 'Sign-in attempts by outcome', labelNames: ['outcome'] as const, registers: [metrics.registry] });
  const auditDepth = new Gauge({ name: 'audit_queue_depth', help: 'Audit events waiting for group commit', registers: [metrics.registry] });
  const auditCommit = new Histogram({ name: 'audit_commit_seconds', help: 'Audit group commit latency', buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers: [metrics.registry] });
  const auditOptions: AuditLogOptions = { onCommit: (_rows, seconds) => auditCommit.observe(seconds), onQueueDepth: (d) => auditDepth.set(d) };
  const audit = deps.audit ?? (await AuditLog.open(knex, 'auth-server', auditOptions));

  const revocations = new RevocationList(kv, LONGEST_ACCESS_TOKEN + 60);
  await revocations.follow();

  const Adapter = createAdapterClass({
    knex,
    kv,
    clients,
    async onReuse(model, grantId) {
      if (!grantId) return;
      await revokeGrantInStores({ knex, kv }, grantId);
      await revocations.revoke('grant', grantClaim(grantId));
      queueAmbientAudit({
        action: 'token.reuse_detected',
        actor: { type: 'system', id: null },
        target: { type: 'grant', id: grantClaim(grantId) },
        outcome: 'denied',
        detail: { model, reason: 'concurrent redemption' },
      });
    },
  });

  let keys = await keyStore.load();
  const build = (state: KeySetState) => {
    const provider = new Provider(config.AUTH_ISSUER, buildConfiguration({ config, accounts, adapter: Adapter, keys: state, rememberedGrant: (a, c) => findRememberedGrantId(kv, a, c) }));
    provider.proxy = config.AUTH_TRUST_PROXY;
    wireProviderEvents(provider, { revocations, logger, onTokenIssued: (g) => tokensIssued.inc({ grant_type: g }) });
    return { provider, handler: mount(provider as unknown as Koa) };
  };
  let current = build(keys);

  async function refreshKeys(): Promise<boolean> {
    const next = await keyStore.load();
    if (next.fingerprint === keys.fingerprint) {
      keys = { ...keys, validUntil: next.validUntil };
      return false;
    }
    keys = next;
    current = build(next);
    logger.info({ active: next.active }, 'signing keys changed');
    return true;
  }
  const refresher = setInterval(() => {
    refreshKeys().catch((err) => logger.error({ err: (err as Error).message }, 'could not reload signing keys'));
  }, config.AUTH_KEY_REFRESH_SECONDS * 1000);
  refresher.unref();

  const https = config.AUTH_ISSUER.startsWith('https:');
  const app = new Koa({ proxy: config.AUTH_TRUST_PROXY });
  // koa-mount runs the provider's middleware on this app's context, so its signed cookies need these keys.
  app.keys = [...config.AUTH_COOKIE_KEYS];
  let ready = true;

  app.use(requestContext({ logger, metrics, routeOf: routeTemplate }));
  app.use(securityHeaders({ https }));
  app.use(errorBoundary(logger));

  // Health first: outside audit and rate limits.
  app.use(async (ctx, next) => {
    if (ctx.method !== 'GET') return next();
    if (ctx.path === '/healthz') {
      ctx.body = { status: 'ok' };
      return;
    }
    if (ctx.path === '/readyz') {
      const [database, cache] = await Promise.all([
        knex.raw('SELECT 1').then(() => true, () => false),
        kv.ping(),
      ]);
      ctx.status = ready && database && cache ? 200 : 503;
      ctx.body = { status: ctx.status === 200 ? 'ready' : 'unavailable', database, cache, accepting: ready };
      return;
    }
    if (ctx.path === '/metrics') {
      ctx.type = metrics.registry.contentType;
      ctx.body = await metrics.registry.metrics();
      return;
    }
    return next();
  });

  app.use(async (ctx, next) => {
    ctx.state.pending = [];
    ctx.state.logger = logger;
    await next();
  });
  app.use(auditScope(audit, logger));
  app.use(async (ctx, next) => {
    // Async work started by provider event listeners (revocations) finishes before the response.
    await next();
    const pending = ctx.state.pending as Promise<unknown>[];
    if (pending.length) await Promise.all(pending);
  });
  app.use(credentialRateLimit(kv));
  const jwtEndpoints = jwtTokenEndpoints({ provider: () => current.provider, keys: () => keys, revocations, issuer: config.AUTH_ISSUER });
  app.use(jwtEndpoints({ introspection: '/token/introspection', revocation: '/token/revocation' }));

  const throttle = createLoginThrottle(kv);
  const { interactions, account } = createAccountSecurity({ config, knex, kv, logger, provider: () => current.provider, accounts, throttle, revocations });
  app.use(async (ctx, next) => {
    await next();
    if (ctx.path.endsWith('/login') && ctx.method === 'POST' && ctx.path.startsWith('/interaction/')) {
      loginOutcomes.inc({ outcome: ctx.status === 303 ? 'success' : ctx.status === 429 ? 'throttled' : 'failure' });
    }
  });
  // The page routers only see their own paths: the token endpoint and the other protocol endpoints
  // go straight on to oidc-provider without route matching on the way.
  const PAGE_PATHS = /^\/(interaction\/|account(\/|$)|reset-password(\/|$)|verify-email(\/|$))/;
  for (const pages of [interactions.routes(), interactions.allowedMethods(), account.routes(), account.allowedMethods()] as Koa.Middleware[]) {
    app.use((ctx, next) => (PAGE_PATHS.test(ctx.path) ? pages(ctx, next) : next()));
  }
  app.use(async (ctx, next) => {
    await current.handler(ctx, next);
    if (ctx.status === 404 && (ctx.body === undefined || ctx.body === null || ctx.body === 'Not Found')) {
      ctx.status = 404;
      ctx.body = { error: 'not_found', error_description: 'no such endpoint; discovery at /.well-known/openid-configuration lists them' };
    }
    // oidc-provider answers a failing store (database or cache down) with 500 server_error; that is
    // an outage, not a bug in the request: 503 with Retry-After, and no stack or detail.
    if (ctx.status === 500) {
      ctx.status = 503;
      ctx.set('Retry-After', '5');
      ctx.set('Cache-Control', 'no-store');
      if (ctx.response.is('html')) {
        renderPage(ctx, 'Unavailable', messageView('Temporarily unavailable', 'Please try again in a moment.'), 503);
      } else {
        ctx.body = { error: 'temporarily_unavailable', error_description: 'the service is temporarily unavailable' };
      }
    }
  });

  let server: Server | undefined;
  return {
    app,
    provider: () => current.provider,
    keys: () => keys,
    refreshKeys,
    audit,
    metrics,
    setReady(value: boolean) {
      ready = value;
    },
    listen(port = config.AUTH_PORT, host?: string) {
      return new Promise((resolve, reject) => {
        const s = app.listen(port, host, () => resolve(s));
        s.once('error', reject);
        s.keepAliveTimeout = 65_000;
        server = s;
      });
    },
    async close() {
      ready = false;
      clearInterval(refresher);
      if (server) {
        await new Promise<void>((resolve) => {
          server!.close(() => resolve());
          server!.closeIdleConnections();
        });
      }
      await audit.flush();
    },
  };
}

/** A bounded set of metric labels: route templates, not raw paths. */
function routeTemplate(ctx: { path: string }): string {
  const p = ctx.path;
  if (p.startsWith('/interaction/')) return p.replace(/^\/interaction\/[^/]+/, '/interaction/:uid');
  if (p.startsWith('/auth/')) return '/auth/:uid';
  if (p.startsWith('/session/end')) return '/session/end';
  const known = ['/.well-known/openid-configuration', '/auth', '/token', '/token/introspection', '/token/revocation', '/me', '/jwks', '/healthz', '/readyz', '/metrics'];
  return known.includes(p) ? p : 'other';
}

function errorBoundary(logger: Logger) {
  return async (ctx: Context, next: Next) => {
    try {
      await next();
    } catch (err) {
      if (err instanceof FormError) {
        renderPage(ctx, 'Sign in', messageView('Request not accepted', err.message), err.status);
        return;
      }
      const status = (err as { status?: number; expose?: boolean }).expose ? ((err as { status: number }).status ?? 500) : 500;
      if (status >= 500) logger.error({ err: (err as Error).message, stack: (err as Error).stack, path: ctx.path }, 'unhandled error');
      const unavailable = status >= 500;
      if (ctx.path.startsWith('/interaction/') || ctx.accepts('html', 'json') === 'html') {
        renderPage(
          ctx,
          unavailable ? 'Unavailable' : 'Error',
          messageView(unavailable ? 'Temporarily unavailable' : 'Request not accepted', unavailable ? 'Please try again in a moment.' : (err as Error).message),
          unavailable ? 503 : status,
        );
      } else {
        ctx.status = unavailable ? 503 : status;
        ctx.body = unavailable
          ? { error: 'temporarily_unavailable', error_description: 'the service is temporarily unavailable' }
          : { error: 'invalid_request', error_description: (err as Error).message };
      }
    }
  };
}

/**
 * Failed client authentication at the token, introspection and revocation endpoints is counted per
 * IP in the shared cache; past the limit the endpoint answers 429 until the window ends. The block is
 * announced over pub/sub so every process refuses the address from its memory: a successful request
 * costs no cache round trip.
 */
function credentialRateLimit(kv: Kv) {
  const POINTS = 30;
  const WINDOW_SECONDS = 600;
  const CHANNEL = 'client-auth-blocked';
  const limiter = kv.rateLimiter({ keyPrefix: 'client-auth-fail', points: POINTS, duration: WINDOW_SECONDS });
  const guarded = new Set(['/token', '/token/introspection', '/token/revocation']);
  const blockedUntil = new Map<string, number>();
  const block = (ip: string, until: number) => {
    blockedUntil.set(ip, Math.max(blockedUntil.get(ip) ?? 0, until));
    if (blockedUntil.size > 10_000) for (const [k, v] of blockedUntil) if (v <= Date.now()) blockedUntil.delete(k);
  };
  void kv
    .subscribe(CHANNEL, (message) => {
      try {
        const { ip, until } = JSON.parse(message) as { ip: string; until: number };
        if (typeof ip === 'string' && typeof until === 'number') block(ip, until);
      } catch {
        // malformed: ignored
      }
    })
    .catch(() => undefined);
  return async (ctx: Context, next: Next) => {
    if (ctx.method !== 'POST' || !guarded.has(ctx.path)) return next();
    const until = blockedUntil.get(ctx.ip);
    if (until !== undefined && until > Date.now()) {
      const retry = Math.ceil((until - Date.now()) / 1000);
      ctx.status = 429;
      ctx.set('Retry-After', String(retry));
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { error: 'invalid_request', error_description: `too many failed client authentications; retry in ${retry} s` };
      return;
    }
    await next();
    if (ctx.status !== 401) return;
    const state = await limiter.penalty(ctx.ip, 1).catch(() => undefined);
    if (state && state.consumedPoints >= POINTS) {
      const blockUntil = Date.now() + state.msBeforeNext;
      block(ctx.ip, blockUntil);
      await kv.publish(CHANNEL, JSON.stringify({ ip: ctx.ip, until: blockUntil })).catch(() => undefined);
    }
  };
}
