// Verifies RFC 9068 JWT access tokens and maps every jose failure to one `invalid_token` reason,
// in this one place. The descriptions say which check failed and never echo the token.
// A token that verified is remembered by its SHA-256 for at most VERIFIED_TOKEN_REUSE_MS; every use
// still checks `exp` (with the same clock tolerance) and the revocation list. What it is bound to
// (`cnf.jkt`, RFC 9449 §6; `cnf["x5t#S256"]`, RFC 8705 §3) is part of what is remembered: authenticate
// checks the binding against the request's scheme and client certificate on every use, cached or not,
// and a DPoP proof is checked on every request.
import { hash as digest } from 'node:crypto';
import { errors, jwtVerify, type JWTPayload } from 'jose';
import type { RevocableToken, RevocationList } from '@clouddocs/kv';
import type { Principal } from './access';
import { ACCEPTED_ALGORITHMS } from './algorithms';
import { ServiceUnavailableError, UnauthorizedError } from './errors';
import type { KeySource } from './key-source';

export { ACCEPTED_ALGORITHMS };

/** Far above any access token lifetime; an upper bound that turns on jose's `iat` checks. */
const MAX_TOKEN_AGE_SECONDS = 24 * 3600;

/** How long a verified token is reused before its signature is checked again (keys rotate slowly). */
export const VERIFIED_TOKEN_REUSE_MS = 60_000;
const VERIFIED_TOKENS_MAX = 10_000;

/** A token that verified: who it speaks for and what it is bound to. */
export interface VerifiedToken {
  principal: Principal;
  /** The JWK SHA-256 thumbprint of the key the token is bound to (`cnf.jkt`); absent for a bearer token. */
  jkt?: string;
  /** The SHA-256 thumbprint of the client certificate it is bound to (`cnf["x5t#S256"]`, RFC 8705 §3.1). */
  x5t?: string;
  /** base64url(SHA-256(token)): what a DPoP proof's `ath` must be (RFC 9449 §4.2). */
  hash: string;
}

interface Verified {
  token: VerifiedToken;
  exp: number;
  /** What the revocation list looks at: the token, its grant, its user and client, its issue time. */
  revocable: RevocableToken;
  reuseUntil: number;
}

export interface TokenVerifierOptions {
  keys: KeySource;
  issuer: string;
  audience: string;
  clockToleranceSeconds: number;
  revocations: RevocationList;
  /** Whether the revocation list has been loaded from the shared store. */
  revocationsLoaded: () => boolean;
  /** Waits (bounded) for a reload in progress; true when the list is current again. */
  awaitRevocations?: () => Promise<boolean>;
}

function reasonFor(err: unknown): string | undefined {
  if (err instanceof errors.JWTExpired) return 'the token has expired';
  if (err instanceof errors.JWTClaimValidationFailed) {
    switch (err.claim) {
      case 'aud': return 'the token is for another audience';
      case 'iss': return 'the token is from another issuer';
      case 'typ': return 'the token is not an access token (typ must be at+jwt)';
      case 'nbf': return 'the token is not yet valid';
      case 'iat': return 'the token was issued in the future';
      default: return `the token's ${err.claim} claim is missing or invalid`;
    }
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return 'the token is signed with an algorithm that is not accepted';
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'the token signature does not verify';
  if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) return 'no published key matches the token';
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid || err instanceof errors.JOSENotSupported) return 'the token is malformed';
  return undefined;
}

const THUMBPRINT = /^[A-Za-z0-9_-]{43}$/; // base64url of a SHA-256
const X5T = 'x5t#S256';

/**
 * What a token is bound to: a DPoP key (`cnf.jkt`, RFC 9449 §6) and/or a client certificate
 * (`cnf["x5t#S256"]`, RFC 8705 §3.1). RFC 7800 §3.1: a confirmation method this API cannot check makes
 * the token unusable here (it never falls back to a bearer token), so no other member is accepted.
 */
