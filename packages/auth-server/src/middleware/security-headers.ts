// Headers on every response: no sniffing, no referrer, no framing. HTML pages get a CSP with a
// fresh nonce for their stylesheet; `form-action` also names the origin a page's form may end up
// redirecting to (Chromium applies form-action to the redirect after a form post).
import { createHash, randomBytes } from 'node:crypto';
import type { Context, Next } from 'koa';

export interface CspState {
  nonce: string;
  /** Extra origins the page's forms may lead to (the client's redirect origin on consent). */
  formActionOrigins: Set<string>;
  /** The page carries the passkey script under this response's nonce (views/passkey.ts): allow exactly that. */
  nonceScript: boolean;
}

export function securityHeaders(options: { https: boolean }) {
  return async (ctx: Context, next: Next) => {
    // The nonce is made only when a page asks for it (JSON endpoints such as /token never do).
    let nonce: string | undefined;
    const csp: CspState = {
      get nonce() {
        nonce ??= randomBytes(16).toString('base64');
        return nonce;
      },
      formActionOrigins: new Set(),
      nonceScript: false,
    };
    ctx.state.csp = csp;
    await next();
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Referrer-Policy', 'no-referrer');
    ctx.set('X-Frame-Options', 'DENY');
    ctx.set('Cross-Origin-Opener-Policy', 'same-origin');
    if (options.https) ctx.set('Strict-Transport-Security', 'max-age=63072000; includeSubDomains');
    const isHtml = /text\/html/.test(String(ctx.response.get('Content-Type') ?? ''));
    // oidc-provider's auto-submitting pages (form_post responses, logout without a session) run one
    // inline script and post to the client: allow exactly that script, by hash, and that form's origin.
    // Our own pages contain no other script (the passkey pages carry one, by nonce), and every value is escaped.
    const scriptHashes: string[] = [];
    if (isHtml && typeof ctx.body === 'string' && ctx.body.includes('<script>')) {
      for (const m of ctx.body.matchAll(/<script>([\s\S]*?)<\/script>/g)) scriptHashes.push(`'sha256-${createHash('sha256').update(m[1]!).digest('base64')}'`);
      for (const m of ctx.body.matchAll(/<form method="post" action="(https?:\/\/[^"]+)"/g)) {
        try {
          csp.formActionOrigins.add(new URL(m[1]!.replace(/&amp;/g, '&')).origin);
        } catch {
          // not a URL: nothing to allow
        }
      }
    }
    const formAction = ["'self'", ...csp.formActionOrigins].join(' ');
    const scriptSources = [...(csp.nonceScript ? [`'nonce-${csp.nonce}'`] : []), ...scriptHashes];
    const scriptSrc = scriptSources.length ? `; script-src ${scriptSources.join(' ')}` : '';
    // oidc-provider's own pages (errors, form_post, logout) carry inline scripts/styles of its own;
    // they are served with a CSP that names them by hash when it sets one, otherwise this one.
    if (!ctx.response.get('Content-Security-Policy')) {
      ctx.set(
        'Content-Security-Policy',
        isHtml
          ? `default-src 'none'; style-src 'nonce-${csp.nonce}'${scriptSrc}; img-src 'self' data:; form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`
          : "default-src 'none'; frame-ancestors 'none'",
      );
    }
    if (isHtml && !ctx.response.get('Cache-Control')) ctx.set('Cache-Control', 'no-store');
  };
}
