// The rules of signing in, without HTML or oidc-provider: throttle first (every attempt takes a
// point before the password is checked), then the password (unknown emails cost the same argon2
// work), then a pending second factor when the account has one; every outcome is audited. A store
// that cannot count attempts refuses the sign-in (fails closed). The pages turn outcomes into forms.
import { normalizeEmail, type AccountLibrary } from '../accounts/accounts';
import { THROTTLE, ThrottleUnavailableError, type LoginThrottle } from '../accounts/throttle';
import type { Kv } from '@clouddocs/kv';
import type { MfaLibrary } from '../mfa/totp';
import type { PasskeyLibrary } from './passkeys';
import { kvKeys, LIMITS } from '../constants';
import { actors, audit } from '../request-scope';

export const MFA_FAILURES = { POINTS: 5, WINDOW_SECONDS: 15 * 60 } as const;
const PENDING_SECONDS = 5 * 60;

type RequestLike = Parameters<typeof audit>[0];
export type SecondFactorMethod = 'totp' | 'recovery_code' | 'passkey';

export type SignInOutcome =
  | { kind: 'unavailable' }
  | { kind: 'throttled'; retryAfterSeconds: number }
  | { kind: 'invalid' }
  | { kind: 'second_factor' }
  | { kind: 'signed_in'; accountId: string; amr: string[]; acr: string };

interface PendingSecondFactor {
  accountId: string;
  rehashed: boolean;
}

