// POST /interaction/:uid/mfa: the second factor of a sign-in that passed its password (a TOTP code or
// a recovery code, each working once). Rules: only after the password step of this interaction (else
// the sign-in form, 400); a wrong code shows the form again; five wrong codes end the pending sign-in
// (429, start again with the password); a store that cannot count them gives 503.
import { z } from 'zod';
import { loadInteraction } from '../steps/load-interaction';
import { formOf, interactionOf, type PageRoute } from '../steps/page';
import { readForm } from '../steps/read-form';
import { CSRF, field, type PageDeps } from './deps';
import { answerSignIn, showLogin, showSecondFactor } from './interaction-login';

const codeBody = z.object({ code: field(64), csrf: CSRF }).strict();

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
  ];
}
