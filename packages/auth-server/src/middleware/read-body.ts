// The one body reader (@koa/bodyparser): urlencoded and JSON bodies up to MAX_BODY_BYTES (a larger
// one is refused with 413, never truncated), read once for every POST, PUT and PATCH. Then bad bytes
// are bad input: a NUL (U+0000), invalid UTF-8 (raw or percent-encoded) or a lone surrogate in the
// query string or the body is a 400 at the protocol endpoints; on the pages it is marked for the
// page's own form step, which shows the form again with a message. oidc-provider reads the same raw
// body from `ctx.request.body` (a string), so nothing is parsed differently on the way.
import bodyParser from '@koa/bodyparser';
import type { Context, Next } from 'koa';
import { BadRequestError, isPagePath, MAX_BODY_BYTES } from '../errors';

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** True when `text` (already decoded) holds a NUL, a replacement character or a lone surrogate. */
export function hasBadCharacters(text: string): boolean {
  return text.includes('\u0000') || text.includes('\uFFFD') || LONE_SURROGATE.test(text);
}

/** A urlencoded string whose keys and values decode to well-formed text without NUL. */
export function urlencodedIsClean(encoded: string): boolean {
  if (!encoded) return true;
  for (const piece of encoded.split('&')) {
    try {
      if (hasBadCharacters(decodeURIComponent(piece.replace(/\+/g, ' ')))) return false;
    } catch {
      return false; // URIError: a percent-encoded sequence that is not UTF-8
    }
  }
  return true;
}

function jsonIsClean(value: unknown, depth = 0): boolean {
  if (depth > 32) return false;
  if (typeof value === 'string') return !hasBadCharacters(value);
  if (Array.isArray(value)) return value.every((v) => jsonIsClean(v, depth + 1));
  if (value && typeof value === 'object') return Object.entries(value).every(([k, v]) => !hasBadCharacters(k) && jsonIsClean(v, depth + 1));
  return true;
}

export interface BodyState {
  /** Where bad bytes were found (a page's form step answers them; they count as a client failure). */
  badBytes?: 'query' | 'body';
}

export function readBody() {
  const parse = bodyParser({
    enableTypes: ['form', 'json'],
    formLimit: String(MAX_BODY_BYTES),
    jsonLimit: String(MAX_BODY_BYTES),
    // Form bodies are parsed by their readers (repeated fields refused); only the raw text is kept.
    extendTypes: {},
  });
  return async (ctx: Context, next: Next) => {
    const page = isPagePath(ctx.path);
    const state = ctx.state as BodyState;
    if (!urlencodedIsClean(ctx.querystring)) {
      state.badBytes = 'query';
      if (!page) throw new BadRequestError('a query parameter holds a NUL or invalid UTF-8');
    }
    if (ctx.method !== 'POST' && ctx.method !== 'PUT' && ctx.method !== 'PATCH') return next();
    await parse(ctx, async () => {});
    const raw = (ctx.request as { rawBody?: string }).rawBody;
    if (typeof raw === 'string') {
      const clean = ctx.is('application/json') ? !raw.includes('\uFFFD') && jsonIsClean(ctx.request.body) : !raw.includes('\uFFFD') && urlencodedIsClean(raw);
      if (!clean) {
        state.badBytes ??= 'body';
        if (!page) throw new BadRequestError('a parameter holds a NUL or invalid UTF-8');
      }
      // oidc-provider and the form readers parse the raw text themselves.
      (ctx.request as { body?: unknown }).body = raw;
    }
    return next();
  };
}
