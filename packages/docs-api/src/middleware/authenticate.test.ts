import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportJWK, exportSPKI, generateKeyPair, importJWK, SignJWT, type CryptoKey } from 'jose';
import { grantClaim, RevocationList } from '@clouddocs/kv';
import { createLogger } from '@clouddocs/observability';
import { createDocsApi } from '../app';
import { credentialsOf } from './authenticate';
import { startHarness, type Harness, type Response } from '../testing/harness';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

function expectInvalidToken(res: Response, description: RegExp) {
  expect(res.status).toBe(401);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  const challenge = res.headers.get('www-authenticate')!;
  expect(challenge).toMatch(/^Bearer realm="docs-api", error="invalid_token", error_description="[^"]+"$/);
  expect(challenge).toMatch(description);
  expect(res.body).toMatchObject({ status: 401, title: 'Unauthorized' });
  expect(res.body.detail).toMatch(description);
  expect(res.text).not.toMatch(/stack|at \w+ \(/);
}

async function pollUntil401(token: string): Promise<Response> {
  const deadline = Date.now() + 2_000;
  for (;;) {
    const res = await h.request('GET', '/me', { token });
    if (res.status === 401 || Date.now() > deadline) return res;
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('the Authorization header split into scheme and credential', () => {
  it('splits exactly as ^(scheme) +([^ ].*)$ (RFC 9110 §11.4) does', () => {
    const regexp = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) +([^ ].*)$/;
    const token = 'eyJ0eXAiOiJhdCtqd3QifQ.e30.' + 'a'.repeat(500);
    const headers = [
      `Bearer ${token}`, `bearer   ${token}`, `DPoP ${token}`, 'Basic dXNlcjpwYXNz', 'Bearer', 'Bearer ', 'Bearer   ', ' Bearer x', 'Bearer  x y',
      'Bearer x ', 'Bea rer x', 'Bearer\tx', 'Bearer \nx', 'Bearer x\n', 'Bearer x\ry', 'Bearer \u2028x', 'Bearer x\u2029', 'Bearer x\u0085',
      'Bearer é', '(Bearer) x', "!#$%&'*+.^_`|~0-9A-Za-z- x", 'Bearer \0', '',
    ];
    for (const header of headers) {
      const match = regexp.exec(header);
      expect(credentialsOf(header), JSON.stringify(header)).toEqual(match ? [match[1], match[2]] : undefined);
    }
  });
});

describe('authentication', () => {
  it('a valid ES256, RS256 or EdDSA access token is accepted', async () => {
    for (const key of [h.keys.es256, h.keys.rs256, h.keys.eddsa]) {
      const sub = randomUUID();
      const res = await h.request('GET', '/me', { token: await h.token({ key, sub, clientId: 'app-1' }) });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ sub, client_id: 'app-1', kind: 'user', memberships: [] });
      expect(res.body.scopes).toContain('docs:read');
    }
  });

  it('an aud array that contains the API audience is accepted', async () => {
    const res = await h.request('GET', '/me', { token: await h.token({ audience: ['https://other.example', 'http://localhost:4000'] }) });
    expect(res.status).toBe(200);
  });

  it('no token -> 401 with a Bearer (and a DPoP) challenge without an error attribute', async () => {
    const res = await h.request('GET', '/documents');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="docs-api", DPoP realm="docs-api", algs="ES256 EdDSA Ed25519"');
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ type: 'urn:clouddocs:problem:missing-token', status: 401, title: 'Unauthorized' });
  });

  it('the scheme is case-insensitive (RFC 9110 §11.1): bearer, BEARER and bEaReR work like Bearer', async () => {
    const sub = randomUUID();
    const token = await h.token({ sub });
    for (const scheme of ['bearer', 'BEARER', 'bEaReR']) {
      const res = await h.request('GET', '/me', { headers: { authorization: `${scheme} ${token}` } });
      expect(res.status, scheme).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(res.body).toMatchObject({ sub, kind: 'user' });
    }
    expectInvalidToken(await h.request('GET', '/me', { headers: { authorization: 'bearer garbage' } }), /malformed/);
  });

  it('an Authorization header that is not "<scheme> <credential>", or a Bearer credential that is not one token -> 400 invalid_request', async () => {
    const token = await h.token();
    for (const header of ['Bearer', 'bearer', `Bearer${token}`, `Bearer ${token} extra`, `Bearer ${token},x`, `"Bearer" ${token}`, `Bearer\t${token}`]) {
      const res = await h.request('GET', '/me', { headers: { authorization: header } });
      expect(res.status, header).toBe(400);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer realm="docs-api", error="invalid_request", error_description="[^"\\]+"$/);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(res.body).toMatchObject({ type: 'urn:clouddocs:problem:invalid-request', status: 400, title: 'Bad Request' });
      expect(res.text).not.toContain(token);
    }
  });

  it('RFC 9110 §11.4 allows one or more spaces after the scheme', async () => {
    expect((await h.request('GET', '/me', { headers: { authorization: `Bearer  ${await h.token()}` } })).status).toBe(200);
  });

  it('another scheme (Basic, Token) carries no token for this API -> 401 with a Bearer (and a DPoP) challenge without an error attribute (RFC 6750 §3.1)', async () => {
    const token = await h.token();
    for (const header of [`Basic ${Buffer.from('a:b').toString('base64')}`, `Token ${token}`, 'Digest username="a", realm="b"']) {
      const res = await h.request('GET', '/me', { headers: { authorization: header } });
      expect(res.status, header).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="docs-api", DPoP realm="docs-api", algs="ES256 EdDSA Ed25519"');
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(res.body).toMatchObject({ type: 'urn:clouddocs:problem:missing-token', status: 401, title: 'Unauthorized' });
      expect(res.body.detail).toMatch(/Bearer/);
    }
  });

  it('a token that is not a JWT -> 401 invalid_token (malformed), without echoing it', async () => {
    const res = await h.request('GET', '/me', { token: 'not-a-jwt-secret-value' });
    expectInvalidToken(res, /malformed/);
    expect(res.text).not.toContain('not-a-jwt-secret-value');
  });

  it('alg none -> 401 invalid_token', async () => {
    const now = Math.floor(Date.now() / 1000);
    const payload = { iss: h.issuer, aud: 'http://localhost:4000', sub: randomUUID(), client_id: 'x', jti: randomUUID(), iat: now, exp: now + 300, scope: 'docs:read' };
    const res = await h.request('GET', '/me', { token: `${b64({ alg: 'none', typ: 'at+jwt' })}.${b64(payload)}.` });
    expectInvalidToken(res, /algorithm|malformed/);
  });

  it("HS256 signed with the server's public key -> 401 invalid_token", async () => {
    const publicKey = await importJWK(h.keys.rs256.publicJwk, 'RS256', { extractable: true });
    const pem = await exportSPKI(publicKey as CryptoKey);
    const token = await new SignJWT({ client_id: 'x', scope: 'docs:read' })
      .setProtectedHeader({ alg: 'HS256', kid: h.keys.rs256.kid, typ: 'at+jwt' })
      .setIssuer(h.issuer)
      .setAudience('http://localhost:4000')
      .setSubject(randomUUID())
      .setJti(randomUUID())
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(pem));
    expectInvalidToken(await h.request('GET', '/me', { token }), /algorithm/);
  });

  it('a token signed by a foreign key carrying a real kid -> 401 invalid_token', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    const token = await h.token({ key: { ...h.keys.es256, privateKey }, kid: h.keys.es256.kid });
    expectInvalidToken(await h.request('GET', '/me', { token }), /signature/);
  });

  it('a foreign key with an unknown kid, even with an embedded jwk header -> 401 invalid_token', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const token = await new SignJWT({ client_id: 'x', scope: 'docs:read' })
      .setProtectedHeader({ alg: 'ES256', kid: 'attacker', typ: 'at+jwt', jwk: await exportJWK(publicKey) })
      .setIssuer(h.issuer)
      .setAudience('http://localhost:4000')
      .setSubject(randomUUID())
      .setJti(randomUUID())
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(privateKey);
    expectInvalidToken(await h.request('GET', '/me', { token }), /no published key/);
  });

  it('an expired token (beyond the clock tolerance) -> 401 invalid_token', async () => {
    expectInvalidToken(await h.request('GET', '/me', { token: await h.token({ expiresIn: -60 }) }), /expired/);
  });

  it('a token that expired within the clock tolerance is still accepted', async () => {
    expect((await h.request('GET', '/me', { token: await h.token({ expiresIn: -2 }) })).status).toBe(200);
  });

  it('a token issued in the future (beyond the clock tolerance) -> 401 invalid_token', async () => {
    const token = await h.token({ claims: { iat: Math.floor(Date.now() / 1000) + 120 } });
    expectInvalidToken(await h.request('GET', '/me', { token }), /issued in the future/);
  });

  it('a token not yet valid (nbf) -> 401 invalid_token', async () => {
    const token = await h.token({ claims: { nbf: Math.floor(Date.now() / 1000) + 120 } });
    expectInvalidToken(await h.request('GET', '/me', { token }), /not yet valid/);
  });

  it('a token for another audience -> 401 invalid_token', async () => {
    expectInvalidToken(await h.request('GET', '/me', { token: await h.token({ audience: 'http://localhost:3000' }) }), /audience/);
  });

  it('a token from another issuer -> 401 invalid_token', async () => {
    expectInvalidToken(await h.request('GET', '/me', { token: await h.token({ issuer: 'https://evil.example' }) }), /issuer/);
  });

  it('an ID token (typ JWT) presented as an access token -> 401 invalid_token', async () => {
    expectInvalidToken(await h.request('GET', '/me', { token: await h.token({ typ: 'JWT' }) }), /not an access token/);
  });

  it('a token without client_id -> 401 invalid_token', async () => {
    const token = await h.token({ claims: { client_id: undefined } });
    expectInvalidToken(await h.request('GET', '/me', { token }), /client_id/);
  });

  it('a revoked token (jti) is refused on the next request', async () => {
    const token = await h.token();
    expect((await h.request('GET', '/me', { token })).status).toBe(200);
    const jti = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).jti as string;
    // The auth server's side: a separate writer publishing on the shared store.
    await new RevocationList(h.kv, 600).revoke('jti', jti);
    expectInvalidToken(await pollUntil401(token), /revoked/);
  });

  it('a token of a revoked grant is refused on the next request', async () => {
    const gid = grantClaim(randomUUID());
    const token = await h.token({ claims: { gid } });
    const other = await h.token({ claims: { gid: grantClaim(randomUUID()) } });
    expect((await h.request('GET', '/me', { token })).status).toBe(200);
    await new RevocationList(h.kv, 600).revoke('grant', gid);
    expectInvalidToken(await pollUntil401(token), /revoked/);
    expect((await h.request('GET', '/me', { token: other })).status).toBe(200);
  });
});

