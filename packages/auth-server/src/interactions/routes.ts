// Login, second factor, consent and abort for oidc-provider interactions. Each POST is bound to the
// browser that started the interaction (oidc-provider checks the interaction cookie against the URL)
// and carries a CSRF token derived from that cookie. Redirects after a credential POST are 303.
// Sign-up and password reset pages of the same interaction live in ./self-service.
import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import { z } from 'zod';
import type { Kv } from '@clouddocs/kv';
import type { AccountLibrary } from '../accounts/accounts';
import { normalizeEmail } from '../accounts/accounts';
import { THROTTLE, ThrottleUnavailableError, type LoginThrottle } from '../accounts/throttle';
import { queueAudit, requestMeta } from '../audit-scope';
import type { MfaLibrary } from '../mfa/totp';
import { createInteractionKit, FormError, readForm, seeOther, type InteractionDetails } from './kit';
import { registerSelfServiceRoutes, type SelfServiceDeps } from './self-service';
import { consentView, loginView, messageView, renderPage, secondFactorView } from './views';

/** The first-party account console signs in through the same pages; it is never asked for consent. */
export const ACCOUNT_CONSOLE_CLIENT_ID = 'clouddocs-account';

export interface InteractionDeps {
  provider: () => Provider;
  accounts: AccountLibrary;
  throttle: LoginThrottle;
  cookieKey: string;
  interactionCookie: string;
  kv: Kv;
  mfa: MfaLibrary;
  selfService: Omit<SelfServiceDeps, 'kit' | 'accounts'>;
}

const loginBody = z.object({ email: z.string().max(320), password: z.string().max(4096), csrf: z.string().max(128) }).strict();
const codeBody = z.object({ code: z.string().max(64), csrf: z.string().max(128) }).strict();
const csrfBody = z.object({ csrf: z.string().max(128) }).strict();

const GENERIC_FAILURE = 'The email or password is incorrect.';
const UNAVAILABLE = 'Sign-in is temporarily unavailable. Please try again in a few minutes.';
const PENDING_SECONDS = 5 * 60;
export const MFA_FAILURES = { POINTS: 5, WINDOW_SECONDS: 15 * 60 } as const;

interface PendingSecondFactor {
  accountId: string;
  rehashed: boolean;
}

