// Two-step verification in the account console: set up an authenticator app (TOTP, the key shown
// as text beside its QR code), confirm it with a code, see new recovery codes once, regenerate them,
// turn it off. Rules: starting, regenerating and turning off need the current password (someone with
// only a stolen session must not tie the account to their phone); a wrong password counts like a
// failed sign-in (same throttle and lockout; 429 while it lasts, 503 when it cannot be counted);
// recovery codes are shown once, for at most RECOVERY_SHOW_SECONDS; every change is audited.
import { z } from 'zod';
import { kvKeys } from '../constants';
import { actors, audit } from '../request-scope';
import { formOf, signedInOf, type PageContext, type PageRoute } from '../steps/page';
import { readForm } from '../steps/read-form';
import { requireSignedIn } from '../steps/require-signed-in';
import { recoveryCodesView, totpEnrolView } from '../views/account';
import { renderPage, seeOther } from '../views/interaction';
import { accountFormAgain, confirmCurrentPassword } from './account-home';
import { CSRF, field, type PageDeps } from './deps';

const RECOVERY_SHOW_SECONDS = 300;
const withPassword = z.object({ csrf: CSRF, password: field(4096) }).strict();
const withCode = z.object({ csrf: CSRF, code: field(32) }).strict();

export function accountSecondFactorRoutes(deps: PageDeps): PageRoute[] {
  const signedIn = requireSignedIn(deps);
  const passwordForm = readForm({ schema: withPassword, csrf: (ctx, sent) => deps.pageCsrf.valid(ctx, sent), again: accountFormAgain(deps) });

  const confirmPassword = (action: 'auth.mfa.enrolled' | 'auth.mfa.disabled') => confirmCurrentPassword(deps, action);

  async function showEnrolment(ctx: PageContext, error?: string, status = error ? 400 : 200) {
    const { account } = signedInOf(ctx);
    const enrolment = await deps.mfa.pendingEnrolment(account.id, account.email);
    if (!enrolment) return seeOther(ctx, '/account');
    renderPage(ctx, 'Set up an authenticator app', totpEnrolView({ csrf: deps.pageCsrf.token(ctx), qrDataUrl: enrolment.qrDataUrl, secret: enrolment.secret, error }), status);
  }

  const showCodesOnce = async (accountId: string, codes: string[]) => deps.kv.set(kvKeys.recoveryCodesOnce(accountId), JSON.stringify(codes), RECOVERY_SHOW_SECONDS);
  const enrolled = (ctx: PageContext, detail: Record<string, string | boolean>) => {
    const id = signedInOf(ctx).account.id;
    audit(ctx, { action: 'auth.mfa.enrolled', actor: actors.user(id), target: { type: 'account', id }, outcome: 'success', detail });
  };

  return [
    {
      method: 'post',
      path: '/account/mfa/totp/start',
      steps: [
        signedIn,
        passwordForm,
        confirmPassword('auth.mfa.enrolled'),
        async (ctx) => {
          const { account } = signedInOf(ctx);
          await deps.mfa.startEnrolment(account.id, account.email);
          seeOther(ctx, '/account/mfa/totp');
        },
      ],
    },
    { method: 'get', path: '/account/mfa/totp', steps: [signedIn, (ctx) => showEnrolment(ctx)] },
    {
      method: 'post',
      path: '/account/mfa/totp/confirm',
      steps: [
        signedIn,
        readForm({
          schema: withCode,
          csrf: (ctx, sent) => deps.pageCsrf.valid(ctx, sent),
          again: async (ctx, problem, status) => {
            const { account } = signedInOf(ctx);
            if (!(await deps.mfa.pendingEnrolment(account.id, account.email))) return accountFormAgain(deps)(ctx, problem, status);
            return showEnrolment(ctx, problem === 'csrf' ? 'This form has expired. Reload the page and try again.' : 'Enter the 6-digit code from your app.', status);
          },
        }),
        async (ctx) => {
          const { account } = signedInOf(ctx);
          const codes = await deps.mfa.confirmEnrolment(account.id, formOf<z.infer<typeof withCode>>(ctx).code);
          if (!codes) return showEnrolment(ctx, 'That code did not match. Check the time on your phone and try the next code.');
          await showCodesOnce(account.id, codes);
          enrolled(ctx, { method: 'totp' });
          seeOther(ctx, '/account/mfa/recovery-codes');
        },
      ],
    },
    {
      method: 'get',
      path: '/account/mfa/recovery-codes',
      steps: [
        signedIn,
        async (ctx) => {
          const key = kvKeys.recoveryCodesOnce(signedInOf(ctx).account.id);
          const raw = await deps.kv.get(key);
          if (!raw) return seeOther(ctx, '/account');
          await deps.kv.del(key);
          renderPage(ctx, 'Recovery codes', recoveryCodesView(JSON.parse(raw) as string[]));
        },
      ],
    },
    {
      method: 'post',
      path: '/account/mfa/recovery-codes',
      steps: [
        signedIn,
        passwordForm,
        async (ctx, next) => ((await deps.mfa.enabled(signedInOf(ctx).account.id)) ? next() : seeOther(ctx, '/account')),
        confirmPassword('auth.mfa.enrolled'),
        async (ctx) => {
          const { account } = signedInOf(ctx);
          await showCodesOnce(account.id, await deps.mfa.regenerateRecoveryCodes(account.id));
          enrolled(ctx, { method: 'recovery_codes', replaced: true });
          seeOther(ctx, '/account/mfa/recovery-codes');
        },
      ],
    },
    {
      method: 'post',
      path: '/account/mfa/disable',
      steps: [
        signedIn,
        passwordForm,
        confirmPassword('auth.mfa.disabled'),
        async (ctx) => {
          const { account } = signedInOf(ctx);
          await deps.mfa.disable(account.id);
          audit(ctx, { action: 'auth.mfa.disabled', actor: actors.user(account.id), target: { type: 'account', id: account.id }, outcome: 'success', detail: { method: 'totp' } });
          seeOther(ctx, '/account?notice=mfa-off');
        },
      ],
    },
  ];
}
