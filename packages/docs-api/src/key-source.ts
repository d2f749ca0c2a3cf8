// Where verification keys come from: the auth server's JWKS, found through discovery at start-up
// (retried until it answers), fetched and cached by jose's createRemoteJWKSet (cooldown, single
// flight, one refetch on an unknown kid). Tests may pass a key set of their own instead.
import { createRemoteJWKSet, customFetch, type JWTVerifyGetKey } from 'jose';
import type { Logger } from '@clouddocs/observability';

export interface KeySource {
  /** The key resolver, once discovery has answered. */
  current(): JWTVerifyGetKey | undefined;
  isReady(): boolean;
  ready: Promise<void>;
  stop(): void;
}

export function staticKeySource(keys: JWTVerifyGetKey): KeySource {
  return { current: () => keys, isReady: () => true, ready: Promise.resolve(), stop() {} };
}

/** Discovery document fields the docs API relies on (OpenID Connect Discovery 1.0 §3). */
async function discover(issuer: string, signal: AbortSignal): Promise<URL> {
  const response = await fetch(`${issuer}/.well-known/openid-configuration`, { signal: AbortSignal.any([signal, AbortSignal.timeout(5_000)]) });
  if (!response.ok) throw new Error(`discovery answered ${response.status}`);
  const metadata = (await response.json()) as { issuer?: unknown; jwks_uri?: unknown };
  // OIDC Discovery §4.3: the issuer in the document must be exactly the one we expect.
  if (metadata.issuer !== issuer) throw new Error(`discovery names issuer ${String(metadata.issuer)}, expected ${issuer}`);
  if (typeof metadata.jwks_uri !== 'string') throw new Error('discovery has no jwks_uri');
  return new URL(metadata.jwks_uri);
}

export function discoveredKeySource(issuer: string, logger: Logger, options: { retryMaxMs?: number; onJwksFetch?: () => void } = {}): KeySource {
  const controller = new AbortController();
  let keys: ReturnType<typeof createRemoteJWKSet> | undefined;
  const retryMaxMs = options.retryMaxMs ?? 5_000;
  const ready = (async () => {
    for (let attempt = 0, delay = 100; ; attempt += 1, delay = Math.min(delay * 2, retryMaxMs)) {
      try {
        const jwksUri = await discover(issuer, controller.signal);
        // An unknown kid refetches at most once per 5 s (well under the auth server's key activation delay,
        // so a freshly rotated key is seen before it signs anything); known keys are refreshed every 10 min.
        const remote = createRemoteJWKSet(jwksUri, {
          cooldownDuration: 5_000,
          cacheMaxAge: 10 * 60_000,
          timeoutDuration: 5_000,
          [customFetch]: (url: string, init: RequestInit) => {
            options.onJwksFetch?.();
            return fetch(url, init);
          },
        });
        await remote.reload();
        keys = remote;
        logger.info({ issuer, jwksUri: jwksUri.href }, 'verification keys loaded');
        return;
      } catch (err) {
        if (controller.signal.aborted) throw new Error('stopped before the auth server answered');
        if (attempt % 10 === 0) logger.warn({ issuer, err: (err as Error).message }, 'auth server discovery failed; retrying');
        await new Promise((r) => setTimeout(r, delay).unref());
      }
    }
  })();
  ready.catch(() => {});
  return {
    current: () => keys,
    isReady: () => keys !== undefined,
    ready,
    stop: () => controller.abort(),
  };
}
