// Relying parties find everything from discovery alone, and signing keys rotate without breaking them:
// a new generation is published before it signs, then signs, and the old keys stay published so that
// tokens they signed keep verifying until they expire (contract: Auth server; CLI `keys rotate`).
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RegisteredClient } from '@clouddocs/auth-server';
import { DOCS_AUDIENCE, REDIRECT_URI, startAuthStack, type AuthStack } from '../support/stack';
import { authorizationResponse, codeFlow, decodeJwtParts, discover, introspect, oidc, tokenRequest } from '../support/rp';

let stack: AuthStack;
let web: RegisteredClient;
let machine: RegisteredClient;
let user: Awaited<ReturnType<AuthStack['createUser']>>;

beforeAll(async () => {
  stack = await startAuthStack();
  web = await stack.createClient({ name: 'Team Wiki' });
  machine = await stack.createClient({ name: 'Machine', grants: ['client_credentials'], redirectUris: [] });
  user = await stack.createUser();
});
afterAll(async () => {
  await stack?.stop();
});

describe('discovery', () => {
  it('the openid-configuration names the issuer, every endpoint, the scopes and grants, and only safe choices', async () => {
    const res = await fetch(`${stack.issuer}/.well-known/openid-configuration`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    const d = (await res.json()) as Record<string, unknown>;
    const issuer = stack.issuer;
    expect(d.issuer).toBe(issuer);
    expect(d.authorization_endpoint).toBe(`${issuer}/auth`);
    expect(d.token_endpoint).toBe(`${issuer}/token`);
    expect(d.userinfo_endpoint).toBe(`${issuer}/me`);
    expect(d.jwks_uri).toBe(`${issuer}/jwks`);
    expect(d.introspection_endpoint).toBe(`${issuer}/token/introspection`);
    expect(d.revocation_endpoint).toBe(`${issuer}/token/revocation`);
    expect(d.end_session_endpoint).toBe(`${issuer}/session/end`);
    expect(d.scopes_supported).toEqual(
      expect.arrayContaining(['openid', 'profile', 'email', 'offline_access', 'docs:read', 'docs:write', 'orgs:read', 'orgs:write', 'audit:read']),
    );
    expect(d.grant_types_supported).toEqual(expect.arrayContaining(['authorization_code', 'refresh_token', 'client_credentials']));
    expect(d.grant_types_supported).not.toContain('implicit');
    expect(d.code_challenge_methods_supported).toEqual(['S256']);
    expect(d.authorization_response_iss_parameter_supported).toBe(true);
    expect(d.response_types_supported).toEqual(['code']);
    expect(d.id_token_signing_alg_values_supported).toEqual(expect.arrayContaining(['RS256', 'ES256', 'EdDSA']));
    expect(d.id_token_signing_alg_values_supported).not.toContain('none');
    expect(d.token_endpoint_auth_methods_supported).toEqual(expect.arrayContaining(['client_secret_basic']));
    expect(d.request_object_signing_alg_values_supported ?? []).not.toContain('none');
  });

  it('the JWKS publishes public keys only, one per algorithm, each with a kid', async () => {
    const res = await fetch(`${stack.issuer}/jwks`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/application\/(jwk-set\+)?json/);
    const { keys } = (await res.json()) as { keys: Record<string, unknown>[] };
    expect(keys.map((k) => k.alg).sort()).toEqual(['ES256', 'EdDSA', 'RS256']);
    for (const k of keys) {
      expect(k.kid).toEqual(expect.any(String));
      for (const priv of ['d', 'p', 'q', 'dp', 'dq', 'qi']) expect(k).not.toHaveProperty(priv);
    }
  });

  it('openid-client configures itself from discovery alone', async () => {
    const config = await discover(stack, { client_id: 'nobody-yet', client_secret: 'x' });
    expect(config.serverMetadata().issuer).toBe(stack.issuer);
    expect(config.serverMetadata().supportsPKCE()).toBe(true);
  });
});

describe('several server processes on the same stores', () => {
  it('a code issued by one copy is redeemed once at another; a token revoked at one is inactive at the other', async () => {
    const peer = await stack.startPeer();
    const at = (url: string) => ({ issuer: url });
    const { start, code } = await authorizationResponse(await discover(stack, web), user, { scope: 'openid docs:read' });
    const redeem = (url: string) =>
      tokenRequest(at(url), web, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: start.verifier });
    const first = await redeem(peer.url);
    expect(first.status).toBe(200);
    expect(decodeJwtParts(first.body.id_token as string).payload.iss).toBe(stack.issuer);
    const second = await redeem(stack.issuer);
    expect(second.status).toBe(400);
    expect(second.body.error).toBe('invalid_grant');

    const { access_token } = await oidc.clientCredentialsGrant(await discover(stack, machine), { scope: 'docs:read' });
    expect((await introspect(at(peer.url), machine, access_token)).body.active).toBe(true);
    const revoked = await fetch(`${peer.url}/token/revocation`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${machine.client_id}:${machine.client_secret}`).toString('base64')}`,
      },
      body: new URLSearchParams({ token: access_token }).toString(),
    });
    expect(revoked.status).toBe(200);
    expect((await introspect(stack, machine, access_token)).body).toEqual({ active: false });
    await peer.stop();
  });
});

