// private_key_jwt (RFC 7523 §2.2, §3) at every endpoint that authenticates clients: the token endpoint
// (oidc-provider) and the JWT introspection/revocation front (the server's own), with the client's
// `jwks` or `jwks_uri`; a reused assertion `jti` is invalid_client everywhere, in every process; key
// material and assertions reach neither the logs nor the audit log (contract: Client authentication).
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { Writable } from 'node:stream';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientError, type RegisteredClient } from '@clouddocs/auth-server';
import { startAuthStack, type AuthStack } from '../support/stack';
import { decodeJwtParts, oauthError, oidc } from '../support/rp';

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const logLines: string[] = [];
const sink = new Writable({
  write(chunk, _enc, done) {
    logLines.push(chunk.toString());
    done();
  },
});

let stack: AuthStack;
let privateKey: CryptoKey;
let privateJwk: JWK;
let inline: RegisteredClient;
let remote: RegisteredClient;
let jwksServer: Server;
const usedAssertions: string[] = [];

async function keyPair(kid: string) {
  const pair = await generateKeyPair('ES256', { extractable: true });
  return { ...pair, publicJwk: { ...(await exportJWK(pair.publicKey)), kid, alg: 'ES256', use: 'sig' } };
}

async function assertion(clientId: string, aud: string, key: CryptoKey = privateKey, jti: string = randomUUID()) {
  const jwt = await new SignJWT({}).setProtectedHeader({ alg: 'ES256' }).setIssuer(clientId).setSubject(clientId).setAudience(aud).setJti(jti).setIssuedAt().setExpirationTime('60s').sign(key);
  usedAssertions.push(jwt);
  return jwt;
}

async function post(url: string, form: Record<string, string>) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }, body: new URLSearchParams(form).toString() });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
}

const clientCredentials = (base: string, clientId: string, jwt: string) =>
  post(`${base}/token`, { grant_type: 'client_credentials', scope: 'docs:read', client_id: clientId, client_assertion_type: ASSERTION_TYPE, client_assertion: jwt });
const introspectWith = (base: string, clientId: string, jwt: string, token: string) =>
  post(`${base}/token/introspection`, { token, client_id: clientId, client_assertion_type: ASSERTION_TYPE, client_assertion: jwt });

function configFor(client: RegisteredClient, key: CryptoKey = privateKey) {
  return oidc.discovery(new URL(stack.issuer), client.client_id, undefined, oidc.PrivateKeyJwt(key), { execute: [oidc.allowInsecureRequests] });
}

beforeAll(async () => {
  stack = await startAuthStack(process.env, { env: { LOG_LEVEL: 'trace' }, logDestination: sink });
  const pair = await keyPair('inline-1');
  privateKey = pair.privateKey;
  privateJwk = await exportJWK(pair.privateKey);
  inline = await stack.createClient({ name: 'Signed machine', grants: ['client_credentials'], redirectUris: [], scope: 'docs:read', authMethod: 'private_key_jwt', jwks: { keys: [pair.publicJwk] } });

  jwksServer = createServer((_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: [pair.publicJwk] }));
  });
  await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
  const { port } = jwksServer.address() as { port: number };
  remote = await stack.createClient({ name: 'Remote keys', grants: ['client_credentials'], redirectUris: [], scope: 'docs:read', authMethod: 'private_key_jwt', jwksUri: `http://127.0.0.1:${port}/jwks.json` });
});
afterAll(async () => {
  await stack?.stop();
  await new Promise((resolve) => jwksServer?.close(resolve));
});

