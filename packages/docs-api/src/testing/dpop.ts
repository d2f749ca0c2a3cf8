// DPoP for tests: a client key pair, its thumbprint (what a bound token's `cnf.jkt` holds), and proofs
// made as RFC 9449 §4.2 says, each part of which a test may spoil.
import { hash, randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { AUDIENCE } from './harness';

export interface DpopKey {
  alg: 'ES256' | 'EdDSA' | 'Ed25519';
  privateKey: CryptoKey;
  publicJwk: JWK;
  /** RFC 7638 SHA-256 thumbprint: the `cnf.jkt` of tokens bound to this key. */
  jkt: string;
}

export async function dpopKey(alg: DpopKey['alg'] = 'ES256'): Promise<DpopKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, ...(alg !== 'ES256' ? { crv: 'Ed25519' } : {}) });
  const publicJwk = await exportJWK(publicKey);
  return { alg, privateKey, publicJwk, jkt: await calculateJwkThumbprint(publicJwk, 'sha256') };
}

export interface ProofOptions {
  method: string;
  /** A path of the API (its public URL is prefixed) or a whole URL. */
  url: string;
  /** The access token the proof goes with (`ath`). */
  token: string;
  /** Claims to add, replace, or (undefined) leave out. */
  claims?: Record<string, unknown>;
  /** Header parameters to add or replace (`jwk: undefined` leaves it out). */
  header?: Record<string, unknown>;
  /** Signs with this key instead (the header's `jwk` stays the bound key's). */
  signWith?: CryptoKey;
}

export async function proof(key: DpopKey, o: ProofOptions): Promise<string> {
  const claims: Record<string, unknown> = {
    jti: randomUUID(),
    htm: o.method,
    htu: o.url.startsWith('/') ? `${AUDIENCE}${o.url}` : o.url,
    iat: Math.floor(Date.now() / 1000),
    ath: hash('sha256', o.token, 'base64url'),
    ...o.claims,
  };
  const header: Record<string, unknown> = { alg: key.alg, typ: 'dpop+jwt', jwk: key.publicJwk, ...o.header };
  for (const [k, v] of Object.entries(claims)) if (v === undefined) delete claims[k];
  for (const [k, v] of Object.entries(header)) if (v === undefined) delete header[k];
  return new SignJWT(claims).setProtectedHeader(header as never).sign(o.signWith ?? key.privateKey);
}

/** The headers of a DPoP request: `Authorization: DPoP <token>` and one proof for this method and URL. */
export async function dpopHeaders(key: DpopKey, token: string, method: string, url: string): Promise<Record<string, string>> {
  return { authorization: `DPoP ${token}`, dpop: await proof(key, { method, url, token }) };
}
