// What a page request learns, step by step, in ctx.state; and how a page route is declared: its
// method, path and the table of one-file steps it runs (load the interaction or the signed-in
// account → read the form → handle), mounted on one router.
import type Router from '@koa/router';
import type { RouterContext, RouterMiddleware } from '@koa/router';
import type { Account } from '../accounts/accounts';
import type { InteractionDetails } from '../libraries/interactions';
import type { BodyState } from '../middleware/read-body';
import type { CspState } from '../middleware/security-headers';
import type { RequestScope } from '../request-scope';

export interface SignedIn {
  account: Account;
  /** `amr`: how this browser signed in (RFC 8176), e.g. `mfa` after a second factor. */
  session: { uid: string; accountId: string; amr: string[] };
}

export interface PageState extends BodyState {
  scope: RequestScope;
  csp: CspState;
  requestId?: string;
  interaction?: InteractionDetails;
  signedIn?: SignedIn;
  form?: unknown;
}

export type PageContext = RouterContext<PageState>;
export type PageStep = RouterMiddleware<PageState>;

export interface PageRoute {
  method: 'get' | 'post';
  /** koa form, e.g. `/interaction/:uid/login` */
  path: string;
  steps: PageStep[];
}

function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`${what} is not loaded: a step is missing from this route's pipeline`);
  return value;
}

export const interactionOf = (ctx: PageContext) => need(ctx.state.interaction, 'interaction');
export const signedInOf = (ctx: PageContext) => need(ctx.state.signedIn, 'signed-in account');
export const formOf = <T>(ctx: PageContext) => need(ctx.state.form, 'form') as T;

export function mountPages(router: Router, routes: PageRoute[]): void {
  for (const route of routes) router.register(route.path, [route.method.toUpperCase()], route.steps as never);
}
