// The account pages act only on the account signed in in this browser (oidc-provider's session).
// Rule: without a session the page answers 200 with a way to sign in (a page, not an API: a 401
// would need a WWW-Authenticate challenge); an account that no longer exists or is disabled counts as
// signed out.
import type Provider from 'oidc-provider';
import type { AccountLibrary } from '../accounts/accounts';
import { signedOutView } from '../views/account';
import { renderPage } from '../views/interaction';
import type { PageStep } from './page';

export function requireSignedIn(deps: { provider: () => Provider; accounts: AccountLibrary }): PageStep {
  return async (ctx, next) => {
    const session = await deps.provider().Session.get(ctx as never);
    const account = session?.accountId ? await deps.accounts.findById(session.accountId) : undefined;
    if (!session?.accountId || !account || account.disabled) return renderPage(ctx, 'Your account', signedOutView());
    ctx.state.signedIn = { account, session: { uid: session.uid, accountId: session.accountId, amr: (session.amr as string[] | undefined) ?? [] } };
    return next();
  };
}
