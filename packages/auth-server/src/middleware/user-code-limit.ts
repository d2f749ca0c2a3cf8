// Wrong user codes at the device verification page (POST /device) are limited per IP (RFC 8628 §5.1:
// a user code is short, so guessing must be slow). Every code entered takes a point before
// oidc-provider looks it up (parallel guesses cannot slip past the counter), and a code that was found
// gives it back, so only failures count. Past the limit: 429 with Retry-After, audited; a limit that
// cannot be counted refuses with 503 (fails closed). Bad bytes in the form are a 400 page.
import type { Context, Next } from 'koa';
import { DEVICE_PATHS } from '../constants';
import { BadRequestError, TooManyRequestsError } from '../errors';
import type { Limits } from '../libraries/limits';
import { actors, audit } from '../request-scope';
import type { UserCodeState } from '../routes/device';
import type { BodyState } from './read-body';

export function userCodeLimit(limits: Limits) {
  return async (ctx: Context, next: Next) => {
    if (ctx.path !== DEVICE_PATHS.verification) return next();
    const state = ctx.state as UserCodeState & BodyState;
    if (ctx.method === 'GET') {
      // verification_uri_complete (…?user_code=…): the form shows the code, the person submits it
      // (instead of oidc-provider's auto-submitting page, which needs a script).
      const code = ctx.query.user_code;
      if (typeof code === 'string') {
        state.prefilledUserCode = code.slice(0, 32);
        ctx.querystring = '';
      }
      return next();
    }
    if (ctx.method !== 'POST') return next();
    if (state.badBytes) throw new BadRequestError('The code holds characters that are not accepted. Enter the code shown on your device.');
    try {
      await limits.take('userCodesPerIp', ctx.ip);
    } catch (err) {
      if (err instanceof TooManyRequestsError) {
        audit(ctx, { action: 'device.code_entered', actor: actors.anonymous(), target: { type: 'ip', id: ctx.ip }, outcome: 'denied', detail: { result: 'throttled' } });
        throw new TooManyRequestsError('Too many codes entered from your network. Try again later.', Number(err.options.headers?.['Retry-After'] ?? 60));
      }
      throw err;
    }
    await next();
    if (state.userCodeOutcome === 'found' || state.userCodeOutcome === 'aborted') await limits.giveBack('userCodesPerIp', ctx.ip);
  };
}
