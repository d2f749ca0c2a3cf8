// The sign-in pages of an interaction: GET /interaction/:uid shows the step the interaction is at
// (login, the pending second factor, or consent), POST …/login takes email and password.
// Rules: a failed sign-in shows the form again with the same text for an unknown email and a wrong
// password; a throttled or locked account gets 429 with Retry-After and a correct password is
// refused while it lasts; a store that cannot count attempts gives 503 (fails closed); a POST only
// counts for the browser whose interaction it is (cookie + URL + CSRF); success completes the login
// step, and oidc-provider then gives the browser a new session id (no fixation).
import { z } from 'zod';
import { ACCOUNT_CONSOLE_CLIENT_ID, STEP_UP } from '../constants';
import type { InteractionDetails } from '../libraries/interactions';
import type { SignInOutcome } from '../libraries/sign-in';
import { loadInteraction } from '../steps/load-interaction';
import { formOf, interactionOf, type PageContext, type PageRoute } from '../steps/page';
import { readForm } from '../steps/read-form';
import { loginView, messageView, renderPage, secondFactorView, seeOther, stepUpOfferView } from '../views/interaction';
import { grantConsent, showConsent } from './interaction-consent';
import { html, type Raw } from '../views/layout';
import { PASSKEY_SCRIPT, passkeyForm } from '../views/passkey';
import { CSRF, field, type PageDeps } from './deps';

const GENERIC_FAILURE = 'The email or password is incorrect.';
export const UNAVAILABLE = 'Sign-in is temporarily unavailable. Please try again in a few minutes.';

const loginBody = z.object({ email: field(320), password: field(4096), csrf: CSRF }).strict();

/**
 * The passkey form of a sign-in step (a fresh challenge bound to this interaction), when passkeys work
 * at this issuer; none when the challenge cannot be kept (the password form still works).
 */
async function passkeyFormFor(deps: PageDeps, ctx: PageContext, uid: string, accountId?: string): Promise<Raw | undefined> {
  if (!deps.passkeys.available) return undefined;
  try {
    if (accountId && !(await deps.passkeys.has(accountId))) return undefined;
    const options = await deps.passkeys.authenticationOptions(accountId ? { purpose: 'second-factor', uid, accountId } : { purpose: 'sign-in', uid });
    const csrf = deps.interactionCsrf.token(ctx, uid);
    return accountId
      ? passkeyForm({ action: `/interaction/${uid}/mfa/passkey`, csrf, mode: 'get', options, button: 'Use your passkey', primary: true })
      : html`<h2>Or</h2>${passkeyForm({ action: `/interaction/${uid}/passkey`, csrf, mode: 'get', options, button: 'Sign in with a passkey' })}`;
  } catch {
    return undefined;
  }
}

export async function showLogin(deps: PageDeps, ctx: PageContext, interaction: InteractionDetails, extra: { email?: string; error?: string; status?: number } = {}) {
  const { uid, params } = interaction;
  deps.interactions.allowRedirectOrigin(ctx, params.redirect_uri);
  const passkey = await passkeyFormFor(deps, ctx, uid);
  renderPage(
    ctx,
    'Sign in',
    loginView({
      action: `/interaction/${uid}/login`,
      csrf: deps.interactionCsrf.token(ctx, uid),
      clientName: await deps.interactions.clientName(params.client_id as string | undefined),
      email: extra.email,
      error: extra.error,
      links: { signup: `/interaction/${uid}/signup`, forgot: `/interaction/${uid}/forgot` },
      extra: passkey,
    }),
    extra.status ?? 200,
    passkey ? { script: PASSKEY_SCRIPT } : {},
  );
}

export async function showSecondFactor(deps: PageDeps, ctx: PageContext, interaction: InteractionDetails, error?: string, status = 200) {
  deps.interactions.allowRedirectOrigin(ctx, interaction.params.redirect_uri);
  const accountId = await deps.signIn.pendingAccount(interaction.uid);
  const passkey = accountId ? await passkeyFormFor(deps, ctx, interaction.uid, accountId) : undefined;
  const totp = accountId ? await deps.mfa.enabled(accountId) : true;
  renderPage(
    ctx,
    'Two-step verification',
    secondFactorView({ action: `/interaction/${interaction.uid}/mfa`, csrf: deps.interactionCsrf.token(ctx, interaction.uid), clientName: await deps.interactions.clientName(interaction.params.client_id as string | undefined), error, passkey, totp: totp || !passkey }),
    status,
    passkey ? { script: PASSKEY_SCRIPT } : {},
  );
}

