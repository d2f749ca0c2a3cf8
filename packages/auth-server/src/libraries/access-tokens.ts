// Verifies the server's own RFC 9068 JWT access tokens with its current public keys (no network):
// used by the JWT introspection/revocation front and by the admin API's authentication step.
import { createLocalJWKSet, jwtVerify, type JWTPayload } from 'jose';
import type { KeySetState } from '../keys/keys';

export function createAccessTokenVerifier(deps: { keys: () => KeySetState; issuer: string }) {
  let verifierFor: KeySetState | undefined;
  let verifier: ReturnType<typeof createLocalJWKSet> | undefined;
  const localKeys = () => {
    const state = deps.keys();
    if (state !== verifierFor) {
      verifierFor = state;
      verifier = createLocalJWKSet({ keys: state.jwks.map(({ d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...pub }) => pub) as never });
    }
    return verifier!;
  };
  return {
    /** The token's claims when it is one of ours (signature, issuer, typ, expiry; `audience` when given), else undefined. */
    async verify(token: string, audience?: string): Promise<JWTPayload | undefined> {
      try {
        return (await jwtVerify(token, localKeys(), { issuer: deps.issuer, typ: 'at+jwt', algorithms: ['ES256', 'RS256', 'EdDSA'], ...(audience ? { audience } : {}) })).payload;
      } catch {
        return undefined;
      }
    },
  };
}

export type AccessTokenVerifier = ReturnType<typeof createAccessTokenVerifier>;
