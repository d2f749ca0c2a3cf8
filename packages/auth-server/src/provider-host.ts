// oidc-provider, built on the current signing keys and rebuilt when they change (a rotation made by
// any process is picked up within AUTH_KEY_REFRESH_SECONDS, or at once through `refreshKeys`).
import type { AuthConfig } from '@clouddocs/config';
import type { Logger } from '@clouddocs/observability';
import type Koa from 'koa';
import type { Context, Next } from 'koa';
import mount from 'koa-mount';
import Provider, { type Configuration } from 'oidc-provider';
import type { KeySetState, KeyStore } from './keys/keys';

export function createProviderHost(deps: {
  config: AuthConfig;
  logger: Logger;
  keyStore: KeyStore;
  keys: KeySetState;
  configure: (keys: KeySetState) => Configuration;
  wire: (provider: Provider) => void;
}) {
  let keys = deps.keys;
  const build = (state: KeySetState) => {
    const provider = new Provider(deps.config.AUTH_ISSUER, deps.configure(state));
    provider.proxy = deps.config.AUTH_TRUST_PROXY;
    deps.wire(provider);
    return { provider, handler: mount(provider as unknown as Koa) as (ctx: Context, next: Next) => Promise<unknown> };
  };
  let current = build(keys);

  async function refreshKeys(): Promise<boolean> {
    const next = await deps.keyStore.load();
    if (next.fingerprint === keys.fingerprint) {
      keys = { ...keys, validUntil: next.validUntil };
      return false;
    }
    keys = next;
    current = build(next);
    deps.logger.info({ active: next.active }, 'signing keys changed');
    return true;
  }
  const refresher = setInterval(() => {
    refreshKeys().catch((err) => deps.logger.error({ err: (err as Error).message }, 'could not reload signing keys'));
  }, deps.config.AUTH_KEY_REFRESH_SECONDS * 1000);
  refresher.unref();

  return {
    provider: () => current.provider,
    handler: () => current.handler,
    keys: () => keys,
    refreshKeys,
    stop: () => clearInterval(refresher),
  };
}

export type ProviderHost = ReturnType<typeof createProviderHost>;
