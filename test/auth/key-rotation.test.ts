// Key rotation: a new generation is published before it signs, then signs, and the old keys stay
// published so that tokens they signed keep verifying until they expire (contract: CLI `keys rotate`).
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RegisteredClient } from '@clouddocs/auth-server';
import { DOCS_AUDIENCE, startAuthStack, type AuthStack } from '../support/stack';
import { codeFlow, decodeJwtParts, discover, introspect, oidc } from '../support/rp';

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
  });
});
