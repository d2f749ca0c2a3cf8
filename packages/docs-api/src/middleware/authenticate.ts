// Step 1, authenticate. Rules:
// - no Authorization header → 401 without an error attribute (RFC 6750 §3.1), challenging with both
//   schemes: `Bearer realm=…, DPoP realm=…, algs=…`;
// - a header that is not `<scheme> <credential>` (RFC 9110 §11.4), or a credential that is not one
//   b64token / token68 (RFC 6750 §2.1, RFC 9449 §7.1) → 400 invalid_request;
// - the scheme is case-insensitive (RFC 9110 §11.1): `bearer x.y.z` is `Bearer x.y.z`, `dpop` is `DPoP`;
// - another scheme (Basic, …) carries no token for this API → 401 without an error attribute;
// - a token that fails any check (signature, alg, typ, iss, aud, exp, revocation) → 401 invalid_token,
//   challenged in the request's scheme;
// - a DPoP-bound token (`cnf.jkt`) sent as Bearer → 401 `DPoP error="invalid_token"` (RFC 9449 §7.2);
// - an unbound token sent as DPoP → 401 `DPoP error="invalid_token"`;
// - a DPoP-bound token sent as DPoP: its proof is checked on every request (dpop-proof.ts), else 401
//   `DPoP error="invalid_dpop_proof"`;
// - a certificate-bound token (`cnf["x5t#S256"]`, RFC 8705 §3) → 401 invalid_token unless the client
//   certificate the trusted terminator forwarded (DOCS_API_MTLS_CERT_HEADER, only with
//   DOCS_API_TRUST_PROXY) has that SHA-256 thumbprint; a malformed certificate header is the same 401;
// - `Bearer cd_pat_…` is an API key (api-key-verifier.ts): its user, with its scopes; any failure → 401
//   invalid_token. An API key sent as DPoP is 401 invalid_token (a key is never bound to a proof key).
import { InvalidRequestHeaderError, UnauthorizedError, type AuthScheme } from '../errors';
import { API_KEY_PREFIX, type ApiKeyVerifier } from '../api-key-verifier';
import type { ReadClientCertificate } from '../client-certificate';
import type { VerifyDpopProof } from '../dpop-proof';
import { tokenHash, type VerifyAccessToken } from '../token-verifier';
import { eventContext, type Step } from './state';

// RFC 9110 §11.4: auth-scheme 1*SP credential, i.e. `^(scheme) +([^ ].*)$`. Only the scheme and the spaces
// are matched by a regexp: the credential (~500 characters for a JWT) is the rest of the line, and indexOf
// finds a line terminator in it (what `.*$` refuses) several times faster than a regexp scans it.
const SCHEME_AND_SPACES = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) +(?=[^ ])/;
const LINE_TERMINATORS = ['\n', '\r', '\u2028', '\u2029'];

/** The scheme name and the credential of an Authorization header, or undefined when it has not that form. */
export function credentialsOf(header: string): [name: string, credential: string] | undefined {
  const match = SCHEME_AND_SPACES.exec(header);
  if (!match) return undefined;
  const credential = header.slice(match[0].length);
  for (const terminator of LINE_TERMINATORS) if (credential.includes(terminator, 1)) return undefined; // `[^ ]` takes any first character
  return [match[1]!, credential];
}
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/; // RFC 6750 §2.1 b64token, RFC 9110 §11.2 token68
const SCHEMES: Record<string, AuthScheme> = { bearer: 'Bearer', dpop: 'DPoP' };

export function authenticate(
  verifyAccessToken: VerifyAccessToken,
  verifyDpopProof: VerifyDpopProof,
  apiKeys: Pick<ApiKeyVerifier, 'verify'>,
  clientCertificate: ReadClientCertificate = () => undefined,
): Step {
  return async (ctx, next) => {
    const header = ctx.get('authorization');
    if (header === '') throw new UnauthorizedError('an access token is required', false);
    const credentials = credentialsOf(header);
    if (!credentials) throw new InvalidRequestHeaderError('the Authorization header must be "<scheme> <credential>", e.g. "Bearer <token>"');
    const [name, credential] = credentials;
    const scheme = SCHEMES[name.toLowerCase()];
    if (!scheme) throw new UnauthorizedError(`the ${name} scheme is not accepted here: send "Authorization: Bearer <token>" (or "DPoP <token>" with a DPoP proof)`, false);
    ctx.state.authScheme = scheme;
    const apiKey = credential.startsWith(API_KEY_PREFIX);
    // The verifier remembers a token by its SHA-256 only after it passed this check here: one it
    // remembers is the same bytes, so the ~500-character scan is skipped.
    const hash = apiKey ? undefined : tokenHash(credential);
    if (!(hash && verifyAccessToken.remembers(hash)) && !TOKEN68.test(credential)) {
      throw new InvalidRequestHeaderError(`a ${scheme} credential is one token (RFC 6750 §2.1, RFC 9449 §7.1)`);
    }
    if (apiKey) {
      if (scheme === 'DPoP') throw new UnauthorizedError('an API key is sent as "Authorization: Bearer <key>"', true, 'DPoP');
      ctx.state.principal = await apiKeys.verify(credential, () => eventContext(ctx));
      return next();
    }
    const token = await verifyAccessToken(credential, hash);
    if (scheme === 'Bearer' && token.jkt) {
      throw new UnauthorizedError('this token is DPoP-bound: send it as "Authorization: DPoP <token>" with a DPoP proof', true, 'DPoP');
    }
    if (scheme === 'DPoP') {
      if (!token.jkt) throw new UnauthorizedError('this token is not DPoP-bound: send it as "Authorization: Bearer <token>"', true);
      await verifyDpopProof({ method: ctx.method, path: ctx.path, proofs: ctx.req.headersDistinct.dpop ?? [], ath: token.hash, jkt: token.jkt });
    }
    if (token.x5t) {
      const certificate = clientCertificate((name) => ctx.get(name));
      if (!certificate) throw new UnauthorizedError('this token is bound to a client certificate: send it over mutual TLS with that certificate', true, scheme);
      if ('malformed' in certificate) throw new UnauthorizedError(certificate.malformed, true, scheme);
      if (certificate.thumbprint !== token.x5t) throw new UnauthorizedError('the client certificate is not the one this token is bound to', true, scheme);
    }
    ctx.state.principal = token.principal;
    await next();
  };
}
