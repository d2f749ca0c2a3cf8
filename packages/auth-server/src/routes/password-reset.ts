// "Forgot password" inside a sign-in (/interaction/:uid/forgot) and the page its mailed link opens
// (/reset-password). Rules: the answer never says whether the address has an account, and a known
// address takes no longer than an unknown one (the token is made after the answer leaves); at most
// RESET_REQUESTS_PER_IP_PER_HOUR per IP and RESET_MAILS_PER_ACCOUNT_PER_HOUR mails per account; the
// link works once (consumed before the password changes, even under concurrency); the new password
// passes the policy; every browser signed in to the account is signed out; audited.
import { z } from 'zod';
import { normalizeEmail } from '../accounts/accounts';
import { passwordProblem } from '../accounts/policy';
import { TOKEN_TTL_SECONDS } from '../accounts/tokens';
import { passwordResetMessage } from '../mail/messages';
import { actors, audit } from '../request-scope';
import { loadInteraction } from '../steps/load-interaction';
import { formOf, interactionOf, type PageContext, type PageRoute } from '../steps/page';
import { readForm } from '../steps/read-form';
import { tokenFormView } from '../views/account';
import { forgotView, messageView, renderPage, seeOther } from '../views/interaction';
import { CSRF, deliver, field, type PageDeps } from './deps';
import { checkYourEmail } from './signup';
import { continueLink, expiredLink, formProblem, queryToken, safeContinue, sentToken, withContinue } from './mailed-links';

const forgotBody = z.object({ csrf: CSRF, email: field(320) }).strict();
const resetBody = z.object({ csrf: CSRF, token: field(128), password: field(4096) }).strict();
const MINUTES = TOKEN_TTL_SECONDS.password_reset / 60;

function showForgot(deps: PageDeps, ctx: PageContext, error?: string, status = 200) {
  const { uid } = interactionOf(ctx);
  renderPage(ctx, 'Reset password', forgotView({ action: `/interaction/${uid}/forgot`, csrf: deps.interactionCsrf.token(ctx, uid), loginHref: `/interaction/${uid}`, error }), status);
}

const resetForm = (deps: PageDeps, ctx: PageContext, token: string, error?: string) =>
  tokenFormView({
    title: 'Choose a new password',
    intro: 'Your new password replaces the old one, and every browser signed in to your account is signed out.',
    action: '/reset-password',
    csrf: deps.pageCsrf.token(ctx),
    token,
    button: 'Change password',
    passwordField: true,
    error,
  });

export function passwordResetRoutes(deps: PageDeps): PageRoute[] {
  const atLogin = loadInteraction(deps.interactions, 'login');
  return [
    { method: 'get', path: '/interaction/:uid/forgot', steps: [atLogin, async (ctx) => showForgot(deps, ctx)] },
    {
      method: 'post',
      path: '/interaction/:uid/forgot',
      steps: [
        atLogin,
        readForm({
          schema: forgotBody,
          csrf: (ctx, sent) => deps.interactionCsrf.valid(ctx, interactionOf(ctx).uid, sent),
          again: async (ctx, problem, status) => showForgot(deps, ctx, problem === 'csrf' ? 'This form has expired. Please try again.' : 'Enter your email address.', status),
        }),
        async (ctx) => {
          const { uid } = interactionOf(ctx);
          await deps.limits.take('resetsPerIp', ctx.ip);
          const email = normalizeEmail(formOf<z.infer<typeof forgotBody>>(ctx).email);
          const account = await deps.accounts.findByEmail(email);
          // Past the per-account limit the answer stays the same; only the mail is not sent again.
          const sent = account ? await deps.limits.tryTake('resetMailsPerAccount', account.id) : false;
          if (account && sent) {
            setImmediate(() => {
              deps.tokens
                .issue(account.id, 'password_reset', `/interaction/${uid}`)
                .then((token) => deliver(deps, passwordResetMessage({ to: account.email, link: `${deps.issuer}/reset-password?token=${token}`, minutes: MINUTES })))
                .catch((err) => deps.logger.error({ err: (err as Error).message }, 'password reset link could not be made'));
            });
          }
          audit(ctx, { action: 'auth.password_reset.requested', actor: actors.anonymous(), target: { type: 'account', id: account?.id ?? email }, outcome: sent ? 'success' : 'denied', detail: { reason: sent ? null : account ? 'rate_limited' : 'unknown_email' } });
          seeOther(ctx, `/interaction/${uid}/forgot/sent`);
        },
      ],
    },
    {
      method: 'get',
      path: '/interaction/:uid/forgot/sent',
      steps: [atLogin, (ctx) => checkYourEmail(ctx, interactionOf(ctx).uid, `If an account exists for the address you entered, we sent it a link to choose a new password. The link works once, for ${MINUTES} minutes.`, 'Back to sign in')],
    },
    {
      method: 'get',
      path: '/reset-password',
      steps: [
        async (ctx) => {
          const token = queryToken(ctx);
          if (!(await deps.tokens.peek(token, 'password_reset'))) return expiredLink(ctx, 'Reset password');
          renderPage(ctx, 'Reset password', resetForm(deps, ctx, token));
        },
      ],
    },
    {
      method: 'post',
      path: '/reset-password',
      steps: [
        readForm({
          schema: resetBody,
          csrf: (ctx, sent) => deps.pageCsrf.valid(ctx, sent),
          again: async (ctx, problem, status) => renderPage(ctx, 'Reset password', resetForm(deps, ctx, sentToken(ctx), formProblem(problem)), status),
        }),
        async (ctx) => {
          const body = formOf<z.infer<typeof resetBody>>(ctx);
          const pending = await deps.tokens.peek(body.token, 'password_reset');
          const account = pending ? await deps.accounts.findById(pending.accountId) : undefined;
          if (!account) return expiredLink(ctx, 'Reset password');
          const problem = passwordProblem(body.password, { email: account.email, name: account.name ?? undefined });
          if (problem) return renderPage(ctx, 'Reset password', resetForm(deps, ctx, body.token, problem), 400);
          // Consume first (single use even under concurrency), then change the password.
          const used = await deps.tokens.consume(body.token, 'password_reset');
          if (!used) return expiredLink(ctx, 'Reset password');
          await deps.accounts.setPassword(account.id, body.password, { email: account.email });
          // Whoever opened the mailed link controls the mailbox: the address is confirmed.
          if (!account.emailVerified) await deps.accounts.markVerified(account.id);
          const ended = await deps.sessions.revokeAll(account.id, 'password_reset');
          await deps.throttle.succeeded(account.email, ctx.ip).catch(() => undefined);
          audit(ctx, { action: 'auth.password_reset.completed', actor: actors.user(account.id), target: { type: 'account', id: account.id }, outcome: 'success', detail: { sessionsEnded: ended } });
          seeOther(ctx, withContinue('/reset-password/done', used.returnTo));
        },
      ],
    },
    {
      method: 'get',
      path: '/reset-password/done',
      steps: [async (ctx) => renderPage(ctx, 'Password changed', messageView('Password changed', 'Sign in with your new password.', continueLink(safeContinue(ctx), 'Continue signing in')))],
    },
  ];
}
