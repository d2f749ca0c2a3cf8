// The account console (/account) and the pages mailed links open (/verify-email, /reset-password).
// The console rides on the oidc-provider session of this browser: it signs in through the ordinary
// sign-in pages as a first-party client (no consent), and it acts only on the signed-in account.
// Every POST carries the page CSRF field and answers 303.
import { createHash, randomBytes } from 'node:crypto';
import Router from '@koa/router';
import type { Knex } from '@clouddocs/db';
import { grantClaim, type Kv, type RevocationList } from '@clouddocs/kv';
import type { Logger } from '@clouddocs/observability';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import { z } from 'zod';
import type { AccountLibrary } from '../accounts/accounts';
import { passwordProblem } from '../accounts/policy';
import { ThrottleUnavailableError, type LoginThrottle } from '../accounts/throttle';
import type { AccountTokenLibrary } from '../accounts/tokens';
import { queueAudit, requestMeta } from '../audit-scope';
import { html } from '../http/html';
import { readForm, seeOther } from '../interactions/kit';
import { ACCOUNT_CONSOLE_CLIENT_ID } from '../interactions/routes';
import { messageView, renderPage } from '../interactions/views';
import type { Mailer } from '../mail/mailer';
import { verifyEmailMessage } from '../mail/messages';
import type { MfaLibrary } from '../mfa/totp';
import { revokeGrantInStores } from '../oidc/adapter';
import { createPageCsrf } from './csrf';
import type { SessionDirectory } from './sessions';
import { accountView, recoveryCodesView, signedOutView, tokenFormView, totpEnrolView, type ConnectedApp } from './views';

export interface AccountRoutesDeps {
  provider: () => Provider;
  knex: Knex;
  kv: Kv;
  logger: Logger;
  issuer: string;
  cookieKey: string;
  accounts: AccountLibrary;
  tokens: AccountTokenLibrary;
  mfa: MfaLibrary;
  sessions: SessionDirectory;
  throttle: LoginThrottle;
  revocations: RevocationList;
  mailer: Mailer;
}

const csrfOnly = z.object({ csrf: z.string().max(128) }).strict();
const withPassword = z.object({ csrf: z.string().max(128), password: z.string().max(4096) }).strict();
const withCode = z.object({ csrf: z.string().max(128), code: z.string().max(32) }).strict();
const withGrant = z.object({ csrf: z.string().max(128), grant: z.string().max(128) }).strict();
const withSession = z.object({ csrf: z.string().max(128), session: z.string().max(128) }).strict();
const withToken = z.object({ csrf: z.string().max(128), token: z.string().max(128) }).strict();
const withTokenPassword = z.object({ csrf: z.string().max(128), token: z.string().max(128), password: z.string().max(4096) }).strict();

const CONTINUE = /^\/interaction\/[A-Za-z0-9_-]{1,64}$/;
const RECOVERY_SHOW_SECONDS = 300;
const STATE_COOKIE = 'cd_account_state';

