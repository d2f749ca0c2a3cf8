// The person's own profile in the account console. Rules:
// - name: saved as given (at most 200 characters);
// - email: the current password is required; a link goes to the new address and the old one stays the
//   sign-in address until it is opened; when it is, the old address is told; an address already taken
//   gets the same answer (and no mail), so the form tells nothing about other accounts;
// - password: the current one is required (a wrong one counts like a failed sign-in), the new one passes
//   the policy, and every other session of the account ends;
// - activity: the person's own audit events; data: a JSON download of what CloudDocs holds about them;
// - delete: the password and the account's email typed again; the same erasure as the admin API's.
// Every change is CSRF-protected (the console's form steps) and audited.
import { z } from 'zod';
import { AccountError, normalizeEmail } from '../accounts/accounts';
import { passwordProblem } from '../accounts/policy';
import { emailChangedNotice, emailChangeMessage } from '../mail/messages';
import { actors, audit } from '../request-scope';
import { formOf, signedInOf, type PageContext, type PageRoute } from '../steps/page';
import { readForm } from '../steps/read-form';
import { requireSignedIn } from '../steps/require-signed-in';
import { activityView } from '../views/account-profile';
import { tokenFormView } from '../views/account';
import { messageView, renderPage, seeOther } from '../views/interaction';
import { accountFormAgain, confirmCurrentPassword, showAccount } from './account-home';
import { CSRF, deliver, field, type PageDeps } from './deps';
import { expiredLink, formProblem, queryToken, sentToken } from './mailed-links';

const nameBody = z.object({ csrf: CSRF, name: field(200) }).strict();
const emailBody = z.object({ csrf: CSRF, email: field(320), password: field(4096) }).strict();
const passwordBody = z.object({ csrf: CSRF, current: field(4096), password: field(4096) }).strict();
const deleteBody = z.object({ csrf: CSRF, confirm: field(320), password: field(4096) }).strict();
const tokenBody = z.object({ csrf: CSRF, token: field(128) }).strict();

