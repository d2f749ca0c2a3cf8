// The docs API end to end: the real auth server and the real docs API on the same database and cache,
// driven with real tokens from the sign-in pages, the client credentials grant and the operator CLI.
// Authentication (JWKS, revocation, ID tokens), scopes, BOLA, roles taking effect on the next request,
// machine clients confined to their org, a key rotation seen without a restart, and the hardening
// rules: bad bytes are 400, the scheme is case-insensitive, members and shares are for real users only.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RegisteredClient } from '@clouddocs/auth-server';
import { discover, oidc, oauthError } from '../support/rp';
import { decodeJwt, expectProblem, PASSWORD, sleep, startDocsStack, type DocsStack, type User } from './support';

const API_SCOPES = ['docs:read', 'docs:write', 'orgs:read', 'orgs:write', 'audit:read'];

let stack: DocsStack;
let web: RegisteredClient;
let alice: User;
let bob: User;
let aliceToken: string;
let bobToken: string;
let orgId: string;
let orgDocId: string;

beforeAll(async () => {
  stack = await startDocsStack();
  web = await stack.createWebClient();
  // Alice through the real CLI (its id is the sub of her tokens), Bob through the account library.
  const created = await stack.cli(['user', 'create', '--email', `alice-${Date.now()}@example.test`, '--password-stdin', '--json'], `${PASSWORD}\n`);
  expect(created.stderr).toBe('');
  expect(created.code).toBe(0);
  alice = { id: created.json.id, email: created.json.email, password: PASSWORD };
  bob = await stack.createUser('bob');
  [aliceToken, bobToken] = await Promise.all([
    stack.signIn(web, alice).then((s) => s.tokens.access_token),
    stack.signIn(web, bob).then((s) => s.tokens.access_token),
  ]);
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

describe('a real access token from the sign-in pages', () => {
  it('is an RFC 9068 JWT for the docs API, and GET /me shows the user\'s sub, the client and the granted scopes', async () => {
    const { header, payload } = decodeJwt(aliceToken);
    expect(header.typ).toBe('at+jwt');
    expect(payload).toMatchObject({ sub: alice.id, iss: stack.issuer, client_id: web.client_id });
    expect([payload.aud].flat()).toContain('http://localhost:4000');

    const me = await stack.api('GET', '/me', { token: aliceToken });
    expect(me.status).toBe(200);
    expect(me.headers.get('content-type')).toMatch(/^application\/json/);
    expect(me.requestId).toMatch(/\S/);
    expect(me.body).toMatchObject({ sub: alice.id, client_id: web.client_id, kind: 'user', memberships: [] });
    expect([...me.body.scopes].sort()).toEqual(expect.arrayContaining(API_SCOPES));
  });

  it('POST /orgs -> 201 with the caller as owner; GET /orgs and GET /orgs/:orgId show it', async () => {
    const created = await stack.api('POST', '/orgs', { token: aliceToken, body: { name: 'Wonderland' } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ id: expect.any(String), name: 'Wonderland', role: 'owner' });
    orgId = created.body.id;
    const one = await stack.api('GET', `/orgs/${orgId}`, { token: aliceToken });
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ id: orgId, role: 'owner', members: [{ id: alice.id, type: 'user', role: 'owner' }] });
    const list = await stack.api('GET', '/orgs', { token: aliceToken });
    expect(list.body).toMatchObject({ items: [expect.objectContaining({ id: orgId, role: 'owner' })], nextCursor: null });
    expectProblem(await stack.api('GET', `/orgs/${orgId}`, { token: bobToken }), 404);
  });
});

