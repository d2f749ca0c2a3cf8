// Client authentication for the endpoints the server answers itself (the JWT introspection and
// revocation front), exactly as oidc-provider authenticates at its own endpoints: the same methods,
// the client's registered method deciding which are accepted, constant-time secret comparison.
// Each method is one entry of METHODS: it finds its credential in the request and checks it against
// the client. private_key_jwt (RFC 7523 §3): signed by a key of the client's `jwks` or `jwks_uri`
// (jose's remote JWK Set, cached), `iss` = `sub` = the client, `aud` the issuer or the endpoint URL,
// `exp` and a `jti` used once in every process (the store oidc-provider's ReplayDetection uses).
// tls_client_auth (RFC 8705 §2.1): a certificate the terminator verified, with the registered subject;
// self_signed_tls_client_auth (§2.2): a certificate whose thumbprint is one of the client's `jwks` x5c.
import type { Kv } from '@clouddocs/kv';
import { createLocalJWKSet, createRemoteJWKSet, customFetch, decodeJwt, jwtVerify, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { X509Certificate } from 'node:crypto';
import type Provider from 'oidc-provider';
import { BadRequestError, InvalidClientError } from '../errors';
import { certificateThumbprint, subjectMatches, type PresentedCertificate } from './client-certificates';
import { sameSecret } from './csrf';
import { guardedFetch } from './outbound-fetch';
import { claimReplayId, replayId } from './replay-detection';

export interface AuthenticatedClient {
  clientId: string;
  /** Authenticated with a credential (not a public client). */
  confidential: boolean;
}

/** What a client authenticates with at an endpoint. */
export interface ClientCredentialRequest {
  authorization: string;
  body: URLSearchParams;
  /** This endpoint's absolute URL (an accepted assertion `aud`). */
  endpoint: string;
  /** The certificate the trusted terminator forwarded, if any. */
  certificate?: PresentedCertificate | undefined;
}

export const CLIENT_AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'tls_client_auth', 'self_signed_tls_client_auth', 'none'] as const;
export type ClientAuthMethod = (typeof CLIENT_AUTH_METHODS)[number];
/** private_key_jwt assertion algorithms (asymmetric only: no client_secret_jwt). */
export const ASSERTION_ALGS = ['RS256', 'PS256', 'ES256', 'EdDSA', 'Ed25519'] as const;
/** Clock skew allowed on assertions, here and (as its `clockTolerance`) by oidc-provider. */
export const ASSERTION_CLOCK_TOLERANCE = 15;
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** The furthest an assertion's `exp` may lie ahead (its `jti` is remembered until then; RFC 7523 §3 lets the server bound it). */
export const ASSERTION_MAX_LIFETIME = 3600;

/**
 * What the signature and the standard claims leave open in a client assertion, checked the same way by
 * oidc-provider (its `assertJwtClientAuthClaimsAndHeader`) and by the front: `jti` a string (RFC 7519
 * §4.1.7), `kid` a string when given (RFC 7515 §4.1.4), `exp` a number at most ASSERTION_MAX_LIFETIME
 * ahead (an `exp` of 1e308 made the replay store refuse its expiry: a 503 instead of a 401).
 */
export function assertionClaimsProblem(payload: Record<string, unknown>, header: Record<string, unknown>, now = Math.floor(Date.now() / 1000)): string | undefined {
  if (typeof payload.jti !== 'string' || !payload.jti) return 'client_assertion jti must be a non-empty string';
  if (header.kid !== undefined && typeof header.kid !== 'string') return 'client_assertion kid must be a string';
  if (typeof payload.exp !== 'number' || !Number.isFinite(payload.exp)) return 'client_assertion exp must be a number';
  if (payload.exp > now + ASSERTION_MAX_LIFETIME + ASSERTION_CLOCK_TOLERANCE) return `client_assertion exp must be at most ${ASSERTION_MAX_LIFETIME} seconds ahead`;
  return undefined;
}

type Client = NonNullable<Awaited<ReturnType<Provider['Client']['find']>>>;
interface ClientKeys {
  jwks?: JSONWebKeySet;
  jwksUri?: string;
  tlsClientAuthSubjectDn?: string;
}
const keysOf = (client: Client) => client as unknown as ClientKeys;

interface PresentedCredential {
  clientId: string;
  /** Checks the credential against the registered client. */
  verify(client: Client): boolean | Promise<boolean>;
  /** The registered methods this credential may stand for (oidc-provider's shared/client_auth.js). */
  acceptedFor: readonly string[];
}

const SECRET_METHODS = ['client_secret_basic', 'client_secret_post'] as const;

/** RFC 6749 §2.3.1: the client id and secret of HTTP Basic (form-urlencoded) or of the body. */
export function presentedSecret(header: string, body: URLSearchParams): { clientId: string; secret: string; via: 'basic' | 'post' } | undefined {
  if (!header) {
    const secret = body.get('client_secret');
    const clientId = body.get('client_id');
    return secret !== null && clientId ? { clientId, secret, via: 'post' } : undefined;
  }
  const match = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(header);
  if (!match || body.has('client_secret') || body.has('client_assertion')) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon === -1) return undefined;
  try {
    return { clientId: decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, '%20')), secret: decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, '%20')), via: 'basic' };
  } catch {
    return undefined;
  }
}

const secretCredential = (clientId: string, secret: string): PresentedCredential => ({
  clientId,
  acceptedFor: SECRET_METHODS,
  verify: (client) => Boolean(client.clientSecret && sameSecret(secret, client.clientSecret)),
});

type Method = (request: ClientCredentialRequest) => PresentedCredential | undefined;

