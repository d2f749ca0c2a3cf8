// Passkeys in the account console. Rules: "Add a passkey" needs the current password first (someone
// with only a stolen session must not add a way in), which opens the enrolment for ENROL_SECONDS; the
// enrolment page runs the WebAuthn ceremony (the one script, views/passkey.ts) and posts its answer,
// which must sign this account's own fresh challenge from this origin (a replayed or foreign answer is
// a 400); "Remove" needs the password too; a wrong password counts like a failed sign-in; every change
// is audited (auth.mfa.enrolled / auth.mfa.disabled with method passkey).
import { z } from 'zod';
import { PageError } from '../errors';
import { actors, audit } from '../request-scope';
import { formOf, signedInOf, type PageContext, type PageRoute, type PageStep } from '../steps/page';
import { readForm } from '../steps/read-form';
import { requireSignedIn } from '../steps/require-signed-in';
import { passkeyNewView } from '../views/account';
import { renderPage, seeOther } from '../views/interaction';
import { html } from '../views/layout';
import { PASSKEY_SCRIPT, passkeyForm } from '../views/passkey';
import { accountFormAgain, confirmCurrentPassword, showAccount } from './account-home';
import { CSRF, field, type PageDeps } from './deps';

const ENROL_SECONDS = 300;
const enrolKey = (accountId: string) => `passkey-enrol:${accountId}`;

const startBody = z.object({ csrf: CSRF, password: field(4096) }).strict();
const registerBody = z.object({ csrf: CSRF, name: field(100), response: field(8192) }).strict();
const removeBody = z.object({ csrf: CSRF, id: field(64), password: field(4096) }).strict();

export function accountPasskeyRoutes(deps: PageDeps): PageRoute[] {
  const signedIn = requireSignedIn(deps);
  const available: PageStep = async (_ctx, next) => {
    if (!deps.passkeys.available) throw new PageError(404, { title: 'Passkeys', heading: 'Passkeys are not available', message: 'Passkeys need the server to be reached by a host name.' });
    return next();
  };

  const confirmPassword = (action: 'auth.mfa.enrolled' | 'auth.mfa.disabled') => confirmCurrentPassword(deps, action);

  async function showEnrolment(ctx: PageContext, error?: string, status = error ? 400 : 200) {
    const { account } = signedInOf(ctx);
    if (!(await deps.kv.get(enrolKey(account.id)))) return seeOther(ctx, '/account');
    const options = await deps.passkeys.registrationOptions(account);
    const form = passkeyForm({
      action: '/account/passkeys/register',
      csrf: deps.pageCsrf.token(ctx),
      mode: 'create',
      options,
      button: 'Create passkey',
      primary: true,
      fields: html`<label for="passkey-name">Name (to tell your passkeys apart)</label>
  <input id="passkey-name" name="name" type="text" maxlength="100" value="Passkey" required>`,
    });
    renderPage(ctx, 'Add a passkey', passkeyNewView({ form, error }), status, { script: PASSKEY_SCRIPT });
  }

  return [
    {
      method: 'post',
      path: '/account/passkeys/start',
      steps: [
        signedIn,
        available,
        readForm({ schema: startBody, csrf: (ctx, sent) => deps.pageCsrf.valid(ctx, sent), again: accountFormAgain(deps) }),
        confirmPassword('auth.mfa.enrolled'),
        async (ctx) => {
          await deps.kv.set(enrolKey(signedInOf(ctx).account.id), '1', ENROL_SECONDS);
          seeOther(ctx, '/account/passkeys/new');
        },
      ],
    },
    { method: 'get', path: '/account/passkeys/new', steps: [signedIn, available, (ctx) => showEnrolment(ctx)] },
    {
      method: 'post',
      path: '/account/passkeys/register',
      steps: [
        signedIn,
        available,
        readForm({
          schema: registerBody,
          csrf: (ctx, sent) => deps.pageCsrf.valid(ctx, sent),
          again: (ctx, problem, status) => showEnrolment(ctx, problem === 'csrf' ? 'This form has expired. Try again.' : 'The passkey could not be read. Try again.', status),
        }),
        async (ctx) => {
          const { account } = signedInOf(ctx);
          if (!(await deps.kv.get(enrolKey(account.id)))) return showAccount(deps, ctx, { error: 'Adding a passkey timed out. Start again with your password.', status: 400 });
          const { name, response } = formOf<z.infer<typeof registerBody>>(ctx);
          const result = await deps.passkeys.register(account.id, name, response);
          if (!result.ok) {
            audit(ctx, { action: 'auth.mfa.enrolled', actor: actors.user(account.id), target: { type: 'account', id: account.id }, outcome: 'failure', detail: { method: 'passkey', reason: result.reason } });
            return showEnrolment(ctx, 'That passkey could not be added. Try again.');
          }
          await deps.kv.del(enrolKey(account.id));
          audit(ctx, { action: 'auth.mfa.enrolled', actor: actors.user(account.id), target: { type: 'account', id: account.id }, outcome: 'success', detail: { method: 'passkey', passkeyId: result.passkey.id, synced: result.passkey.synced } });
          seeOther(ctx, '/account?notice=passkey-added');
        },
      ],
    },
    {
      method: 'post',
      path: '/account/passkeys/remove',
      steps: [
        signedIn,
        available,
        readForm({ schema: removeBody, csrf: (ctx, sent) => deps.pageCsrf.valid(ctx, sent), again: accountFormAgain(deps) }),
        confirmPassword('auth.mfa.disabled'),
        async (ctx) => {
          const { account } = signedInOf(ctx);
          const { id } = formOf<z.infer<typeof removeBody>>(ctx);
          if (!(await deps.passkeys.remove(account.id, id))) throw new PageError(404, { title: 'Passkeys', heading: 'No such passkey', message: 'That passkey is not one of yours.', back: { href: '/account', text: 'Back to your account' } });
          audit(ctx, { action: 'auth.mfa.disabled', actor: actors.user(account.id), target: { type: 'account', id: account.id }, outcome: 'success', detail: { method: 'passkey', passkeyId: id } });
          seeOther(ctx, '/account?notice=passkey-removed');
        },
      ],
    },
  ];
}
