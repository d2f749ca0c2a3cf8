// The one writer of error bodies. Every failure is a typed error with a stable code; this module
// renders it for the surface it happened on: OAuth JSON (`{ error, error_description }`, RFC 6749
// §5.2) at the protocol endpoints, an HTML page at the pages, problem+json (RFC 9457) under /admin.
// Outages (database, cache, audit log) are told apart by error class and code, never by message
// text, and answer 503 with Retry-After; no stack trace or SQL ever reaches a response.
import { AuditUnavailableError } from '@clouddocs/audit';
import { isStoreFailure } from '@clouddocs/db';
import { KvUnavailableError } from '@clouddocs/kv';
import type { Logger } from '@clouddocs/observability';
import type { Context, Next } from 'koa';
import { ThrottleUnavailableError } from './accounts/throttle';
import { html } from './views/layout';
import { messageView, renderPage } from './views/interaction';

export interface ErrorOptions {
  headers?: Record<string, string>;
  /** The OAuth `error` value when it differs from `code` (RFC 6749 §5.2 registers a few). */
  oauthError?: string;
  /** A page-friendly title (HTML surface). */
  title?: string;
}

export class AuthServerError extends Error {
  override readonly name: string = 'AuthServerError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly options: ErrorOptions = {},
  ) {
    super(message);
  }
}

/** A parameter, field or body the server will not take (bad bytes, malformed, wrong shape). */
export class BadRequestError extends AuthServerError {
  constructor(message: string) {
    super(400, 'invalid_request', message, { title: 'Request not accepted' });
  }
}

export class PayloadTooLargeError extends AuthServerError {
  constructor(limitBytes: number) {
    super(413, 'payload_too_large', `the request body exceeds ${limitBytes} bytes`, { oauthError: 'invalid_request', title: 'Request not accepted' });
  }
}

export class UnsupportedMediaTypeError extends AuthServerError {
  constructor(expected: string) {
    super(415, 'unsupported_media_type', `send the body as ${expected}`, { oauthError: 'invalid_request', title: 'Request not accepted' });
  }
}

/** RFC 6749 §5.2: client authentication failed. */
export class InvalidClientError extends AuthServerError {
  constructor(message = 'client authentication failed') {
    super(401, 'invalid_client', message, { headers: { 'WWW-Authenticate': 'Basic realm="clouddocs"' } });
  }
}

export class TooManyRequestsError extends AuthServerError {
  constructor(message: string, retryAfterSeconds: number) {
    super(429, 'rate_limited', message, { oauthError: 'invalid_request', headers: { 'Retry-After': String(retryAfterSeconds) }, title: 'Too many requests' });
  }
}

/** RFC 8628 §3.5: a device polls faster than its interval. */
export class SlowDownError extends AuthServerError {
  constructor(intervalSeconds: number) {
    super(400, 'slow_down', `polling too quickly: wait at least ${intervalSeconds} seconds between requests, 5 more after each slow_down`);
  }
}

export class NotFoundError extends AuthServerError {
  constructor(message = 'no such endpoint; discovery at /.well-known/openid-configuration lists them') {
    super(404, 'not_found', message, { title: 'Not found' });
  }
}

/** RFC 6750 §3: no token → a bare challenge; a bad token → error="invalid_token" (admin API). */
export class UnauthorizedError extends AuthServerError {
  constructor(message: string, tokenSent: boolean) {
    super(401, tokenSent ? 'invalid_token' : 'missing_token', message, {
      oauthError: 'invalid_token',
      title: 'Unauthorized',
      headers: { 'WWW-Authenticate': tokenSent ? `Bearer realm="clouddocs-admin", error="invalid_token", error_description="${message.replace(/["\\]/g, "'")}"` : 'Bearer realm="clouddocs-admin"' },
    });
  }
}

/** RFC 7591 §3.2.2: registration metadata the server will not take. */
export class ClientMetadataError extends AuthServerError {
  constructor(code: 'invalid_redirect_uri' | 'invalid_client_metadata', message: string) {
    super(400, code, message, { title: 'Request not accepted' });
  }
}

/** RFC 7591 §3 / RFC 6750 §3: a registration without an initial access token, or with one that is not usable. */
export class RegistrationTokenRequiredError extends AuthServerError {
  constructor(tokenSent: boolean) {
    const message = tokenSent ? 'the initial access token is unknown, used up, expired or revoked' : 'registration needs an initial access token (Authorization: Bearer …)';
    super(401, tokenSent ? 'invalid_token' : 'missing_token', message, {
      oauthError: 'invalid_token',
      title: 'Unauthorized',
      headers: { 'WWW-Authenticate': tokenSent ? `Bearer realm="clouddocs-registration", error="invalid_token"` : 'Bearer realm="clouddocs-registration"' },
    });
  }
}

/** RFC 6750 §3.1: the token lacks the scope this request needs. */
export class InsufficientScopeError extends AuthServerError {
  constructor(readonly scope: string) {
    super(403, 'insufficient_scope', `this request needs the scope ${scope}`, {
      title: 'Forbidden',
      headers: { 'WWW-Authenticate': `Bearer realm="clouddocs-admin", error="insufficient_scope", scope="${scope}"` },
    });
  }
}

/** The change would break an invariant (the last platform administrator, an administrator disabling themselves). */
export class ConflictError extends AuthServerError {
  constructor(message: string) {
    super(409, 'conflict', message, { title: 'Conflict' });
  }
}

