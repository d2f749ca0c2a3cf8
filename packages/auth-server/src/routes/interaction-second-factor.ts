// POST /interaction/:uid/mfa: the second factor of a sign-in that passed its password, or of a step-up
// inside a signed-in session (a TOTP code or a recovery code, each working once). Rules: only after the
// password step of this interaction or a step-up (else the sign-in form, 400); a wrong code shows the form
// again; five wrong codes end the pending sign-in (429, start again with the password); a store that
// cannot count them gives 503. POST …/step-up/decline: a person without a second factor declines the
// step-up a client asked for; the client gets unmet_authentication_requirements (audited).
import { z } from 'zod';
import { loadInteraction } from '../steps/load-interaction';
import { formOf, interactionOf, type PageRoute } from '../steps/page';
import { readForm } from '../steps/read-form';
import { CSRF, field, type PageDeps } from './deps';
import { answerSignIn, isStepUpOnly, showLogin, showSecondFactor, showStepUpOffer } from './interaction-login';

const codeBody = z.object({ code: field(64), csrf: CSRF }).strict();
const csrfBody = z.object({ csrf: CSRF }).strict();
/** A passkey's answer (WebAuthn JSON, a few hundred characters; read-body caps every parameter anyway). */
const passkeyBody = z.object({ csrf: CSRF, response: field(8192) }).strict();
const PASSKEY_REFUSED = 'That passkey could not be used. Try again.';

export function interactionSecondFactorRoutes(deps: PageDeps): PageRoute[] {
  return [
    {
      method: 'post',
      path: '/interaction/:uid/mfa',
      steps: [
        loadInteraction(deps.interactions),
        readForm({
          schema: codeBody,
          csrf: (ctx, sent) => deps.interactionCsrf.valid(ctx, interactionOf(ctx).uid, sent),
          again: (ctx, problem, status) =>
            problem === 'csrf'
              ? showSecondFactor(deps, ctx, interactionOf(ctx), 'This form has expired. Please try again.', status)
              : showSecondFactor(deps, ctx, interactionOf(ctx), 'Enter the code from your authenticator app.', status),
        }),
        async (ctx) => {
          const interaction = interactionOf(ctx);
          const outcome =
            interaction.prompt.name === 'login'
              ? await deps.signIn.withSecondFactor(ctx, { uid: interaction.uid, code: formOf<z.infer<typeof codeBody>>(ctx).code, clientId: (interaction.params.client_id as string | undefined) ?? null })
              : ({ kind: 'no_pending' } as const);
          if (outcome.kind === 'no_pending') return showLogin(deps, ctx, interaction, { error: 'Sign in with your email and password first.', status: 400 });
          if (outcome.kind === 'invalid') return showSecondFactor(deps, ctx, interaction, 'That code is not valid (codes work once). Try the current code from your app.');
          await answerSignIn(deps, ctx, outcome, (error, status) => showSecondFactor(deps, ctx, interaction, error, status));
        },
      ],
    },
    {
      // A passkey alone signs in (user verification required): no password.
      method: 'post',
      path: '/interaction/:uid/passkey',
      steps: [
        loadInteraction(deps.interactions),
        readForm({
          schema: passkeyBody,
          csrf: (ctx, sent) => deps.interactionCsrf.valid(ctx, interactionOf(ctx).uid, sent),
          again: (ctx, problem, status) => showLogin(deps, ctx, interactionOf(ctx), { error: problem === 'csrf' ? 'This form has expired. Please try again.' : PASSKEY_REFUSED, status }),
        }),
        async (ctx) => {
          const interaction = interactionOf(ctx);
          if (interaction.prompt.name !== 'login') return showLogin(deps, ctx, interaction, { error: 'This sign-in step is already complete.', status: 400 });
          const outcome = await deps.signIn.withPasskey(ctx, { uid: interaction.uid, response: formOf<z.infer<typeof passkeyBody>>(ctx).response, clientId: (interaction.params.client_id as string | undefined) ?? null });
          if (outcome.kind === 'invalid') return showLogin(deps, ctx, interaction, { error: PASSKEY_REFUSED, status: 400 });
          await answerSignIn(deps, ctx, outcome, (error, status) => showLogin(deps, ctx, interaction, { error, status }));
        },
      ],
    },
    {
      // A passkey as the second factor after the password (or in a step-up).
      method: 'post',
      path: '/interaction/:uid/mfa/passkey',
      steps: [
        loadInteraction(deps.interactions),
        readForm({
          schema: passkeyBody,
          csrf: (ctx, sent) => deps.interactionCsrf.valid(ctx, interactionOf(ctx).uid, sent),
          again: (ctx, problem, status) => showSecondFactor(deps, ctx, interactionOf(ctx), problem === 'csrf' ? 'This form has expired. Please try again.' : PASSKEY_REFUSED, status),
        }),
        async (ctx) => {
          const interaction = interactionOf(ctx);
          const outcome =
            interaction.prompt.name === 'login'
              ? await deps.signIn.withSecondFactor(ctx, { uid: interaction.uid, code: '', passkeyResponse: formOf<z.infer<typeof passkeyBody>>(ctx).response, clientId: (interaction.params.client_id as string | undefined) ?? null })
              : ({ kind: 'no_pending' } as const);
          if (outcome.kind === 'no_pending') return showLogin(deps, ctx, interaction, { error: 'Sign in with your email and password first.', status: 400 });
          if (outcome.kind === 'invalid') return showSecondFactor(deps, ctx, interaction, PASSKEY_REFUSED, 400);
          await answerSignIn(deps, ctx, outcome, (error, status) => showSecondFactor(deps, ctx, interaction, error, status));
        },
      ],
    },
    {
      // Step-up declined by a person without a second factor: the client learns why (OIDC Core §3.1.2.6 via oidc-provider).
      method: 'post',
      path: '/interaction/:uid/step-up/decline',
      steps: [
        loadInteraction(deps.interactions, 'login'),
        readForm({
          schema: csrfBody,
          csrf: (ctx, sent) => deps.interactionCsrf.valid(ctx, interactionOf(ctx).uid, sent),
          again: (ctx, _problem, status) => showStepUpOffer(deps, ctx, interactionOf(ctx), status),
        }),
        async (ctx) => {
          const interaction = interactionOf(ctx);
          if (!isStepUpOnly(interaction)) return showLogin(deps, ctx, interaction, { error: 'Sign in with your email and password first.', status: 400 });
          deps.signIn.declineStepUp(ctx, interaction.session!.accountId!, (interaction.params.client_id as string | undefined) ?? null);
          await deps.interactions.finish(ctx, { error: 'unmet_authentication_requirements', error_description: 'a second factor is required and the user has none' });
        },
      ],
    },
  ];
}
