// Machine clients: client credentials -> RFC 9068 JWT access tokens for the docs API, which
// introspect and revoke like any other token (contract: Auth server; RFC 6749 §4.4, RFC 7662, RFC 7009).
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RegisteredClient } from '@clouddocs/auth-server';
import { DOCS_AUDIENCE, startAuthStack, type AuthStack } from '../support/stack';
import { decodeJwtParts, discover, introspect, oauthError, oidc, tokenRequest } from '../support/rp';

let stack: AuthStack;
let machine: RegisteredClient;
let other: RegisteredClient;
beforeAll(async () => {
  stack = await startAuthStack();
  machine = await stack.createClient({ name: 'Nightly export', grants: ['client_credentials'], redirectUris: [], scope: 'docs:read docs:write' });
  other = await stack.createClient({ name: 'Another machine', grants: ['client_credentials'], redirectUris: [], scope: 'docs:read' });
});
afterAll(async () => {
  await stack?.stop();
});

describe('client credentials', () => {
  it('client credentials -> 200 with a JWT access token (typ at+jwt, ES256) for the docs API audience and Cache-Control: no-store', async () => {
    const res = await tokenRequest(stack, machine, { grant_type: 'client_credentials', scope: 'docs:read' });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.body).toMatchObject({ token_type: 'Bearer', scope: 'docs:read', expires_in: expect.any(Number) });
    expect(res.body.expires_in as number).toBeLessThanOrEqual(600);
    expect(res.body).not.toHaveProperty('refresh_token');
    expect(res.body).not.toHaveProperty('id_token');

    const token = res.body.access_token as string;
    const { header, payload } = decodeJwtParts(token);
    expect(header).toMatchObject({ typ: 'at+jwt', alg: 'ES256', kid: expect.any(String) });
    const verified = await jwtVerify(token, createRemoteJWKSet(new URL(`${stack.issuer}/jwks`)), {
      issuer: stack.issuer,
      audience: DOCS_AUDIENCE,
      typ: 'at+jwt',
      algorithms: ['ES256'],
    });
    expect(verified.payload).toMatchObject({ client_id: machine.client_id, sub: machine.client_id, scope: 'docs:read', jti: expect.any(String) });
    expect(payload.aud).toBe(DOCS_AUDIENCE);
  });

  it('openid-client clientCredentialsGrant gets a docs API token without asking for a resource', async () => {
    const config = await discover(stack, machine);
    const tokens = await oidc.clientCredentialsGrant(config, { scope: 'docs:read docs:write' });
    expect(tokens.token_type.toLowerCase()).toBe('bearer');
    expect(decodeJwtParts(tokens.access_token).payload.aud).toBe(DOCS_AUDIENCE);
  });

  it('a scope the client is not registered for -> 400 invalid_scope', async () => {
    const res = await tokenRequest(stack, other, { grant_type: 'client_credentials', scope: 'docs:write' });
    expect(res.status).toBe(400);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.body.error).toBe('invalid_scope');
  });

  it('a fresh JWT access token introspects active: true with its claims; after revocation it introspects active: false', async () => {
    const config = await discover(stack, machine);
    const { access_token } = await oidc.clientCredentialsGrant(config, { scope: 'docs:read' });

    const before = await introspect(stack, machine, access_token);
    expect(before.status).toBe(200);
    expect(before.headers.get('cache-control')).toBe('no-store');
    expect(before.body).toMatchObject({ active: true, client_id: machine.client_id, scope: 'docs:read', aud: DOCS_AUDIENCE, iss: stack.issuer });
    expect((await oidc.tokenIntrospection(config, access_token)).active).toBe(true);

    await oidc.tokenRevocation(config, access_token);

    const jti = decodeJwtParts(access_token).payload.jti as string;
    expect(await stack.admin('audit.events').where({ action: 'token.revoked', target_type: 'access_token', target_id: jti })).toEqual([
      expect.objectContaining({ actor_type: 'client', actor_id: machine.client_id, outcome: 'success' }),
    ]);

    const after = await introspect(stack, machine, access_token);
    expect(after.status).toBe(200);
    expect(after.body).toEqual({ active: false });
    expect((await oidc.tokenIntrospection(config, access_token)).active).toBe(false);
  });

  it('revoking another client\'s JWT access token does nothing, and it does not introspect for that client (RFC 7009 §2.1)', async () => {
    const mine = await oidc.clientCredentialsGrant(await discover(stack, machine), { scope: 'docs:read' });
    const theirs = await discover(stack, other);
    expect((await oidc.tokenIntrospection(theirs, mine.access_token)).active).toBe(false);
    await oidc.tokenRevocation(theirs, mine.access_token);
    expect((await introspect(stack, machine, mine.access_token)).body.active).toBe(true);
  });

  it('JWT introspection and revocation authenticate a client as the token endpoint does: client_secret_post works too', async () => {
    // openid-client's default for a string secret is client_secret_post; the token endpoint accepts it.
    const post = await oidc.discovery(new URL(stack.issuer), machine.client_id, undefined, oidc.ClientSecretPost(machine.client_secret!), {
      execute: [oidc.allowInsecureRequests],
    });
    const { access_token } = await oidc.clientCredentialsGrant(post, { scope: 'docs:read' });
    expect(await oidc.tokenIntrospection(post, access_token)).toMatchObject({ active: true, client_id: machine.client_id });
    await oidc.tokenRevocation(post, access_token);
    expect((await introspect(stack, machine, access_token)).body).toEqual({ active: false });
  });

  it('a wrong client secret -> 401 invalid_client, no token', async () => {
    const res = await tokenRequest(stack, { client_id: machine.client_id, client_secret: 'not-the-secret' }, { grant_type: 'client_credentials' });
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('invalid_client');
    expect(res.body).not.toHaveProperty('access_token');
    expect(res.headers.get('cache-control')).toBe('no-store');

    const wrong = await discover(stack, { client_id: machine.client_id, client_secret: 'not-the-secret' });
    expect(await oauthError(oidc.clientCredentialsGrant(wrong, { scope: 'docs:read' }))).toEqual({ error: 'invalid_client', status: 401 });
  });

  it('a wrong client secret at introspection of a JWT -> 401 invalid_client', async () => {
    const { access_token } = await oidc.clientCredentialsGrant(await discover(stack, machine), { scope: 'docs:read' });
    const res = await introspect(stack, { client_id: machine.client_id, client_secret: 'not-the-secret' }, access_token);
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({ error: 'invalid_client' });
    expect(res.body).not.toHaveProperty('active');
  });

  it('audit: an issued client-credentials token is a token.issued event naming the client and the token id', async () => {
    const { access_token } = await oidc.clientCredentialsGrant(await discover(stack, machine), { scope: 'docs:read' });
    const jti = decodeJwtParts(access_token).payload.jti as string;
    // The event is committed before the response is sent (contract: Audit).
    const rows = await stack.admin('audit.events').where({ action: 'token.issued', outcome: 'success' }).whereRaw(`detail->>'jti' = ?`, [jti]);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ actor_type: 'client', actor_id: machine.client_id });
    expect(rows[0].detail).toMatchObject({ grantType: 'client_credentials', clientId: machine.client_id, format: 'jwt', jti });
    expect(JSON.stringify(rows[0].detail)).not.toContain(access_token);
  });
});