/** A store this request needs is down: try again later (RFC 6749 §4.1.2.1 temporarily_unavailable). */
export class ServiceUnavailableError extends AuthServerError {
  constructor(message = 'the service is temporarily unavailable', retryAfterSeconds = 5) {
    super(503, 'temporarily_unavailable', message, { headers: { 'Retry-After': String(retryAfterSeconds) }, title: 'Temporarily unavailable' });
  }
}

/** A page that cannot go on (an expired sign-in or form, a step already done); it says what to do. */
export class PageError extends AuthServerError {
  constructor(
    status: number,
    page: { title: string; heading: string; message: string; back?: { href: string; text: string } },
    code = status === 403 ? 'form_expired' : status === 404 ? 'not_found' : 'page_error',
  ) {
    super(status, code, page.message, { title: page.title });
    this.heading = page.heading;
    this.back = page.back;
  }
  readonly heading: string;
  readonly back: { href: string; text: string } | undefined;
}

/** A database, cache, audit log or throttle store that cannot be reached or failed under the request. */
export function isStoreOutage(err: unknown): boolean {
  return err instanceof KvUnavailableError || err instanceof AuditUnavailableError || err instanceof ThrottleUnavailableError || isStoreFailure(err);
}

/** PostgreSQL SQLSTATE class 22 (data exception): a value the store cannot take, so a bad request. */
export function isRejectedValue(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && /^22[0-9A-Z]{3}$/.test(code);
}

/** Any thrown value as a typed error; unknown ones become a 503 (logged with their stack, never sent). */
export function toAuthServerError(err: unknown): AuthServerError {
  if (err instanceof AuthServerError) return err;
  if (isStoreOutage(err)) return new ServiceUnavailableError();
  if (isRejectedValue(err)) return new BadRequestError('a parameter holds a value that is not accepted');
  const { status, expose, message } = err as { status?: unknown; expose?: unknown; message?: unknown };
  if (typeof status === 'number' && status >= 400 && status < 500 && expose) {
    if (status === 413) return new PayloadTooLargeError(MAX_BODY_BYTES);
    if (status === 415) return new UnsupportedMediaTypeError('application/x-www-form-urlencoded');
    return new AuthServerError(status, 'invalid_request', typeof message === 'string' ? message : 'the request is invalid', { title: 'Request not accepted' });
  }
  return new ServiceUnavailableError();
}

/** The largest body any endpoint takes (oidc-provider's own limit is 56 KiB). */
export const MAX_BODY_BYTES = 56 * 1024;

export type ErrorSurface = 'oauth' | 'page' | 'problem';

// The device verification page (/device, /device/resume/…) is a page; the device authorization endpoint (/device/auth) is not.
const PAGE_PATHS = /^\/(interaction\/|account(\/|$)|reset-password(\/|$)|verify-email(\/|$)|device(?!\/auth$)(\/|$)|admin(?!\/v1(\/|$))(\/|$))/;

/** Which kind of answer a path gives. */
export function surfaceOf(ctx: Pick<Context, 'path'>): ErrorSurface {
  if (PAGE_PATHS.test(ctx.path)) return 'page';
  if (ctx.path === '/admin/v1' || ctx.path.startsWith('/admin/v1/')) return 'problem';
  return 'oauth';
}

export function isPagePath(path: string): boolean {
  return PAGE_PATHS.test(path);
}

/** Writes `err` as the response, in the form of the surface it happened on. */
export function sendError(ctx: Context, err: AuthServerError, surface: ErrorSurface = surfaceOf(ctx)): void {
  for (const [k, v] of Object.entries(err.options.headers ?? {})) ctx.set(k, v);
  ctx.set('Cache-Control', 'no-store');
  if (surface === 'page' || (surface === 'oauth' && ctx.method === 'GET' && ctx.accepts('json', 'html') === 'html' && err.status !== 404)) {
    const unavailable = err.status >= 500;
    const page = err instanceof PageError ? err : undefined;
    const back = page?.back ? html`<p><a href="${page.back.href}">${page.back.text}</a></p>` : undefined;
    const heading = unavailable ? 'Temporarily unavailable' : (page?.heading ?? 'Request not accepted');
    // A protocol endpoint answering a browser names the OAuth error, as oidc-provider's own page does.
    const message = unavailable ? 'Please try again in a moment.' : surface === 'page' ? err.message : `${err.options.oauthError ?? err.code}: ${err.message}`;
    renderPage(ctx, unavailable ? 'Unavailable' : (err.options.title ?? 'Error'), messageView(heading, message, back), err.status);
    return;
  }
  ctx.status = err.status;
  if (surface === 'problem') {
    ctx.body = {
      type: `urn:clouddocs:problem:${err.code}`,
      title: err.options.title ?? err.code,
      status: err.status,
      detail: err.message,
      ...(err instanceof InsufficientScopeError ? { scope: err.scope } : {}),
      ...(typeof ctx.state.requestId === 'string' ? { requestId: ctx.state.requestId } : {}),
    };
    ctx.type = 'application/problem+json';
    return;
  }
  ctx.body = { error: err.options.oauthError ?? err.code, error_description: err.message };
}

/** Outermost error boundary: a thrown error becomes its typed answer; unknown ones are logged. */
export function errorBoundary(logger: Logger) {
  return async (ctx: Context, next: Next) => {
    try {
      await next();
    } catch (err) {
      const typed = toAuthServerError(err);
      if (!(err instanceof AuthServerError) && typed.status >= 500) {
        logger.error({ err: (err as Error)?.message, name: (err as Error)?.name, code: (err as { code?: unknown })?.code, stack: (err as Error)?.stack, path: ctx.path }, 'request failed');
      }
      sendError(ctx, typed);
    }
  };
}