describe('revocation feed', () => {
  it('until the revocation list is loaded no token is accepted (503) and /readyz says so', async () => {
    let load!: () => void;
    const pending = new Promise<void>((resolve) => (load = resolve));
    const list = new RevocationList(h.kv, 600);
    const follow = list.follow.bind(list);
    const revocations = Object.assign(list, { follow: () => pending.then(follow) });
    const api = createDocsApi({ config: h.config, knex: h.knex, audit: h.audit, kv: h.kv, revocations, jwks: h.jwks!, logger: createLogger({ level: 'silent', name: 'docs-api' }) });
    const served = await h.serve(api);
    try {
      const token = await h.token();
      const refused = await served.request('GET', '/me', { token });
      expect(refused.status).toBe(503);
      expect(refused.body.detail).toMatch(/revocation/);
      expect((await served.request('GET', '/readyz')).body.checks.revocations).toBe(false);
      load();
      await api.ready();
      expect((await served.request('GET', '/me', { token })).status).toBe(200);
    } finally {
      await served.close();
      await api.close();
    }
  });
});

describe('scopes', () => {
  it('a valid token without the route scope -> 403 insufficient_scope naming the scope', async () => {
    const token = await h.token({ scope: 'openid docs:read' });
    const res = await h.request('POST', '/documents', { token, body: { title: 't', content: 'c' } });
    expect(res.status).toBe(403);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="docs-api", error="insufficient_scope", scope="docs:write"');
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ type: 'urn:clouddocs:problem:insufficient-scope', status: 403, scope: 'docs:write' });
    const [denied] = await h.knex('audit.events').where({ action: 'access.denied', request_id: res.headers.get('x-request-id') });
    expect(denied).toMatchObject({ outcome: 'denied', actor_type: 'user', detail: { reason: 'insufficient_scope: docs:write', method: 'POST', route: '/documents' } });
    const list = await h.request('GET', '/orgs', { token });
    expect(list.status).toBe(403);
    expect(list.headers.get('www-authenticate')).toContain('scope="orgs:read"');
  });

  it('GET /me needs a valid token but no particular scope', async () => {
    expect((await h.request('GET', '/me', { token: await h.token({ scope: 'openid' }) })).status).toBe(200);
  });
});