export function createInteractionRouter(deps: InteractionDeps): Router {
  const router = new Router({ prefix: '/interaction' });
  const kit = createInteractionKit(deps);
  const { csrfFor, csrfValid, details, clientName, allowRedirectOrigin, finish } = kit;
  const pendingKey = (uid: string) => `mfa-pending:${uid}`;
  const mfaFailures = deps.kv.rateLimiter({ keyPrefix: 'mfa-fail', points: MFA_FAILURES.POINTS, duration: MFA_FAILURES.WINDOW_SECONDS, blockDuration: MFA_FAILURES.WINDOW_SECONDS });

  const links = (uid: string) => ({ signup: `/interaction/${uid}/signup`, forgot: `/interaction/${uid}/forgot` });

  async function showLogin(ctx: Context, interaction: InteractionDetails, extra: { email?: string; error?: string; notice?: string; status?: number } = {}) {
    const { uid, params } = interaction;
    allowRedirectOrigin(ctx, params.redirect_uri);
    renderPage(
      ctx,
      'Sign in',
      loginView({
        action: `/interaction/${uid}/login`,
        csrf: csrfFor(ctx, uid),
        clientName: await clientName(params.client_id as string | undefined),
        email: extra.email,
        error: extra.error,
        notice: extra.notice,
        links: links(uid),
      }),
      extra.status ?? 200,
    );
  }

  async function showSecondFactor(ctx: Context, interaction: InteractionDetails, error?: string, status = 200) {
    allowRedirectOrigin(ctx, interaction.params.redirect_uri);
    renderPage(
      ctx,
      'Two-step verification',
      secondFactorView({ action: `/interaction/${interaction.uid}/mfa`, csrf: csrfFor(ctx, interaction.uid), clientName: await clientName(interaction.params.client_id as string | undefined), error }),
      status,
    );
  }

  async function readPending(uid: string): Promise<PendingSecondFactor | undefined> {
    const raw = await deps.kv.get(pendingKey(uid));
    return raw ? (JSON.parse(raw) as PendingSecondFactor) : undefined;
  }

  /** Completes the login step; oidc-provider then gives the browser a new session id (no fixation). */
  async function completeLogin(ctx: Context, interaction: InteractionDetails, accountId: string, factors: { mfa: false } | { mfa: true; method: 'totp' | 'recovery_code' }, rehashed: boolean) {
    // RFC 8176: pwd, plus otp and mfa when a second factor was verified.
    const amr = factors.mfa ? ['pwd', 'otp', 'mfa'] : ['pwd'];
    const acr = factors.mfa ? 'urn:clouddocs:mfa' : 'urn:clouddocs:pwd';
    const meta = requestMeta(ctx);
    queueAudit(ctx, {
      action: 'auth.login.succeeded',
      actor: { type: 'user', id: accountId },
      target: { type: 'account', id: accountId },
      outcome: 'success',
      detail: { clientId: (interaction.params.client_id as string | undefined) ?? null, amr, ...(factors.mfa ? { secondFactor: factors.method } : {}) },
      ...meta,
    });
    if (rehashed) {
      queueAudit(ctx, { action: 'auth.password_rehashed', actor: { type: 'user', id: accountId }, target: { type: 'account', id: accountId }, outcome: 'success', ...meta });
    }
    await finish(ctx, { login: { accountId, amr, acr } });
  }

  router.get('/:uid', async (ctx) => {
    const interaction = await details(ctx);
    if (!interaction) return;
    const { uid, prompt, params, session } = interaction;
    const clientId = params.client_id as string | undefined;
    if (prompt.name === 'login') {
      if (await readPending(uid)) return showSecondFactor(ctx, interaction);
      return showLogin(ctx, interaction);
    }
    if (prompt.name === 'consent') {
      if (clientId === ACCOUNT_CONSOLE_CLIENT_ID && session?.accountId) return grantConsent(ctx, interaction, session.accountId);
      allowRedirectOrigin(ctx, params.redirect_uri);
      const missing = prompt.details as { missingOIDCScope?: string[]; missingResourceScopes?: Record<string, string[]> };
      const scopes = [...new Set([...(missing.missingOIDCScope ?? []), ...Object.values(missing.missingResourceScopes ?? {}).flat()])];
      const account = session?.accountId ? await deps.accounts.findById(session.accountId) : undefined;
      return renderPage(
        ctx,
        'Allow access',
        consentView({
          action: `/interaction/${uid}/confirm`,
          abortAction: `/interaction/${uid}/abort`,
          csrf: csrfFor(ctx, uid),
          clientName: await clientName(clientId),
          scopes,
          email: account?.email,
        }),
      );
    }
    renderPage(ctx, 'Sign-in error', messageView('Unsupported step', 'This sign-in step is not supported.'), 400);
  });

  router.post('/:uid/login', async (ctx) => {
    const interaction = await details(ctx);
    if (!interaction) return;
    const { uid, prompt } = interaction;
    const parsed = loginBody.safeParse(await readForm(ctx));
    if (!parsed.success) return showLogin(ctx, interaction, { error: 'Enter your email and password.', status: 400 });
    const { email, password, csrf } = parsed.data;
    if (!csrfValid(ctx, uid, csrf)) return showLogin(ctx, interaction, { error: 'This form has expired. Please try again.', status: 403 });
    if (prompt.name !== 'login') return showLogin(ctx, interaction, { error: 'This sign-in step is already complete.', status: 400 });

    const meta = requestMeta(ctx);
    const accountKey = normalizeEmail(email);
    let decision;
    try {
      decision = await deps.throttle.attempt(accountKey, ctx.ip);
    } catch (err) {
      if (!(err instanceof ThrottleUnavailableError)) throw err;
      ctx.state.logger?.error({ err: err.message }, 'sign-in throttling unavailable');
      ctx.set('Retry-After', '60');
      return showLogin(ctx, interaction, { email, error: UNAVAILABLE, status: 503 });
    }
    if (!decision.allowed) {
      if (decision.locked && (await deps.throttle.noteLockout(accountKey))) await auditLockout(ctx, accountKey);
      queueAudit(ctx, {
        action: 'auth.login.failed',
        actor: { type: 'anonymous', id: null },
        target: { type: 'account', id: accountKey },
        outcome: 'denied',
        detail: { reason: decision.locked ? 'locked' : 'throttled', scope: decision.scope, retryAfterSeconds: decision.retryAfterSeconds },
        ...meta,
      });
      return tooManyAttempts(ctx, interaction, decision.retryAfterSeconds, email);
    }

    const result = await deps.accounts.authenticate(email, password);
    if (!result.ok) {
      let failures: number;
      try {
        failures = await deps.throttle.failed(accountKey);
      } catch (err) {
        if (!(err instanceof ThrottleUnavailableError)) throw err;
        return showLogin(ctx, interaction, { email, error: UNAVAILABLE, status: 503 });
      }
      queueAudit(ctx, {
        action: 'auth.login.failed',
        actor: { type: 'anonymous', id: null },
        target: { type: 'account', id: result.accountId ?? accountKey },
        outcome: 'failure',
        detail: { reason: 'invalid_credentials', consecutiveFailures: failures },
        ...meta,
      });
      if (failures >= THROTTLE.LOCK_AFTER && (await deps.throttle.noteLockout(accountKey))) await auditLockout(ctx, accountKey);
      return showLogin(ctx, interaction, { email, error: GENERIC_FAILURE });
    }
    await deps.throttle.succeeded(accountKey, ctx.ip).catch(() => undefined);

    if (await deps.mfa.enabled(result.account.id)) {
      const pending: PendingSecondFactor = { accountId: result.account.id, rehashed: result.rehashed };
      await deps.kv.set(pendingKey(uid), JSON.stringify(pending), PENDING_SECONDS);
      // The sign-in is audited once it completes (auth.login.succeeded) or fails (auth.mfa.failed).
      return seeOther(ctx, `/interaction/${uid}`);
    }
    await completeLogin(ctx, interaction, result.account.id, { mfa: false }, result.rehashed);
  });

  // The same for unknown emails: a lockout must not reveal whether the account exists.
  async function auditLockout(ctx: Context, accountKey: string) {
    const account = await deps.accounts.findByEmail(accountKey);
    queueAudit(ctx, {
      action: 'auth.lockout',
      actor: { type: 'system', id: null },
      target: { type: 'account', id: account?.id ?? accountKey },
      outcome: 'success',
      detail: { afterFailures: THROTTLE.LOCK_AFTER, lockedSeconds: THROTTLE.LOCK_SECONDS },
      ...requestMeta(ctx),
    });
  }

  async function tooManyAttempts(ctx: Context, interaction: InteractionDetails, retryAfterSeconds: number, email?: string) {
    ctx.set('Retry-After', String(retryAfterSeconds));
    const minutes = Math.ceil(retryAfterSeconds / 60);
    return showLogin(ctx, interaction, {
      email,
      error: `Too many sign-in attempts. Try again later (in about ${minutes} minute${minutes > 1 ? 's' : ''}).`,
      status: 429,
    });
  }

  router.post('/:uid/mfa', async (ctx) => {
    const interaction = await details(ctx);
    if (!interaction) return;
    const { uid, prompt } = interaction;
    const parsed = codeBody.safeParse(await readForm(ctx));
    if (!parsed.success || !csrfValid(ctx, uid, parsed.data.csrf)) {
      return renderPage(ctx, 'Two-step verification', messageView('This form has expired', 'Go back to the application and start again.'), 403);
    }
    const pending = prompt.name === 'login' ? await readPending(uid) : undefined;
    if (!pending) return showLogin(ctx, interaction, { error: 'Sign in with your email and password first.', status: 400 });
    const meta = requestMeta(ctx);
    try {
      await mfaFailures.consume(pending.accountId);
    } catch (err) {
      const wait = (err as { msBeforeNext?: number }).msBeforeNext;
      if (typeof wait !== 'number') {
        ctx.state.logger?.error({ err: (err as Error).message }, 'second-factor throttling unavailable');
        ctx.set('Retry-After', '60');
        return showSecondFactor(ctx, interaction, UNAVAILABLE, 503);
      }
      await deps.kv.del(pendingKey(uid));
      queueAudit(ctx, { action: 'auth.mfa.failed', actor: { type: 'anonymous', id: null }, target: { type: 'account', id: pending.accountId }, outcome: 'denied', detail: { reason: 'throttled' }, ...meta });
      return tooManyAttempts(ctx, interaction, Math.max(1, Math.ceil(wait / 1000)));
    }
    const method = await deps.mfa.verify(pending.accountId, parsed.data.code);
    if (!method) {
      queueAudit(ctx, { action: 'auth.mfa.failed', actor: { type: 'anonymous', id: null }, target: { type: 'account', id: pending.accountId }, outcome: 'failure', detail: { reason: 'invalid_code' }, ...meta });
      return showSecondFactor(ctx, interaction, 'That code is not valid (codes work once). Try the current code from your app.');
    }
    await Promise.all([deps.kv.del(pendingKey(uid)), mfaFailures.delete(pending.accountId).catch(() => undefined)]);
    await completeLogin(ctx, interaction, pending.accountId, { mfa: true, method }, pending.rehashed);
  });

  async function grantConsent(ctx: Context, interaction: InteractionDetails, accountId: string) {
    const { prompt, params, grantId } = interaction;
    const provider = deps.provider();
    const grant = grantId ? await provider.Grant.find(grantId) : new provider.Grant({ accountId, clientId: params.client_id as string });
    if (!grant) return renderPage(ctx, 'Allow access', messageView('This sign-in has expired', 'Go back to the application and start again.'), 400);
    const missing = prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
    const savedId = await grant.save();
    queueAudit(ctx, {
      action: 'auth.consent.granted',
      actor: { type: 'user', id: accountId },
      target: { type: 'client', id: params.client_id as string },
      outcome: 'success',
      detail: { scopes: [...(missing.missingOIDCScope ?? []), ...Object.values(missing.missingResourceScopes ?? {}).flat()] },
      ...requestMeta(ctx),
    });
    await finish(ctx, { consent: { grantId: savedId } }, true);
  }

  router.post('/:uid/confirm', async (ctx) => {
    const interaction = await details(ctx);
    if (!interaction) return;
    const { uid, prompt, session } = interaction;
    const parsed = csrfBody.safeParse(await readForm(ctx));
    if (!parsed.success || !csrfValid(ctx, uid, parsed.data.csrf)) {
      return renderPage(ctx, 'Allow access', messageView('This form has expired', 'Go back to the application and start again.'), 403);
    }
    if (prompt.name !== 'consent' || !session?.accountId) {
      return renderPage(ctx, 'Allow access', messageView('Nothing to allow', 'This sign-in step is already complete.'), 400);
    }
    await grantConsent(ctx, interaction, session.accountId);
  });

  router.post('/:uid/abort', async (ctx) => {
    const interaction = await details(ctx);
    if (!interaction) return;
    const parsed = csrfBody.safeParse(await readForm(ctx));
    if (!parsed.success || !csrfValid(ctx, interaction.uid, parsed.data.csrf)) {
      return renderPage(ctx, 'Sign in', messageView('This form has expired', 'Go back to the application and start again.'), 403);
    }
    await deps.kv.del(pendingKey(interaction.uid));
    queueAudit(ctx, {
      action: 'auth.consent.denied',
      actor: interaction.session?.accountId ? { type: 'user', id: interaction.session.accountId } : { type: 'anonymous', id: null },
      target: { type: 'client', id: interaction.params.client_id as string },
      outcome: 'denied',
      ...requestMeta(ctx),
    });
    await finish(ctx, { error: 'access_denied', error_description: 'The user denied the request.' });
  });

  registerSelfServiceRoutes(router, { ...deps.selfService, kit, accounts: deps.accounts });
  return router;
}

export { FormError };