const LOCAL_ISSUER = /^https?:\/\/(localhost|127\.0\.0\.1|\[::1\])(:|\/|$)/;

export function createClientAuthentication(deps: { provider: () => Provider; kv: Kv; issuer: string }) {
  const remoteKeySets = new Map<string, JWTVerifyGetKey>();
  // Keys imported once per registered key set (the provider's cached client object holds it).
  const localKeySets = new WeakMap<JSONWebKeySet, JWTVerifyGetKey>();
  // jwks_uri on loopback or private addresses only for a localhost issuer, as the provider's own fetches.
  const fetchKeys = guardedFetch(LOCAL_ISSUER.test(deps.issuer));
  const keySetOf = (client: Client): JWTVerifyGetKey | undefined => {
    const { jwks, jwksUri } = keysOf(client);
    if (jwks) {
      let local = localKeySets.get(jwks);
      if (!local) localKeySets.set(jwks, (local = createLocalJWKSet(jwks)));
      return local;
    }
    if (!jwksUri) return undefined;
    let remote = remoteKeySets.get(jwksUri);
    if (!remote) {
      if (remoteKeySets.size >= 1000) remoteKeySets.clear();
      remote = createRemoteJWKSet(new URL(jwksUri), { timeoutDuration: 2500, cooldownDuration: 30_000, cacheMaxAge: 600_000, [customFetch]: fetchKeys });
      remoteKeySets.set(jwksUri, remote);
    }
    return remote;
  };

  async function verifyAssertion(assertion: string, client: Client, endpoint: string): Promise<boolean> {
    const keys = keySetOf(client);
    if (!keys) return false;
    let exp: number;
    let jti: string;
    try {
      const { payload, protectedHeader } = await jwtVerify(assertion, keys, {
        issuer: client.clientId,
        subject: client.clientId,
        audience: [deps.issuer, `${deps.issuer}/token`, endpoint],
        algorithms: [...ASSERTION_ALGS],
        requiredClaims: ['exp', 'jti'],
        clockTolerance: ASSERTION_CLOCK_TOLERANCE,
      });
      if (assertionClaimsProblem(payload, protectedHeader)) return false;
      exp = payload.exp!;
      jti = payload.jti!;
    } catch {
      // A bad assertion, or keys that cannot be had (jwks_uri unreachable, refused, not a JWK Set).
      return false;
    }
    // The store's outage is not the client's fault: it propagates (503).
    return claimReplayId(deps.kv, replayId(client.clientId, jti), client.clientId, exp + ASSERTION_CLOCK_TOLERANCE - Math.floor(Date.now() / 1000));
  }

  const privateKeyJwt: Method = ({ body, endpoint }) => {
    const assertion = body.get('client_assertion');
    if (assertion === null) return undefined;
    if (body.get('client_assertion_type') !== ASSERTION_TYPE) throw new BadRequestError(`client_assertion_type must be ${ASSERTION_TYPE}`);
    let sub: unknown;
    try {
      sub = decodeJwt(assertion).sub;
    } catch {
      throw new BadRequestError('client_assertion is not a JWT');
    }
    const clientId = body.get('client_id');
    if (typeof sub !== 'string' || !sub || (clientId !== null && clientId !== sub)) throw new InvalidClientError('client_assertion sub must be the client_id');
    return { clientId: sub, acceptedFor: ['private_key_jwt'], verify: (client) => verifyAssertion(assertion, client, endpoint) };
  };

  const certificateOrNone: Method = ({ body, certificate }) => {
    const clientId = body.get('client_id');
    if (!clientId) return undefined;
    return {
      clientId,
      acceptedFor: ['none', 'tls_client_auth', 'self_signed_tls_client_auth'],
      verify(client) {
        if (client.clientAuthMethod === 'none') return true;
        if (!certificate) return false;
        if (client.clientAuthMethod === 'tls_client_auth') {
          const dn = keysOf(client).tlsClientAuthSubjectDn;
          return certificate.verified && dn !== undefined && subjectMatches(certificate.x509, dn);
        }
        const thumbprint = certificateThumbprint(certificate.x509);
        return (keysOf(client).jwks?.keys ?? []).some((jwk) => {
          try {
            return jwk.x5c?.[0] !== undefined && certificateThumbprint(new X509Certificate(Buffer.from(jwk.x5c[0], 'base64'))) === thumbprint;
          } catch {
            return false;
          }
        });
      },
    };
  };

  const METHODS: Method[] = [
    ({ authorization, body }) => {
      if (!authorization) return undefined;
      const presented = presentedSecret(authorization, body);
      if (!presented) throw new InvalidClientError();
      return secretCredential(presented.clientId, presented.secret);
    },
    ({ body }) => {
      const presented = presentedSecret('', body);
      return presented ? secretCredential(presented.clientId, presented.secret) : undefined;
    },
    privateKeyJwt,
    certificateOrNone,
  ];

  return {
    /** The client this request authenticates as; InvalidClientError otherwise. */
    async authenticate(request: ClientCredentialRequest): Promise<AuthenticatedClient> {
      let credential: PresentedCredential | undefined;
      for (const method of METHODS) if ((credential = method(request))) break;
      if (!credential) throw new InvalidClientError();
      const client = await deps.provider().Client.find(credential.clientId);
      if (!client || !credential.acceptedFor.includes(client.clientAuthMethod ?? '') || !(await credential.verify(client))) throw new InvalidClientError();
      return { clientId: client.clientId, confidential: client.clientAuthMethod !== 'none' };
    },
  };
}

export type ClientAuthentication = ReturnType<typeof createClientAuthentication>;
