// API keys in the account console. Rules: "Create API key" (a name, scopes as checkboxes, an expiry
// in days) answers with a page that shows the key once (no-store, never in a URL); a form that breaks
// the key rules shows the console again with the reason (400); "Revoke" revokes one of this person's
// live keys (refused by the docs API on the very next request); someone else's key, or one already
// revoked, is a 404 page. Each change is audited with the person as actor; events carry the key's id
// and first characters, never the key.
import { z } from 'zod';
import { PageError } from '../errors';
import { API_KEY_SCOPES, ApiKeyError } from '../libraries/api-keys';
import { actors, audit } from '../request-scope';
import { formOf, signedInOf, type PageRoute } from '../steps/page';
import { readForm } from '../steps/read-form';
import { requireSignedIn } from '../steps/require-signed-in';
import { apiKeyCreatedView, scopeField } from '../views/account';
import { renderPage, seeOther } from '../views/interaction';
import { accountFormAgain, showAccount } from './account-home';
import { CSRF, field, type PageDeps } from './deps';

const checkbox = z.literal('on').optional();
const createForm = z
  .object({
    csrf: CSRF,
    name: field(100),
    expires_in_days: field(3).regex(/^[0-9]{1,3}$/),
    ...Object.fromEntries(API_KEY_SCOPES.map((scope) => [scopeField(scope), checkbox])),
  })
  .strict();
type CreateForm = { name: string; expires_in_days: string } & Record<string, string | undefined>;
const revokeForm = z.object({ csrf: CSRF, key: field(64) }).strict();

export function accountApiKeyRoutes(deps: PageDeps): PageRoute[] {
  const form = (schema: z.ZodType) => readForm({ schema, csrf: (ctx, sent) => deps.pageCsrf.valid(ctx, sent), again: accountFormAgain(deps) });
  return [
    {
      method: 'post',
      path: '/account/api-keys',
      steps: [
        requireSignedIn(deps),
        form(createForm),
        async (ctx) => {
          const { account } = signedInOf(ctx);
          const input = formOf<CreateForm>(ctx);
          const scopes = API_KEY_SCOPES.filter((scope) => input[scopeField(scope)] === 'on');
          let created;
          try {
            created = await deps.apiKeys.create(actors.user(account.id), account.id, { name: input.name, scopes, expiresInDays: Number(input.expires_in_days) });
          } catch (err) {
            if (err instanceof ApiKeyError) return showAccount(deps, ctx, { error: `The key was not created: ${err.message}.`, status: 400 });
            throw err;
          }
          audit(ctx, { ...created.event, detail: { ...created.event.detail, route: 'account' } });
          const { key, name, scopes: granted, expires_at: expiresAt } = created.result;
          renderPage(ctx, 'Your new API key', apiKeyCreatedView({ name, key, scopes: granted, expiresAt }));
        },
      ],
    },
    {
      method: 'post',
      path: '/account/api-keys/revoke',
      steps: [
        requireSignedIn(deps),
        form(revokeForm),
        async (ctx) => {
          const { account } = signedInOf(ctx);
          const { key } = formOf<z.infer<typeof revokeForm>>(ctx);
          const revoked = await deps.apiKeys.revoke(actors.user(account.id), key, account.id);
          if (!revoked) {
            throw new PageError(404, { title: 'Your account', heading: 'Not found', message: 'That API key does not exist or is already revoked.', back: { href: '/account', text: 'Back' } });
          }
          audit(ctx, { ...revoked.event, detail: { ...revoked.event.detail, route: 'account' } });
          seeOther(ctx, '/account?notice=api-key-revoked');
        },
      ],
    },
  ];
}