describe('documents and who may see them', () => {
  it('BOLA: another real user gets 404 on a personal document; shared with them -> 200; unshared -> 404 again', async () => {
    const created = await stack.api('POST', '/documents', { token: aliceToken, body: { title: 'Diary', content: 'mine alone' } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ id: expect.any(String), title: 'Diary', content: 'mine alone', orgId: null, ownerId: alice.id });
    const id = created.body.id as string;

    const hidden = await stack.api('GET', `/documents/${id}`, { token: bobToken });
    expectProblem(hidden, 404);
    expect(hidden.text).not.toContain('mine alone');
    expectProblem(await stack.api('PATCH', `/documents/${id}`, { token: bobToken, body: { title: 'pwned' } }), 404);

    const shared = await stack.api('PUT', `/documents/${id}/shares/${bob.id}`, { token: aliceToken, body: { permission: 'read' } });
    expect(shared.status).toBe(201);
    expect(shared.body).toEqual({ documentId: id, userId: bob.id, permission: 'read' });
    const seen = await stack.api('GET', `/documents/${id}`, { token: bobToken });
    expect(seen.status).toBe(200);
    expect(seen.body).toMatchObject({ id, title: 'Diary', content: 'mine alone', ownerId: alice.id });
    expectProblem(await stack.api('PATCH', `/documents/${id}`, { token: bobToken, body: { title: 'edited' } }), 403);

    const unshared = await stack.api('DELETE', `/documents/${id}/shares/${bob.id}`, { token: aliceToken });
    expect(unshared.status).toBe(204);
    expectProblem(await stack.api('GET', `/documents/${id}`, { token: bobToken }), 404);
    expect((await stack.api('GET', `/documents/${id}`, { token: aliceToken })).body).toMatchObject({ title: 'Diary' });
  });

  it('a viewer added to the org reads but PATCH -> 403; promoted to editor, the same token PATCHes on the next request', async () => {
    const doc = await stack.api('POST', '/documents', { token: aliceToken, body: { title: 'Plan', content: 'v1', orgId } });
    expect(doc.status).toBe(201);
    expect(doc.body).toMatchObject({ orgId, ownerId: alice.id });
    orgDocId = doc.body.id;
    expectProblem(await stack.api('GET', `/documents/${orgDocId}`, { token: bobToken }), 404);

    const added = await stack.api('PUT', `/orgs/${orgId}/members/${bob.id}`, { token: aliceToken, body: { role: 'viewer' } });
    expect(added.status).toBe(201);
    expect(added.body).toEqual({ orgId, userId: bob.id, role: 'viewer' });
    const read = await stack.api('GET', `/documents/${orgDocId}`, { token: bobToken });
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ id: orgDocId, content: 'v1' });
    expectProblem(await stack.api('PATCH', `/documents/${orgDocId}`, { token: bobToken, body: { content: 'v2' } }), 403);

    const promoted = await stack.api('PUT', `/orgs/${orgId}/members/${bob.id}`, { token: aliceToken, body: { role: 'editor' } });
    expect(promoted.status).toBe(200);
    expect(promoted.body).toEqual({ orgId, userId: bob.id, role: 'editor' });
    const patched = await stack.api('PATCH', `/documents/${orgDocId}`, { token: bobToken, body: { content: 'v2' } });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ id: orgDocId, content: 'v2' });
    expect((await stack.api('GET', '/me', { token: bobToken })).body.memberships).toEqual([{ orgId, role: 'editor' }]);
  });

  it('a member removed from the org: the same token gets 404 for the org and its documents on the next request', async () => {
    const removed = await stack.api('DELETE', `/orgs/${orgId}/members/${bob.id}`, { token: aliceToken });
    expect(removed.status).toBe(204);
    expectProblem(await stack.api('GET', `/documents/${orgDocId}`, { token: bobToken }), 404);
    expectProblem(await stack.api('GET', `/orgs/${orgId}`, { token: bobToken }), 404);
    expect((await stack.api('GET', '/me', { token: bobToken })).body.memberships).toEqual([]);
    expect((await stack.api('GET', '/documents?limit=100', { token: bobToken })).body.items.map((d: { id: string }) => d.id)).not.toContain(orgDocId);
  });
});

describe('bad input and the rules of who exists', () => {
  it('a real token works with the scheme in lower case (RFC 9110 §11.1); a header that is not "<scheme> <credential>" -> 400 invalid_request', async () => {
    const me = await stack.api('GET', '/me', { headers: { authorization: `bearer ${aliceToken}` } });
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ sub: alice.id, kind: 'user' });
    const malformed = await stack.api('GET', '/me', { headers: { authorization: `Bearer ${aliceToken} extra` } });
    expectProblem(malformed, 400);
    expect(malformed.headers.get('www-authenticate')).toMatch(/^Bearer .*error="invalid_request"/);
  });

  it('a NUL in a text field, a query parameter or a path -> 400 problem+json, never a 5xx, nothing stored', async () => {
    for (const [method, path, body] of [
      ['POST', '/documents', { title: 'nul\u0000title', content: 'c' }],
      ['POST', '/orgs', { name: 'Nul\u0000Org' }],
      ['GET', '/documents?cursor=a%00b', undefined],
      ['GET', '/orgs/%00', undefined],
    ] as const) {
      const res = await stack.api(method, path, { token: aliceToken, ...(body ? { body } : {}) });
      expectProblem(res, 400);
      expect(res.body.type).toBe('urn:clouddocs:problem:invalid-encoding');
    }
    expect(await stack.admin('docs.orgs').where('name', 'like', 'Nul%')).toEqual([]);
  });

  it('a membership or a share for an id that is no user -> 404 and nothing stored; for a real user -> 201', async () => {
    const nobody = '00000000-0000-4000-8000-000000000000';
    expectProblem(await stack.api('PUT', `/orgs/${orgId}/members/${nobody}`, { token: aliceToken, body: { role: 'viewer' } }), 404);
    const doc = await stack.api('POST', '/documents', { token: aliceToken, body: { title: 'Memo', content: 'x' } });
    expectProblem(await stack.api('PUT', `/documents/${doc.body.id}/shares/${nobody}`, { token: aliceToken, body: { permission: 'read' } }), 404);
    expect(await stack.admin('docs.memberships').where({ principal_id: nobody })).toEqual([]);
    expect(await stack.admin('docs.shares').where({ user_id: nobody })).toEqual([]);
    expect((await stack.api('PUT', `/documents/${doc.body.id}/shares/${bob.id}`, { token: aliceToken, body: { permission: 'read' } })).status).toBe(201);
  });
});