export function createSignInLibrary(deps: {
  accounts: AccountLibrary;
  throttle: LoginThrottle;
  mfa: MfaLibrary;
  passkeys: PasskeyLibrary;
  kv: Kv;
  onOutcome?: (outcome: 'success' | 'throttled' | 'failure') => void;
}) {
  const { accounts, throttle, kv } = deps;
  const mfaFailures = kv.rateLimiter({ keyPrefix: LIMITS.secondFactorFailures, points: MFA_FAILURES.POINTS, duration: MFA_FAILURES.WINDOW_SECONDS, blockDuration: MFA_FAILURES.WINDOW_SECONDS });

  // The same for unknown emails: a lockout must not reveal whether the account exists.
  async function auditLockout(ctx: RequestLike, accountKey: string) {
    const account = await accounts.findByEmail(accountKey);
    audit(ctx, { action: 'auth.lockout', actor: actors.system(), target: { type: 'account', id: account?.id ?? accountKey }, outcome: 'success', detail: { afterFailures: THROTTLE.LOCK_AFTER, lockedSeconds: THROTTLE.LOCK_SECONDS } });
  }

  /**
   * RFC 8176 `amr`: pwd, plus otp (a code) or hwk/swk (a passkey) and mfa when a second factor was
   * verified; a passkey alone is hwk/swk. `acr` is urn:clouddocs:mfa for two factors, and for a passkey
   * alone that verified its holder (PIN or biometrics: a multi-factor authenticator, NIST SP 800-63B §5.1.9).
   */
  async function signedIn(ctx: RequestLike, accountId: string, clientId: string | null, how: { factor?: SecondFactorMethod; passkeyAmr?: 'hwk' | 'swk'; passwordless?: boolean }, rehashed: boolean): Promise<SignInOutcome> {
    await accounts.noteSignIn(accountId);
    const key = how.passkeyAmr ?? 'hwk';
    const amr = how.passwordless ? [key] : how.factor ? ['pwd', how.factor === 'passkey' ? key : 'otp', 'mfa'] : ['pwd'];
    const multiFactor = how.passwordless || how.factor !== undefined;
    audit(ctx, { action: 'auth.login.succeeded', actor: actors.user(accountId), target: { type: 'account', id: accountId }, outcome: 'success', detail: { clientId, amr, ...(how.factor ? { secondFactor: how.factor } : {}), ...(how.passwordless ? { method: 'passkey' } : {}) } });
    if (rehashed) audit(ctx, { action: 'auth.password_rehashed', actor: actors.user(accountId), target: { type: 'account', id: accountId }, outcome: 'success' });
    return { kind: 'signed_in', accountId, amr, acr: multiFactor ? 'urn:clouddocs:mfa' : 'urn:clouddocs:pwd' };
  }

  /** A second factor of either kind: TOTP (with recovery codes) or a passkey (only where passkeys are offered). */
  const secondFactorIn = (enrolled: { totp: boolean; passkey: boolean }) => enrolled.totp || (deps.passkeys.available && enrolled.passkey);
  const hasSecondFactor = async (accountId: string) => secondFactorIn({ totp: await deps.mfa.enabled(accountId), passkey: await deps.passkeys.has(accountId) });

  const readPending = async (uid: string) => {
    const raw = await kv.get(kvKeys.pendingSecondFactor(uid));
    return raw ? (JSON.parse(raw) as PendingSecondFactor) : undefined;
  };

  const count = (outcome: SignInOutcome) => {
    deps.onOutcome?.(outcome.kind === 'signed_in' || outcome.kind === 'second_factor' ? 'success' : outcome.kind === 'throttled' ? 'throttled' : 'failure');
    return outcome;
  };

  return {
    /** Email and password, inside the interaction `uid`. */
    async withPassword(ctx: RequestLike, input: { uid: string; email: string; password: string; clientId: string | null }): Promise<SignInOutcome> {
      const accountKey = normalizeEmail(input.email);
      let decision;
      try {
        decision = await throttle.attempt(accountKey, ctx.ip);
      } catch (err) {
        if (!(err instanceof ThrottleUnavailableError)) throw err;
        return count({ kind: 'unavailable' });
      }
      if (!decision.allowed) {
        if (decision.locked && (await throttle.noteLockout(accountKey))) await auditLockout(ctx, accountKey);
        audit(ctx, { action: 'auth.login.failed', actor: actors.anonymous(), target: { type: 'account', id: accountKey }, outcome: 'denied', detail: { reason: decision.locked ? 'locked' : 'throttled', scope: decision.scope, retryAfterSeconds: decision.retryAfterSeconds } });
        return count({ kind: 'throttled', retryAfterSeconds: decision.retryAfterSeconds });
      }
      const result = await accounts.authenticate(input.email, input.password);
      if (!result.ok) {
        let failures: number;
        try {
          failures = await throttle.failed(accountKey);
        } catch (err) {
          if (!(err instanceof ThrottleUnavailableError)) throw err;
          return count({ kind: 'unavailable' });
        }
        audit(ctx, { action: 'auth.login.failed', actor: actors.anonymous(), target: { type: 'account', id: result.accountId ?? accountKey }, outcome: 'failure', detail: { reason: 'invalid_credentials', consecutiveFailures: failures } });
        if (failures >= THROTTLE.LOCK_AFTER && (await throttle.noteLockout(accountKey))) await auditLockout(ctx, accountKey);
        return count({ kind: 'invalid' });
      }
      await throttle.succeeded(accountKey, ctx.ip).catch(() => undefined);
      // What the account has enrolled was read with it (one statement).
      if (secondFactorIn(result.enrolled)) {
        // Audited once the sign-in completes (auth.login.succeeded) or fails (auth.mfa.failed).
        await kv.set(kvKeys.pendingSecondFactor(input.uid), JSON.stringify({ accountId: result.account.id, rehashed: result.rehashed } satisfies PendingSecondFactor), PENDING_SECONDS);
        return count({ kind: 'second_factor' });
      }
      return count(await signedIn(ctx, result.account.id, input.clientId, {}, result.rehashed));
    },

    /** Whether the interaction `uid` passed the password and waits for its second factor. */
    async awaitsSecondFactor(uid: string): Promise<boolean> {
      return (await readPending(uid)) !== undefined;
    },

    /** The account whose second factor interaction `uid` waits for (to offer its passkeys). */
    async pendingAccount(uid: string): Promise<string | undefined> {
      return (await readPending(uid))?.accountId;
    },

    /** A passkey alone (user verification required), inside the interaction `uid`. */
    async withPasskey(ctx: RequestLike, input: { uid: string; response: string; clientId: string | null }): Promise<SignInOutcome> {
      const result = await deps.passkeys.authenticate({ purpose: 'sign-in', uid: input.uid }, input.response);
      const account = result.ok ? await accounts.findById(result.accountId) : undefined;
      if (!result.ok || !account || account.disabled) {
        const reason = result.ok ? 'account_disabled' : `passkey_${result.reason}`;
        audit(ctx, { action: 'auth.login.failed', actor: actors.anonymous(), target: { type: 'account', id: result.ok ? result.accountId : null }, outcome: 'failure', detail: { reason, method: 'passkey' } });
        return count({ kind: 'invalid' });
      }
      return count(await signedIn(ctx, account.id, input.clientId, { passwordless: true, passkeyAmr: result.amr }, false));
    },

    /** A TOTP or recovery code (or a passkey's signed challenge) for the pending sign-in of interaction `uid`. */
    async withSecondFactor(ctx: RequestLike, input: { uid: string; code: string; passkeyResponse?: string; clientId: string | null }): Promise<SignInOutcome | { kind: 'no_pending' }> {
      const pending = await readPending(input.uid);
      if (!pending) return { kind: 'no_pending' };
      const target = { type: 'account', id: pending.accountId };
      try {
        await mfaFailures.consume(pending.accountId);
      } catch (err) {
        const wait = (err as { msBeforeNext?: number }).msBeforeNext;
        if (typeof wait !== 'number') return { kind: 'unavailable' };
        await kv.del(kvKeys.pendingSecondFactor(input.uid));
        audit(ctx, { action: 'auth.mfa.failed', actor: actors.anonymous(), target, outcome: 'denied', detail: { reason: 'throttled' } });
        return { kind: 'throttled', retryAfterSeconds: Math.max(1, Math.ceil(wait / 1000)) };
      }
      let method: SecondFactorMethod | undefined;
      let passkeyAmr: 'hwk' | 'swk' | undefined;
      if (input.passkeyResponse !== undefined) {
        const result = await deps.passkeys.authenticate({ purpose: 'second-factor', uid: input.uid, accountId: pending.accountId }, input.passkeyResponse);
        if (result.ok) [method, passkeyAmr] = ['passkey', result.amr];
      } else {
        method = await deps.mfa.verify(pending.accountId, input.code);
      }
      if (!method) {
        audit(ctx, { action: 'auth.mfa.failed', actor: actors.anonymous(), target, outcome: 'failure', detail: { reason: input.passkeyResponse !== undefined ? 'passkey_refused' : 'invalid_code' } });
        return { kind: 'invalid' };
      }
      await Promise.all([kv.del(kvKeys.pendingSecondFactor(input.uid)), mfaFailures.delete(pending.accountId).catch(() => undefined)]);
      return signedIn(ctx, pending.accountId, input.clientId, { factor: method, passkeyAmr }, pending.rehashed);
    },

    /**
     * Step-up inside a signed-in session (acr_values asks for a second factor): the session's account
     * owes its second factor in interaction `uid`, or has none to give.
     */
    async stepUp(uid: string, accountId: string): Promise<'second_factor' | 'none_enrolled'> {
      if (!(await hasSecondFactor(accountId))) return 'none_enrolled';
      await kv.set(kvKeys.pendingSecondFactor(uid), JSON.stringify({ accountId, rehashed: false } satisfies PendingSecondFactor), PENDING_SECONDS);
      return 'second_factor';
    },

    /** The person declined to set up the second factor a client required (unmet_authentication_requirements). */
    declineStepUp(ctx: RequestLike, accountId: string, clientId: string | null): void {
      audit(ctx, { action: 'auth.login.failed', actor: actors.user(accountId), target: { type: 'account', id: accountId }, outcome: 'denied', detail: { reason: 'unmet_authentication_requirements', clientId } });
    },

    /** Drops a pending second factor (the person cancelled). */
    async cancel(uid: string): Promise<void> {
      await kv.del(kvKeys.pendingSecondFactor(uid));
    },

    /**
     * Re-checks the password of a signed-in person before a sensitive change. A wrong password counts
     * like a failed sign-in (same throttle, same lockout) and is audited as `action` failing.
     */
    async confirmPassword(ctx: RequestLike, account: { id: string; email: string }, password: string, action: 'auth.mfa.disabled' | 'auth.mfa.enrolled' | 'auth.profile.updated' | 'auth.password_changed' | 'user.deleted'): Promise<'ok' | 'wrong' | 'unavailable' | { retryAfterSeconds: number }> {
      let decision;
      try {
        decision = await throttle.attempt(account.email, ctx.ip);
      } catch (err) {
        if (!(err instanceof ThrottleUnavailableError)) throw err;
        return 'unavailable';
      }
      if (!decision.allowed) return { retryAfterSeconds: decision.retryAfterSeconds };
      if (!(await accounts.verifyPassword(account.id, password))) {
        await throttle.failed(account.email).catch(() => undefined);
        audit(ctx, { action, actor: actors.user(account.id), target: { type: 'account', id: account.id }, outcome: 'failure', detail: { reason: 'wrong_password' } });
        return 'wrong';
      }
      await throttle.succeeded(account.email, ctx.ip).catch(() => undefined);
      return 'ok';
    },
  };
}

export type SignInLibrary = ReturnType<typeof createSignInLibrary>;
