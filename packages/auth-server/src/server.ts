// The authorization server, composed: libraries built from their stores, oidc-provider on top of
// them, and one table of koa layers, outermost first:
//   request id + metrics → security headers → error boundary → health → audit commit (events
//   committed before the response) → client-auth rate limit → error boundary (so failed requests
//   are still audited and counted) → body reader (bad bytes) → device user-code limit → device
//   polling → a rotated secret's predecessor → admin API → JWT introspection / revocation → pages →
//   registration gate → oidc-provider (its 404 and 500 made consistent). The token endpoint, the
//   busiest path, skips the layers after the body reader that never apply to it.
import type { OrgBinder } from './libraries/org-binding';
import type { Server } from 'node:http';
import compose from 'koa-compose';
import { AuditLog, auditCheckpointOptions, type AuditLogOptions } from '@clouddocs/audit';
import type { AuthConfig } from '@clouddocs/config';
import { watchStoreFailures, type Knex } from '@clouddocs/db';
import { RevocationList, grantClaim, type Kv } from '@clouddocs/kv';
import { Counter, createMetrics, Gauge, Histogram, requestContext, type Logger, type Metrics } from '@clouddocs/observability';
import Koa from 'koa';
import { createAccountLibrary } from './accounts/accounts';
import { argon2ParamsFrom, PasswordHasher } from './accounts/passwords';
import { createLoginThrottle } from './accounts/throttle';
import { createAccountTokenLibrary } from './accounts/tokens';
import { cookieNames } from './constants';
import { errorBoundary } from './errors';
import { createKeyStore, type KeySetState } from './keys/keys';
import { createAccessTokenVerifier } from './libraries/access-tokens';
import { createActivityLibrary } from './libraries/activity';
import { createClientAuthentication } from './libraries/client-authentication';
import { createClientLibrary } from './libraries/clients';
import { createInteractionCsrf, createPageCsrf } from './libraries/csrf';
import { createApiKeyLibrary } from './libraries/api-keys';
import { createBackchannelLogout } from './libraries/backchannel-logout';
import { isLocalIssuer } from './libraries/clients';
import { createRegistrationTokenLibrary } from './libraries/registration-tokens';
import { registrationGate } from './routes/registration';
import { startBackchannelDelivery } from './oidc/backchannel-delivery';
import { createGrantLibrary } from './libraries/grants';
import { createInteractionLibrary } from './libraries/interactions';
import { startKeyRotation } from './libraries/key-rotation';
import { createLimits } from './libraries/limits';
import { createRefreshAnswerLibrary } from './libraries/refresh-answers';
import { createSessionDirectory } from './libraries/sessions';
import { createSignInLibrary } from './libraries/sign-in';
import { createPasskeyLibrary } from './libraries/passkeys';
import { createMailer, type Mailer } from './mail/mailer';
import { adminApi } from './admin';
import { createAdminSteps } from './admin/steps';
import { createClientLifecycle } from './libraries/client-lifecycle';
import { createUserLifecycle } from './libraries/user-lifecycle';
import { auditCommit } from './middleware/audit-commit';
import { previousSecret } from './middleware/previous-secret';
import { clientAuthLimit } from './middleware/client-auth-limit';
import { providerOutcome } from './middleware/provider-outcome';
import { readBody } from './middleware/read-body';
import { securityHeaders } from './middleware/security-headers';
import { createMfaLibrary } from './mfa/totp';
import { createAdapterClass } from './oidc/adapter';
import { buildConfiguration } from './oidc/configuration';
import { wireProviderEvents } from './oidc/events';
import { createRefreshGrace } from './oidc/refresh-grace';
import { LONGEST_ACCESS_TOKEN, LONGEST_SIGNED_TOKEN } from './oidc/ttl';
import { createProviderHost } from './provider-host';
import { createPayloadQueries } from './queries/payloads';
import { actors, auditAmbient } from './request-scope';
import { durableRevocations, pruneRevocationsEvery, REVOCATION_PRUNE_MS } from './libraries/durable-revocations';
import { healthRoutes } from './routes/health';
import { jwtTokenEndpoints } from './routes/jwt-endpoints';
import { pages } from './routes/pages';
import { SecretBox } from './secret-box';
import { providerPages } from './views/provider-pages';
import { devicePages } from './routes/device';
import { userCodeLimit } from './middleware/user-code-limit';
import { devicePolling } from './middleware/device-polling';
// The passkey, TOTP and mail libraries and the common-password dictionary load lazily for the operator CLI
// (passkeys.ts, totp.ts, mailer.ts, policy.ts); the server loads them here, at start, so that no sign-in
// or enrolment waits for them.
import '@simplewebauthn/server';
import '@zxcvbn-ts/language-common';
import 'nodemailer';
import 'otplib';
import 'qrcode';