describe('tokens the docs API must refuse', () => {
  it('an access token revoked at the revocation endpoint (RFC 7009, as the client) -> the next request is 401 invalid_token', async () => {
    const { tokens } = await stack.signIn(web, bob);
    expect((await stack.api('GET', '/me', { token: tokens.access_token })).status).toBe(200);
    const revoked = await stack.revoke(web, tokens.access_token, 'access_token');
    expect(revoked.status).toBe(200);

    const refused = await stack.api('GET', '/me', { token: tokens.access_token });
    expectProblem(refused, 401);
    expect(refused.headers.get('www-authenticate')).toMatch(/^Bearer .*error="invalid_token"/);
    expect(refused.text).not.toContain(tokens.access_token);
    // The revocation concerns that token only: Bob's other sign-in still works.
    expect((await stack.api('GET', '/me', { token: bobToken })).status).toBe(200);
  });

  it('revoking the refresh token revokes its grant: every access token of that grant is refused, and the refresh token is dead', async () => {
    // Another client of Alice's (her grant with `web` is one per user and client, and must survive).
    const mobile = await stack.createWebClient();
    const { tokens } = await stack.signIn(mobile, alice, { scope: 'openid offline_access docs:read', prompt: 'consent' });
    expect(tokens.refresh_token).toEqual(expect.any(String));
    const config = await discover({ issuer: stack.issuer }, mobile);
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
    for (const at of [tokens.access_token, refreshed.access_token]) expect((await stack.api('GET', '/documents', { token: at })).status).toBe(200);

    const revoked = await stack.revoke(mobile, refreshed.refresh_token!, 'refresh_token');
    expect(revoked.status).toBe(200);
    for (const at of [tokens.access_token, refreshed.access_token]) {
      const refused = await stack.api('GET', '/documents', { token: at });
      expectProblem(refused, 401);
      expect(refused.headers.get('www-authenticate')).toMatch(/^Bearer .*error="invalid_token"/);
    }
    expect((await oauthError(oidc.refreshTokenGrant(config, refreshed.refresh_token!))).error).toBe('invalid_grant');
    expect((await stack.api('GET', '/me', { token: aliceToken })).status).toBe(200); // her grant with another client is untouched
  });

  it('a token with only docs:read -> POST /documents 403 insufficient_scope with scope="docs:write"', async () => {
    const { tokens } = await stack.signIn(web, alice, { scope: 'openid docs:read' });
    expect(decodeJwt(tokens.access_token).payload.scope).toBe('docs:read');
    expect((await stack.api('GET', '/documents', { token: tokens.access_token })).status).toBe(200);
    const res = await stack.api('POST', '/documents', { token: tokens.access_token, body: { title: 't', content: 'c' } });
    expectProblem(res, 403);
    const challenge = res.headers.get('www-authenticate') ?? '';
    expect(challenge).toMatch(/^Bearer /);
    expect(challenge).toContain('error="insufficient_scope"');
    expect(challenge).toContain('scope="docs:write"');
  });

  it('an ID token presented as a bearer token -> 401 invalid_token (it is not an access token)', async () => {
    const { tokens } = await stack.signIn(web, bob);
    expect(tokens.id_token).toEqual(expect.any(String));
    expect(decodeJwt(tokens.id_token!).payload.sub).toBe(bob.id);
    const res = await stack.api('GET', '/me', { token: tokens.id_token! });
    expectProblem(res, 401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer .*error="invalid_token"/);
    const none = await stack.api('GET', '/me');
    expectProblem(none, 401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer /);
    expect(none.headers.get('www-authenticate')).not.toContain('error=');
  });
});

