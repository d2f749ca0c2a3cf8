// DPoP at the docs API (RFC 9449 §4.3, §7): `Authorization: DPoP <token>` with a proof on every request,
// checked against this request and the token's `cnf.jkt`; replayed proofs refused by every process
// sharing the cache; the binding never bypassed by the Bearer scheme or by the verified-token cache.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { KvUnavailableError } from '@clouddocs/kv';
import { createLogger } from '@clouddocs/observability';
import { createDocsApi } from '../app';
import { dpopHeaders, dpopKey, proof, type DpopKey } from '../testing/dpop';
import { startHarness, type Harness, type Response } from '../testing/harness';

let h: Harness;
let key: DpopKey;
beforeAll(async () => {
  h = await startHarness();
  key = await dpopKey();
});
afterAll(() => h?.close());

const ALGS = 'algs="ES256 EdDSA Ed25519"';
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const boundToken = (k: DpopKey = key, o: Parameters<Harness['token']>[0] = {}) => h.token({ ...o, claims: { ...o.claims, cnf: { jkt: k.jkt } } });

function expectDpopRefusal(res: Response, error: 'invalid_token' | 'invalid_dpop_proof', description: RegExp) {
  expect(res.status, res.text).toBe(401);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  const challenge = res.headers.get('www-authenticate')!;
  expect(challenge).toMatch(new RegExp(`^DPoP realm="docs-api", error="${error}", error_description="[^"\\\\]+", ${ALGS}$`));
  expect(challenge).toMatch(description);
  expect(res.body).toMatchObject({ status: 401, title: 'Unauthorized', type: `urn:clouddocs:problem:${error === 'invalid_token' ? 'invalid-token' : 'invalid-dpop-proof'}` });
  expect(res.body.detail).toMatch(description);
  expect(res.text).not.toMatch(/stack|at \w+ \(/);
}

describe('a DPoP-bound token with a valid proof', () => {
  it('is accepted on every route with a fresh proof per request (ES256, EdDSA and Ed25519 keys)', async () => {
    for (const alg of ['ES256', 'EdDSA', 'Ed25519'] as const) {
      const k = await dpopKey(alg);
      const sub = randomUUID();
      await h.createAccount(sub);
      const token = await boundToken(k, { sub });
      const me = await h.request('GET', '/me', { headers: await dpopHeaders(k, token, 'GET', '/me') });
      expect(me.status, `${alg}: ${me.text}`).toBe(200);
      expect(me.body).toMatchObject({ sub, kind: 'user' });
      const created = await h.request('POST', '/documents', { headers: await dpopHeaders(k, token, 'POST', '/documents'), body: { title: 'bound', content: 'c' } });
      expect(created.status, created.text).toBe(201);
      const read = await h.request('GET', `/documents/${created.body.id}`, { headers: await dpopHeaders(k, token, 'GET', `/documents/${created.body.id}`) });
      expect(read.status).toBe(200);
      expect(read.body).toMatchObject({ id: created.body.id, title: 'bound', ownerId: sub });
    }
  });

  it('the scheme is case-insensitive (dpop, DPOP), and htu ignores the query of the request and of the proof', async () => {
    const token = await boundToken();
    for (const scheme of ['dpop', 'DPOP']) {
      const res = await h.request('GET', '/me', { headers: { authorization: `${scheme} ${token}`, dpop: await proof(key, { method: 'GET', url: '/me', token }) } });
      expect(res.status, scheme).toBe(200);
    }
    const withQuery = await h.request('GET', '/documents?limit=1', { headers: await dpopHeaders(key, token, 'GET', '/documents') });
    expect(withQuery.status).toBe(200);
    const proofWithQuery = await proof(key, { method: 'GET', url: '/documents?limit=5#x', token });
    expect((await h.request('GET', '/documents', { headers: { authorization: `DPoP ${token}`, dpop: proofWithQuery } })).status).toBe(200);
  });

  it('a proof within a minute of now, either way, is accepted', async () => {
    const token = await boundToken();
    for (const skew of [-50, 50]) {
      const dpop = await proof(key, { method: 'GET', url: '/me', token, claims: { iat: Math.floor(Date.now() / 1000) + skew } });
      expect((await h.request('GET', '/me', { headers: { authorization: `DPoP ${token}`, dpop } })).status, `iat ${skew}`).toBe(200);
    }
  });

  it('a token without the route scope -> 403 insufficient_scope, challenged as DPoP', async () => {
    const token = await boundToken(key, { scope: 'openid docs:read' });
    const res = await h.request('POST', '/documents', { headers: await dpopHeaders(key, token, 'POST', '/documents'), body: { title: 't', content: 'c' } });
    expect(res.status).toBe(403);
    expect(res.headers.get('www-authenticate')).toBe(`DPoP realm="docs-api", error="insufficient_scope", scope="docs:write", ${ALGS}`);
    expect(res.body).toMatchObject({ type: 'urn:clouddocs:problem:insufficient-scope', scope: 'docs:write' });
  });
});

describe('the binding cannot be bypassed', () => {
  it('a DPoP-bound token sent as Bearer -> 401 DPoP invalid_token, also once it has been verified (and cached) as DPoP', async () => {
    const token = await boundToken();
    expectDpopRefusal(await h.request('GET', '/me', { token }), 'invalid_token', /DPoP-bound/);
    expect((await h.request('GET', '/me', { headers: await dpopHeaders(key, token, 'GET', '/me') })).status).toBe(200);
    expectDpopRefusal(await h.request('GET', '/me', { token }), 'invalid_token', /DPoP-bound/);
    // A proof alongside does not make a Bearer request a DPoP one.
    expectDpopRefusal(await h.request('GET', '/me', { token, headers: { dpop: await proof(key, { method: 'GET', url: '/me', token }) } }), 'invalid_token', /DPoP-bound/);
  });

  it('an unbound token sent as DPoP (with a proof) -> 401 DPoP invalid_token, also once it has been verified (and cached) as Bearer', async () => {
    const token = await h.token();
    expect((await h.request('GET', '/me', { token })).status).toBe(200);
    expectDpopRefusal(await h.request('GET', '/me', { headers: await dpopHeaders(key, token, 'GET', '/me') }), 'invalid_token', /not DPoP-bound/);
  });

  it('an invalid token sent as DPoP -> 401 invalid_token challenged as DPoP', async () => {
    const expired = await boundToken(key, { expiresIn: -120 });
    expectDpopRefusal(await h.request('GET', '/me', { headers: await dpopHeaders(key, expired, 'GET', '/me') }), 'invalid_token', /expired/);
    expectDpopRefusal(await h.request('GET', '/me', { headers: { authorization: 'DPoP not-a-jwt', dpop: 'x' } }), 'invalid_token', /malformed/);
  });

  it('a token bound by a confirmation method the API does not check (x5t, another, empty, malformed) -> 401 invalid_token as Bearer and as DPoP', async () => {
    const thumbprint = 'A'.repeat(43);
    for (const cnf of [{ x5t: thumbprint }, { jkt: key.jkt, jwk: {} }, {}, 'jkt', { jkt: 42 }, { jkt: 'short' }, { 'x5t#S256': 'short' }]) {
      const token = await h.token({ claims: { cnf } });
      const bearer = await h.request('GET', '/me', { token });
      expect(bearer.status, JSON.stringify(cnf)).toBe(401);
      expect(bearer.headers.get('www-authenticate')).toMatch(/^Bearer realm="docs-api", error="invalid_token", error_description="[^"]*(cnf|confirmation)/);
      expectDpopRefusal(await h.request('GET', '/me', { headers: await dpopHeaders(key, token, 'GET', '/me') }), 'invalid_token', /cnf|confirmation/);
    }
  });

  it('a DPoP credential that is not one token -> 400 invalid_request challenged as DPoP', async () => {
    const res = await h.request('GET', '/me', { headers: { authorization: 'DPoP a b' } });
    expect(res.status).toBe(400);
    expect(res.headers.get('www-authenticate')).toMatch(new RegExp(`^DPoP realm="docs-api", error="invalid_request", error_description="[^"\\\\]+", ${ALGS}$`));
  });

  it('no credential or another scheme -> 401 challenging with both schemes, no error attribute', async () => {
    for (const headers of [{}, { authorization: 'Basic YTpi' }] as Record<string, string>[]) {
      const res = await h.request('GET', '/me', { headers });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe(`Bearer realm="docs-api", DPoP realm="docs-api", ${ALGS}`);
    }
  });
});

