// Consent for an interaction: the page that lists what the app asks for, POST …/confirm (the button
// whose text contains "Allow") and POST …/abort (access_denied back to the app). Rules: only the
// browser of the interaction with its CSRF field; only at the consent prompt of a signed-in person;
// the first-party account console is never asked; every answer is audited.
import { z } from 'zod';
import { loadInteraction } from '../steps/load-interaction';
import { interactionOf, type PageContext, type PageRoute } from '../steps/page';
import { readForm } from '../steps/read-form';
import { consentView, messageView, renderPage } from '../views/interaction';
import { PageError } from '../errors';
import { actors, audit } from '../request-scope';
import { CSRF, type PageDeps } from './deps';
import { showLogin } from './interaction-login';

const csrfBody = z.object({ csrf: CSRF }).strict();

interface MissingConsent {
  missingOIDCScope?: string[];
  missingOIDCClaims?: string[];
  missingResourceScopes?: Record<string, string[]>;
}

const scopesOf = (missing: MissingConsent) => [...new Set([...(missing.missingOIDCScope ?? []), ...Object.values(missing.missingResourceScopes ?? {}).flat()])];

export async function showConsent(deps: PageDeps, ctx: PageContext, error?: string, status = 200) {
  const { uid, params, prompt, session } = interactionOf(ctx);
  deps.interactions.allowRedirectOrigin(ctx, params.redirect_uri);
  const account = session?.accountId ? await deps.accounts.findById(session.accountId) : undefined;
  renderPage(
    ctx,
    'Allow access',
    consentView({
      action: `/interaction/${uid}/confirm`,
      abortAction: `/interaction/${uid}/abort`,
      csrf: deps.interactionCsrf.token(ctx, uid),
      clientName: await deps.interactions.clientName(params.client_id as string | undefined),
      scopes: scopesOf(prompt.details as MissingConsent),
      email: account?.email,
      error,
    }),
    status,
  );
}

/** Adds what the prompt is missing to the grant, audits the consent and hands the grant back. */
export async function grantConsent(deps: PageDeps, ctx: PageContext, accountId: string) {
  const { prompt, params, grantId } = interactionOf(ctx);
  const clientId = params.client_id as string;
  const grant = await deps.interactions.grantFor(grantId, accountId, clientId);
  if (!grant) return renderPage(ctx, 'Allow access', messageView('This sign-in has expired', 'Go back to the application and start again.'), 400);
  const missing = prompt.details as MissingConsent;
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
  const savedId = await grant.save();
  audit(ctx, { action: 'auth.consent.granted', actor: actors.user(accountId), target: { type: 'client', id: clientId }, outcome: 'success', detail: { scopes: scopesOf(missing) } });
  await deps.interactions.finish(ctx, { consent: { grantId: savedId } }, true);
}

export function interactionConsentRoutes(deps: PageDeps): PageRoute[] {
  const form = readForm({
    schema: csrfBody,
    csrf: (ctx, sent) => deps.interactionCsrf.valid(ctx, interactionOf(ctx).uid, sent),
    again: async (ctx, problem, status) => {
      const error = problem === 'csrf' ? 'This form has expired. Please try again.' : 'The form could not be read. Please try again.';
      if (interactionOf(ctx).prompt.name === 'consent') return showConsent(deps, ctx, error, status);
      return showLogin(deps, ctx, interactionOf(ctx), { error, status });
    },
  });
  return [
    {
      method: 'post',
      path: '/interaction/:uid/confirm',
      steps: [
        loadInteraction(deps.interactions),
        form,
        async (ctx) => {
          const { prompt, session } = interactionOf(ctx);
          if (prompt.name !== 'consent' || !session?.accountId) {
            throw new PageError(400, { title: 'Allow access', heading: 'Nothing to allow', message: 'This sign-in step is already complete.' });
          }
          await grantConsent(deps, ctx, session.accountId);
        },
      ],
    },
    {
      method: 'post',
      path: '/interaction/:uid/abort',
      steps: [
        loadInteraction(deps.interactions),
        form,
        async (ctx) => {
          const { uid, session, params } = interactionOf(ctx);
          await deps.signIn.cancel(uid);
          audit(ctx, { action: 'auth.consent.denied', actor: session?.accountId ? actors.user(session.accountId) : actors.anonymous(), target: { type: 'client', id: params.client_id as string }, outcome: 'denied' });
          await deps.interactions.finish(ctx, { error: 'access_denied', error_description: 'The user denied the request.' });
        },
      ],
    },
  ];
}
