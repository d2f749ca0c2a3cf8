// RFC 8628 §3.2/§3.5 polling: the device authorization response names the `interval` (oidc-provider
// leaves it out), and a device polling the token endpoint sooner than that after its previous poll gets
// `slow_down` (400) before the provider sees the request. The last poll is kept in the shared cache (by
// the device code's digest, never the code), so every auth server process agrees; a cache that cannot
// be asked refuses (503, fails closed). authorization_pending, access_denied and expired_token are
// oidc-provider's own answers.
import { createHash } from 'node:crypto';
import type { Kv } from '@clouddocs/kv';
import type { Context, Next } from 'koa';
import { DEVICE_PATHS, kvKeys } from '../constants';
import { SlowDownError } from '../errors';
import { DEVICE_CODE_GRANT } from '../libraries/clients';
import { DEVICE_POLL_INTERVAL_SECONDS } from '../oidc/ttl';

export function devicePolling(kv: Kv) {
  return async (ctx: Context, next: Next) => {
    if (ctx.method !== 'POST') return next();
    if (ctx.path === DEVICE_PATHS.authorization) {
      await next();
      const body = ctx.body as Record<string, unknown> | undefined;
      if (ctx.status === 200 && body && typeof body.device_code === 'string') body.interval = DEVICE_POLL_INTERVAL_SECONDS;
      return;
    }
    if (ctx.path !== '/token' || typeof ctx.request.body !== 'string') return next();
    const form = new URLSearchParams(ctx.request.body);
    const deviceCode = form.get('device_code');
    if (form.get('grant_type') !== DEVICE_CODE_GRANT || !deviceCode) return next();
    const digest = createHash('sha256').update(deviceCode).digest('base64url');
    // A second short of the interval: a device polling exactly every `interval` seconds is never refused.
    const first = await kv.setIfAbsent(kvKeys.devicePoll(digest), '1', DEVICE_POLL_INTERVAL_SECONDS - 1);
    if (!first) throw new SlowDownError(DEVICE_POLL_INTERVAL_SECONDS);
    return next();
  };
}
