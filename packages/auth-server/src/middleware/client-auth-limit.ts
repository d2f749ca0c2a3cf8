// Failed client authentication at the endpoints that authenticate clients (token, introspection,
// revocation, device authorization) is counted per IP in the shared cache, and so is a request refused for bad bytes;
// past the limit the endpoint answers 429 until the window ends. A block is announced over pub/sub
// so every process refuses the address from memory: a successful request costs no cache round trip.
// The limit fails closed: while this process cannot hear the announcements (the cache is down), or
// when a failure cannot be counted, the endpoint answers 503 instead of going on unguarded.
import { LIMITS } from '../constants';
import type { Kv } from '@clouddocs/kv';
import type { Context, Next } from 'koa';
import { ServiceUnavailableError, TooManyRequestsError } from '../errors';
import type { BodyState } from './read-body';

export const CLIENT_AUTH_LIMIT = { POINTS: 30, WINDOW_SECONDS: 600 } as const;

export const CLIENT_AUTH_PATHS: ReadonlySet<string> = new Set(['/token', '/token/introspection', '/token/revocation', '/device/auth']);

export function clientAuthLimit(kv: Kv) {
  const limiter = kv.rateLimiter({ keyPrefix: LIMITS.clientAuthFailures, points: CLIENT_AUTH_LIMIT.POINTS, duration: CLIENT_AUTH_LIMIT.WINDOW_SECONDS });
  const blockedUntil = new Map<string, number>();
  const block = (ip: string, until: number) => {
    blockedUntil.set(ip, Math.max(blockedUntil.get(ip) ?? 0, until));
    if (blockedUntil.size > 10_000) for (const [k, v] of blockedUntil) if (v <= Date.now()) blockedUntil.delete(k);
  };
  void kv
    .subscribe(LIMITS.clientAuthBlockedChannel, (message) => {
      try {
        const { ip, until } = JSON.parse(message) as { ip: string; until: number };
        if (typeof ip === 'string' && typeof until === 'number') block(ip, until);
      } catch {
        // malformed: ignored
      }
    })
    .catch(() => undefined);

  async function countFailure(ip: string): Promise<void> {
    const state = await limiter.penalty(ip, 1).catch(() => undefined);
    if (!state) throw new ServiceUnavailableError('client authentication limits cannot be checked right now');
    if (state.consumedPoints >= CLIENT_AUTH_LIMIT.POINTS) {
      const until = Date.now() + state.msBeforeNext;
      block(ip, until);
      await kv.publish(LIMITS.clientAuthBlockedChannel, JSON.stringify({ ip, until })).catch(() => undefined);
    }
  }

  return async (ctx: Context, next: Next) => {
    if (ctx.method !== 'POST' || !CLIENT_AUTH_PATHS.has(ctx.path)) return next();
    const until = blockedUntil.get(ctx.ip);
    if (until !== undefined && until > Date.now()) {
      const retry = Math.ceil((until - Date.now()) / 1000);
      throw new TooManyRequestsError(`too many failed client authentications; retry in ${retry} s`, retry);
    }
    if (kv.subscriptionLive && !kv.subscriptionLive()) throw new ServiceUnavailableError('client authentication limits cannot be checked right now');
    await next();
    if (ctx.status === 401 || (ctx.state as BodyState).badBytes) await countFailure(ctx.ip);
  };
}