function bindingOf(cnf: unknown): { jkt?: string; x5t?: string } {
  if (cnf === undefined) return {};
  if (typeof cnf !== 'object' || cnf === null || Array.isArray(cnf)) throw new UnauthorizedError("the token's cnf claim is invalid", true);
  const methods = Object.keys(cnf);
  if (methods.length === 0 || methods.some((m) => m !== 'jkt' && m !== X5T)) throw new UnauthorizedError('the token is bound by a confirmation method this API does not accept', true);
  const { jkt, [X5T]: x5t } = cnf as { jkt?: unknown; [X5T]?: unknown };
  if (jkt !== undefined && (typeof jkt !== 'string' || !THUMBPRINT.test(jkt))) throw new UnauthorizedError("the token's cnf.jkt is not a JWK SHA-256 thumbprint", true);
  if (x5t !== undefined && (typeof x5t !== 'string' || !THUMBPRINT.test(x5t))) throw new UnauthorizedError(`the token's cnf.${X5T} is not a certificate SHA-256 thumbprint`, true);
  return { ...(jkt !== undefined ? { jkt: jkt as string } : {}), ...(x5t !== undefined ? { x5t: x5t as string } : {}) };
}

/** base64url(SHA-256(token)): what the verifier remembers a token by, and a DPoP proof's `ath`. */
export const tokenHash = (token: string) => digest('sha256', token, 'base64url');

export function createTokenVerifier(options: TokenVerifierOptions) {
  const verified = new Map<string, Verified>();

  /** The same checks as a first verification makes of `exp` and revocation, for a remembered token. */
  function reuse(entry: Verified): VerifiedToken {
    if (entry.exp <= Math.floor(Date.now() / 1000) - options.clockToleranceSeconds) throw new UnauthorizedError('the token has expired', true);
    if (options.revocations.isRevoked(entry.revocable)) throw new UnauthorizedError('the token has been revoked', true);
    return entry.token;
  }

  /** `hash` is tokenHash(token), when the caller has it already. */
  async function verifyAccessToken(token: string, hash = tokenHash(token)): Promise<VerifiedToken> {
    const keys = options.keys.current();
    if (!keys) throw new ServiceUnavailableError('the auth server keys are not loaded yet');
    if (!options.revocationsLoaded() && !(await options.awaitRevocations?.())) throw new ServiceUnavailableError('the revocation list is not loaded yet');
    const known = verified.get(hash);
    if (known && known.reuseUntil > Date.now()) return reuse(known);
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        issuer: options.issuer,
        audience: options.audience,
        algorithms: ACCEPTED_ALGORITHMS,
        typ: 'at+jwt', // RFC 9068 §4: an ID token (typ JWT) is not an access token
        clockTolerance: options.clockToleranceSeconds, // DOCS_API_CLOCK_TOLERANCE_SECONDS, for exp, nbf and iat alike
        maxTokenAge: MAX_TOKEN_AGE_SECONDS, // also makes jose refuse an iat in the future
        requiredClaims: ['iss', 'aud', 'exp', 'iat', 'sub', 'client_id', 'jti'],
      }));
    } catch (err) {
      const reason = reasonFor(err);
      if (reason) throw new UnauthorizedError(reason, true);
      throw new ServiceUnavailableError('the auth server keys could not be fetched');
    }
    const { sub, client_id: clientId, jti, scope, gid, cnf } = payload as JWTPayload & { client_id?: unknown; scope?: unknown; gid?: unknown; cnf?: unknown };
    if (typeof sub !== 'string' || typeof clientId !== 'string' || typeof jti !== 'string') {
      throw new UnauthorizedError('the token lacks a string sub, client_id or jti', true);
    }
    if (scope !== undefined && typeof scope !== 'string') throw new UnauthorizedError("the token's scope claim is invalid", true);
    const binding = bindingOf(cnf);
    // RFC 7009: a revoked token (or one of a revoked grant, a disabled user or client) is refused on
    // the next request, not at expiry.
    const revocable: RevocableToken = { jti, gid, sub, client_id: clientId, iat: payload.iat };
    if (options.revocations.isRevoked(revocable)) throw new UnauthorizedError('the token has been revoked', true);
    const principal: Principal = {
      id: sub,
      kind: sub === clientId ? 'client' : 'user', // client credentials: sub is the client itself
      clientId,
      scopes: new Set((scope ?? '').split(' ').filter(Boolean)),
    };
    const result: VerifiedToken = { principal, hash, ...binding };
    verified.delete(hash);
    if (verified.size >= VERIFIED_TOKENS_MAX) verified.delete(verified.keys().next().value!);
    verified.set(hash, { token: result, exp: payload.exp!, revocable, reuseUntil: Date.now() + VERIFIED_TOKEN_REUSE_MS });
    return result;
  }

  /** Whether the token of this hash verified here within the last minute or so (it may be expired or revoked since). */
  const remembers = (hash: string) => verified.has(hash);

  return Object.assign(verifyAccessToken, { remembers });
}

export type VerifyAccessToken = ReturnType<typeof createTokenVerifier>;
