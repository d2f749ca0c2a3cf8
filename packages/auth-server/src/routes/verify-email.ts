// The page a confirmation mail opens (/verify-email), and "send the link again" in the account
// console. Rules: the link works once (consumed before the address is marked confirmed); GET only
// shows a form (mail scanners that follow links confirm nothing); at most
// VERIFY_MAILS_PER_ACCOUNT_PER_HOUR new links per account, past which the page says the same and no
// mail leaves; audited.
import { z } from 'zod';
import { verifyEmailMessage } from '../mail/messages';
import { actors, audit } from '../request-scope';
import { formOf, signedInOf, type PageContext, type PageRoute } from '../steps/page';
import { readForm } from '../steps/read-form';
import { requireSignedIn } from '../steps/require-signed-in';
import { tokenFormView } from '../views/account';
import { messageView, renderPage, seeOther } from '../views/interaction';
import { CSRF, deliver, field, type PageDeps } from './deps';
import { accountFormAgain } from './account-home';
import { continueLink, expiredLink, formProblem, queryToken, safeContinue, sentToken, withContinue } from './mailed-links';

const withToken = z.object({ csrf: CSRF, token: field(128) }).strict();
const csrfOnly = z.object({ csrf: CSRF }).strict();

const confirmForm = (deps: PageDeps, ctx: PageContext, token: string, error?: string) =>
  tokenFormView({ title: 'Confirm your email address', intro: 'Confirm that this address belongs to your CloudDocs account.', action: '/verify-email', csrf: deps.pageCsrf.token(ctx), token, button: 'Confirm email address', error });

export function verifyEmailRoutes(deps: PageDeps): PageRoute[] {
  return [
    {
      method: 'get',
      path: '/verify-email',
      steps: [
        async (ctx) => {
          const token = queryToken(ctx);
          if (!(await deps.tokens.peek(token, 'verify_email'))) return expiredLink(ctx, 'Confirm email');
          renderPage(ctx, 'Confirm email', confirmForm(deps, ctx, token));
        },
      ],
    },
    {
      method: 'post',
      path: '/verify-email',
      steps: [
        readForm({
          schema: withToken,
          csrf: (ctx, sent) => deps.pageCsrf.valid(ctx, sent),
          again: async (ctx, problem, status) => renderPage(ctx, 'Confirm email', confirmForm(deps, ctx, sentToken(ctx), formProblem(problem)), status),
        }),
        async (ctx) => {
          const used = await deps.tokens.consume(formOf<z.infer<typeof withToken>>(ctx).token, 'verify_email');
          if (!used) return expiredLink(ctx, 'Confirm email');
          await deps.accounts.markVerified(used.accountId);
          audit(ctx, { action: 'auth.email_verified', actor: actors.user(used.accountId), target: { type: 'account', id: used.accountId }, outcome: 'success' });
          seeOther(ctx, withContinue('/verify-email/done', used.returnTo));
        },
      ],
    },
    {
      method: 'get',
      path: '/verify-email/done',
      steps: [async (ctx) => renderPage(ctx, 'Email confirmed', messageView('Email address confirmed', 'Thank you. You can now sign in.', continueLink(safeContinue(ctx), 'Continue signing in')))],
    },
    {
      method: 'post',
      path: '/account/verify-email',
      steps: [
        requireSignedIn(deps),
        readForm({ schema: csrfOnly, csrf: (ctx, sent) => deps.pageCsrf.valid(ctx, sent), again: accountFormAgain(deps) }),
        async (ctx) => {
          const { account } = signedInOf(ctx);
          if (account.emailVerified) return seeOther(ctx, '/account');
          if (await deps.limits.tryTake('verifyMailsPerAccount', account.id)) {
            const token = await deps.tokens.issue(account.id, 'verify_email');
            deliver(deps, verifyEmailMessage({ to: account.email, name: account.name, link: `${deps.issuer}/verify-email?token=${token}` }));
          }
          seeOther(ctx, '/account?notice=link-sent');
        },
      ],
    },
  ];
}
