// Login, consent and abort for oidc-provider interactions. Each POST is bound to the browser that
// started the interaction (oidc-provider checks the interaction cookie against the URL) and carries
// a CSRF token derived from that cookie. Redirects after a credential POST are 303.
import { createHmac, timingSafeEqual } from 'node:crypto';
import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import { errors } from 'oidc-provider';
import { z } from 'zod';
import type { AccountLibrary } from '../accounts/accounts';
import { normalizeEmail } from '../accounts/accounts';
import { ThrottleUnavailableError, type LoginThrottle } from '../accounts/throttle';
import type { CspState } from '../http/security-headers';
import { queueAudit, requestMeta } from '../audit-scope';
import { consentView, loginView, messageView, renderPage } from './views';

export interface InteractionDeps {
  provider: () => Provider;
  accounts: AccountLibrary;
  throttle: LoginThrottle;
  cookieKey: string;
  interactionCookie: string;
}

const loginBody = z.object({ email: z.string().max(320), password: z.string().max(4096), csrf: z.string().max(128) }).strict();
const csrfBody = z.object({ csrf: z.string().max(128) }).strict();

const GENERIC_FAILURE = 'The email or password is incorrect.';

async function readForm(ctx: Context): Promise<Record<string, string>> {
  if (!ctx.is('application/x-www-form-urlencoded')) throw new FormError(415, 'Send the form as application/x-www-form-urlencoded.');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    size += (chunk as Buffer).length;
    if (size > 16 * 1024) throw new FormError(413, 'The form is too large.');
    chunks.push(chunk as Buffer);
  }
  const params = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
  const out: Record<string, string> = Object.create(null);
  for (const [k, v] of params) {
    if (k in out) throw new FormError(400, `The field "${k}" appears twice.`);
    out[k] = v;
  }
  return out;
}

class FormError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function createInteractionRouter(deps: InteractionDeps): Router {
  const router = new Router({ prefix: '/interaction' });

  const csrfFor = (ctx: Context, uid: string) => {
    const cookie = ctx.cookies.get(deps.interactionCookie) ?? '';
    return createHmac('sha256', deps.cookieKey).update(`csrf:${uid}:${cookie}`).digest('base64url');
  };
  const csrfValid = (ctx: Context, uid: string, sent: string) => {
    const expected = Buffer.from(csrfFor(ctx, uid));
    const given = Buffer.from(sent);
    return expected.length === given.length && timingSafeEqual(expected, given);
  };

  async function details(ctx: Context) {
    try {
      return await deps.provider().interactionDetails(ctx.req, ctx.res);
    } catch (err) {
      if (err instanceof errors.SessionNotFound || (err as { name?: string }).name === 'SessionNotFound') {
        renderPage(ctx, 'Sign-in expired', messageView('This sign-in has expired', 'Go back to the application and start again.'), 400);
        return undefined;
      }
      throw err;
    }
  }

  async function clientName(clientId: string | undefined): Promise<string> {
    const client = clientId ? await deps.provider().Client.find(clientId) : undefined;
    return client?.clientName ?? clientId ?? 'an application';
  }

  function allowRedirectOrigin(ctx: Context, redirectUri: unknown) {
    if (typeof redirectUri !== 'string') return;
    try {
      (ctx.state.csp as CspState).formActionOrigins.add(new URL(redirectUri).origin);
    } catch {
      // not a URL: nothing to allow
    }
  }

  async function finish(ctx: Context, result: Record<string, unknown>) {
    const redirectTo = await deps.provider().interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
    ctx.status = 303;
    ctx.set('Cache-Control', 'no-store');
    ctx.redirect(redirectTo);
  }

  async function showLogin(ctx: Context, uid: string, clientId: string | undefined, extra: { email?: string; error?: string; status?: number; params?: Record<string, unknown> } = {}) {
    allowRedirectOrigin(ctx, extra.params?.redirect_uri);
    renderPage(
      ctx,
      'Sign in',
      loginView({ action: `/interaction/${uid}/login`, csrf: csrfFor(ctx, uid), clientName: await clientName(clientId), email: extra.email, error: extra.error }),
      extra.status ?? 200,
    );
  }

