// CSRF tokens for every form, and the one constant-time comparison of secrets.
// - Interaction pages: an HMAC of the interaction cookie and the interaction uid under the cookie
//   key, so a form only works in the browser whose sign-in it belongs to.
// - Other pages (account console, mailed links): a random cookie (HttpOnly, SameSite=Lax, `__Host-`
//   on https) and, in each form, an HMAC of it. A cross-site page can neither read nor compute it.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context } from 'koa';

/** Constant-time equality of two secrets (length is not secret). */
export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function createInteractionCsrf(options: { cookieKey: string; interactionCookie: string }) {
  const tokenFor = (ctx: Context, uid: string) =>
    createHmac('sha256', options.cookieKey).update(`csrf:${uid}:${ctx.cookies.get(options.interactionCookie) ?? ''}`).digest('base64url');
  return {
    token: tokenFor,
    valid: (ctx: Context, uid: string, sent: string | undefined) => Boolean(sent && sameSecret(tokenFor(ctx, uid), sent)),
  };
}

export function createPageCsrf(options: { cookieKey: string; cookieName: string; https: boolean }) {
  const tokenFor = (cookie: string) => createHmac('sha256', options.cookieKey).update(`page-csrf:${cookie}`).digest('base64url');
  return {
    /** The form field for this browser; sets the cookie on first use. */
    token(ctx: Context): string {
      let cookie = ctx.cookies.get(options.cookieName);
      if (!cookie || !/^[A-Za-z0-9_-]{43}$/.test(cookie)) {
        cookie = randomBytes(32).toString('base64url');
        ctx.cookies.set(options.cookieName, cookie, { httpOnly: true, sameSite: 'lax', secure: options.https, path: '/', overwrite: true, signed: false });
      }
      return tokenFor(cookie);
    },
    valid(ctx: Context, sent: string | undefined): boolean {
      const cookie = ctx.cookies.get(options.cookieName);
      return Boolean(cookie && sent && sameSecret(tokenFor(cookie), sent));
    },
  };
}

export type InteractionCsrf = ReturnType<typeof createInteractionCsrf>;
export type PageCsrf = ReturnType<typeof createPageCsrf>;