describe('a bad proof -> 401 invalid_dpop_proof', () => {
  let token: string;
  beforeAll(async () => {
    token = await boundToken();
  });
  const send = (dpop: string | undefined, path = '/me', method = 'GET') =>
    h.request(method, path, { headers: { authorization: `DPoP ${token}`, ...(dpop !== undefined ? { dpop } : {}) } });

  it('no DPoP header, or two', async () => {
    expectDpopRefusal(await send(undefined), 'invalid_dpop_proof', /needs a DPoP header/);
    const [a, b] = await Promise.all([proof(key, { method: 'GET', url: '/me', token }), proof(key, { method: 'GET', url: '/me', token })]);
    const raw = await h.raw(Buffer.from(`GET /me HTTP/1.1\r\nHost: x\r\nAuthorization: DPoP ${token}\r\nDPoP: ${a}\r\nDPoP: ${b}\r\nConnection: close\r\n\r\n`));
    expectDpopRefusal(raw, 'invalid_dpop_proof', /exactly one DPoP header/);
  });

  it('not a JWT, alg none, an HMAC (HS256 with an oct jwk), an algorithm off the list (ES384, RS256)', async () => {
    expectDpopRefusal(await send('not-a-proof'), 'invalid_dpop_proof', /malformed|not a JWS/);
    const claims = { jti: randomUUID(), htm: 'GET', htu: 'http://localhost:4000/me', iat: Math.floor(Date.now() / 1000), ath: token };
    expectDpopRefusal(await send(`${b64({ alg: 'none', typ: 'dpop+jwt', jwk: key.publicJwk })}.${b64(claims)}.`), 'invalid_dpop_proof', /signed with one of/);
    const secret = new TextEncoder().encode('a shared secret of at least 32 bytes!!');
    const hmac = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'dpop+jwt', jwk: { kty: 'oct', k: Buffer.from(secret).toString('base64url') } } as never).sign(secret);
    expectDpopRefusal(await send(hmac), 'invalid_dpop_proof', /signed with one of/);
    for (const alg of ['ES384', 'RS256']) {
      const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
      const other = await proof({ alg: alg as 'ES256', privateKey, publicJwk: await exportJWK(publicKey), jkt: key.jkt }, { method: 'GET', url: '/me', token });
      expectDpopRefusal(await send(other), 'invalid_dpop_proof', /signed with one of/);
    }
  });

  it('typ other than dpop+jwt, no jwk, a jwk with the private key, a signature by another key than the jwk', async () => {
    expectDpopRefusal(await send(await proof(key, { method: 'GET', url: '/me', token, header: { typ: 'JWT' } })), 'invalid_dpop_proof', /typ must be dpop\+jwt/);
    expectDpopRefusal(await send(await proof(key, { method: 'GET', url: '/me', token, header: { jwk: undefined } })), 'invalid_dpop_proof', /public key in its jwk/);
    const privateJwk = await exportJWK(key.privateKey);
    expectDpopRefusal(await send(await proof(key, { method: 'GET', url: '/me', token, header: { jwk: privateJwk } })), 'invalid_dpop_proof', /public key in its jwk/);
    const stranger = await dpopKey();
    expectDpopRefusal(await send(await proof(key, { method: 'GET', url: '/me', token, signWith: stranger.privateKey })), 'invalid_dpop_proof', /signature does not verify/);
  });

  it('each required claim missing: jti, htm, htu, iat, ath', async () => {
    for (const claim of ['jti', 'htm', 'htu', 'iat', 'ath']) {
      expectDpopRefusal(await send(await proof(key, { method: 'GET', url: '/me', token, claims: { [claim]: undefined } })), 'invalid_dpop_proof', new RegExp(claim));
    }
    expectDpopRefusal(await send(await proof(key, { method: 'GET', url: '/me', token, claims: { iat: 'now' } })), 'invalid_dpop_proof', /iat/);
    expectDpopRefusal(await send(await proof(key, { method: 'GET', url: '/me', token, claims: { jti: '' } })), 'invalid_dpop_proof', /jti/);
  });

  it('htm of another method (or lower case); htu of another path, of the server\'s own address instead of its public URL, of another scheme or host', async () => {
    expectDpopRefusal(await send(await proof(key, { method: 'POST', url: '/me', token })), 'invalid_dpop_proof', /htm/);
    expectDpopRefusal(await send(await proof(key, { method: 'get', url: '/me', token })), 'invalid_dpop_proof', /htm/);
    for (const url of ['/documents', `${h.url}/me`, 'https://localhost:4000/me', 'http://evil.example/me', 'not a url']) {
      expectDpopRefusal(await send(await proof(key, { method: 'GET', url, token })), 'invalid_dpop_proof', /htu must be this request's URL, http:\/\/localhost:4000\/me/);
    }
  });

  it('iat more than a minute in the past or in the future', async () => {
    for (const skew of [-90, 90]) {
      expectDpopRefusal(await send(await proof(key, { method: 'GET', url: '/me', token, claims: { iat: Math.floor(Date.now() / 1000) + skew } })), 'invalid_dpop_proof', /iat must be within 60 s/);
    }
  });

  it("ath of another token; a proof by another key than the token's cnf.jkt", async () => {
    expectDpopRefusal(await send(await proof(key, { method: 'GET', url: '/me', token: await boundToken() })), 'invalid_dpop_proof', /ath/);
    const stranger = await dpopKey();
    expectDpopRefusal(await send(await proof(stranger, { method: 'GET', url: '/me', token })), 'invalid_dpop_proof', /not the key this token is bound to/);
  });

  it('a proof used once is refused the second time (and a refused proof does not use up its jti)', async () => {
    const dpop = await proof(key, { method: 'GET', url: '/me', token });
    expect((await send(dpop)).status).toBe(200);
    expectDpopRefusal(await send(dpop), 'invalid_dpop_proof', /used before/);
    const jti = randomUUID();
    expect((await send(await proof(key, { method: 'GET', url: '/me', token, claims: { jti, htm: 'PUT' } }))).status).toBe(401);
    expect((await send(await proof(key, { method: 'GET', url: '/me', token, claims: { jti } }))).status).toBe(200);
  });
});

