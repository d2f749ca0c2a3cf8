// Step 1, authenticate. Rules:
// - no Authorization header → 401, `WWW-Authenticate: Bearer realm=…` without an error attribute (RFC 6750 §3.1);
// - a header that is not exactly `Bearer <token68>` → 400 invalid_request;
// - a token that fails any check (signature, alg, typ, iss, aud, exp, revocation) → 401 invalid_token.
import { InvalidRequestHeaderError, UnauthorizedError } from '../errors';
import type { VerifyAccessToken } from '../token-verifier';
import type { Step } from './state';

const BEARER = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/; // RFC 6750 §2.1 b64token

export function authenticate(verifyAccessToken: VerifyAccessToken): Step {
  return async (ctx, next) => {
    const header = ctx.get('authorization');
    if (header === '') throw new UnauthorizedError('an access token is required', false);
    const match = BEARER.exec(header);
    if (!match) throw new InvalidRequestHeaderError('the Authorization header must be exactly "Bearer <token>"');
    ctx.state.principal = await verifyAccessToken(match[1]!);
    await next();
  };
}