describe('machine clients and keys', () => {
  let machine: { client_id: string; client_secret: string };
  let machineOrg: string;
  let machineToken: string;

  it('a client_credentials client bound by the CLI (--org, --role editor) creates in its org, sees nothing of another org (404), and /me shows the binding', async () => {
    const org = await stack.cli(['org', 'create', '--name', 'Machines', '--owner', alice.email, '--json']);
    expect(org.stderr).toBe('');
    expect(org.code).toBe(0);
    expect(org.json).toEqual({ id: expect.any(String), name: 'Machines' });
    machineOrg = org.json.id;

    const client = await stack.cli(['client', 'create', '--name', 'worker', '--grant', 'client_credentials', '--scope', 'docs:read docs:write orgs:read', '--org', machineOrg, '--role', 'editor', '--json']);
    expect(client.stderr).toBe('');
    expect(client.code).toBe(0);
    expect(client.json).toMatchObject({ client_id: expect.any(String), client_secret: expect.any(String), token_endpoint_auth_method: 'client_secret_basic', org_id: machineOrg, role: 'editor' });
    machine = { client_id: client.json.client_id, client_secret: client.json.client_secret };

    const config = await discover({ issuer: stack.issuer }, machine);
    const cc = await oidc.clientCredentialsGrant(config, { scope: 'docs:read docs:write orgs:read' });
    machineToken = cc.access_token;
    expect(decodeJwt(machineToken).payload).toMatchObject({ sub: machine.client_id, client_id: machine.client_id });

    const me = await stack.api('GET', '/me', { token: machineToken });
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ sub: machine.client_id, client_id: machine.client_id, kind: 'client', memberships: [{ orgId: machineOrg, role: 'editor' }] });

    const created = await stack.api('POST', '/documents', { token: machineToken, body: { title: 'Nightly report', content: 'ok', orgId: machineOrg } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ orgId: machineOrg, ownerId: machine.client_id });

    // Another org (Alice's first one): its document and the org itself are invisible.
    expectProblem(await stack.api('GET', `/documents/${orgDocId}`, { token: machineToken }), 404);
    expectProblem(await stack.api('PATCH', `/documents/${orgDocId}`, { token: machineToken, body: { content: 'x' } }), 404);
    expectProblem(await stack.api('POST', '/documents', { token: machineToken, body: { title: 't', content: 'c', orgId } }), 404);
    expectProblem(await stack.api('GET', `/orgs/${orgId}`, { token: machineToken }), 404);
    const list = await stack.api('GET', '/documents?limit=100', { token: machineToken });
    expect(list.status).toBe(200);
    expect(list.body.items.map((d: { id: string }) => d.id)).toEqual([created.body.id]);
  });

  it("the machine client's id is no user: another org cannot make it a member, nor share a document with it (404)", async () => {
    expect(machine).toBeDefined();
    expectProblem(await stack.api('PUT', `/orgs/${orgId}/members/${machine.client_id}`, { token: aliceToken, body: { role: 'admin' } }), 404);
    const doc = await stack.api('POST', '/documents', { token: aliceToken, body: { title: 'For robots?', content: 'no' } });
    expectProblem(await stack.api('PUT', `/documents/${doc.body.id}/shares/${machine.client_id}`, { token: aliceToken, body: { permission: 'write' } }), 404);
    expect(await stack.admin('docs.memberships').where({ principal_id: machine.client_id })).toMatchObject([{ org_id: machineOrg, principal_type: 'client' }]);
  });

  it('clouddocs keys rotate: a token signed with the new kid is accepted by the running docs API (unknown kid -> JWKS refetch), the old one still too', async () => {
    expect(machineToken).toBeDefined();
    const oldKid = decodeJwt(machineToken).header.kid;
    const fetchesBefore = await jwksFetches();
    // The docs API refetches on an unknown kid at most once per 5 s cooldown after its last fetch.
    await sleep(Math.max(0, stack.readyAt + 5_500 - Date.now()));

    const rotated = await stack.cli(['keys', 'rotate', '--json']);
    expect(rotated.stderr).toBe('');
    expect(rotated.code).toBe(0);
    expect(rotated.json.generation).toBeGreaterThanOrEqual(2);
    const newKids: string[] = rotated.json.keys.map((k: { kid: string }) => k.kid);
    expect(newKids).not.toContain(oldKid);
    await sleep(Math.max(0, Date.parse(rotated.json.activates_at) + 200 - Date.now()));
    await stack.auth.server.refreshKeys();

    const config = await discover({ issuer: stack.issuer }, machine);
    const cc = await oidc.clientCredentialsGrant(config, { scope: 'docs:read' });
    const newKid = decodeJwt(cc.access_token).header.kid;
    expect(newKids).toContain(newKid);

    const me = await stack.api('GET', '/me', { token: cc.access_token });
    expect(me.status, me.text).toBe(200);
    expect(me.body).toMatchObject({ sub: machine.client_id, kind: 'client' });
    expect(await jwksFetches()).toBeGreaterThan(fetchesBefore);
    expect((await stack.api('GET', '/me', { token: machineToken })).status).toBe(200);
  });
});

async function jwksFetches(): Promise<number> {
  const text = await (await fetch(`${stack.docsUrl}/metrics`)).text();
  return [...text.matchAll(/^docs_jwks_fetch_total(?:\{[^}]*\})? (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
}
