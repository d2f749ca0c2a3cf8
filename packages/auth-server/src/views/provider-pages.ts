// The pages oidc-provider renders itself (its error page, the RP-initiated logout prompt and its
// result), in the server's style. The provider's configuration receives them as callbacks.
import type { Context } from 'koa';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { messageView, renderPage } from './interaction';
import { html, raw } from './layout';

/** oidc-provider's error page: never redirects to an unverified redirect_uri, never shows a stack. */
function renderProviderError(ctx: KoaContextWithOIDC, out: { error?: string; error_description?: string }, _error: unknown): void {
  const description = out.error_description ?? 'The request could not be completed.';
  renderPage(
    ctx as unknown as Context,
    'Sign-in error',
    html`<h1>Something went wrong</h1>
<p class="error" role="alert"><strong>${out.error ?? 'error'}</strong>: ${description}</p>
<p class="muted">Go back to the application you came from and try again.</p>`,
    ctx.status && ctx.status >= 400 ? ctx.status : 400,
  );
}

function renderLogoutPrompt(ctx: KoaContextWithOIDC, form: string): void {
  // `form` is oidc-provider's own hidden form (with its xsrf token) that the buttons submit.
  const formId = /id="([^"]+)"/.exec(form)?.[1] ?? 'op.logoutForm';
  renderPage(
    ctx as unknown as Context,
    'Sign out',
    html`${raw(form)}
<h1>Sign out of CloudDocs?</h1>
<p>You will be signed out of CloudDocs in this browser.</p>
<div class="row">
  <button type="submit" class="primary" form="${formId}" name="logout" value="yes">Sign out</button>
  <button type="submit" class="secondary" form="${formId}">Stay signed in</button>
</div>`,
  );
}

function renderLogoutDone(ctx: KoaContextWithOIDC): void {
  renderPage(ctx as unknown as Context, 'Signed out', messageView('Signed out', 'You are signed out of CloudDocs.'));
}

export const providerPages = {
  error: async (ctx: KoaContextWithOIDC, out: { error?: string; error_description?: string }, error: unknown) => renderProviderError(ctx, out, error),
  logoutPrompt: renderLogoutPrompt,
  logoutDone: renderLogoutDone,
};