/** A client's step-up for an account without a second factor: set one up, or cancel (unmet_authentication_requirements). */
export async function showStepUpOffer(deps: PageDeps, ctx: PageContext, interaction: InteractionDetails, status = 200) {
  deps.interactions.allowRedirectOrigin(ctx, interaction.params.redirect_uri);
  renderPage(
    ctx,
    'Two-step verification required',
    stepUpOfferView({
      declineAction: `/interaction/${interaction.uid}/step-up/decline`,
      csrf: deps.interactionCsrf.token(ctx, interaction.uid),
      clientName: await deps.interactions.clientName(interaction.params.client_id as string | undefined),
      setupHref: '/account',
      continueHref: `/interaction/${interaction.uid}`,
    }),
    status,
  );
}

/** Only the step-up check asks for the login prompt: the session's account gives its second factor, no password. */
export const isStepUpOnly = (interaction: InteractionDetails) =>
  Boolean(interaction.session?.accountId) && interaction.prompt.reasons.length > 0 && interaction.prompt.reasons.every((r) => r === STEP_UP.reason);

/** Turns a sign-in outcome into the next page (shared by the password and the second-factor steps). */
export async function answerSignIn(deps: PageDeps, ctx: PageContext, outcome: SignInOutcome, again: (error: string, status: number) => Promise<void>) {
  const interaction = interactionOf(ctx);
  switch (outcome.kind) {
    case 'unavailable':
      ctx.set('Retry-After', '60');
      return again(UNAVAILABLE, 503);
    case 'throttled': {
      ctx.set('Retry-After', String(outcome.retryAfterSeconds));
      const minutes = Math.ceil(outcome.retryAfterSeconds / 60);
      return showLogin(deps, ctx, interaction, { error: `Too many sign-in attempts. Try again later (in about ${minutes} minute${minutes > 1 ? 's' : ''}).`, status: 429 });
    }
    case 'invalid':
      return again(GENERIC_FAILURE, 200);
    case 'second_factor':
      return seeOther(ctx, `/interaction/${interaction.uid}`);
    case 'signed_in':
      return deps.interactions.finish(ctx, { login: { accountId: outcome.accountId, amr: outcome.amr, acr: outcome.acr } });
  }
}

export function interactionLoginRoutes(deps: PageDeps): PageRoute[] {
  return [
    {
      method: 'get',
      path: '/interaction/:uid',
      steps: [
        loadInteraction(deps.interactions),
        async (ctx) => {
          const interaction = interactionOf(ctx);
          const { uid, prompt, params, session } = interaction;
          if (prompt.name === 'login') {
            if (await deps.signIn.awaitsSecondFactor(uid)) return showSecondFactor(deps, ctx, interaction);
            if (isStepUpOnly(interaction)) {
              if ((await deps.signIn.stepUp(uid, session!.accountId!)) === 'second_factor') return showSecondFactor(deps, ctx, interaction);
              return showStepUpOffer(deps, ctx, interaction);
            }
            return showLogin(deps, ctx, interaction);
          }
          if (prompt.name === 'consent') {
            if (params.client_id === ACCOUNT_CONSOLE_CLIENT_ID && session?.accountId) return grantConsent(deps, ctx, session.accountId);
            return showConsent(deps, ctx);
          }
          renderPage(ctx, 'Sign-in error', messageView('Unsupported step', 'This sign-in step is not supported.'), 400);
        },
      ],
    },
    {
      method: 'post',
      path: '/interaction/:uid/login',
      steps: [
        loadInteraction(deps.interactions),
        readForm({
          schema: loginBody,
          csrf: (ctx, sent) => deps.interactionCsrf.valid(ctx, interactionOf(ctx).uid, sent),
          again: (ctx, problem, status) =>
            showLogin(deps, ctx, interactionOf(ctx), { error: problem === 'csrf' ? 'This form has expired. Please try again.' : 'Enter your email and password.', status }),
        }),
        async (ctx) => {
          const interaction = interactionOf(ctx);
          const { email, password } = formOf<z.infer<typeof loginBody>>(ctx);
          if (interaction.prompt.name !== 'login') return showLogin(deps, ctx, interaction, { error: 'This sign-in step is already complete.', status: 400 });
          const outcome = await deps.signIn.withPassword(ctx, { uid: interaction.uid, email, password, clientId: (interaction.params.client_id as string | undefined) ?? null });
          await answerSignIn(deps, ctx, outcome, (error, status) => showLogin(deps, ctx, interaction, { email, error, status }));
        },
      ],
    },
  ];
}