  router.get('/:uid', async (ctx) => {
    const interaction = await details(ctx);
    if (!interaction) return;
    const { uid, prompt, params, session } = interaction;
    const clientId = params.client_id as string | undefined;
    if (prompt.name === 'login') return showLogin(ctx, uid, clientId, { params });
    if (prompt.name === 'consent') {
      allowRedirectOrigin(ctx, params.redirect_uri);
      const details = prompt.details as { missingOIDCScope?: string[]; missingResourceScopes?: Record<string, string[]> };
      const scopes = [...new Set([...(details.missingOIDCScope ?? []), ...Object.values(details.missingResourceScopes ?? {}).flat()])];
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
    const { uid, prompt, params } = interaction;
    const clientId = params.client_id as string | undefined;
    const parsed = loginBody.safeParse(await readForm(ctx));
    if (!parsed.success) return showLogin(ctx, uid, clientId, { error: 'Enter your email and password.', status: 400, params });
    const { email, password, csrf } = parsed.data;
    if (!csrfValid(ctx, uid, csrf)) return showLogin(ctx, uid, clientId, { error: 'This form has expired. Please try again.', status: 403, params });
    if (prompt.name !== 'login') return showLogin(ctx, uid, clientId, { error: 'This sign-in step is already complete.', status: 400, params });

    const meta = requestMeta(ctx);
    const accountKey = normalizeEmail(email);
    let decision;
    try {
      decision = await deps.throttle.attempt(accountKey, ctx.ip);
    } catch (err) {
      if (!(err instanceof ThrottleUnavailableError)) throw err;
      ctx.state.logger?.error({ err: err.message }, 'sign-in throttling unavailable');
      allowRedirectOrigin(ctx, params.redirect_uri);
      return renderPage(
        ctx,
        'Sign in',
        loginView({ action: `/interaction/${uid}/login`, csrf: csrfFor(ctx, uid), clientName: await clientName(clientId), email, error: 'Sign-in is temporarily unavailable. Please try again in a few minutes.' }),
        503,
      );
    }
    if (!decision.allowed) {
      queueAudit(ctx, {
        action: decision.locked ? 'auth.lockout' : 'auth.login.failed',
        actor: { type: 'anonymous', id: null },
        target: { type: 'account', id: accountKey },
        outcome: 'denied',
        detail: { reason: decision.locked ? 'locked' : 'throttled', scope: decision.scope, retryAfterSeconds: decision.retryAfterSeconds },
        ...meta,
      });
      ctx.set('Retry-After', String(decision.retryAfterSeconds));
      allowRedirectOrigin(ctx, params.redirect_uri);
      return renderPage(
        ctx,
        'Sign in',
        loginView({
          action: `/interaction/${uid}/login`,
          csrf: csrfFor(ctx, uid),
          clientName: await clientName(clientId),
          email,
          error: `Too many sign-in attempts. Try again later (in about ${Math.ceil(decision.retryAfterSeconds / 60)} minute${decision.retryAfterSeconds > 60 ? 's' : ''}).`,
        }),
        429,
      );
    }

    const result = await deps.accounts.authenticate(email, password);
    if (!result.ok) {
      const failures = await deps.throttle.failed(accountKey);
      queueAudit(ctx, {
        action: 'auth.login.failed',
        actor: { type: 'anonymous', id: null },
        target: { type: 'account', id: result.accountId ?? accountKey },
        outcome: 'failure',
        detail: { reason: 'invalid_credentials', consecutiveFailures: failures },
        ...meta,
      });
      return showLogin(ctx, uid, clientId, { email, error: GENERIC_FAILURE, params });
    }
    await deps.throttle.succeeded(accountKey, ctx.ip);
    queueAudit(ctx, {
      action: 'auth.login.succeeded',
      actor: { type: 'user', id: result.account.id },
      target: { type: 'account', id: result.account.id },
      outcome: 'success',
      detail: { clientId: clientId ?? null, amr: ['pwd'] },
      ...meta,
    });
    if (result.rehashed) {
      queueAudit(ctx, {
        action: 'auth.password_rehashed',
        actor: { type: 'user', id: result.account.id },
        target: { type: 'account', id: result.account.id },
        outcome: 'success',
        ...meta,
      });
    }
    await finish(ctx, { login: { accountId: result.account.id, amr: ['pwd'], acr: 'urn:clouddocs:pwd' } });
  });

  router.post('/:uid/confirm', async (ctx) => {
    const interaction = await details(ctx);
    if (!interaction) return;
    const { uid, prompt, params, session, grantId } = interaction;
    const parsed = csrfBody.safeParse(await readForm(ctx));
    if (!parsed.success || !csrfValid(ctx, uid, parsed.data.csrf)) {
      return renderPage(ctx, 'Allow access', messageView('This form has expired', 'Go back to the application and start again.'), 403);
    }
    if (prompt.name !== 'consent' || !session?.accountId) {
      return renderPage(ctx, 'Allow access', messageView('Nothing to allow', 'This sign-in step is already complete.'), 400);
    }
    const provider = deps.provider();
    const grant = grantId
      ? await provider.Grant.find(grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id as string });
    if (!grant) return renderPage(ctx, 'Allow access', messageView('This sign-in has expired', 'Go back to the application and start again.'), 400);
    const missing = prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
    const savedId = await grant.save();
    queueAudit(ctx, {
      action: 'auth.consent.granted',
      actor: { type: 'user', id: session.accountId },
      target: { type: 'client', id: params.client_id as string },
      outcome: 'success',
      detail: { scopes: [...(missing.missingOIDCScope ?? []), ...Object.values(missing.missingResourceScopes ?? {}).flat()] },
      ...requestMeta(ctx),
    });
    await finish(ctx, { consent: { grantId: savedId } });
  });

  router.post('/:uid/abort', async (ctx) => {
    const interaction = await details(ctx);
    if (!interaction) return;
    const parsed = csrfBody.safeParse(await readForm(ctx));
    if (!parsed.success || !csrfValid(ctx, interaction.uid, parsed.data.csrf)) {
      return renderPage(ctx, 'Sign in', messageView('This form has expired', 'Go back to the application and start again.'), 403);
    }
    queueAudit(ctx, {
      action: 'auth.consent.denied',
      actor: interaction.session?.accountId ? { type: 'user', id: interaction.session.accountId } : { type: 'anonymous', id: null },
      target: { type: 'client', id: interaction.params.client_id as string },
      outcome: 'denied',
      ...requestMeta(ctx),
    });
    await finish(ctx, { error: 'access_denied', error_description: 'The user denied the request.' });
  });

  return router;
}

export { FormError };