describe('private_key_jwt', () => {
  it('discovery lists private_key_jwt and the assertion algorithms (token_endpoint_auth_signing_alg_values_supported)', async () => {
    const meta = (await (await fetch(`${stack.issuer}/.well-known/openid-configuration`)).json()) as Record<string, string[]>;
    expect(meta.token_endpoint_auth_methods_supported).toEqual(expect.arrayContaining(['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none']));
    expect(meta.token_endpoint_auth_signing_alg_values_supported).toEqual(expect.arrayContaining(['ES256', 'RS256', 'EdDSA']));
    expect(meta.token_endpoint_auth_signing_alg_values_supported).not.toContain('HS256');
  });

  it('openid-client PrivateKeyJwt (jwks): client credentials -> a docs API token; the JWT front introspects and revokes it with the same method', async () => {
    const config = await configFor(inline);
    const tokens = await oidc.clientCredentialsGrant(config, { scope: 'docs:read' });
    expect(decodeJwtParts(tokens.access_token).payload).toMatchObject({ client_id: inline.client_id, scope: 'docs:read' });
    expect(await oidc.tokenIntrospection(config, tokens.access_token)).toMatchObject({ active: true, client_id: inline.client_id, token_type: 'Bearer' });
    await oidc.tokenRevocation(config, tokens.access_token);
    expect((await oidc.tokenIntrospection(config, tokens.access_token)).active).toBe(false);
  });

  it('openid-client PrivateKeyJwt (jwks_uri, fetched by the server): token endpoint and the JWT front', async () => {
    const config = await configFor(remote);
    const tokens = await oidc.clientCredentialsGrant(config, { scope: 'docs:read' });
    expect(await oidc.tokenIntrospection(config, tokens.access_token)).toMatchObject({ active: true, client_id: remote.client_id });
  });

  it('aud may be the issuer or the endpoint URL; another aud -> 401 invalid_client', async () => {
    expect((await clientCredentials(stack.issuer, inline.client_id, await assertion(inline.client_id, stack.issuer))).status).toBe(200);
    const byEndpoint = await clientCredentials(stack.issuer, inline.client_id, await assertion(inline.client_id, `${stack.issuer}/token`));
    expect(byEndpoint.status).toBe(200);
    const token = byEndpoint.body.access_token as string;
    const atFront = await introspectWith(stack.issuer, inline.client_id, await assertion(inline.client_id, `${stack.issuer}/token/introspection`), token);
    expect(atFront).toMatchObject({ status: 200, body: { active: true } });
    for (const res of [
      await clientCredentials(stack.issuer, inline.client_id, await assertion(inline.client_id, 'https://elsewhere.example')),
      await introspectWith(stack.issuer, inline.client_id, await assertion(inline.client_id, 'https://elsewhere.example'), token),
    ]) {
      expect(res).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    }
  });

  it('a replayed assertion jti -> 401 invalid_client at the token endpoint, at the JWT front, and at another process', async () => {
    const peer = await stack.startPeer();
    const first = await assertion(inline.client_id, stack.issuer);
    const issued = await clientCredentials(stack.issuer, inline.client_id, first);
    expect(issued.status).toBe(200);
    const token = issued.body.access_token as string;
    expect(await clientCredentials(stack.issuer, inline.client_id, first)).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    expect(await clientCredentials(peer.url, inline.client_id, first)).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    expect(await introspectWith(stack.issuer, inline.client_id, first, token)).toMatchObject({ status: 401, body: { error: 'invalid_client' } });

    // Used first at the front (of the peer): refused afterwards at the token endpoint and the front.
    const second = await assertion(inline.client_id, stack.issuer);
    expect(await introspectWith(peer.url, inline.client_id, second, token)).toMatchObject({ status: 200, body: { active: true } });
    expect(await introspectWith(stack.issuer, inline.client_id, second, token)).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    expect(await clientCredentials(stack.issuer, inline.client_id, second)).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
  });

  it('concurrent presentations of one assertion: exactly one succeeds', async () => {
    const jwt = await assertion(inline.client_id, stack.issuer);
    const results = await Promise.all(Array.from({ length: 6 }, () => clientCredentials(stack.issuer, inline.client_id, jwt)));
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    expect(results.filter((r) => r.status === 401 && r.body.error === 'invalid_client')).toHaveLength(5);
  });

  it('an assertion signed by a key that is not the client\'s -> 401 invalid_client at the token endpoint and the front', async () => {
    const stranger = await keyPair('inline-1');
    const wrong = await configFor(inline, stranger.privateKey);
    expect(await oauthError(oidc.clientCredentialsGrant(wrong, { scope: 'docs:read' }))).toEqual({ error: 'invalid_client', status: 401 });
    const token = (await oidc.clientCredentialsGrant(await configFor(inline), { scope: 'docs:read' })).access_token;
    expect(await introspectWith(stack.issuer, inline.client_id, await assertion(inline.client_id, stack.issuer, stranger.privateKey), token)).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
  });

  it('a malformed assertion -> 400 invalid_request, never a 5xx; a client secret does not stand for a key client', async () => {
    for (const base of [stack.issuer]) {
      expect(await clientCredentials(base, inline.client_id, 'not-a-jwt')).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    }
    expect(await introspectWith(stack.issuer, inline.client_id, 'a.b.c', 'x.y.z')).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    const basic = await fetch(`${stack.issuer}/token/introspection`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${inline.client_id}:guess`).toString('base64')}` },
      body: 'token=x.y.z',
    });
    expect(basic.status).toBe(401);
  });

  it('a jwks_uri that does not answer -> 401 invalid_client at the token endpoint and the front, never a 5xx', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as { port: number };
    await new Promise((resolve) => closed.close(resolve));
    const gone = await stack.createClient({ name: 'Gone keys', grants: ['client_credentials'], redirectUris: [], scope: 'docs:read', authMethod: 'private_key_jwt', jwksUri: `http://127.0.0.1:${port}/jwks.json` });
    const token = (await oidc.clientCredentialsGrant(await configFor(inline), { scope: 'docs:read' })).access_token;
    expect(await introspectWith(stack.issuer, gone.client_id, await assertion(gone.client_id, stack.issuer), token)).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    const atToken = await clientCredentials(stack.issuer, gone.client_id, await assertion(gone.client_id, stack.issuer));
    expect(atToken.status).toBeLessThan(500);
    expect(atToken.body.error).toMatch(/invalid_client/);
  });

  it('a private key in jwks is refused (never stored); jwks and jwks_uri together, and an http jwks_uri for a remote issuer, are refused', async () => {
    await expect(stack.createClient({ name: 'Leaky', grants: ['client_credentials'], redirectUris: [], authMethod: 'private_key_jwt', jwks: { keys: [{ ...privateJwk, kid: 'p' }] } })).rejects.toThrow(
      new ClientError('jwks key 0 is a private or symmetric key: register public keys only'),
    );
    await expect(stack.createClient({ name: 'Both', grants: ['client_credentials'], redirectUris: [], authMethod: 'private_key_jwt', jwks: inline.jwks!, jwksUri: 'https://keys.example/jwks' })).rejects.toThrow(/not both/);
    await expect(stack.createClient({ name: 'None', grants: ['client_credentials'], redirectUris: [], authMethod: 'private_key_jwt' })).rejects.toThrow(/jwks or jwks_uri/);
    expect(await stack.admin('auth.clients').where({ name: 'Leaky' })).toEqual([]);
  });

  it('no key material and no assertion in the logs (at trace) or the audit log; a failed authentication is audited', async () => {
    const failures = await stack.admin('audit.events').where({ action: 'client.auth_failed' });
    expect(failures.length).toBeGreaterThan(0);
    const logs = logLines.join('\n');
    const events = JSON.stringify(await stack.admin('audit.events').select('*'));
    expect(logLines.length).toBeGreaterThan(0);
    for (const text of [logs, events]) {
      expect(text).not.toContain(privateJwk.d!);
      for (const jwt of usedAssertions) expect(text).not.toContain(jwt.split('.')[2]!);
    }
    expect(events).not.toContain(inline.jwks!.keys[0]!.x as string);
  });
});
