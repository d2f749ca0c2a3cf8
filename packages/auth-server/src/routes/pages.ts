// Every page of the server, as one table: interaction steps, self-service, mailed links and the
// account console. The router sees only page paths: the token endpoint and the other protocol
// endpoints go straight on to oidc-provider without route matching on the way.
import Router from '@koa/router';
import type { Context, Next } from 'koa';
import { isPagePath } from '../errors';
import { mountPages, type PageRoute } from '../steps/page';
import { accountApiKeyRoutes } from './account-api-keys';
import { accountConnectionRoutes } from './account-connections';
import { accountHomeRoutes } from './account-home';
import { accountProfileRoutes } from './account-profile';
import { adminConsoleRoutes } from './admin-console';
import { accountSecondFactorRoutes } from './account-second-factors';
import { accountPasskeyRoutes } from './account-passkeys';
import type { PageDeps } from './deps';
import { interactionConsentRoutes } from './interaction-consent';
import { interactionLoginRoutes } from './interaction-login';
import { interactionSecondFactorRoutes } from './interaction-second-factor';
import { passwordResetRoutes } from './password-reset';
import { signupRoutes } from './signup';
import { verifyEmailRoutes } from './verify-email';

export function pageRoutes(deps: PageDeps): PageRoute[] {
  return [
    ...interactionLoginRoutes(deps),
    ...interactionSecondFactorRoutes(deps),
    ...interactionConsentRoutes(deps),
    ...signupRoutes(deps),
    ...passwordResetRoutes(deps),
    ...verifyEmailRoutes(deps),
    ...accountHomeRoutes(deps),
    ...accountConnectionRoutes(deps),
    ...accountSecondFactorRoutes(deps),
    ...accountPasskeyRoutes(deps),
    ...accountProfileRoutes(deps),
    ...adminConsoleRoutes(deps),
    ...accountApiKeyRoutes(deps),
  ];
}

export function pages(deps: PageDeps) {
  const router = new Router();
  mountPages(router, pageRoutes(deps));
  const routes = router.routes() as unknown as (ctx: Context, next: Next) => Promise<unknown>;
  const methods = router.allowedMethods() as unknown as (ctx: Context, next: Next) => Promise<unknown>;
  return (ctx: Context, next: Next) => (isPagePath(ctx.path) ? routes(ctx, () => methods(ctx, next)) : next());
}
