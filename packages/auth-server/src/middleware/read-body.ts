// The one body reader: urlencoded and JSON bodies up to MAX_BODY_BYTES (a larger one is refused with
// 413, never truncated), read once for every POST, PUT and PATCH; an uncompressed body of a plain type
// is read straight from the request, anything else through @koa/bodyparser. Then bad input
// at the edge, before anything reaches a store:
// - a NUL (U+0000), invalid UTF-8 (raw or percent-encoded), a lone surrogate or a parameter longer
//   than MAX_PARAMETER_CHARS, in the query string, the body or a Basic credential, is a 400
//   (`invalid_request` at the protocol endpoints); a form body repeating a parameter (other than
//   `resource`, RFC 8707) is a 400 there too, and so is a page's query repeating one;
// - on the pages, bad bytes in a form body are marked for the page's own form step, which shows the
//   form again with a message; bad query strings are a 400 page.
// oidc-provider reads the same raw body from `ctx.request.body` (a string), so nothing is parsed
// differently on the way.
import bodyParser from '@koa/bodyparser';
import type { Context, Next } from 'koa';
import { BadRequestError, isPagePath, MAX_BODY_BYTES, PayloadTooLargeError } from '../errors';

/** Longer than any legitimate parameter (JWT assertions and hints included). */
export const MAX_PARAMETER_CHARS = 8192;
const REPEATABLE = new Set(['resource']);
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** True when `text` (already decoded) holds a NUL, a replacement character or a lone surrogate. */
export function hasBadCharacters(text: string): boolean {
  return text.includes('\u0000') || text.includes('\uFFFD') || LONE_SURROGATE.test(text);
}

type Problem = 'bytes' | 'length' | 'repeat' | 'depth';

/**
 * Encoded text that decodes to printable ASCII (raw, `+`, or percent-encoded 0x20-0x7F) holds no NUL,
 * no invalid UTF-8 and no surrogate, and decodes to at most its own length: it needs no decoding to be
 * judged (the common case: `grant_type=client_credentials&scope=docs%3Aread`).
 */
const PRINTABLE_ASCII = /^(?:[\x20-\x24\x26-\x7E]|%[2-7][0-9A-Fa-f])*$/;

function decoded(encoded: string): string {
  return decodeURIComponent(encoded.replace(/\+/g, ' '));
}

/** The first problem of a urlencoded string: bad bytes, an overlong value, or (when `unique`) a repeat. */
export function urlencodedProblem(encoded: string, unique: boolean): Problem | undefined {
  if (!encoded) return undefined;
  const seen = new Set<string>();
  for (const piece of encoded.split('&')) {
    const eq = piece.indexOf('=');
    const rawKey = eq === -1 ? piece : piece.slice(0, eq);
    const rawValue = eq === -1 ? '' : piece.slice(eq + 1);
    let key: string;
    if (piece.length <= MAX_PARAMETER_CHARS && PRINTABLE_ASCII.test(piece)) {
      key = rawKey.includes('%') || rawKey.includes('+') ? decoded(rawKey) : rawKey;
    } else {
      let value: string;
      try {
        key = decoded(rawKey);
        value = decoded(rawValue);
      } catch {
        return 'bytes'; // URIError: a percent-encoded sequence that is not UTF-8
      }
      if (hasBadCharacters(key) || hasBadCharacters(value)) return 'bytes';
      if (key.length > MAX_PARAMETER_CHARS || value.length > MAX_PARAMETER_CHARS) return 'length';
    }
    if (unique && !REPEATABLE.has(key)) {
      if (seen.has(key)) return 'repeat';
      seen.add(key);
    }
  }
  return undefined;
}

/** JSON nested deeper than any request of this server needs (a client's jwks is 4 levels). */
const MAX_JSON_DEPTH = 32;

function jsonBodyProblem(value: unknown, depth = 0): Problem | undefined {
  if (depth > MAX_JSON_DEPTH) return 'depth';
  if (typeof value === 'string') return hasBadCharacters(value) ? 'bytes' : undefined;
  if (!value || typeof value !== 'object') return undefined;
  for (const [k, v] of Object.entries(value)) {
    if (hasBadCharacters(k)) return 'bytes';
    const problem = jsonBodyProblem(v, depth + 1);
    if (problem) return problem;
  }
  return undefined;
}

/** Malformed JSON is a 400 of its own; bad bytes in any string or key of well-formed JSON are 'bytes', too deep a nesting 'depth'. */
function jsonProblem(raw: string): Problem | undefined {
  if (!raw) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new BadRequestError('the body is not valid JSON');
  }
  return jsonBodyProblem(value);
}

const UTF8 = new TextDecoder('utf-8', { fatal: false });

