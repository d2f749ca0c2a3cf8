// Sign-up inside a sign-in (/interaction/:uid/signup): the person ends up back at the same app.
// Rules: never say whether an email has an account (a taken address looks exactly like a new one;
// its owner is told by mail, limited like reset mails); at most SIGNUPS_PER_IP_PER_HOUR per IP
// (429; 503 when it cannot be counted); the password policy's reason is shown; audited either way.
import { z } from 'zod';
import { AccountError, normalizeEmail } from '../accounts/accounts';
import { actors, audit } from '../request-scope';
import { loadInteraction } from '../steps/load-interaction';
import { formOf, interactionOf, type PageContext, type PageRoute } from '../steps/page';
import { readForm } from '../steps/read-form';
import { accountExistsMessage, verifyEmailMessage } from '../mail/messages';
import { messageView, renderPage, seeOther, signupView } from '../views/interaction';
import { html } from '../views/layout';
import { CSRF, deliver, field, type PageDeps } from './deps';

const signupBody = z.object({ csrf: CSRF, name: field(400), email: field(320), password: field(4096) }).strict();

const SIGNUP_PROBLEMS: Record<AccountError['code'], string> = {
  invalid_email: 'Enter a valid email address.',
  invalid_name: 'Enter a name of at most 200 characters.',
  weak_password: '',
  email_taken: '',
};

/** The page after a mail was (or, for an unknown address, seemingly was) sent, with a way back to sign-in. */
export function checkYourEmail(ctx: PageContext, uid: string, message: string, back: string): void {
  renderPage(ctx, 'Check your email', messageView('Check your email', message, html`<p><a href="/interaction/${uid}">${back}</a></p>`));
}

async function showSignup(deps: PageDeps, ctx: PageContext, error?: string, status = 200, values: { name?: string; email?: string } = {}) {
  const { uid, params } = interactionOf(ctx);
  renderPage(
    ctx,
    'Create account',
    signupView({ action: `/interaction/${uid}/signup`, csrf: deps.interactionCsrf.token(ctx, uid), clientName: await deps.interactions.clientName(params.client_id as string | undefined), loginHref: `/interaction/${uid}`, error, ...values }),
    status,
  );
}

export function signupRoutes(deps: PageDeps): PageRoute[] {
  const atLogin = loadInteraction(deps.interactions, 'login');
  return [
    { method: 'get', path: '/interaction/:uid/signup', steps: [atLogin, (ctx) => showSignup(deps, ctx)] },
    {
      method: 'post',
      path: '/interaction/:uid/signup',
      steps: [
        atLogin,
        readForm({
          schema: signupBody,
          csrf: (ctx, sent) => deps.interactionCsrf.valid(ctx, interactionOf(ctx).uid, sent),
          again: (ctx, problem, status) => showSignup(deps, ctx, problem === 'csrf' ? 'This form has expired. Please try again.' : 'Fill in your name, email and password.', status),
        }),
        async (ctx) => {
          const { uid, params } = interactionOf(ctx);
          await deps.limits.take('signupsPerIp', ctx.ip);
          const { name, email, password } = formOf<z.infer<typeof signupBody>>(ctx);
          try {
            const account = await deps.accounts.create({ email, password, name });
            const token = await deps.tokens.issue(account.id, 'verify_email', `/interaction/${uid}`);
            deliver(deps, verifyEmailMessage({ to: account.email, name: account.name, link: `${deps.issuer}/verify-email?token=${token}` }));
            audit(ctx, { action: 'auth.signup', actor: actors.user(account.id), target: { type: 'account', id: account.id }, outcome: 'success', detail: { clientId: (params.client_id as string | undefined) ?? null } });
          } catch (err) {
            if (!(err instanceof AccountError)) throw err;
            if (err.code !== 'email_taken') return showSignup(deps, ctx, SIGNUP_PROBLEMS[err.code] || err.message, 400, { name, email });
            const existing = await deps.accounts.findByEmail(email);
            // Limited like reset mails, so repeated sign-ups cannot flood the owner's inbox.
            if (existing && (await deps.limits.tryTake('resetMailsPerAccount', existing.id))) {
              const token = await deps.tokens.issue(existing.id, 'password_reset', `/interaction/${uid}`);
              deliver(deps, accountExistsMessage({ to: existing.email, resetLink: `${deps.issuer}/reset-password?token=${token}` }));
            }
            audit(ctx, { action: 'auth.signup', actor: actors.anonymous(), target: { type: 'account', id: existing?.id ?? normalizeEmail(email) }, outcome: 'denied', detail: { reason: 'email_taken' } });
          }
          seeOther(ctx, `/interaction/${uid}/signup/sent`);
        },
      ],
    },
    {
      method: 'get',
      path: '/interaction/:uid/signup/sent',
      steps: [atLogin, (ctx) => checkYourEmail(ctx, interactionOf(ctx).uid, 'We sent a confirmation link to the address you entered. Open it to confirm your address, then sign in.', 'Continue to sign in')],
    },
  ];
}
