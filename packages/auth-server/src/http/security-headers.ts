// Headers on every response: no sniffing, no referrer, no framing. HTML pages get a CSP with a
// fresh nonce for their stylesheet; `form-action` also names the origin a page's form may end up
// redirecting to (Chromium applies form-action to the redirect after a form post).
import { randomBytes } from 'node:crypto';
import type { Context, Next } from 'koa';

export interface CspState {
  nonce: string;
  /** Extra origins the page's forms may lead to (the client's redirect origin on consent). */
  formActionOrigins: Set<string>;
}

export function securityHeaders(options: { https: boolean }) {
  return async (ctx: Context, next: Next) => {
    const csp: CspState = { nonce: randomBytes(16).toString('base64'), formActionOrigins: new Set() };
    ctx.state.csp = csp;
    await next();
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Referrer-Policy', 'no-referrer');
    ctx.set('X-Frame-Options', 'DENY');
    ctx.set('Cross-Origin-Opener-Policy', 'same-origin');
    if (options.https) ctx.set('Strict-Transport-Security', 'max-age=63072000; includeSubDomains');
    const formAction = ["'self'", ...csp.formActionOrigins].join(' ');
    const isHtml = /text\/html/.test(String(ctx.response.get('Content-Type') ?? ''));
    // oidc-provider's own pages (errors, form_post, logout) carry inline scripts/styles of its own;
    // they are served with a CSP that names them by hash when it sets one, otherwise this one.
    if (!ctx.response.get('Content-Security-Policy')) {
      ctx.set(
        'Content-Security-Policy',
        isHtml
          ? `default-src 'none'; style-src 'nonce-${csp.nonce}'; img-src 'self' data:; form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`
          : "default-src 'none'; frame-ancestors 'none'",
      );
    }
    if (isHtml && !ctx.response.get('Cache-Control')) ctx.set('Cache-Control', 'no-store');
  };
}
