// The one place that writes error bodies: typed errors become RFC 9457 `application/problem+json`.
// Nothing else sets an error body, and no stack trace, SQL or token ever reaches a response.
// Failures of the stores are told apart by class, SQLSTATE and errno (never by message text): 503.
import type { Socket } from 'node:net';
import { STATUS_CODES } from 'node:http';
import { AuditUnavailableError } from '@clouddocs/audit';
import { isStoreFailure } from '@clouddocs/db';
import type { Logger } from '@clouddocs/observability';
import type { Context, Next } from 'koa';
import type { z } from 'zod';
import { DPOP_ALGORITHMS } from './algorithms';

const REALM = 'docs-api';

/** RFC 6750 §3: error_description holds only %x20-21 / %x23-5B / %x5D-7E (no quote, no backslash, nothing
 * outside printable ASCII, which a header could not carry anyway). */
export const quotable = (text: string) => text.replace(/["\\]/g, "'").replace(/[^\x20-\x7E]/g, '?');

/** The HTTP authentication schemes this API accepts: RFC 6750 Bearer and RFC 9449 DPoP. */
export type AuthScheme = 'Bearer' | 'DPoP';

/** What a `WWW-Authenticate` challenge says (RFC 6750 §3, RFC 9449 §7.1). */
export interface Challenge {
  error?: 'invalid_request' | 'invalid_token' | 'insufficient_scope' | 'invalid_dpop_proof';
  description?: string;
  scope?: string;
  /** The scheme to challenge with; by default the scheme the request used. */
  scheme?: AuthScheme;
}

export interface ProblemOptions {
  headers?: Record<string, string>;
  extensions?: Record<string, unknown>;
  /** Answered as `WWW-Authenticate` in the scheme of the request (see `challengeHeader`). */
  challenge?: Challenge;
}

/** An error with a stable code that the API answers as problem+json. */
export class ProblemError extends Error {
  override readonly name: string = 'ProblemError';
  constructor(
    readonly status: number,
    readonly code: string,
    readonly title: string,
    readonly detail: string,
    readonly options: ProblemOptions = {},
  ) {
    super(detail);
  }
}

export class BadRequestError extends ProblemError {
  constructor(detail: string, extensions?: Record<string, unknown>) {
    super(400, 'bad-request', 'Bad Request', detail, extensions ? { extensions } : {});
  }
}

/** A NUL or invalid UTF-8 in the URL, a header or the body: bad input, refused before anything reads it. */
export class InvalidEncodingError extends ProblemError {
  constructor(detail: string) {
    super(400, 'invalid-encoding', 'Bad Request', detail);
  }
}

/** RFC 6750 §3.1: a malformed Authorization header is invalid_request, answered 400. */
export class InvalidRequestHeaderError extends ProblemError {
  constructor(detail: string) {
    super(400, 'invalid-request', 'Bad Request', detail, { challenge: { error: 'invalid_request', description: detail } });
  }
}

/**
 * RFC 6750 §3: no token → no error attribute; a bad token → error="invalid_token". `scheme` forces the
 * challenge's scheme (a DPoP-bound token sent as Bearer is told about DPoP, RFC 9449 §7.2).
 */
export class UnauthorizedError extends ProblemError {
  constructor(detail: string, tokenSent: boolean, scheme?: AuthScheme) {
    super(401, tokenSent ? 'invalid-token' : 'missing-token', 'Unauthorized', detail, {
      challenge: tokenSent ? { error: 'invalid_token', description: detail, ...(scheme ? { scheme } : {}) } : {},
    });
  }
}

/** RFC 9449 §7.1: a DPoP-bound token whose proof is missing or fails a check. */
export class InvalidDpopProofError extends ProblemError {
  constructor(detail: string) {
    super(401, 'invalid-dpop-proof', 'Unauthorized', detail, { challenge: { scheme: 'DPoP', error: 'invalid_dpop_proof', description: detail } });
  }
}

/** RFC 6750 §3.1: insufficient_scope names the scope the route needs. */
export class InsufficientScopeError extends ProblemError {
  constructor(readonly scope: string) {
    super(403, 'insufficient-scope', 'Forbidden', `this request needs the scope ${scope}`, {
      challenge: { error: 'insufficient_scope', scope },
      extensions: { scope },
    });
  }
}

export class ForbiddenError extends ProblemError {
  constructor(detail: string) {
    super(403, 'forbidden', 'Forbidden', detail);
  }
}

export class NotFoundError extends ProblemError {
  constructor(detail = 'no such resource') {
    super(404, 'not-found', 'Not Found', detail);
  }
}

export class ConflictError extends ProblemError {
  constructor(detail: string) {
    super(409, 'conflict', 'Conflict', detail);
  }
}

export class PayloadTooLargeError extends ProblemError {
  constructor(limitBytes: number) {
    super(413, 'payload-too-large', 'Payload Too Large', `the request body exceeds ${limitBytes} bytes`);
  }
}

export class UnsupportedMediaTypeError extends ProblemError {
  constructor() {
    super(415, 'unsupported-media-type', 'Unsupported Media Type', 'the request body must be application/json');
  }
}

export class ServiceUnavailableError extends ProblemError {
  constructor(detail: string) {
    super(503, 'unavailable', 'Service Unavailable', detail, { headers: { 'Retry-After': '1' } });
  }
}

/** A zod failure as one 400 that names the offending fields (unknown ones included). */
export function validationError(where: 'body' | 'query', error: z.ZodError): BadRequestError {
  const invalidParams: { name: string; reason: string }[] = [];
  for (const issue of error.issues) {
    const prefix = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) invalidParams.push({ name: prefix ? `${prefix}.${key}` : key, reason: 'unknown field' });
    } else {
      invalidParams.push({ name: prefix || where, reason: issue.message });
    }
  }
  const unknown = invalidParams.filter((p) => p.reason === 'unknown field').map((p) => p.name);
  const detail = unknown.length
    ? `the ${where} has unknown field(s): ${unknown.join(', ')}`
    : `the ${where} is invalid: ${invalidParams.map((p) => `${p.name}: ${p.reason}`).join('; ')}`;
  return new BadRequestError(detail.slice(0, 500), { invalidParams: invalidParams.slice(0, 20) });
}