export function createAccountRouter(deps: AccountRoutesDeps): Router {
  const router = new Router();
  const https = deps.issuer.startsWith('https:');
  const csrf = createPageCsrf({ cookieKey: deps.cookieKey, https });
  const stateCookie = https ? `__Secure-${STATE_COOKIE}` : STATE_COOKIE;
  const verifyMails = deps.kv.rateLimiter({ keyPrefix: 'verify-mail', points: 3, duration: 3600 });

  async function signedIn(ctx: Context) {
    const session = await deps.provider().Session.get(ctx as never);
    if (!session?.accountId) return undefined;
    const account = await deps.accounts.findById(session.accountId);
    return account ? { session, account } : undefined;
  }

  /** Reads a POST of the given shape with a valid CSRF field, else answers 403 itself. */
  async function form<T extends z.ZodType>(ctx: Context, schema: T): Promise<z.infer<T> | undefined> {
    const parsed = schema.safeParse(await readForm(ctx));
    if (!parsed.success || !csrf.valid(ctx, (parsed.data as { csrf: string }).csrf)) {
      renderPage(ctx, 'Request not accepted', messageView('This form has expired', 'Reload the page and try again.', html`<p><a href="/account">Back to your account</a></p>`), 403);
      return undefined;
    }
    return parsed.data;
  }

  // A page, not an API: 200 with a way to sign in (a 401 would need a WWW-Authenticate challenge).
  const notSignedIn = (ctx: Context) => renderPage(ctx, 'Your account', signedOutView());

  async function connectedApps(accountId: string): Promise<ConnectedApp[]> {
    const rows = await deps
      .knex('auth.oidc_payloads')
      .where({ model: 'Grant' })
      .whereRaw("payload->>'accountId' = ?", [accountId])
      .andWhere((q) => q.whereNull('expires_at').orWhere('expires_at', '>', deps.knex.fn.now()))
      .select('id', 'payload');
    const apps: ConnectedApp[] = [];
    for (const row of rows) {
      const payload = (typeof row.payload === 'string' ? JSON.parse(row.payload) : row.payload) as {
        clientId: string;
        iat?: number;
        openid?: { scope?: string };
        resources?: Record<string, string>;
      };
      if (payload.clientId === ACCOUNT_CONSOLE_CLIENT_ID) continue;
      const client = await deps.provider().Client.find(payload.clientId);
      const scopes = [...(payload.openid?.scope?.split(' ') ?? []), ...Object.values(payload.resources ?? {}).flatMap((s) => s.split(' '))].filter(Boolean);
      apps.push({ grantId: row.id, clientId: payload.clientId, clientName: client?.clientName ?? payload.clientId, scopes: [...new Set(scopes)], grantedAt: payload.iat });
    }
    return apps.sort((a, b) => (b.grantedAt ?? 0) - (a.grantedAt ?? 0));
  }

  const NOTICES: Record<string, string> = {
    revoked: 'Access removed. The app can no longer use its tokens.',
    'signed-out': 'That browser is signed out.',
    'mfa-off': 'Two-step verification is off.',
    'link-sent': 'We sent a new confirmation link to your address. It works once, for 24 hours.',
  };

  router.get('/account', async (ctx) => {
    const who = await signedIn(ctx);
    if (!who) return notSignedIn(ctx);
    const { account, session } = who;
    const [mfa, apps, listed] = await Promise.all([deps.mfa.status(account.id), connectedApps(account.id), deps.sessions.list(account.id)]);
    const sessions = await Promise.all(listed.map(async (s) => ({ ...s, clients: await deps.sessions.clientNames(s.clients) })));
    const notice = typeof ctx.query.notice === 'string' ? NOTICES[ctx.query.notice] : undefined;
    renderPage(
      ctx,
      'Your account',
      accountView({ csrf: csrf.token(ctx), email: account.email, name: account.name, emailVerified: account.emailVerified, mfa, apps, sessions, currentSessionUid: session.uid, notice }),
    );
  });

  // Sign-in for the console: an authorization request of the first-party client; the browser comes
  // back with this origin's session cookie, which is all the console needs (the code is not used).
  router.get('/account/login', async (ctx) => {
    const state = randomBytes(24).toString('base64url');
    const challenge = createHash('sha256').update(randomBytes(32).toString('base64url')).digest('base64url');
    ctx.cookies.set(stateCookie, state, { httpOnly: true, sameSite: 'lax', secure: https, path: '/account', maxAge: 600_000, signed: false, overwrite: true });
    const url = new URL('/auth', deps.issuer);
    url.search = new URLSearchParams({
      client_id: ACCOUNT_CONSOLE_CLIENT_ID,
      response_type: 'code',
      scope: 'openid',
      redirect_uri: `${deps.issuer}/account/callback`,
      code_challenge: challenge,
      code_challenge_method: 'S256',
      state,
    }).toString();
    ctx.set('Cache-Control', 'no-store');
    ctx.redirect(url.pathname + url.search);
  });

  router.get('/account/callback', async (ctx) => {
    const expected = ctx.cookies.get(stateCookie);
    ctx.cookies.set(stateCookie, null, { path: '/account', secure: https });
    const state = typeof ctx.query.state === 'string' ? ctx.query.state : '';
    if (!expected || state !== expected) {
      return renderPage(ctx, 'Your account', messageView('This sign-in has expired', 'Start again.', html`<p><a href="/account/login">Sign in</a></p>`), 400);
    }
    if (typeof ctx.query.error === 'string') {
      return renderPage(ctx, 'Your account', messageView('Not signed in', 'The sign-in was cancelled.', html`<p><a href="/account/login">Sign in</a></p>`), 400);
    }
    ctx.set('Cache-Control', 'no-store');
    ctx.status = 303;
    ctx.redirect('/account');
  });

  router.post('/account/apps/revoke', async (ctx) => {
    const who = await signedIn(ctx);
    if (!who) return notSignedIn(ctx);
    const body = await form(ctx, withGrant);
    if (!body) return;
    const apps = await connectedApps(who.account.id);
    const app = apps.find((a) => a.grantId === body.grant);
    if (!app) return renderPage(ctx, 'Your account', messageView('Not found', 'That app is not connected to your account.', html`<p><a href="/account">Back</a></p>`), 404);
    // The same path as oidc-provider's grant.revoked: refresh and opaque tokens deleted, the grant on
    // the revocation list so its JWT access tokens are refused at introspection and the docs API.
    await revokeGrantInStores({ knex: deps.knex, kv: deps.kv }, app.grantId);
    await deps.revocations.revoke('grant', grantClaim(app.grantId));
    queueAudit(ctx, {
      action: 'grant.revoked',
      actor: { type: 'user', id: who.account.id },
      target: { type: 'grant', id: grantClaim(app.grantId) },
      outcome: 'success',
      detail: { clientId: app.clientId, route: 'account' },
      ...requestMeta(ctx),
    });
    seeOther(ctx, '/account?notice=revoked');
  });

  router.post('/account/verify-email', async (ctx) => {
    const who = await signedIn(ctx);
    if (!who) return notSignedIn(ctx);
    if (!(await form(ctx, csrfOnly))) return;
    if (who.account.emailVerified) return seeOther(ctx, '/account');
    // At most 3 a hour per account; past that the page says the same and no mail leaves.
    const allowed = await verifyMails.consume(who.account.id).then(
      () => true,
      () => false,
    );
    if (allowed) {
      const token = await deps.tokens.issue(who.account.id, 'verify_email');
      deps.mailer.send(verifyEmailMessage({ to: who.account.email, name: who.account.name, link: `${deps.issuer}/verify-email?token=${token}` })).catch((err) => deps.logger.error({ err: (err as Error).message }, 'mail could not be sent'));
    }
    seeOther(ctx, '/account?notice=link-sent');
  });

  router.post('/account/sessions/revoke', async (ctx) => {
    const who = await signedIn(ctx);
    if (!who) return notSignedIn(ctx);
    const body = await form(ctx, withSession);
    if (!body) return;
    if (!(await deps.sessions.revoke(who.account.id, body.session))) {
      return renderPage(ctx, 'Your account', messageView('Not found', 'That session has already ended.', html`<p><a href="/account">Back</a></p>`), 404);
    }
    queueAudit(ctx, {
      action: 'auth.session.revoked',
      actor: { type: 'user', id: who.account.id },
      target: { type: 'session', id: body.session },
      outcome: 'success',
      detail: { current: body.session === who.session.uid },
      ...requestMeta(ctx),
    });
    seeOther(ctx, body.session === who.session.uid ? '/account' : '/account?notice=signed-out');
  });

  router.post('/account/mfa/totp/start', async (ctx) => {
    const who = await signedIn(ctx);
    if (!who) return notSignedIn(ctx);
    const body = await form(ctx, withPassword);
    if (!body) return;
    // Someone holding only a stolen session must not be able to tie the account to their own phone.
    if (!(await passwordConfirmed(ctx, who, body.password, 'auth.mfa.enrolled'))) return;
    await deps.mfa.startEnrolment(who.account.id, who.account.email);
    seeOther(ctx, '/account/mfa/totp');
  });

  router.get('/account/mfa/totp', async (ctx) => {
    const who = await signedIn(ctx);
    if (!who) return notSignedIn(ctx);
    const enrolment = await deps.mfa.pendingEnrolment(who.account.id, who.account.email);
    if (!enrolment) return seeOther(ctx, '/account');
    renderPage(ctx, 'Set up an authenticator app', totpEnrolView({ csrf: csrf.token(ctx), qrDataUrl: enrolment.qrDataUrl, secret: enrolment.secret }));
  });

  router.post('/account/mfa/totp/confirm', async (ctx) => {
    const who = await signedIn(ctx);
    if (!who) return notSignedIn(ctx);
    const body = await form(ctx, withCode);
    if (!body) return;
    const codes = await deps.mfa.confirmEnrolment(who.account.id, body.code);
    if (!codes) {
      const enrolment = await deps.mfa.pendingEnrolment(who.account.id, who.account.email);
      if (!enrolment) return seeOther(ctx, '/account');
      return renderPage(ctx, 'Set up an authenticator app', totpEnrolView({ csrf: csrf.token(ctx), qrDataUrl: enrolment.qrDataUrl, secret: enrolment.secret, error: 'That code did not match. Check the time on your phone and try the next code.' }), 400);
    }
    await deps.kv.set(`mfa-codes-once:${who.account.id}`, JSON.stringify(codes), RECOVERY_SHOW_SECONDS);
    queueAudit(ctx, { action: 'auth.mfa.enrolled', actor: { type: 'user', id: who.account.id }, target: { type: 'account', id: who.account.id }, outcome: 'success', detail: { method: 'totp' }, ...requestMeta(ctx) });
    seeOther(ctx, '/account/mfa/recovery-codes');
  });

  router.get('/account/mfa/recovery-codes', async (ctx) => {
    const who = await signedIn(ctx);
    if (!who) return notSignedIn(ctx);
    const key = `mfa-codes-once:${who.account.id}`;
    const raw = await deps.kv.get(key);
    if (!raw) return seeOther(ctx, '/account');
    await deps.kv.del(key);
    renderPage(ctx, 'Recovery codes', recoveryCodesView(JSON.parse(raw) as string[]));
  });

  /**
   * Re-checks the password of the signed-in person before a two-step change. A wrong password counts
   * like a failed sign-in (same throttle, same lockout). Returns false after answering itself.
   */
  async function passwordConfirmed(ctx: Context, who: NonNullable<Awaited<ReturnType<typeof signedIn>>>, password: string, action: 'auth.mfa.disabled' | 'auth.mfa.enrolled'): Promise<boolean> {
    const back = async (error: string, status: number) => {
      const [mfa, apps, sessions] = await Promise.all([deps.mfa.status(who.account.id), connectedApps(who.account.id), deps.sessions.list(who.account.id)]);
      renderPage(ctx, 'Your account', accountView({ csrf: csrf.token(ctx), ...who.account, mfa, apps, sessions, currentSessionUid: who.session.uid, error }), status);
    };
    let decision;
    try {
      decision = await deps.throttle.attempt(who.account.email, ctx.ip);
    } catch (err) {
      if (!(err instanceof ThrottleUnavailableError)) throw err;
      ctx.set('Retry-After', '60');
      await back('This is temporarily unavailable. Please try again in a few minutes.', 503);
      return false;
    }
    if (!decision.allowed) {
      ctx.set('Retry-After', String(decision.retryAfterSeconds));
      await back('Too many attempts. Try again later.', 429);
      return false;
    }
    if (!(await deps.accounts.verifyPassword(who.account.id, password))) {
      await deps.throttle.failed(who.account.email).catch(() => undefined);
      queueAudit(ctx, { action, actor: { type: 'user', id: who.account.id }, target: { type: 'account', id: who.account.id }, outcome: 'failure', detail: { reason: 'wrong_password' }, ...requestMeta(ctx) });
      await back('The password is incorrect.', 400);
      return false;
    }
    await deps.throttle.succeeded(who.account.email, ctx.ip).catch(() => undefined);
    return true;
  }

  router.post('/account/mfa/disable', async (ctx) => {
    const who = await signedIn(ctx);
    if (!who) return notSignedIn(ctx);
    const body = await form(ctx, withPassword);
    if (!body) return;
    if (!(await passwordConfirmed(ctx, who, body.password, 'auth.mfa.disabled'))) return;
    await deps.mfa.disable(who.account.id);
    queueAudit(ctx, { action: 'auth.mfa.disabled', actor: { type: 'user', id: who.account.id }, target: { type: 'account', id: who.account.id }, outcome: 'success', detail: { method: 'totp' }, ...requestMeta(ctx) });
    seeOther(ctx, '/account?notice=mfa-off');
  });

  router.post('/account/mfa/recovery-codes', async (ctx) => {
    const who = await signedIn(ctx);
    if (!who) return notSignedIn(ctx);
    const body = await form(ctx, withPassword);
    if (!body) return;
    if (!(await deps.mfa.enabled(who.account.id))) return seeOther(ctx, '/account');
    if (!(await passwordConfirmed(ctx, who, body.password, 'auth.mfa.enrolled'))) return;
    const codes = await deps.mfa.regenerateRecoveryCodes(who.account.id);
    await deps.kv.set(`mfa-codes-once:${who.account.id}`, JSON.stringify(codes), RECOVERY_SHOW_SECONDS);
    queueAudit(ctx, { action: 'auth.mfa.enrolled', actor: { type: 'user', id: who.account.id }, target: { type: 'account', id: who.account.id }, outcome: 'success', detail: { method: 'recovery_codes', replaced: true }, ...requestMeta(ctx) });
    seeOther(ctx, '/account/mfa/recovery-codes');
  });

  // --- Mailed links -------------------------------------------------------------------------

  const continueLink = (returnTo: string | null, text: string) =>
    returnTo && CONTINUE.test(returnTo) ? html`<p><a href="${returnTo}">${text}</a></p>` : html`<p><a href="/account">Go to your account</a></p>`;
  const expiredLink = (ctx: Context, title: string) =>
    renderPage(ctx, title, messageView('This link has expired', 'The link was already used or is too old. Ask for a new one from the sign-in page.'), 400);

  router.get('/verify-email', async (ctx) => {
    const token = typeof ctx.query.token === 'string' ? ctx.query.token : '';
    if (!(await deps.tokens.peek(token, 'verify_email'))) return expiredLink(ctx, 'Confirm email');
    renderPage(
      ctx,
      'Confirm email',
      tokenFormView({ title: 'Confirm your email address', intro: 'Confirm that this address belongs to your CloudDocs account.', action: '/verify-email', csrf: csrf.token(ctx), token, button: 'Confirm email address' }),
    );
  });

  router.post('/verify-email', async (ctx) => {
    const body = await form(ctx, withToken);
    if (!body) return;
    const used = await deps.tokens.consume(body.token, 'verify_email');
    if (!used) return expiredLink(ctx, 'Confirm email');
    await deps.accounts.markVerified(used.accountId);
    queueAudit(ctx, { action: 'auth.email_verified', actor: { type: 'user', id: used.accountId }, target: { type: 'account', id: used.accountId }, outcome: 'success', ...requestMeta(ctx) });
    seeOther(ctx, `/verify-email/done${used.returnTo && CONTINUE.test(used.returnTo) ? `?continue=${encodeURIComponent(used.returnTo)}` : ''}`);
  });

  router.get('/verify-email/done', async (ctx) => {
    const next = typeof ctx.query.continue === 'string' ? ctx.query.continue : null;
    renderPage(ctx, 'Email confirmed', messageView('Email address confirmed', 'Thank you. You can now sign in.', continueLink(next, 'Continue signing in')));
  });

  router.get('/reset-password', async (ctx) => {
    const token = typeof ctx.query.token === 'string' ? ctx.query.token : '';
    if (!(await deps.tokens.peek(token, 'password_reset'))) return expiredLink(ctx, 'Reset password');
    renderPage(ctx, 'Reset password', resetForm(ctx, token));
  });

  const resetForm = (ctx: Context, token: string, error?: string) =>
    tokenFormView({
      title: 'Choose a new password',
      intro: 'Your new password replaces the old one, and every browser signed in to your account is signed out.',
      action: '/reset-password',
      csrf: csrf.token(ctx),
      token,
      button: 'Change password',
      passwordField: true,
      error,
    });

  router.post('/reset-password', async (ctx) => {
    const body = await form(ctx, withTokenPassword);
    if (!body) return;
    const pending = await deps.tokens.peek(body.token, 'password_reset');
    if (!pending) return expiredLink(ctx, 'Reset password');
    const account = await deps.accounts.findById(pending.accountId);
    if (!account) return expiredLink(ctx, 'Reset password');
    const problem = passwordProblem(body.password, { email: account.email, name: account.name ?? undefined });
    if (problem) return renderPage(ctx, 'Reset password', resetForm(ctx, body.token, problem), 400);
    // Consume first (single use even under concurrency), then change the password.
    const used = await deps.tokens.consume(body.token, 'password_reset');
    if (!used) return expiredLink(ctx, 'Reset password');
    await deps.accounts.setPassword(account.id, body.password, { email: account.email });
    // Whoever opened the mailed link controls the mailbox: the address is confirmed.
    if (!account.emailVerified) await deps.accounts.markVerified(account.id);
    const ended = await deps.sessions.revokeAll(account.id);
    await deps.throttle.succeeded(account.email, ctx.ip).catch(() => undefined);
    queueAudit(ctx, {
      action: 'auth.password_reset.completed',
      actor: { type: 'user', id: account.id },
      target: { type: 'account', id: account.id },
      outcome: 'success',
      detail: { sessionsEnded: ended },
      ...requestMeta(ctx),
    });
    seeOther(ctx, `/reset-password/done${used.returnTo && CONTINUE.test(used.returnTo) ? `?continue=${encodeURIComponent(used.returnTo)}` : ''}`);
  });

  router.get('/reset-password/done', async (ctx) => {
    const next = typeof ctx.query.continue === 'string' ? ctx.query.continue : null;
    renderPage(ctx, 'Password changed', messageView('Password changed', 'Sign in with your new password.', continueLink(next, 'Continue signing in')));
  });

  return router;
}
