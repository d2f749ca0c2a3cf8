// The docs API as a koa app, built from plain dependencies: the database, the audit log, the cache
// (for the revocation feed) and, optionally, a key set in place of the auth server's JWKS.
import type { Server } from 'node:http';
import Router from '@koa/router';
import Koa from 'koa';
import type { JWTVerifyGetKey } from 'jose';
import type { DocsConfig } from '@clouddocs/config';
import type { Knex } from '@clouddocs/db';
import { RevocationList, type Kv } from '@clouddocs/kv';
import { Counter, createLogger, createMetrics, requestContext, type Logger, type Metrics } from '@clouddocs/observability';
import { AuthzCache } from './authz-cache';
import { createApiKeyVerifier } from './api-key-verifier';
import { createCursorCodec } from './cursor';
import { createDpopProofVerifier } from './dpop-proof';
import { watchStoreFailures } from '@clouddocs/db';
import { answerClientError, problemResponses } from './errors';
import { discoveredKeySource, staticKeySource } from './key-source';
import { deferredAuditWriter, type AuditWriter } from './libraries/audit-writer';
import { createDocumentLibrary } from './libraries/documents';
import { createOrganizationLibrary } from './libraries/organizations';
import { authenticate } from './middleware/authenticate';
import { loadCachedMemberships, loadMemberships } from './middleware/load-memberships';
import { createDenialRecorder } from './middleware/record-denial';
import { refuseBadBytes } from './middleware/reject-bad-bytes';
import { requireScope } from './middleware/require-scope';
import { validateBody, validateQuery } from './middleware/validate';
import { auditRoutes } from './routes/audit';
import type { RouteDeps } from './routes/deps';
import { documentRoutes } from './routes/documents';
import { healthRoutes } from './routes/health';
import { memberRoutes } from './routes/members';
import { meRoutes } from './routes/me';
import { buildOpenApi, openApiRoute } from './routes/openapi';
import { orgRoutes } from './routes/orgs';
import { dispatch } from './routes/dispatch';
import { mount, type CommonSteps, type RouteDefinition } from './routes/route';
import { shareRoutes } from './routes/shares';
import { clientCertificateReader } from './client-certificate';
import { durableRevocationReader } from './queries/revocations';
import { createTokenVerifier } from './token-verifier';

/** Revocations are remembered as long as the longest access token lives (the auth server's TTL). */
export const REVOCATION_RETAIN_SECONDS = 600;
/** How long a request waits for the revocation list to be reloaded before it is refused (503). */
const REVOCATION_RELOAD_WAIT_MS = 3_000;

export interface DocsApiDeps {
  config: DocsConfig;
  knex: Knex;
  /** This process's audit chain; when absent, one named 'docs-api' is opened (and closed by close()). */
  audit?: AuditWriter;
  kv: Kv;
  /** Defaults to a list over `kv`; pass one to share it. */
  revocations?: RevocationList;
  /** Verification keys; defaults to the JWKS that AUTH_ISSUER's discovery names. */
  jwks?: JWTVerifyGetKey;
  logger?: Logger;
  metrics?: Metrics;
  /** How long the authorization cache may use an entry that no change has invalidated (default 5 s). */
  authzCacheTtlMs?: number;
}

export interface DocsApi {
  app: Koa;
  router: Router;
  routes: RouteDefinition[];
  /** The authorization cache of reads (memberships, documents, shares). */
  authz: AuthzCache;
  /** Resolves once the auth server keys are loaded and the revocation feed is followed. */
  ready(): Promise<void>;
  isReady(): boolean;
  /** An HTTP server for the app whose requests Node's parser refuses are answered as problem+json too. */
  listen(port: number, host: string): Server;
  /** Graceful shutdown, step one: /readyz answers 503 so load balancers stop sending; requests still work. */
  drain(): void;
  close(): Promise<void>;
}

