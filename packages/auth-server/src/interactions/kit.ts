// What every interaction page shares: the urlencoded form reader, the CSRF token bound to the
// interaction cookie, the interaction lookup (oidc-provider checks the cookie against the URL), and
// the 303 that hands the result back to oidc-provider.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import { errors } from 'oidc-provider';
import type { CspState } from '../http/security-headers';
import { messageView, renderPage } from './views';

export class FormError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** A urlencoded body of at most 16 KiB in which no field repeats. */
export async function readForm(ctx: Context): Promise<Record<string, string>> {
  if (!ctx.is('application/x-www-form-urlencoded')) throw new FormError(415, 'Send the form as application/x-www-form-urlencoded.');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    size += (chunk as Buffer).length;
    if (size > 16 * 1024) throw new FormError(413, 'The form is too large.');
    chunks.push(chunk as Buffer);
  }
  const params = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
  const out: Record<string, string> = Object.create(null);
  for (const [k, v] of params) {
    if (k in out) throw new FormError(400, `The field "${k}" appears twice.`);
    out[k] = v;
  }
  return out;
}

export function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Redirect after a POST that changed state or checked a credential (RFC 9110 §15.4.4). */
export function seeOther(ctx: Context, location: string): void {
  ctx.status = 303;
  ctx.set('Cache-Control', 'no-store');
  ctx.redirect(location);
  ctx.status = 303;
}

export type InteractionDetails = Awaited<ReturnType<Provider['interactionDetails']>>;

export function createInteractionKit(deps: { provider: () => Provider; cookieKey: string; interactionCookie: string }) {
  const csrfFor = (ctx: Context, uid: string) => {
    const cookie = ctx.cookies.get(deps.interactionCookie) ?? '';
    return createHmac('sha256', deps.cookieKey).update(`csrf:${uid}:${cookie}`).digest('base64url');
  };
  return {
    csrfFor,
    csrfValid: (ctx: Context, uid: string, sent: string) => sameToken(csrfFor(ctx, uid), sent),

    /** The interaction this browser is in, or a page saying it expired. */
    async details(ctx: Context): Promise<InteractionDetails | undefined> {
      try {
        return await deps.provider().interactionDetails(ctx.req, ctx.res);
      } catch (err) {
        if (err instanceof errors.SessionNotFound || (err as { name?: string }).name === 'SessionNotFound') {
          renderPage(ctx, 'Sign-in expired', messageView('This sign-in has expired', 'Go back to the application and start again.'), 400);
          return undefined;
        }
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

    /** `merge` keeps the login of this interaction when consent follows it (else prompt=login asks again). */
    async finish(ctx: Context, result: Record<string, unknown>, merge = false) {
      const redirectTo = await deps.provider().interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: merge });
      seeOther(ctx, redirectTo);
    },
  };
}

export type InteractionKit = ReturnType<typeof createInteractionKit>;
