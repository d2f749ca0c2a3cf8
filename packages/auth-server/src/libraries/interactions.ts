// The pages' only way into oidc-provider's interactions: the interaction this browser is in
// (oidc-provider checks the interaction cookie against the URL), the client's display name, and the
// 303 that hands the result back. Pages never touch the provider's models directly.
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import { errors } from 'oidc-provider';
import { PageError } from '../errors';
import type { CspState } from '../middleware/security-headers';
import { seeOther } from '../views/interaction';

export type InteractionDetails = Awaited<ReturnType<Provider['interactionDetails']>>;

export const SIGN_IN_EXPIRED = { title: 'Sign-in expired', heading: 'This sign-in has expired', message: 'Go back to the application and start again.' };

export function createInteractionLibrary(deps: { provider: () => Provider }) {
  return {
    /** The interaction this browser is in; a PageError when it expired or belongs to another browser. */
    async details(ctx: Context): Promise<InteractionDetails> {
      try {
        return await deps.provider().interactionDetails(ctx.req, ctx.res);
      } catch (err) {
        if (err instanceof errors.SessionNotFound || (err as { name?: string }).name === 'SessionNotFound') throw new PageError(400, SIGN_IN_EXPIRED);
        throw err;
      }
    },

    async clientName(clientId: string | undefined): Promise<string> {
      const client = clientId ? await deps.provider().Client.find(clientId) : undefined;
      return client?.clientName ?? clientId ?? 'an application';
    },

    /** Chromium applies form-action to the redirect after a form post: allow the client's redirect origin. */
    allowRedirectOrigin(ctx: Context, redirectUri: unknown) {
      if (typeof redirectUri !== 'string') return;
      try {
        (ctx.state.csp as CspState).formActionOrigins.add(new URL(redirectUri).origin);
      } catch {
        // not a URL: nothing to allow
      }
    },

    /**
     * `merge` keeps the login of this interaction when consent follows it (else prompt=login asks again).
     * An interaction without a session (a browser not yet signed in) that this request already loaded,
     * checked against the cookie, is saved with the result as oidc-provider's `interactionResult` does,
     * without reading it again; one inside a session goes through `interactionResult`, which checks
     * again that the session still belongs to the same account.
     */
    async finish(ctx: Context, result: Record<string, unknown>, merge = false) {
      const loaded = (ctx.state as { interaction?: InteractionDetails }).interaction;
      if (!loaded || loaded.session?.uid) return seeOther(ctx, await deps.provider().interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: merge }));
      loaded.result = merge && !('error' in result) ? { ...loaded.lastSubmission, ...result } : result;
      await loaded.save(loaded.exp - Math.floor(Date.now() / 1000));
      seeOther(ctx, loaded.returnTo);
    },

    /** A grant of the provider's model, new or existing (consent). */
    async grantFor(grantId: string | undefined, accountId: string, clientId: string) {
      const provider = deps.provider();
      return grantId ? provider.Grant.find(grantId) : new provider.Grant({ accountId, clientId });
    },
  };
}

export type InteractionLibrary = ReturnType<typeof createInteractionLibrary>;