export function createDocsApi(deps: DocsApiDeps): DocsApi {
  const { config, knex, kv } = deps;
  watchStoreFailures(knex);
  const ownAudit = deps.audit ? undefined : deferredAuditWriter(knex, 'docs-api');
  const audit: AuditWriter = deps.audit ?? ownAudit!;
  const logger = deps.logger ?? createLogger({ level: config.LOG_LEVEL, name: 'docs-api' });
  const metrics = deps.metrics ?? createMetrics('docs-api');
  // The cache is the fast path; PostgreSQL's copy refills it after a restart or failover left it empty.
  const revocations =
    deps.revocations ??
    new RevocationList(kv, REVOCATION_RETAIN_SECONDS, kv.kind === 'redis' ? durableRevocationReader(knex) : undefined, (err) =>
      logger.warn({ err: err.message }, 'could not reload the revocation list; retrying'),
    );
  const jwksFetches = new Counter({ name: 'docs_jwks_fetch_total', help: "Fetches of the auth server's JWKS (start-up, refresh, unknown kid)", registers: [metrics.registry] });
  const keys = deps.jwks ? staticKeySource(deps.jwks) : discoveredKeySource(config.AUTH_ISSUER, logger, { onJwksFetch: () => jwksFetches.inc() });

  // Fail closed: until the revocation feed is loaded, no token is accepted (a revoked one could pass).
  let following = false;
  let stopped = false;
  const followed = (async () => {
    for (let delay = 100; ; delay = Math.min(delay * 2, 5_000)) {
      try {
        await revocations.follow();
        following = true;
        return;
      } catch (err) {
        if (stopped) throw err;
        logger.warn({ err: (err as Error).message }, 'could not follow the revocation feed; retrying');
        await new Promise((r) => setTimeout(r, delay).unref());
      }
    }
  })();
  followed.catch(() => {});

  // Loaded, and not missing anything (subscription live, cache not emptied since): else a request
  // waits out a short reload (a failover) and is refused with 503 past it, never answered stale.
  const revocationsLoaded = () => following && revocations.isCurrent();
  const awaitRevocations = () => revocations.whenCurrent(REVOCATION_RELOAD_WAIT_MS).then((current) => current && following);
  const verifyAccessToken = createTokenVerifier({
    keys,
    issuer: config.AUTH_ISSUER,
    audience: config.DOCS_API_AUDIENCE,
    clockToleranceSeconds: config.DOCS_API_CLOCK_TOLERANCE_SECONDS,
    revocations,
    revocationsLoaded,
    awaitRevocations,
  });
  // API keys: read from the auth server's view, cached briefly, checked against the same revocation list.
  const apiKeys = createApiKeyVerifier({ knex, audit, logger, revocations, revocationsLoaded, awaitRevocations });
  // Memberships, documents and shares of reads, forgotten on every change (here and, over the cache's
  // pub/sub, in every other docs API process); bypassed while that subscription is not live.
  const authz = new AuthzCache({ kv, logger, ...(deps.authzCacheTtlMs !== undefined ? { ttlMs: deps.authzCacheTtlMs } : {}) });
  void authz.follow();
  const recordDenial = createDenialRecorder(audit, logger);
  const common: CommonSteps = {
    // DPoP proofs name the API's public URL (DOCS_API_AUDIENCE) in htu; their jtis are kept in the shared cache.
    // Certificate-bound tokens: the terminator's certificate header, read only behind a trusted proxy.
    authenticate: authenticate(
      verifyAccessToken,
      createDpopProofVerifier({ kv, publicUrl: config.DOCS_API_AUDIENCE, logger }),
      apiKeys,
      clientCertificateReader({ trustProxy: config.DOCS_API_TRUST_PROXY, header: config.DOCS_API_MTLS_CERT_HEADER }),
    ),
    requireScope: (scope) => requireScope(scope, recordDenial),
    loadMemberships: loadMemberships(knex),
    loadCachedMemberships: loadCachedMemberships(knex, authz),
    validateBody: (schema) => validateBody(schema, config.DOCS_API_MAX_BODY_BYTES),
    validateQuery,
  };
  const routeDeps: RouteDeps = {
    knex,
    authz,
    cursors: createCursorCodec(config.DOCS_API_CURSOR_KEY),
    organizations: createOrganizationLibrary({ knex, audit, changed: authz.changed }),
    documents: createDocumentLibrary({ knex, audit, changed: authz.changed }),
    recordDenial,
  };
  let draining = false;
  const readiness = {
    database: async () => (await knex.raw('SELECT 1'), true),
    cache: () => kv.ping(),
    keys: () => keys.isReady(),
    revocations: revocationsLoaded,
    accepting: () => !draining,
  };
  const apiRoutes = [
    ...meRoutes(),
    ...orgRoutes(routeDeps),
    ...memberRoutes(routeDeps),
    ...documentRoutes(routeDeps),
    ...shareRoutes(routeDeps),
    ...auditRoutes(routeDeps),
    ...healthRoutes(readiness, metrics.registry),
  ];
  let openapi: unknown;
  const routes: RouteDefinition[] = [...apiRoutes, openApiRoute((): unknown => (openapi ??= buildOpenApi(routes, { version: '0.1.0', issuer: config.AUTH_ISSUER })))];

  const router = new Router();
  mount(router, routes, common);
  const app = new Koa();
  app.silent = true; // every error is answered (and logged) by problemResponses
  app.use(requestContext({ logger, metrics }) as Koa.Middleware);
  app.use(problemResponses(logger));
  // Security headers on every answer, then bad bytes refused before routing: one layer, not two.
  app.use(async (ctx, next) => {
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Cache-Control', 'no-store');
    refuseBadBytes(ctx.req);
    await next();
  });
  app.use(dispatch(router));
  app.use(router.allowedMethods() as Koa.Middleware);

  return {
    app,
    router,
    routes,
    authz,
    ready: () => Promise.all([keys.ready, followed, ownAudit?.opened]).then(() => undefined),
    isReady: () => keys.isReady() && following && !draining,
    listen: (port, host) => app.listen(port, host).on('clientError', answerClientError),
    drain() {
      draining = true;
    },
    async close() {
      stopped = true;
      keys.stop();
      authz.stop();
      if (!deps.revocations) revocations.stop();
      await apiKeys.close().catch((err: unknown) => logger.warn({ err: (err as Error).message }, 'API key use not recorded at shutdown'));
      if (ownAudit) await (await ownAudit.opened.catch(() => undefined))?.close();
    },
  };
}