const STATUS_TITLES: Record<number, [code: string, title: string, detail: string]> = {
  404: ['not-found', 'Not Found', 'no such resource'],
  405: ['method-not-allowed', 'Method Not Allowed', 'this method is not allowed on this resource'],
  501: ['not-implemented', 'Not Implemented', 'this method is not implemented'],
};

export const PROBLEM_TYPE_BASE = 'urn:clouddocs:problem:';

/**
 * The `WWW-Authenticate` value of a challenge: in the scheme the request used (`ctx.state.authScheme`,
 * set by authenticate), DPoP challenges with the `algs` this API takes (RFC 9449 §7.1). A request
 * without a credential of either scheme is told of both (RFC 9110 §11.6.1: one challenge per scheme).
 */
export function challengeHeader(challenge: Challenge, requestScheme: AuthScheme | undefined): string {
  const render = (scheme: AuthScheme) => {
    const params = [`realm="${REALM}"`];
    if (challenge.error) params.push(`error="${challenge.error}"`);
    if (challenge.description) params.push(`error_description="${quotable(challenge.description)}"`);
    if (challenge.scope) params.push(`scope="${challenge.scope}"`);
    if (scheme === 'DPoP') params.push(`algs="${DPOP_ALGORITHMS.join(' ')}"`);
    return `${scheme} ${params.join(', ')}`;
  };
  const scheme = challenge.scheme ?? requestScheme;
  if (scheme) return render(scheme);
  return challenge.error ? render('Bearer') : `${render('Bearer')}, ${render('DPoP')}`;
}

function send(ctx: Context, problem: ProblemError) {
  ctx.status = problem.status;
  for (const [k, v] of Object.entries(problem.options.headers ?? {})) ctx.set(k, v);
  if (problem.options.challenge) ctx.set('WWW-Authenticate', challengeHeader(problem.options.challenge, ctx.state.authScheme as AuthScheme | undefined));
  ctx.body = {
    type: `${PROBLEM_TYPE_BASE}${problem.code}`,
    title: problem.title,
    status: problem.status,
    detail: problem.detail,
    ...(problem.options.extensions ?? {}),
    ...(typeof ctx.state.requestId === 'string' ? { requestId: ctx.state.requestId } : {}),
  };
  ctx.type = 'application/problem+json';
  ctx.set('Cache-Control', 'no-store');
}

/** Outermost middleware: every thrown error and every empty error status becomes problem+json. */
export function problemResponses(logger: Logger) {
  return async (ctx: Context, next: Next) => {
    try {
      await next();
      if (ctx.status >= 400 && (ctx.body === undefined || ctx.body === null)) {
        const [code, title, detail] = STATUS_TITLES[ctx.status] ?? ['error', 'Error', 'the request failed'];
        send(ctx, new ProblemError(ctx.status, code, title, detail));
      }
    } catch (err) {
      if (err instanceof ProblemError) return send(ctx, err);
      if (err instanceof AuditUnavailableError) {
        logger.error({ err, requestId: ctx.state.requestId }, 'audit log unavailable; change rolled back');
        return send(ctx, new ServiceUnavailableError('the change could not be recorded in the audit log and was not made'));
      }
      const status = (err as { status?: unknown; expose?: unknown }).status;
      if (typeof status === 'number' && status >= 400 && status < 500 && (err as { expose?: unknown }).expose) {
        const [code, title, detail] = STATUS_TITLES[status] ?? ['bad-request', 'Bad Request', 'the request is invalid'];
        return send(ctx, new ProblemError(status, code, title, detail));
      }
      if (isStoreFailure(err)) {
        logger.error({ err: (err as Error).message, code: (err as { code?: unknown }).code, requestId: ctx.state.requestId }, 'a store is unavailable');
        return send(ctx, new ServiceUnavailableError('a service this API depends on is temporarily unavailable; try again shortly'));
      }
      logger.error({ err, requestId: ctx.state.requestId }, 'unhandled error');
      send(ctx, new ProblemError(500, 'internal', 'Internal Server Error', 'the server failed to answer this request'));
    }
  };
}

/**
 * A request Node's HTTP parser refused before koa saw it (a NUL or a raw non-ASCII byte in the request
 * line, a control character in a header, headers too large): answered as problem+json too, then closed.
 */
export function answerClientError(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const [status, code, detail] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'headers-too-large', 'the request line or headers are too large']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'request-timeout', 'the request took too long to arrive']
        : [400, 'bad-request', 'the request line or a header is malformed (a NUL, a control character or a raw non-ASCII byte)'];
  const body = JSON.stringify({ type: `${PROBLEM_TYPE_BASE}${code}`, title: STATUS_CODES[status], status, detail });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n${body}`,
  );
}
