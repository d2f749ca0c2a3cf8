// The admin console is for platform administrators (`clouddocs admin grant`) who signed in with a
// second factor. Rules: anyone else signed in gets 403; an administrator without a second factor is
// sent to set one up first (the account console); one whose browser signed in without it is asked to
// sign in again with it (prompt=login). Runs after requireSignedIn.
import type { MfaLibrary } from '../mfa/totp';
import { PageError } from '../errors';
import { html } from '../views/layout';
import { messageView, renderPage } from '../views/interaction';
import { signedInOf, type PageStep } from './page';

export function requireAdmin(deps: { mfa: MfaLibrary }): PageStep {
  return async (ctx, next) => {
    const { account, session } = signedInOf(ctx);
    if (!account.platformAdmin) throw new PageError(403, { title: 'Admin console', heading: 'Not allowed', message: 'The admin console is for platform administrators.', back: { href: '/account', text: 'Your account' } });
    ctx.set('Cache-Control', 'no-store');
    if (!(await deps.mfa.enabled(account.id))) {
      return renderPage(ctx, 'Admin console', messageView('Set up a second factor first', 'The admin console needs two-step verification. Set it up on your account page, then sign in again.', html`<p><a href="/account">Set up two-step verification</a></p>`), 403);
    }
    if (!session.amr.includes('mfa')) {
      return renderPage(ctx, 'Admin console', messageView('Sign in again', 'The admin console needs a sign-in with your second factor.', html`<p><a href="/account/login?next=/admin&amp;reauth=1">Sign in with your second factor</a></p>`), 403);
    }
    return next();
  };
}
