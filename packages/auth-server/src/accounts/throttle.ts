// Sign-in throttling (rate-limiter-flexible on the shared cache). Every attempt takes a point
// *before* the password is checked, so parallel requests cannot slip past the counter:
// - per account: after BACKOFF_AFTER consecutive failures each further failure blocks the account for
//   2^(n-BACKOFF_AFTER) seconds (capped), and after LOCK_AFTER failures it is locked for LOCK_SECONDS;
// - per client IP: IP_POINTS failed attempts per IP_WINDOW_SECONDS (a success gives its point back).
// A correct password during a block is refused like any other attempt. Success clears the account.
import type { Kv } from '@clouddocs/kv';
import { RateLimiterRes } from 'rate-limiter-flexible';
import { kvKeys } from '../constants';

export const THROTTLE = {
  BACKOFF_AFTER: 3,
  BACKOFF_MAX_SECONDS: 60,
  LOCK_AFTER: 10,
  LOCK_SECONDS: 15 * 60,
  IP_POINTS: 100,
  IP_WINDOW_SECONDS: 15 * 60,
} as const;

export type ThrottleDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number; locked: boolean; scope: 'account' | 'ip' };

export class ThrottleUnavailableError extends Error {
  override readonly name = 'ThrottleUnavailableError';
}

export function createLoginThrottle(kv: Kv) {
  const accountFailures = kv.rateLimiter({
    keyPrefix: 'login-account',
    points: THROTTLE.LOCK_AFTER,
    duration: THROTTLE.LOCK_SECONDS,
    blockDuration: THROTTLE.LOCK_SECONDS,
  });
  const backoff = kv.rateLimiter({ keyPrefix: 'login-backoff', points: 1, duration: 1 });
  const perIp = kv.rateLimiter({ keyPrefix: 'login-ip', points: THROTTLE.IP_POINTS, duration: THROTTLE.IP_WINDOW_SECONDS });

  const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

  // Anything but a rate-limit answer means the store failed: sign-in fails closed.
  function rethrow(err: unknown): never {
    if (err instanceof RateLimiterRes) throw err;
    throw new ThrottleUnavailableError(`sign-in throttling store unavailable: ${(err as Error)?.message ?? err}`);
  }

  return {
    /** Takes one attempt for this account and IP, or says how long to wait. */
    async attempt(accountKey: string, ip: string): Promise<ThrottleDecision> {
      try {
        const blocked = await backoff.get(accountKey).catch(rethrow);
        if (blocked && blocked.consumedPoints > 1 && blocked.msBeforeNext > 0) {
          return { allowed: false, retryAfterSeconds: seconds(blocked.msBeforeNext), locked: false, scope: 'account' };
        }
        await perIp.consume(ip);
      } catch (err) {
        if (err instanceof RateLimiterRes) return { allowed: false, retryAfterSeconds: seconds(err.msBeforeNext), locked: false, scope: 'ip' };
        rethrow(err);
      }
      try {
        await accountFailures.consume(accountKey);
        return { allowed: true };
      } catch (err) {
        if (err instanceof RateLimiterRes) return { allowed: false, retryAfterSeconds: seconds(err.msBeforeNext), locked: true, scope: 'account' };
        rethrow(err);
      }
    },

    /** After a failed attempt: back off exponentially. Returns the number of consecutive failures. */
    async failed(accountKey: string): Promise<number> {
      try {
        const state = await accountFailures.get(accountKey);
        const failures = state?.consumedPoints ?? 1;
        if (failures >= THROTTLE.BACKOFF_AFTER && failures < THROTTLE.LOCK_AFTER) {
          const delay = Math.min(2 ** (failures - THROTTLE.BACKOFF_AFTER), THROTTLE.BACKOFF_MAX_SECONDS);
          await backoff.block(accountKey, delay);
        }
        return failures;
      } catch (err) {
        rethrow(err);
      }
    },

    /** True once per lockout period (for the one `auth.lockout` event), however many requests see it. */
    async noteLockout(accountKey: string): Promise<boolean> {
      return kv.setIfAbsent(kvKeys.lockoutNoted(accountKey), '1', THROTTLE.LOCK_SECONDS).catch(() => false);
    },

    /** A successful sign-in clears the account and gives the IP its attempt back: only failures count. */
    async succeeded(accountKey: string, ip: string): Promise<void> {
      await Promise.all([accountFailures.delete(accountKey), backoff.delete(accountKey), perIp.reward(ip, 1), kv.del(kvKeys.lockoutNoted(accountKey))]).catch(rethrow);
    },
  };
}

export type LoginThrottle = ReturnType<typeof createLoginThrottle>;