export interface AuthServerDeps {
  config: AuthConfig;
  knex: Knex;
  kv: Kv;
  logger: Logger;
  metrics?: Metrics;
  audit?: AuditLog;
  mailer?: Mailer;
  /** Binds a machine client to an organization in the docs API's schema (admin API `org_id`/`role`). */
  bindClientToOrg?: OrgBinder;
}

export interface AuthServer {
  app: Koa;
  provider(): import('oidc-provider').default;
  keys(): KeySetState;
  /** Reloads the signing keys now (otherwise every AUTH_KEY_REFRESH_SECONDS). */
  refreshKeys(): Promise<boolean>;
  audit: AuditLog;
  metrics: Metrics;
  listen(port?: number, host?: string): Promise<Server>;
  close(): Promise<void>;
  setReady(ready: boolean): void;
}

function auditMetrics(metrics: Metrics): AuditLogOptions {
  const depth = new Gauge({ name: 'audit_queue_depth', help: 'Audit events waiting for group commit', registers: [metrics.registry] });
  const commit = new Histogram({ name: 'audit_commit_seconds', help: 'Audit group commit latency', buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers: [metrics.registry] });
  return { onCommit: (_rows, seconds) => commit.observe(seconds), onQueueDepth: (d) => depth.set(d) };
}

