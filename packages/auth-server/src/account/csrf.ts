// CSRF for the pages outside a sign-in (account, email links): a random cookie (HttpOnly,
// SameSite=Lax, `__Host-` on https) and, in each form, an HMAC of it under the cookie key. A
// cross-site page can neither read the cookie nor compute the field.
import { createHmac, randomBytes } from 'node:crypto';
import type { Context } from 'koa';
import { sameToken } from '../interactions/kit';

export function createPageCsrf(options: { cookieKey: string; https: boolean }) {
  const name = options.https ? '__Host-cd_csrf' : 'cd_csrf';
  const tokenFor = (cookie: string) => createHmac('sha256', options.cookieKey).update(`page-csrf:${cookie}`).digest('base64url');
  return {
    /** The form field for this browser; sets the cookie on first use. */
    token(ctx: Context): string {
      let cookie = ctx.cookies.get(name);
      if (!cookie || !/^[A-Za-z0-9_-]{43}$/.test(cookie)) {
        cookie = randomBytes(32).toString('base64url');
        ctx.cookies.set(name, cookie, { httpOnly: true, sameSite: 'lax', secure: options.https, path: '/', overwrite: true, signed: false });
      }
      return tokenFor(cookie);
    },
    valid(ctx: Context, sent: string | undefined): boolean {
      const cookie = ctx.cookies.get(name);
      return Boolean(cookie && sent && sameToken(tokenFor(cookie), sent));
    },
  };
}

export type PageCsrf = ReturnType<typeof createPageCsrf>;
