// Connected apps and signed-in browsers in the account console. Rules: "Remove access" revokes one of
// this person's grants (what it issued is deleted, its JWT access tokens refused by the docs API at
// once); "Sign out" ends one of this person's sessions server-side; someone else's grant or session,
// or one already gone, is a 404 page; each is audited.
import { grantClaim } from '@clouddocs/kv';
import { z } from 'zod';
import { PageError } from '../errors';
import { actors, audit } from '../request-scope';
import { formOf, signedInOf, type PageRoute } from '../steps/page';
import { readForm } from '../steps/read-form';
import { requireSignedIn } from '../steps/require-signed-in';
import { seeOther } from '../views/interaction';
import { accountFormAgain } from './account-home';
import { CSRF, field, type PageDeps } from './deps';

const withGrant = z.object({ csrf: CSRF, grant: field(128) }).strict();
const withSession = z.object({ csrf: CSRF, session: field(128) }).strict();
const notFound = (message: string) => new PageError(404, { title: 'Your account', heading: 'Not found', message, back: { href: '/account', text: 'Back' } });

export function accountConnectionRoutes(deps: PageDeps): PageRoute[] {
  return [
    {
      method: 'post',
      path: '/account/apps/revoke',
      steps: [
        requireSignedIn(deps),
        readForm({ schema: withGrant, csrf: (ctx, sent) => deps.pageCsrf.valid(ctx, sent), again: accountFormAgain(deps) }),
        async (ctx) => {
          const { account } = signedInOf(ctx);
          const { grant } = formOf<z.infer<typeof withGrant>>(ctx);
          const app = (await deps.grants.connectedApps(account.id)).find((a) => a.grantId === grant);
          if (!app) throw notFound('That app is not connected to your account.');
          await deps.grants.revokeGrant(app.grantId);
          audit(ctx, { action: 'grant.revoked', actor: actors.user(account.id), target: { type: 'grant', id: grantClaim(app.grantId) }, outcome: 'success', detail: { clientId: app.clientId, route: 'account' } });
          seeOther(ctx, '/account?notice=revoked');
        },
      ],
    },
    {
      method: 'post',
      path: '/account/sessions/revoke',
      steps: [
        requireSignedIn(deps),
        readForm({ schema: withSession, csrf: (ctx, sent) => deps.pageCsrf.valid(ctx, sent), again: accountFormAgain(deps) }),
        async (ctx) => {
          const { account, session } = signedInOf(ctx);
          const uid = formOf<z.infer<typeof withSession>>(ctx).session;
          if (!(await deps.sessions.revoke(account.id, uid))) throw notFound('That session has already ended.');
          audit(ctx, { action: 'auth.session.revoked', actor: actors.user(account.id), target: { type: 'session', id: uid }, outcome: 'success', detail: { current: uid === session.uid } });
          seeOther(ctx, uid === session.uid ? '/account' : '/account?notice=signed-out');
        },
      ],
    },
  ];
}
