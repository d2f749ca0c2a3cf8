// The DPoP proof that must come with a DPoP-bound access token (RFC 9449 §4.3, §7), checked on every
// request: a proof is for one request. jose does the JWS work (`EmbeddedJWK`: the proof is verified with
// the public key in its own `jwk` header, which must not hold a private key); this file checks what a
// resource server must, in this order:
// - exactly one `DPoP` header (§4.3 1); one JWT, `typ: dpop+jwt`, an `alg` of DPOP_ALGORITHMS (§4.3 2-7);
// - `htm` is this request's method and `htu` this request's URL without query and fragment (§4.3 8-9),
//   the URL built from the API's public URL (DOCS_API_AUDIENCE), never from Host or X-Forwarded-* headers;
// - `iat` within DPOP_PROOF_WINDOW_SECONDS of now, either way (§4.3 11, §11.1);
// - `ath` is base64url(SHA-256(access token)) and the key's RFC 7638 thumbprint is the token's
//   `cnf.jkt` (§4.3 12, §7.1);
// - a `jti` (with that key) no docs API process has seen: each is kept in the shared cache until its
//   proof could no longer be accepted (§11.1); the cache unreachable → 503, never accepted unchecked.
// Every failure is 401 invalid_dpop_proof whose description names the check; none echoes the proof.
// panva's oauth4webapi (`validateJwtAccessToken`) checks the same claims but fetches its own JWKS,
// keeps no replay store and allows 300 s of skew, so only its checks are followed here, not its code.
import { hash as digest } from 'node:crypto';
import { calculateJwkThumbprint, EmbeddedJWK, errors, jwtVerify, type JWK, type JWTPayload } from 'jose';
import type { Kv } from '@clouddocs/kv';
import type { Logger } from '@clouddocs/observability';
import { DPOP_ALGORITHMS } from './algorithms';
import { InvalidDpopProofError, ServiceUnavailableError } from './errors';

/** How far `iat` may be from now, in the past or the future (clock skew). */
export const DPOP_PROOF_WINDOW_SECONDS = 60;
const REPLAY_PREFIX = 'docs:dpop-jti:';

export interface DpopRequest {
  method: string;
  /** The request's path as received (no query). */
  path: string;
  /** Every `DPoP` header the request carries. */
  proofs: readonly string[];
  /** base64url(SHA-256(access token)) */
  ath: string;
  /** The token's `cnf.jkt`. */
  jkt: string;
}

function reasonFor(err: unknown): string {
  if (err instanceof errors.JOSEAlgNotAllowed) return `the proof must be signed with one of ${DPOP_ALGORITHMS.join(', ')}`;
  if (err instanceof errors.JWSSignatureVerificationFailed) return "the proof's signature does not verify with its jwk";
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'typ') return "the proof's typ must be dpop+jwt";
    return `the proof's ${err.claim} claim is missing or invalid`;
  }
  if (err instanceof errors.JWTExpired) return 'the proof has expired';
  if (err instanceof errors.JWSInvalid) return 'the proof is not a JWS with a public key in its jwk header';
  if (err instanceof errors.JOSENotSupported) return "the proof's key type or algorithm is not supported";
  return 'the proof is malformed';
}

/** The URL without query and fragment, normalised (RFC 3986 §6.2.2-6.2.3: case, default port, dot segments). */
function withoutQuery(url: string): string | undefined {
  try {
    const parsed = new URL(url);
    parsed.search = '';
    parsed.hash = '';
    return parsed.href;
  } catch {
    return undefined;
  }
}

export function createDpopProofVerifier(options: { kv: Kv; publicUrl: string; logger: Logger }) {
  return async function verifyDpopProof(request: DpopRequest): Promise<void> {
    if (request.proofs.length !== 1) {
      throw new InvalidDpopProofError(request.proofs.length === 0 ? 'a DPoP-bound token needs a DPoP header with a proof' : 'send exactly one DPoP header');
    }
    let payload: JWTPayload;
    let jwk: JWK;
    try {
      const verified = await jwtVerify(request.proofs[0]!, EmbeddedJWK, {
        typ: 'dpop+jwt',
        algorithms: DPOP_ALGORITHMS,
        requiredClaims: ['jti', 'htm', 'htu', 'iat', 'ath'],
      });
      payload = verified.payload;
      jwk = verified.protectedHeader.jwk!;
    } catch (err) {
      throw new InvalidDpopProofError(reasonFor(err));
    }
    const { jti, htm, htu, iat, ath } = payload as JWTPayload & { htm?: unknown; htu?: unknown; ath?: unknown };
    if (typeof jti !== 'string' || jti === '') throw new InvalidDpopProofError("the proof's jti must be a non-empty string");
    if (htm !== request.method) throw new InvalidDpopProofError(`the proof's htm must be this request's method, ${request.method}`);
    const expected = withoutQuery(`${options.publicUrl}${request.path}`);
    if (typeof htu !== 'string' || withoutQuery(htu) !== expected) throw new InvalidDpopProofError(`the proof's htu must be this request's URL, ${expected}`);
    const now = Math.floor(Date.now() / 1000);
    if (Math.abs(now - iat!) > DPOP_PROOF_WINDOW_SECONDS) throw new InvalidDpopProofError(`the proof's iat must be within ${DPOP_PROOF_WINDOW_SECONDS} s of now`);
    if (ath !== request.ath) throw new InvalidDpopProofError("the proof's ath is not the hash of this access token");
    if ((await calculateJwkThumbprint(jwk, 'sha256')) !== request.jkt) throw new InvalidDpopProofError("the proof's key is not the key this token is bound to");

    // Last, so that only a proof that passed every other check uses up its jti.
    const key = `${REPLAY_PREFIX}${digest('sha256', `${request.jkt}.${jti}`, 'base64url')}`;
    const acceptableFor = iat! + DPOP_PROOF_WINDOW_SECONDS - now + 1;
    let first: boolean;
    try {
      first = await options.kv.setIfAbsent(key, '1', Math.max(1, acceptableFor));
    } catch (err) {
      options.logger.error({ err: (err as Error).message }, 'the DPoP replay store is unavailable');
      throw new ServiceUnavailableError('the DPoP proof could not be checked for replay; try again shortly');
    }
    if (!first) throw new InvalidDpopProofError('the proof has been used before (its jti was seen)');
  };
}

export type VerifyDpopProof = ReturnType<typeof createDpopProofVerifier>;
