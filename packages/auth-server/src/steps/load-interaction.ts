// Loads the oidc-provider interaction of this browser (the interaction cookie must match the URL:
// a form posted from another browser finds nothing) and, when given, requires its prompt.
// Rules: an expired or foreign interaction is a 400 page "This sign-in has expired"; a step that is
// already done is a 400 page that says so.
import { PageError } from '../errors';
import type { InteractionLibrary } from '../libraries/interactions';
import type { PageStep } from './page';

export function loadInteraction(interactions: InteractionLibrary, prompt?: 'login' | 'consent'): PageStep {
  return async (ctx, next) => {
    const interaction = await interactions.details(ctx);
    if (prompt && interaction.prompt.name !== prompt) {
      throw new PageError(400, { title: 'Sign in', heading: 'Already signed in', message: 'This sign-in step is already complete. Go back to the application.' });
    }
    ctx.state.interaction = interaction;
    return next();
  };
}
