// Strict input: the body and the query must match the route's zod schema exactly (unknown fields,
// `__proto__` and `constructor` included, are 400 naming them: no mass assignment). The body is
// JSON (415 otherwise), at most `maxBytes` (413), well-formed (400), UTF-8 (400), and no string in
// it, key or value, holds a NUL or a lone surrogate (400: bad bytes are bad input, never a 5xx).
import type { z } from 'zod';
import { BadRequestError, InvalidEncodingError, PayloadTooLargeError, UnsupportedMediaTypeError, validationError } from '../errors';
import { badTextIn } from './reject-bad-bytes';
import type { Step } from './state';

async function readJson(ctx: Parameters<Step>[0], maxBytes: number): Promise<unknown> {
  if (ctx.request.length !== undefined && ctx.request.length > maxBytes) throw new PayloadTooLargeError(maxBytes);
  const empty = !ctx.request.length && ctx.get('transfer-encoding') === '';
  if (empty) throw new BadRequestError('a JSON body is required');
  if (!ctx.request.is('application/json', '+json')) throw new UnsupportedMediaTypeError();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw new PayloadTooLargeError(maxBytes);
    chunks.push(chunk);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks));
  } catch {
    throw new InvalidEncodingError('the body is not valid UTF-8');
  }
  if (text.trim() === '') throw new BadRequestError('a JSON body is required');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new BadRequestError('the body is not well-formed JSON');
  }
  const bad = badTextIn(value);
  if (bad) throw new InvalidEncodingError(`the body contains ${bad}`);
  return value;
}

export function validateBody(schema: z.ZodType, maxBytes: number): Step {
  return async (ctx, next) => {
    const parsed = schema.safeParse(await readJson(ctx, maxBytes));
    if (!parsed.success) throw validationError('body', parsed.error);
    ctx.state.body = parsed.data;
    await next();
  };
}

export function validateQuery(schema: z.ZodType): Step {
  return async (ctx, next) => {
    const parsed = schema.safeParse({ ...ctx.query });
    if (!parsed.success) throw validationError('query', parsed.error);
    ctx.state.query = parsed.data;
    await next();
  };
}