export async function createAuthServer(deps: AuthServerDeps): Promise<AuthServer> {
  const { config, knex, kv, logger } = deps;
  watchStoreFailures(knex); // a connection lost under a query is an outage (503), not a fault (see errors.ts)
  const https = config.AUTH_ISSUER.startsWith('https:');
  const cookies = cookieNames(https);
  const metrics = deps.metrics ?? createMetrics('auth-server');
  const tokensIssued = new Counter({ name: 'oauth_tokens_issued_total', help: 'Tokens issued by grant type', labelNames: ['grant_type'] as const, registers: [metrics.registry] });
  const loginOutcomes = new Counter({ name: 'auth_login_total', help: 'Sign-in attempts by outcome', labelNames: ['outcome'] as const, registers: [metrics.registry] });
  const audit = deps.audit ?? (await AuditLog.open(knex, 'auth-server', { ...auditMetrics(metrics), checkpoints: await auditCheckpointOptions(config, logger) }));

  // Stores and rules.
  const box = SecretBox.fromConfig(config);
  const payloads = createPayloadQueries(knex);
  const accounts = createAccountLibrary({ knex, hasher: new PasswordHasher(argon2ParamsFrom(config)) });
  const clients = createClientLibrary({ knex, box, issuer: config.AUTH_ISSUER });
  const registrationTokens = createRegistrationTokenLibrary({ knex });
  const keyStore = createKeyStore({ knex, box, retainSeconds: LONGEST_SIGNED_TOKEN + 60 });
  if (await keyStore.ensure()) logger.info('created the first signing key set');
  const revocations = new RevocationList(kv, LONGEST_ACCESS_TOKEN + 60, durableRevocations(knex), (err) =>
    logger.warn({ err: err.message }, 'could not reload the revocation list; retrying'),
  );
  await revocations.follow();
  const stopPruning = pruneRevocationsEvery(knex, logger, REVOCATION_PRUNE_MS);
  const throttle = createLoginThrottle(kv);
  const mfa = createMfaLibrary({ knex, kv, box, pepperKey: config.AUTH_ENCRYPTION_KEY_PREVIOUS ?? config.AUTH_ENCRYPTION_KEY });
  const passkeys = createPasskeyLibrary({ knex, kv, issuer: config.AUTH_ISSUER });

  // oidc-provider on those stores; its pages and events plug in through callbacks.
  let host: ReturnType<typeof createProviderHost> | undefined;
  const provider = () => host!.provider();
  let delivery: ReturnType<typeof startBackchannelDelivery> | undefined;
  const backchannel = createBackchannelLogout({ knex, clients, onEnqueued: () => delivery?.kick() });
  const interactions = createInteractionLibrary({ provider });
  const grants = createGrantLibrary({ payloads, kv, revocations, clientName: (id) => interactions.clientName(id) });
  const refreshGrace = createRefreshGrace({ answers: createRefreshAnswerLibrary({ kv, box, graceSeconds: config.AUTH_REFRESH_REUSE_GRACE_SECONDS }), logger });
  const Adapter = createAdapterClass({
    payloads,
    kv,
    clients,
    registrationTokens,
    refreshGrace: refreshGrace.adapterHooks,
    async onReuse(model, grantId) {
      if (!grantId) return;
      await grants.revokeGrant(grantId);
      auditAmbient(undefined, { action: 'token.reuse_detected', actor: actors.system(), target: { type: 'grant', id: grantClaim(grantId) }, outcome: 'denied', detail: { model, reason: 'concurrent redemption' } });
    },
  });
  host = createProviderHost({
    config,
    logger,
    keyStore,
    keys: await keyStore.load(),
    configure: (keys) => buildConfiguration({ config, accounts, adapter: Adapter, keys, rememberedGrant: grants.rememberedGrantId, pages: { ...providerPages, device: { userCodeInputSource: devicePages.userCodeInput, userCodeConfirmSource: devicePages.userCodeConfirm, successSource: devicePages.success } } }),
    wire: (p) => {
      wireProviderEvents(p, { grants, logger, onTokenIssued: (g) => tokensIssued.inc({ grant_type: g }), replaying: refreshGrace.replaying });
      p.use(refreshGrace.middleware);
      // RP-initiated logout: oidc-provider asks each client to deliver its logout token itself, at once
      // and only once; the delivery is queued instead (durable, retried, audited: oidc/backchannel-delivery).
      (p.Client.prototype as unknown as { backchannelLogout(sub: string, sid?: string): Promise<void> }).backchannelLogout = async function (this: { clientId: string }, sub, sid) {
        await backchannel.enqueue([{ clientId: this.clientId, sub, sid }], 'rp_logout');
      };
    },
  });

  const mailer = deps.mailer ?? createMailer({ config, logger });
  const sessions = createSessionDirectory({ provider, kv, onEnded: backchannel.sessionEnded });
  delivery = startBackchannelDelivery({
    queries: backchannel.queries,
    provider,
    audit,
    logger,
    timeoutSeconds: config.AUTH_BACKCHANNEL_TIMEOUT_SECONDS,
    attempts: config.AUTH_BACKCHANNEL_ATTEMPTS,
    retrySeconds: config.AUTH_BACKCHANNEL_RETRY_SECONDS,
    allowInternal: isLocalIssuer(config.AUTH_ISSUER),
  });
  const tokens = createAccountTokenLibrary({ knex });
  const stopKeyRotation = startKeyRotation({
    keyStore,
    audit,
    logger,
    rotationDays: config.AUTH_KEY_ROTATION_DAYS,
    activationDelaySeconds: config.AUTH_KEY_ACTIVATION_DELAY_SECONDS,
    refreshKeys: () => host!.refreshKeys(),
  });
  const users = createUserLifecycle({ accounts, sessions, grants, payloads, revocations, mfa, passkeys, tokens, mailer, issuer: config.AUTH_ISSUER });
  const clientLifecycle = createClientLifecycle({ clients, payloads, grants, revocations, kv });
  const apiKeys = createApiKeyLibrary({ knex, revocations });
  const limits = createLimits(kv);
  const pageDeps = {
    provider,
    issuer: config.AUTH_ISSUER,
    https,
    kv,
    logger,
    accounts,
    throttle,
    signIn: createSignInLibrary({ accounts, throttle, mfa, passkeys, kv, onOutcome: (outcome) => loginOutcomes.inc({ outcome }) }),
    interactions,
    grants,
    apiKeys,
    sessions,
    mfa,
    passkeys,
    tokens,
    mailer,
    interactionCsrf: createInteractionCsrf({ cookieKey: config.AUTH_COOKIE_KEYS[0]!, interactionCookie: cookies.interaction }),
    pageCsrf: createPageCsrf({ cookieKey: config.AUTH_COOKIE_KEYS[0]!, cookieName: cookies.csrf, https }),
    limits,
    accountStateCookie: cookies.accountState,
    users,
    activity: createActivityLibrary({ knex }),
    adminConsole: { clients, clientLifecycle, keyStore, knex, activationDelaySeconds: config.AUTH_KEY_ACTIVATION_DELAY_SECONDS, refreshKeys: () => host!.refreshKeys() },
  };

  const accessTokens = createAccessTokenVerifier({ keys: () => host!.keys(), issuer: config.AUTH_ISSUER });
  const admin = adminApi({
    clients: { clients, lifecycle: clientLifecycle, knex, audit, ...(deps.bindClientToOrg ? { bindToOrg: deps.bindClientToOrg } : {}) },
    registrationTokens: { tokens: registrationTokens },
    users: { users, apiKeys },
    keysAndAudit: { knex, keyStore, activationDelaySeconds: config.AUTH_KEY_ACTIVATION_DELAY_SECONDS, refreshKeys: () => host!.refreshKeys() },
    steps: createAdminSteps({ tokens: accessTokens, revocations, audience: config.ADMIN_API_AUDIENCE }),
    issuer: config.AUTH_ISSUER,
    audience: config.ADMIN_API_AUDIENCE,
  });
  let accepting = true;
  const certificateHeaders = { trustProxy: config.AUTH_TRUST_PROXY, certHeader: config.AUTH_MTLS_CERT_HEADER, verifyHeader: config.AUTH_MTLS_VERIFY_HEADER };
  const app = new Koa({ proxy: config.AUTH_TRUST_PROXY });
  // koa-mount runs the provider's middleware on this app's context, so its signed cookies need these keys.
  app.keys = [...config.AUTH_COOKIE_KEYS];
  const polling = devicePolling(kv);
  const overlap = previousSecret({ provider, clients, kv, logger });
  const oidc = providerOutcome(() => host!.handler());
  const layers: Koa.Middleware[] = [
    requestContext({ logger, metrics, routeOf: routeTemplate }) as Koa.Middleware,
    securityHeaders({ https }),
    errorBoundary(logger),
    healthRoutes({ knex, kv, metrics, accepting: () => accepting }),
    auditCommit(audit, logger),
    clientAuthLimit(kv),
    errorBoundary(logger),
    readBody(),
    tokenEndpointFirst(compose<Koa.Context>([polling, overlap, oidc]), compose<Koa.Context>([
      userCodeLimit(pageDeps.limits),
      polling,
      overlap,
      admin,
      jwtTokenEndpoints({
        tokens: accessTokens,
        revocations,
        clientAuthentication: createClientAuthentication({ provider, kv, issuer: config.AUTH_ISSUER }),
        issuer: config.AUTH_ISSUER,
        certificates: certificateHeaders,
      }),
      pages(pageDeps),
      registrationGate({ provider, tokens: registrationTokens, lifecycle: clientLifecycle, limits, issuer: config.AUTH_ISSUER }),
      oidc,
    ])),
  ];
  for (const layer of layers) app.use(layer);

  let server: Server | undefined;
  return {
    app,
    provider,
    keys: () => host!.keys(),
    refreshKeys: () => host!.refreshKeys(),
    audit,
    metrics,
    setReady(value: boolean) {
      accepting = value;
    },
    listen(port = config.AUTH_PORT, hostname?: string) {
      return new Promise((resolve, reject) => {
        const s = app.listen(port, hostname, () => resolve(s));
        s.once('error', reject);
        s.keepAliveTimeout = 65_000;
        server = s;
      });
    },
    async close() {
      accepting = false;
      host!.stop();
      stopKeyRotation();
      await delivery?.stop();
      stopPruning();
      revocations.stop();
      if (server) {
        await new Promise<void>((resolve) => {
          server!.close(() => resolve());
          server!.closeIdleConnections();
        });
      }
      // The log this server opened is closed (its chain signed a last time); one it was given is only flushed.
      if (deps.audit) await audit.flush();
      else await audit.close();
    },
  };
}

/**
 * `/token` exactly (oidc-provider's spelling) goes through `token`: the user-code limit, admin API, JWT
 * front, pages and registration gate each serve other paths only. Any other path, and any other
 * spelling of this one, goes through `rest`, every layer.
 */
function tokenEndpointFirst(token: Koa.Middleware, rest: Koa.Middleware): Koa.Middleware {
  return (ctx, next) => (ctx.path === '/token' ? token(ctx, next) : rest(ctx, next));
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