describe('several server processes on the same stores (concurrency)', () => {
  it('20 concurrent redemptions of one code split across two copies -> exactly one 200, the rest invalid_grant', async () => {
    const peer = await stack.startPeer();
    const { start, code } = await authorizationResponse(await discover(stack, web), user, { scope: 'openid' });
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        tokenRequest({ issuer: i % 2 ? peer.url : stack.issuer }, web, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: start.verifier }),
      ),
    );
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    for (const r of results.filter((x) => x.status !== 200)) expect([r.status, r.body.error]).toEqual([400, 'invalid_grant']);
    await peer.stop();
  });
});

// Rotation changes the server's keys: it runs last in this file.
async function publishedJwks(): Promise<JSONWebKeySet> {
  const res = await fetch(`${stack.issuer}/jwks`);
  expect(res.status).toBe(200);
  return (await res.json()) as JSONWebKeySet;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('signing key rotation', () => {
  it('after rotation new tokens carry the new kid, and tokens signed before it still verify against /jwks and introspect active', async () => {
    const before = stack.auth.server.keys().active;
    const oldAt = (await oidc.clientCredentialsGrant(await discover(stack, machine), { scope: 'docs:read' })).access_token;
    const oldId = (await codeFlow(await discover(stack, web), user)).tokens.id_token!;
    expect(decodeJwtParts(oldAt).header.kid).toBe(before.ES256);
    expect(decodeJwtParts(oldId).header.kid).toBe(before.RS256);

    const peer = await stack.startPeer();
    const rotation = await stack.keyStore.rotate(1);
    const next = Object.fromEntries(rotation.keys.map((k) => [k.alg, k.kid])) as Record<string, string>;
    expect(next.ES256).not.toBe(before.ES256);
    expect(next.RS256).not.toBe(before.RS256);

    // Published before it signs: relying parties and the docs API can learn the kid first.
    await stack.auth.server.refreshKeys();
    const pending = (await publishedJwks()).keys.map((k) => k.kid);
    expect(pending).toEqual(expect.arrayContaining([before.ES256, before.RS256, next.ES256, next.RS256]));
    const stillOld = (await oidc.clientCredentialsGrant(await discover(stack, machine), { scope: 'docs:read' })).access_token;
    expect(decodeJwtParts(stillOld).header.kid).toBe(before.ES256);

    await sleep(Math.max(0, rotation.activatesAt.getTime() - Date.now()) + 200);
    await stack.auth.server.refreshKeys();
    expect(stack.auth.server.keys().active).toMatchObject({ ES256: next.ES256, RS256: next.RS256 });

    const newAt = (await oidc.clientCredentialsGrant(await discover(stack, machine), { scope: 'docs:read' })).access_token;
    expect(decodeJwtParts(newAt).header).toMatchObject({ kid: next.ES256, typ: 'at+jwt', alg: 'ES256' });
    // A fresh relying party validates an ID token signed with the new RS256 key against /jwks.
    const fresh = await codeFlow(await discover(stack, web), user);
    expect(decodeJwtParts(fresh.tokens.id_token!).header).toMatchObject({ kid: next.RS256, alg: 'RS256' });
    expect(fresh.tokens.claims()?.sub).toBe(user.id);

    const jwks = createLocalJWKSet(await publishedJwks());
    const old = await jwtVerify(oldAt, jwks, { issuer: stack.issuer, audience: DOCS_AUDIENCE, typ: 'at+jwt' });
    expect(old.protectedHeader.kid).toBe(before.ES256);
    const oldIdVerified = await jwtVerify(oldId, jwks, { issuer: stack.issuer, audience: web.client_id });
    expect(oldIdVerified.payload.sub).toBe(user.id);
    await jwtVerify(newAt, jwks, { issuer: stack.issuer, audience: DOCS_AUDIENCE, typ: 'at+jwt' });

    expect((await introspect(stack, machine, oldAt)).body).toMatchObject({ active: true });
    expect((await introspect(stack, machine, newAt)).body).toMatchObject({ active: true });

    // Another process picks the new keys up by itself (every AUTH_KEY_REFRESH_SECONDS), without a restart.
    await sleep(1500);
    expect(peer.auth.server.keys().active).toMatchObject({ ES256: next.ES256, RS256: next.RS256 });
    const peerJwks = (await (await fetch(`${peer.url}/jwks`)).json()) as JSONWebKeySet;
    expect(peerJwks.keys.map((k) => k.kid).sort()).toEqual((await publishedJwks()).keys.map((k) => k.kid).sort());
    const fromPeer = await tokenRequest({ issuer: peer.url }, machine, { grant_type: 'client_credentials', scope: 'docs:read' });
    expect(decodeJwtParts(fromPeer.body.access_token as string).header.kid).toBe(next.ES256);
    expect((await introspect({ issuer: peer.url }, machine, oldAt)).body).toMatchObject({ active: true });
  });
});
