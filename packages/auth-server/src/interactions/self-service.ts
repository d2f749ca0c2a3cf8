// Sign-up and "forgot password" inside a sign-in: both keep the interaction, so the person ends up
// back at the same application. Answers never say whether an email has an account: sign-up with a
// taken address and a reset for an unknown one look exactly like the real thing (the mailbox owner
// learns the truth by mail). Mail leaves in the background so timing tells nothing either.
import type Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import type { Kv } from '@clouddocs/kv';
import type { Logger } from '@clouddocs/observability';
import { AccountError, normalizeEmail, type AccountLibrary } from '../accounts/accounts';
import { TOKEN_TTL_SECONDS, type AccountTokenLibrary } from '../accounts/tokens';
import { queueAudit, requestMeta } from '../audit-scope';
import type { Mailer, MailMessage } from '../mail/mailer';
import { accountExistsMessage, passwordResetMessage, verifyEmailMessage } from '../mail/messages';
import { readForm, seeOther, type InteractionKit } from './kit';
import { forgotView, messageView, renderPage, signupView } from './views';
import { html } from '../http/html';

export interface SelfServiceDeps {
  kit: InteractionKit;
  accounts: AccountLibrary;
  tokens: AccountTokenLibrary;
  mailer: Mailer;
  kv: Kv;
  logger: Logger;
  issuer: string;
}

export const SELF_SERVICE_LIMITS = {
  SIGNUPS_PER_IP_PER_HOUR: 20,
  RESET_REQUESTS_PER_IP_PER_HOUR: 20,
  RESET_MAILS_PER_ACCOUNT_PER_HOUR: 3,
} as const;

const signupBody = z.object({ csrf: z.string().max(128), name: z.string().max(400), email: z.string().max(320), password: z.string().max(4096) }).strict();
const forgotBody = z.object({ csrf: z.string().max(128), email: z.string().max(320) }).strict();

const SIGNUP_PROBLEMS: Record<AccountError['code'], string> = {
  invalid_email: 'Enter a valid email address.',
  invalid_name: 'Enter a name of at most 200 characters.',
  weak_password: '',
  email_taken: '',
};

/** The page after a mail was (or, for an unknown address, seemingly was) sent, with a way back to sign-in. */
function checkYourEmail(ctx: Context, uid: string, message: string, back: string): void {
  renderPage(ctx, 'Check your email', messageView('Check your email', message, html`<p><a href="/interaction/${uid}">${back}</a></p>`));
}

