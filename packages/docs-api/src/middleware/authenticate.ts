// Step 1, authenticate. Rules:
// - no Authorization header → 401, `WWW-Authenticate: Bearer realm=…` without an error attribute (RFC 6750 §3.1);
// - a header that is not `<scheme> <credential>` (RFC 9110 §11.4), or a Bearer credential that is not
//   one b64token (RFC 6750 §2.1) → 400 invalid_request;
// - the scheme is case-insensitive (RFC 9110 §11.1): `bearer x.y.z` is `Bearer x.y.z`;
// - another scheme (Basic, …) carries no token for this API → 401 without an error attribute (RFC 6750 §3.1);
// - a token that fails any check (signature, alg, typ, iss, aud, exp, revocation) → 401 invalid_token.
import { InvalidRequestHeaderError, UnauthorizedError } from '../errors';
import type { VerifyAccessToken } from '../token-verifier';
import type { Step } from './state';

const CREDENTIALS = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) +([^ ].*)$/; // RFC 9110 §11.4: auth-scheme 1*SP credential
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/; // RFC 6750 §2.1

export function authenticate(verifyAccessToken: VerifyAccessToken): Step {
  return async (ctx, next) => {
    const header = ctx.get('authorization');
    if (header === '') throw new UnauthorizedError('an access token is required', false);
    const match = CREDENTIALS.exec(header);
    if (!match) throw new InvalidRequestHeaderError('the Authorization header must be "<scheme> <credential>", e.g. "Bearer <token>"');
    const [, scheme, credential] = match as unknown as [string, string, string];
    if (scheme.toLowerCase() !== 'bearer') throw new UnauthorizedError(`the ${scheme} scheme is not accepted here: send "Authorization: Bearer <token>"`, false);
    if (!B64TOKEN.test(credential)) throw new InvalidRequestHeaderError('a Bearer credential is one token (RFC 6750 §2.1)');
    ctx.state.principal = await verifyAccessToken(credential);
    await next();
  };
}