export function accountProfileRoutes(deps: PageDeps): PageRoute[] {
  const signedIn = requireSignedIn(deps);
  const form = <T extends z.ZodType>(schema: T) => readForm({ schema, csrf: (ctx, sent) => deps.pageCsrf.valid(ctx, sent), again: accountFormAgain(deps) });
  const target = (ctx: PageContext) => ({ type: 'account', id: signedInOf(ctx).account.id });

  const currentPassword = (pick: (body: Record<string, string>) => string, action: 'auth.profile.updated' | 'auth.password_changed' | 'user.deleted') => confirmCurrentPassword(deps, action, pick);

  const confirmForm = (ctx: PageContext, token: string, error?: string) =>
    tokenFormView({ title: 'Confirm your new email address', intro: 'This address becomes the sign-in address of your CloudDocs account.', action: '/account/email/confirm', csrf: deps.pageCsrf.token(ctx), token, button: 'Confirm email address', error });

  return [
    {
      method: 'post',
      path: '/account/profile',
      steps: [
        signedIn,
        form(nameBody),
        async (ctx) => {
          const { account } = signedInOf(ctx);
          try {
            await deps.accounts.update(account.id, { name: formOf<z.infer<typeof nameBody>>(ctx).name });
          } catch (err) {
            if (err instanceof AccountError) return showAccount(deps, ctx, { error: 'Enter a name of at most 200 characters.', status: 400 });
            throw err;
          }
          audit(ctx, { action: 'auth.profile.updated', actor: actors.user(account.id), target: target(ctx), outcome: 'success', detail: { fields: ['name'] } });
          seeOther(ctx, '/account?notice=profile');
        },
      ],
    },
    {
      method: 'post',
      path: '/account/email',
      steps: [
        signedIn,
        form(emailBody),
        currentPassword((b) => b.password!, 'auth.profile.updated'),
        async (ctx) => {
          const { account } = signedInOf(ctx);
          const email = normalizeEmail(formOf<z.infer<typeof emailBody>>(ctx).email);
          if (!/^[^\s@]{1,64}@[^\s@]{1,255}$/.test(email)) return showAccount(deps, ctx, { error: 'Enter a valid email address.', status: 400 });
          const taken = email === account.email || (await deps.accounts.findByEmail(email)) !== undefined;
          if (!taken) {
            const token = await deps.tokens.issue(account.id, 'change_email', null, email);
            deliver(deps, emailChangeMessage({ to: email, link: `${deps.issuer}/account/email/confirm?token=${token}` }));
          }
          audit(ctx, { action: 'auth.email_change.requested', actor: actors.user(account.id), target: target(ctx), outcome: taken ? 'denied' : 'success', detail: { reason: taken ? 'taken' : null } });
          seeOther(ctx, '/account?notice=email-link-sent');
        },
      ],
    },
    {
      method: 'get',
      path: '/account/email/confirm',
      steps: [
        async (ctx) => {
          const token = queryToken(ctx);
          if (!(await deps.tokens.peek(token, 'change_email'))) return expiredLink(ctx, 'Confirm email');
          renderPage(ctx, 'Confirm email', confirmForm(ctx, token));
        },
      ],
    },
    {
      method: 'post',
      path: '/account/email/confirm',
      steps: [
        readForm({ schema: tokenBody, csrf: (ctx, sent) => deps.pageCsrf.valid(ctx, sent), again: async (ctx, problem, status) => renderPage(ctx, 'Confirm email', confirmForm(ctx, sentToken(ctx), formProblem(problem)), status) }),
        async (ctx) => {
          const used = await deps.tokens.consume(formOf<z.infer<typeof tokenBody>>(ctx).token, 'change_email');
          const before = used?.newEmail ? await deps.accounts.findById(used.accountId) : undefined;
          if (!used?.newEmail || !before) return expiredLink(ctx, 'Confirm email');
          try {
            await deps.accounts.update(used.accountId, { email: used.newEmail });
          } catch (err) {
            if (err instanceof AccountError) return renderPage(ctx, 'Confirm email', messageView('Address not available', 'That address is now used by another account. Your sign-in address did not change.'), 409);
            throw err;
          }
          await deps.accounts.markVerified(used.accountId);
          deliver(deps, emailChangedNotice({ to: before.email, newEmail: used.newEmail }));
          audit(ctx, { action: 'auth.email_changed', actor: actors.user(used.accountId), target: { type: 'account', id: used.accountId }, outcome: 'success' });
          renderPage(ctx, 'Email changed', messageView('Email address changed', `You now sign in with ${used.newEmail}.`));
        },
      ],
    },
    {
      method: 'post',
      path: '/account/password',
      steps: [
        signedIn,
        form(passwordBody),
        currentPassword((b) => b.current!, 'auth.password_changed'),
        async (ctx) => {
          const { account, session } = signedInOf(ctx);
          const { password } = formOf<z.infer<typeof passwordBody>>(ctx);
          const problem = passwordProblem(password, { email: account.email, name: account.name ?? undefined });
          if (problem) return showAccount(deps, ctx, { error: problem, status: 400 });
          await deps.accounts.setPassword(account.id, password, { email: account.email });
          const others = (await deps.sessions.list(account.id)).filter((s) => s.uid !== session.uid);
          for (const other of others) await deps.sessions.revoke(account.id, other.uid);
          audit(ctx, { action: 'auth.password_changed', actor: actors.user(account.id), target: target(ctx), outcome: 'success', detail: { sessionsEnded: others.length } });
          seeOther(ctx, '/account?notice=password-changed');
        },
      ],
    },
    {
      method: 'get',
      path: '/account/activity',
      steps: [signedIn, async (ctx) => renderPage(ctx, 'Security activity', activityView(await deps.activity.recent(signedInOf(ctx).account.id)))],
    },
    {
      method: 'get',
      path: '/account/data',
      steps: [
        signedIn,
        async (ctx) => {
          const { account } = signedInOf(ctx);
          const [profile, apps, sessions, apiKeys, passkeys, activity] = await Promise.all([
            deps.users.get(account.id),
            deps.grants.connectedApps(account.id),
            deps.sessions.list(account.id),
            deps.apiKeys.list(account.id),
            deps.passkeys.list(account.id), // names and dates, never key material
            deps.activity.recent(account.id, 500),
          ]);
          audit(ctx, { action: 'auth.data_exported', actor: actors.user(account.id), target: target(ctx), outcome: 'success' });
          ctx.set('Cache-Control', 'no-store');
          ctx.set('Content-Disposition', 'attachment; filename="clouddocs-account.json"');
          ctx.type = 'application/json';
          ctx.body = JSON.stringify({ exportedAt: new Date().toISOString(), profile, connectedApps: apps, sessions, apiKeys, passkeys, activity }, null, 2);
        },
      ],
    },
    {
      method: 'post',
      path: '/account/delete',
      steps: [
        signedIn,
        form(deleteBody),
        async (ctx, next) => {
          const { account } = signedInOf(ctx);
          if (normalizeEmail(formOf<z.infer<typeof deleteBody>>(ctx).confirm) !== account.email) return showAccount(deps, ctx, { error: 'Type your email address exactly to confirm.', status: 400 });
          return next();
        },
        currentPassword((b) => b.password!, 'user.deleted'),
        async (ctx) => {
          const { account } = signedInOf(ctx);
          const erased = await deps.users.erase(actors.user(account.id), account.id, { self: true });
          if (erased) audit(ctx, { ...erased.event, detail: { ...(erased.event.detail as Record<string, number>), self: true } });
          renderPage(ctx, 'Account deleted', messageView('Your account is deleted', 'Your data is erased and you are signed out everywhere.'));
        },
      ],
    },
  ];
}
