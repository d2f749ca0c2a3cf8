// What the pages that mailed links open share: the token from the query, the "expired" page, and
// the link back into the sign-in the mail was asked from (only an interaction path: no open redirect).
import { messageView, renderPage } from '../views/interaction';
import { html } from '../views/layout';
import type { PageContext } from '../steps/page';

const CONTINUE = /^\/interaction\/[A-Za-z0-9_-]{1,64}$/;

export const queryToken = (ctx: PageContext) => (typeof ctx.query.token === 'string' ? ctx.query.token : '');

/** The `continue` query parameter when it is an interaction path, else null. */
export const safeContinue = (ctx: PageContext) => (typeof ctx.query.continue === 'string' && CONTINUE.test(ctx.query.continue) ? ctx.query.continue : null);

export const withContinue = (path: string, returnTo: string | null | undefined) => (returnTo && CONTINUE.test(returnTo) ? `${path}?continue=${encodeURIComponent(returnTo)}` : path);

export const continueLink = (returnTo: string | null, text: string) =>
  returnTo ? html`<p><a href="${returnTo}">${text}</a></p>` : html`<p><a href="/account">Go to your account</a></p>`;

export const expiredLink = (ctx: PageContext, title: string) =>
  renderPage(ctx, title, messageView('This link has expired', 'The link was already used or is too old. Ask for a new one from the sign-in page.'), 400);

/** The mailed token of a form that could not be taken (for showing the form again), else ''. */
export function sentToken(ctx: PageContext): string {
  const token = new URLSearchParams(typeof ctx.request.body === 'string' ? ctx.request.body : '').get('token') ?? '';
  return /^[A-Za-z0-9_-]{1,128}$/.test(token) ? token : '';
}

export const formProblem = (problem: 'invalid' | 'csrf') =>
  problem === 'csrf' ? 'This form has expired. Reload the page and try again.' : 'The form could not be read. Try again from the link in your mail.';