describe('replay across docs API processes', () => {
  it('a proof accepted by one API instance is refused by another on the same cache', async () => {
    const other = createDocsApi({ config: h.config, knex: h.knex, audit: h.audit, kv: h.kv, revocations: h.revocations, jwks: h.jwks!, logger: createLogger({ level: 'silent', name: 'docs-api' }) });
    await other.ready();
    const served = await h.serve(other);
    try {
      const token = await boundToken();
      const first = await dpopHeaders(key, token, 'GET', '/me');
      expect((await h.request('GET', '/me', { headers: first })).status).toBe(200);
      expectDpopRefusal(await served.request('GET', '/me', { headers: first }), 'invalid_dpop_proof', /used before/);
      const second = await dpopHeaders(key, token, 'GET', '/me');
      expect((await served.request('GET', '/me', { headers: second })).status).toBe(200);
      expectDpopRefusal(await h.request('GET', '/me', { headers: second }), 'invalid_dpop_proof', /used before/);
    } finally {
      await served.close();
      await other.close();
    }
  });

  it('the replay store unreachable -> 503 (fails closed), Bearer requests unaffected', async () => {
    // The cache with SET NX failing as an unreachable Redis does; every other member is the real one.
    const down = new Proxy(h.kv, {
      get(target, prop) {
        if (prop === 'setIfAbsent') return async () => Promise.reject(new KvUnavailableError('the cache is unavailable: connection refused'));
        const value = Reflect.get(target, prop, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const api = createDocsApi({ config: h.config, knex: h.knex, audit: h.audit, kv: down, revocations: h.revocations, jwks: h.jwks!, logger: createLogger({ level: 'silent', name: 'docs-api' }) });
    await api.ready();
    const served = await h.serve(api);
    try {
      const token = await boundToken();
      const res = await served.request('GET', '/me', { headers: await dpopHeaders(key, token, 'GET', '/me') });
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('1');
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(res.body.detail).toMatch(/replay/);
      expect((await served.request('GET', '/me', { token: await h.token() })).status).toBe(200);
    } finally {
      await served.close();
      await api.close();
    }
  });
});