export function registerSelfServiceRoutes(router: Router, deps: SelfServiceDeps): void {
  const { kit } = deps;
  const signupsPerIp = deps.kv.rateLimiter({ keyPrefix: 'signup-ip', points: SELF_SERVICE_LIMITS.SIGNUPS_PER_IP_PER_HOUR, duration: 3600 });
  const resetsPerIp = deps.kv.rateLimiter({ keyPrefix: 'reset-ip', points: SELF_SERVICE_LIMITS.RESET_REQUESTS_PER_IP_PER_HOUR, duration: 3600 });
  const resetsPerAccount = deps.kv.rateLimiter({ keyPrefix: 'reset-account', points: SELF_SERVICE_LIMITS.RESET_MAILS_PER_ACCOUNT_PER_HOUR, duration: 3600 });

  const deliver = (message: MailMessage) => {
    deps.mailer.send(message).catch((err) => deps.logger.error({ err: (err as Error).message, subject: message.subject }, 'mail could not be sent'));
  };

  /** Takes one point, or answers 429/503 itself and returns false (the store failing closes the door). */
  async function limit(ctx: Context, limiter: ReturnType<Kv['rateLimiter']>, key: string, title: string): Promise<boolean> {
    try {
      await limiter.consume(key);
      return true;
    } catch (err) {
      const wait = (err as { msBeforeNext?: number }).msBeforeNext;
      if (typeof wait === 'number') {
        ctx.set('Retry-After', String(Math.max(1, Math.ceil(wait / 1000))));
        renderPage(ctx, title, messageView('Too many requests', 'Too many attempts from your network. Try again later.'), 429);
      } else {
        deps.logger.error({ err: (err as Error).message }, 'self-service rate limiting unavailable');
        ctx.set('Retry-After', '60');
        renderPage(ctx, title, messageView('Temporarily unavailable', 'This page is temporarily unavailable. Please try again in a few minutes.'), 503);
      }
      return false;
    }
  }

  async function loginStep(ctx: Context) {
    const interaction = await kit.details(ctx);
    if (!interaction) return undefined;
    if (interaction.prompt.name !== 'login') {
      renderPage(ctx, 'Sign in', messageView('Already signed in', 'This sign-in step is already complete. Go back to the application.'), 400);
      return undefined;
    }
    return interaction;
  }

  router.get('/:uid/signup', async (ctx) => {
    const interaction = await loginStep(ctx);
    if (!interaction) return;
    const { uid, params } = interaction;
    renderPage(
      ctx,
      'Create account',
      signupView({ action: `/interaction/${uid}/signup`, csrf: kit.csrfFor(ctx, uid), clientName: await kit.clientName(params.client_id as string | undefined), loginHref: `/interaction/${uid}` }),
    );
  });

  router.post('/:uid/signup', async (ctx) => {
    const interaction = await loginStep(ctx);
    if (!interaction) return;
    const { uid, params } = interaction;
    const parsed = signupBody.safeParse(await readForm(ctx));
    const again = async (error: string, status: number, values: { name?: string; email?: string } = {}) =>
      renderPage(
        ctx,
        'Create account',
        signupView({ action: `/interaction/${uid}/signup`, csrf: kit.csrfFor(ctx, uid), clientName: await kit.clientName(params.client_id as string | undefined), loginHref: `/interaction/${uid}`, error, ...values }),
        status,
      );
    if (!parsed.success) return again('Fill in your name, email and password.', 400);
    if (!kit.csrfValid(ctx, uid, parsed.data.csrf)) return again('This form has expired. Please try again.', 403);
    if (!(await limit(ctx, signupsPerIp, ctx.ip, 'Create account'))) return;
    const { name, email, password } = parsed.data;
    const meta = requestMeta(ctx);
    try {
      const account = await deps.accounts.create({ email, password, name });
      const token = await deps.tokens.issue(account.id, 'verify_email', `/interaction/${uid}`);
      deliver(verifyEmailMessage({ to: account.email, name: account.name, link: `${deps.issuer}/verify-email?token=${token}` }));
      queueAudit(ctx, { action: 'auth.signup', actor: { type: 'user', id: account.id }, target: { type: 'account', id: account.id }, outcome: 'success', detail: { clientId: (params.client_id as string | undefined) ?? null }, ...meta });
    } catch (err) {
      if (!(err instanceof AccountError)) throw err;
      if (err.code === 'email_taken') {
        const existing = await deps.accounts.findByEmail(email);
        // Limited like reset mails, so repeated sign-ups cannot flood the owner's inbox.
        if (existing && (await resetsPerAccount.consume(existing.id).then(() => true, () => false))) {
          const token = await deps.tokens.issue(existing.id, 'password_reset', `/interaction/${uid}`);
          deliver(accountExistsMessage({ to: existing.email, resetLink: `${deps.issuer}/reset-password?token=${token}` }));
        }
        queueAudit(ctx, { action: 'auth.signup', actor: { type: 'anonymous', id: null }, target: { type: 'account', id: existing?.id ?? normalizeEmail(email) }, outcome: 'denied', detail: { reason: 'email_taken' }, ...meta });
      } else {
        return again(SIGNUP_PROBLEMS[err.code] || err.message, 400, { name, email });
      }
    }
    seeOther(ctx, `/interaction/${uid}/signup/sent`);
  });

  router.get('/:uid/signup/sent', async (ctx) => {
    const interaction = await loginStep(ctx);
    if (!interaction) return;
    checkYourEmail(ctx, interaction.uid, 'We sent a confirmation link to the address you entered. Open it to confirm your address, then sign in.', 'Continue to sign in');
  });

  router.get('/:uid/forgot', async (ctx) => {
    const interaction = await loginStep(ctx);
    if (!interaction) return;
    const { uid } = interaction;
    renderPage(ctx, 'Reset password', forgotView({ action: `/interaction/${uid}/forgot`, csrf: kit.csrfFor(ctx, uid), loginHref: `/interaction/${uid}` }));
  });

  router.post('/:uid/forgot', async (ctx) => {
    const interaction = await loginStep(ctx);
    if (!interaction) return;
    const { uid } = interaction;
    const parsed = forgotBody.safeParse(await readForm(ctx));
    const again = (error: string, status: number) =>
      renderPage(ctx, 'Reset password', forgotView({ action: `/interaction/${uid}/forgot`, csrf: kit.csrfFor(ctx, uid), loginHref: `/interaction/${uid}`, error }), status);
    if (!parsed.success) return again('Enter your email address.', 400);
    if (!kit.csrfValid(ctx, uid, parsed.data.csrf)) return again('This form has expired. Please try again.', 403);
    if (!(await limit(ctx, resetsPerIp, ctx.ip, 'Reset password'))) return;
    const email = normalizeEmail(parsed.data.email);
    const account = await deps.accounts.findByEmail(email);
    let sent = false;
    if (account) {
      // Past the per-account limit the answer stays the same; only the mail is not sent again.
      sent = await resetsPerAccount.consume(account.id).then(
        () => true,
        () => false,
      );
      // The token is made after the answer leaves, so a known address takes no longer than an unknown one.
      if (sent) {
        setImmediate(() => {
          deps.tokens
            .issue(account.id, 'password_reset', `/interaction/${uid}`)
            .then((token) => deliver(passwordResetMessage({ to: account.email, link: `${deps.issuer}/reset-password?token=${token}`, minutes: TOKEN_TTL_SECONDS.password_reset / 60 })))
            .catch((err) => deps.logger.error({ err: (err as Error).message }, 'password reset link could not be made'));
        });
      }
    }
    queueAudit(ctx, {
      action: 'auth.password_reset.requested',
      actor: { type: 'anonymous', id: null },
      target: { type: 'account', id: account?.id ?? email },
      outcome: sent ? 'success' : 'denied',
      detail: { reason: sent ? null : account ? 'rate_limited' : 'unknown_email' },
      ...requestMeta(ctx),
    });
    seeOther(ctx, `/interaction/${uid}/forgot/sent`);
  });

  router.get('/:uid/forgot/sent', async (ctx) => {
    const interaction = await loginStep(ctx);
    if (!interaction) return;
    checkYourEmail(ctx, interaction.uid, `If an account exists for the address you entered, we sent it a link to choose a new password. The link works once, for ${TOKEN_TTL_SECONDS.password_reset / 60} minutes.`, 'Back to sign in');
  });
}
