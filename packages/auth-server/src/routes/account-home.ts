// The account console's home (/account) and its sign-in: the console is a first-party client that
// signs in through the ordinary pages (never asked for consent); the browser comes back with this
// origin's session cookie, which is all the console needs (the code is not used). Rules: the
// callback's `state` must match the cookie set when the sign-in started; pages are no-store.
import { createHash, randomBytes } from 'node:crypto';
import { ACCOUNT_CONSOLE_CLIENT_ID } from '../constants';
import { requireSignedIn } from '../steps/require-signed-in';
import { formOf, signedInOf, type PageContext, type PageRoute, type PageStep } from '../steps/page';
import { accountView } from '../views/account';
import { messageView, renderPage, seeOther } from '../views/interaction';
import { html } from '../views/layout';
import type { PageDeps } from './deps';

const NOTICES: Record<string, string> = {
  revoked: 'Access removed. The app can no longer use its tokens.',
  'signed-out': 'That browser is signed out.',
  'mfa-off': 'Two-step verification is off.',
  'link-sent': 'We sent a new confirmation link to your address. It works once, for 24 hours.',
  profile: 'Your profile is saved.',
  'email-link-sent': 'If that address can be used, we sent it a link. Your sign-in address changes once you open it.',
  'password-changed': 'Your password is changed, and your other browsers are signed out.',
  'api-key-revoked': 'API key revoked. It no longer works.',
  'passkey-added': 'Passkey added. You can sign in with it.',
  'passkey-removed': 'Passkey removed. It no longer signs you in.',
};

/** The console page of the signed-in person, with a notice or an error (then with its status). */
export async function showAccount(deps: PageDeps, ctx: PageContext, extra: { error?: string; status?: number } = {}) {
  const { account, session } = signedInOf(ctx);
  const [mfa, apps, listed, apiKeys, passkeys] = await Promise.all([
    deps.mfa.status(account.id),
    deps.grants.connectedApps(account.id),
    deps.sessions.list(account.id),
    deps.apiKeys.list(account.id),
    deps.passkeys.available ? deps.passkeys.list(account.id) : undefined,
  ]);
  const sessions = await Promise.all(listed.map(async (s) => ({ ...s, clients: await deps.sessions.clientNames(s.clients) })));
  const notice = typeof ctx.query.notice === 'string' ? NOTICES[ctx.query.notice] : undefined;
  renderPage(
    ctx,
    'Your account',
    accountView({ csrf: deps.pageCsrf.token(ctx), email: account.email, name: account.name, emailVerified: account.emailVerified, mfa, apps, sessions, currentSessionUid: session.uid, apiKeys, passkeys, notice, error: extra.error }),
    extra.status ?? 200,
  );
}

/** Shows the console again after a form that could not be taken (bad input 400, expired CSRF field 403). */
export const accountFormAgain = (deps: PageDeps) => (ctx: PageContext, problem: 'invalid' | 'csrf', status: 400 | 403) =>
  showAccount(deps, ctx, { error: problem === 'csrf' ? 'This form has expired. Reload the page and try again.' : 'The form could not be read. Check what you entered and try again.', status });

/** What a console form confirms with the current password (the audit action of a refusal). */
export type PasswordAction = 'auth.mfa.disabled' | 'auth.mfa.enrolled' | 'auth.profile.updated' | 'auth.password_changed' | 'user.deleted';

/**
 * The current password (the form's `password` field unless `pick` says otherwise), checked like a
 * sign-in (throttle, lockout); on failure the console page says why (400 wrong, 429 too many, 503).
 */
export function confirmCurrentPassword(deps: PageDeps, action: PasswordAction, pick: (form: Record<string, string>) => string = (form) => form.password ?? ''): PageStep {
  return async (ctx, next) => {
    const { account } = signedInOf(ctx);
    const result = await deps.signIn.confirmPassword(ctx, account, pick(formOf<Record<string, string>>(ctx)), action);
    if (result === 'ok') return next();
    if (result === 'wrong') return showAccount(deps, ctx, { error: 'The password is incorrect.', status: 400 });
    ctx.set('Retry-After', result === 'unavailable' ? '60' : String(result.retryAfterSeconds));
    return showAccount(deps, ctx, result === 'unavailable' ? { error: 'This is temporarily unavailable. Please try again in a few minutes.', status: 503 } : { error: 'Too many attempts. Try again later.', status: 429 });
  };
}

export function accountHomeRoutes(deps: PageDeps): PageRoute[] {
  const cookie = { path: '/account', secure: deps.https };
  return [
    { method: 'get', path: '/account', steps: [requireSignedIn(deps), (ctx) => showAccount(deps, ctx)] },
    {
      method: 'get',
      path: '/account/login',
      steps: [
        async (ctx) => {
          const state = randomBytes(24).toString('base64url');
          // Where to go afterwards: the account console, or the admin console (which may ask for a fresh
          // sign-in, with the second factor: prompt=login).
          const next = ctx.query.next === '/admin' ? '/admin' : '/account';
          const challenge = createHash('sha256').update(randomBytes(32).toString('base64url')).digest('base64url');
          ctx.cookies.set(deps.accountStateCookie, `${state}.${next === '/admin' ? 'a' : 'c'}`, { ...cookie, httpOnly: true, sameSite: 'lax', maxAge: 600_000, signed: false, overwrite: true });
          const search = new URLSearchParams({
            client_id: ACCOUNT_CONSOLE_CLIENT_ID,
            response_type: 'code',
            scope: 'openid',
            redirect_uri: `${deps.issuer}/account/callback`,
            code_challenge: challenge,
            code_challenge_method: 'S256',
            state,
            ...(ctx.query.reauth === '1' ? { prompt: 'login' } : {}),
          });
          ctx.set('Cache-Control', 'no-store');
          ctx.redirect(`/auth?${search}`);
        },
      ],
    },
    {
      method: 'get',
      path: '/account/callback',
      steps: [
        async (ctx) => {
          const [expected, target] = (ctx.cookies.get(deps.accountStateCookie) ?? '').split('.');
          ctx.cookies.set(deps.accountStateCookie, null, cookie);
          const again = html`<p><a href="/account/login">Sign in</a></p>`;
          if (!expected || ctx.query.state !== expected) return renderPage(ctx, 'Your account', messageView('This sign-in has expired', 'Start again.', again), 400);
          if (typeof ctx.query.error === 'string') return renderPage(ctx, 'Your account', messageView('Not signed in', 'The sign-in was cancelled.', again), 400);
          seeOther(ctx, target === 'a' ? '/admin' : '/account');
        },
      ],
    },
  ];
}
