// A rotated client secret's predecessor keeps working until its expiry (`previous_secret_expires_in`):
// at the endpoints that authenticate clients, a presented secret that is not the current one but the
// client's unexpired previous one is replaced by the current one before the request is authenticated
// (oidc-provider knows one secret per client). Only clients in an overlap are looked at: their ids are
// kept in memory (loaded at start, added at once when any process announces a client change, pruned
// every minute), so every other request passes straight through.
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import { presentedSecret } from '../libraries/client-authentication';
import type { ClientLibrary } from '../libraries/clients';
import { followClientChanges } from '../libraries/client-lifecycle';
import type { Kv } from '@clouddocs/kv';
import type { Logger } from '@clouddocs/observability';
import { sameSecret } from '../libraries/csrf';
import { CLIENT_AUTH_PATHS } from './client-auth-limit';

export function previousSecret(deps: { provider: () => Provider; clients: ClientLibrary; kv: Kv; logger: Logger }) {
  let overlapping = new Set<string>();
  const reload = () =>
    deps.clients.withPreviousSecret().then(
      (ids) => {
        overlapping = new Set(ids);
      },
      (err) => deps.logger.warn({ err: (err as Error).message }, 'could not load the clients in a secret overlap'),
    );
  void reload();
  setInterval(reload, 60_000).unref();
  // A changed client may have just been rotated: look at it until the next reload says otherwise.
  void followClientChanges(deps.kv, (clientId) => {
    overlapping.add(clientId);
    void reload();
  }).catch(() => undefined);

  return async (ctx: Context, next: Next) => {
    if (overlapping.size === 0 || ctx.method !== 'POST' || !CLIENT_AUTH_PATHS.has(ctx.path) || typeof ctx.request.body !== 'string') return next();
    const body = new URLSearchParams(ctx.request.body);
    const presented = presentedSecret(ctx.get('authorization'), body);
    if (!presented || !overlapping.has(presented.clientId)) return next();
    const client = await deps.provider().Client.find(presented.clientId);
    if (!client?.clientSecret || sameSecret(presented.secret, client.clientSecret)) return next();
    const current = await deps.clients.currentSecretFor(presented.clientId, presented.secret);
    if (current === undefined) return next();
    if (presented.via === 'basic') {
      const encode = (v: string) => encodeURIComponent(v).replace(/%20/g, '+');
      ctx.request.headers.authorization = `Basic ${Buffer.from(`${encode(presented.clientId)}:${encode(current)}`).toString('base64')}`;
    } else {
      body.set('client_secret', current);
      ctx.request.body = body.toString();
    }
    return next();
  };
}
