// DPoP proofs (RFC 9449 §4) for the load generator: one ES256 key, a fresh proof per request, signed
// synchronously with node:crypto so that autocannon's setupRequest can make one for every request.
import { createHash, generateKeyPairSync, randomUUID, sign } from 'node:crypto';

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

export function createDpopSigner() {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const { kty, crv, x, y } = publicKey.export({ format: 'jwk' }) as Record<string, string>;
  const jwk = { kty, crv, x, y };
  const header = b64({ typ: 'dpop+jwt', alg: 'ES256', jwk });
  return {
    /** A proof for this method and URL (without query); `token` adds `ath` (RFC 9449 §4.2). */
    proof(htm: string, htu: string, token?: string): string {
      const claims = { htm, htu, iat: Math.floor(Date.now() / 1000), jti: randomUUID(), ...(token ? { ath: createHash('sha256').update(token).digest('base64url') } : {}) };
      const input = `${header}.${b64(claims)}`;
      return `${input}.${sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
    },
  };
}
