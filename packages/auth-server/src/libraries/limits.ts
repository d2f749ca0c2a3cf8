// Rate limits of the self-service pages and the device flow's user codes, one table: each takes a point
// per request and key, and a store that cannot count refuses (fails closed). Sign-in has its own
// throttle (accounts/throttle).
import type { Kv } from '@clouddocs/kv';
import { LIMITS } from '../constants';
import { ServiceUnavailableError, TooManyRequestsError } from '../errors';

export const SELF_SERVICE_LIMITS = {
  SIGNUPS_PER_IP_PER_HOUR: 20,
  RESET_REQUESTS_PER_IP_PER_HOUR: 20,
  RESET_MAILS_PER_ACCOUNT_PER_HOUR: 3,
  VERIFY_MAILS_PER_ACCOUNT_PER_HOUR: 3,
  /** Dynamic client registrations (RFC 7591), every attempt counted: token guessing included. */
  REGISTRATIONS_PER_IP_PER_HOUR: 50,
  /** RFC 8628 §5.1: user codes entered per IP in USER_CODE_WINDOW_SECONDS (a found code gives its point back). */
  USER_CODES_PER_IP: 20,
  USER_CODE_WINDOW_SECONDS: 15 * 60,
} as const;

export function createLimits(kv: Kv) {
  const hourly = (keyPrefix: string, points: number) => kv.rateLimiter({ keyPrefix, points, duration: 3600 });
  const limiters = {
    signupsPerIp: hourly(LIMITS.signupsPerIp, SELF_SERVICE_LIMITS.SIGNUPS_PER_IP_PER_HOUR),
    resetsPerIp: hourly(LIMITS.resetsPerIp, SELF_SERVICE_LIMITS.RESET_REQUESTS_PER_IP_PER_HOUR),
    resetMailsPerAccount: hourly(LIMITS.resetsPerAccount, SELF_SERVICE_LIMITS.RESET_MAILS_PER_ACCOUNT_PER_HOUR),
    verifyMailsPerAccount: hourly(LIMITS.verifyMails, SELF_SERVICE_LIMITS.VERIFY_MAILS_PER_ACCOUNT_PER_HOUR),
    registrationsPerIp: hourly(LIMITS.registrationsPerIp, SELF_SERVICE_LIMITS.REGISTRATIONS_PER_IP_PER_HOUR),
    userCodesPerIp: kv.rateLimiter({ keyPrefix: LIMITS.userCodesPerIp, points: SELF_SERVICE_LIMITS.USER_CODES_PER_IP, duration: SELF_SERVICE_LIMITS.USER_CODE_WINDOW_SECONDS }),
  };
  type Name = keyof typeof limiters;
  return {
    /** Takes a point or throws: 429 with Retry-After past the limit, 503 when it cannot be counted. */
    async take(name: Name, key: string): Promise<void> {
      try {
        await limiters[name].consume(key);
      } catch (err) {
        const wait = (err as { msBeforeNext?: number }).msBeforeNext;
        if (typeof wait !== 'number') throw new ServiceUnavailableError('this page is temporarily unavailable; please try again in a few minutes', 60);
        throw new TooManyRequestsError('Too many attempts from your network. Try again later.', Math.max(1, Math.ceil(wait / 1000)));
      }
    },
    /** Gives a point back (the attempt turned out right: only failures count). */
    async giveBack(name: Name, key: string): Promise<void> {
      await limiters[name].reward(key, 1).catch(() => undefined);
    },
    /** Takes a point if one is left; false past the limit or when it cannot be counted (the mail is not sent). */
    async tryTake(name: Name, key: string): Promise<boolean> {
      return limiters[name].consume(key).then(
        () => true,
        () => false,
      );
    },
  };
}

export type Limits = ReturnType<typeof createLimits>;