/** A Basic credential whose id or secret is not clean text; other schemes must be visible ASCII. */
function authorizationProblem(header: string): boolean {
  if (!header) return false;
  const basic = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(header);
  if (!basic) return !/^[\x20-\x7E]*$/.test(header);
  const text = UTF8.decode(Buffer.from(basic[1]!, 'base64'));
  return hasBadCharacters(text) || urlencodedProblem(text.replace(/:/, '&'), false) !== undefined;
}

const MESSAGES: Record<Problem, string> = {
  bytes: 'holds a NUL or invalid UTF-8',
  length: `holds a value longer than ${MAX_PARAMETER_CHARS} characters`,
  repeat: 'repeats a parameter',
  depth: `nests JSON deeper than ${MAX_JSON_DEPTH} levels`,
};

export interface BodyState {
  /** Bad input found in the body (a page's form step answers it; it counts as a client failure). */
  badBytes?: 'query' | 'body' | 'header';
}

/** Content types read straight from the request, as @koa/bodyparser would read them, without its layers. */
const PLAIN_TYPE = /^(?:application\/x-www-form-urlencoded|application\/json|text\/plain)(?:; ?charset=utf-8)?$/i;

/** A status-carrying error, as @koa/bodyparser's readers throw them (mapped to our errors below). */
const readError = (status: number) => Object.assign(new Error('body not read'), { status });

/**
 * The body of an uncompressed request with one of the plain types above, read the way the generic
 * reader reads it (limit, declared length, UTF-8 with replacement characters): the token endpoint's
 * common case, without the type matching, option cloning and stream layers around it.
 */
async function readPlain(ctx: Context): Promise<string> {
  const req = ctx.req;
  const header = req.headers['content-length'];
  const declared = header === undefined ? undefined : Number(header);
  if (declared !== undefined && declared > MAX_BODY_BYTES) throw readError(413);
  const chunks: Buffer[] = [];
  let received = 0;
  try {
    for await (const chunk of req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
      received += chunk.length;
      if (received > MAX_BODY_BYTES) throw readError(413);
      chunks.push(chunk);
    }
  } catch (err) {
    throw (err as { status?: unknown }).status ? err : readError(400); // the client went away mid-body
  }
  if (declared !== undefined && received !== declared) throw readError(400);
  return (chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received)).toString('utf8');
}

export function readBody() {
  // Read as text only: oidc-provider and the form readers parse it themselves, so a parse here would be
  // work done twice on the token endpoint's path; JSON is parsed once below for its bad-bytes check.
  // Compressed bodies and other spellings of the types go through @koa/bodyparser.
  const generic = bodyParser({
    enableTypes: ['text'],
    extendTypes: { text: ['application/x-www-form-urlencoded', 'application/json'] },
    textLimit: String(MAX_BODY_BYTES),
  });
  const parse = async (ctx: Context) => {
    const encoding = ctx.req.headers['content-encoding'];
    if ((encoding === undefined || encoding === 'identity') && PLAIN_TYPE.test(ctx.req.headers['content-type'] ?? '') && !ctx.req.closed) {
      const raw = await readPlain(ctx);
      (ctx.request as { rawBody?: string }).rawBody = raw;
      return;
    }
    await generic(ctx, async () => {});
  };
  return async (ctx: Context, next: Next) => {
    const page = isPagePath(ctx.path);
    const state = ctx.state as BodyState;
    const query = urlencodedProblem(ctx.querystring, page);
    if (query) {
      state.badBytes = 'query';
      throw new BadRequestError(`the query string ${MESSAGES[query]}`);
    }
    if (!page && authorizationProblem(ctx.get('authorization'))) {
      state.badBytes = 'header';
      throw new BadRequestError('the Authorization header holds a NUL or invalid UTF-8');
    }
    if (ctx.method !== 'POST' && ctx.method !== 'PUT' && ctx.method !== 'PATCH') return next();
    try {
      await parse(ctx);
    } catch (err) {
      const status = (err as { status?: unknown }).status;
      if (status === 413) throw new PayloadTooLargeError(MAX_BODY_BYTES);
      if (typeof status === 'number' && status >= 400 && status < 500) throw new BadRequestError(ctx.is('application/json') ? 'the body is not valid JSON' : 'the body could not be read');
      throw err;
    }
    const raw = (ctx.request as { rawBody?: string }).rawBody;
    if (typeof raw === 'string') {
      const problem: Problem | undefined = raw.includes('\uFFFD') ? 'bytes' : ctx.is('application/json') ? jsonProblem(raw) : urlencodedProblem(raw, !page);
      if (problem) {
        state.badBytes = 'body';
        if (!page) throw new BadRequestError(`the body ${MESSAGES[problem]}`);
      }
      // oidc-provider and the form readers parse the raw text themselves.
      (ctx.request as { body?: unknown }).body = raw;
    }
    return next();
  };
}
