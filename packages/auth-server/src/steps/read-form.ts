// Reads a page's form: a urlencoded body (else 415) in which no field repeats, of the route's strict
// shape, with a valid CSRF field. Rules: bad bytes (NUL, invalid UTF-8) or a wrong shape → the form
// again with a message (400); a missing or wrong CSRF field → the form again, 403. Each route says how
// its form is shown again.
import type { z } from 'zod';
import { PageError, UnsupportedMediaTypeError } from '../errors';
import type { PageContext, PageStep } from './page';

export interface FormSpec<T extends z.ZodType> {
  schema: T;
  /** Checks the form's CSRF field for this browser. */
  csrf(ctx: PageContext, sent: string | undefined): boolean;
  /** Shows the form again, with a message for the problem, answering `status`. */
  again(ctx: PageContext, problem: 'invalid' | 'csrf', status: 400 | 403): Promise<void>;
}

/** The urlencoded body as fields; a repeated field is a 400. */
export function formFields(ctx: PageContext): Record<string, string> {
  if (!ctx.is('application/x-www-form-urlencoded')) throw new UnsupportedMediaTypeError('application/x-www-form-urlencoded');
  const raw = typeof ctx.request.body === 'string' ? ctx.request.body : '';
  const out: Record<string, string> = Object.create(null);
  for (const [k, v] of new URLSearchParams(raw)) {
    if (k in out) throw new PageError(400, { title: 'Request not accepted', heading: 'Request not accepted', message: `The field "${k}" appears twice.` });
    out[k] = v;
  }
  return out;
}

export function readForm<T extends z.ZodType>(spec: FormSpec<T>): PageStep {
  return async (ctx, next) => {
    const fields = formFields(ctx);
    // Bad bytes first (400), then the CSRF field (403, before the shape: a form without it has expired), then the shape (400).
    const parsed = spec.schema.safeParse(fields);
    const problem = ctx.state.badBytes ? 'invalid' : !spec.csrf(ctx, fields.csrf) ? 'csrf' : !parsed.success ? 'invalid' : undefined;
    if (problem) return spec.again(ctx, problem, problem === 'csrf' ? 403 : 400);
    ctx.state.form = parsed.data!;
    return next();
  };
}
