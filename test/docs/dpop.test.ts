// DPoP end to end (RFC 9449): openid-client 6 as the real client gets DPoP-bound access tokens from the
// real auth server by client credentials (a `clouddocs client create --dpop` client must prove possession
// at the token endpoint) and calls the real docs API with proofs it makes itself. The docs API's
// audience is its own URL here, as in production (its public URL, which proofs name in `htu`). A proof
// is accepted once by every docs API process on the shared cache; a bound token never works as a bearer
// token; introspection says what the token is bound to.
import { calculateJwkThumbprint, exportJWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discover, introspect, oauthError, oidc } from '../support/rp';
import { decodeJwt, startDocsStack, type DocsStack, type User } from './support';

let stack: DocsStack;
let owner: User;
let orgId: string;
/** A `--dpop` machine client, an editor of the org. */
let bound: { client_id: string; client_secret: string };
/** An ordinary machine client of the same org. */
let plain: { client_id: string; client_secret: string };

beforeAll(async () => {
  stack = await startDocsStack({ audienceIsDocsUrl: true });
  owner = await stack.createUser('owner');
  const org = await stack.cli(['org', 'create', '--name', 'Proof Co', '--owner', owner.email, '--json']);
  expect(org.code, org.stderr).toBe(0);
  orgId = org.json.id;
  const create = (name: string, ...extra: string[]) =>
    stack.cli(['client', 'create', '--name', name, '--grant', 'client_credentials', '--scope', 'docs:read docs:write', '--org', orgId, '--role', 'editor', ...extra, '--json']);
  const [dpopClient, plainClient] = await Promise.all([create('Proof machine', '--dpop'), create('Plain machine')]);
  expect(dpopClient.code, dpopClient.stderr).toBe(0);
  expect(plainClient.code, plainClient.stderr).toBe(0);
  expect(dpopClient.json).toMatchObject({ dpop_bound_access_tokens: true, token_endpoint_auth_method: 'client_secret_basic' });
  expect(plainClient.json).not.toHaveProperty('dpop_bound_access_tokens');
  bound = dpopClient.json;
  plain = plainClient.json;
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

/** openid-client configured from discovery for `client`, its docs API requests sent to `docsUrl` (a load balancer's choice). */
async function rp(client: { client_id: string; client_secret: string }, docsUrl = stack.docsUrl) {
  const config = await discover(stack, client);
  const sent: Record<string, string>[] = [];
  config[oidc.customFetch] = async (url, init) => {
    if (!url.startsWith(stack.docsUrl)) return fetch(url, init as RequestInit);
    sent.push({ ...(init.headers as Record<string, string>) });
    return fetch(`${docsUrl}${url.slice(stack.docsUrl.length)}`, init as RequestInit);
  };
  return { config, sent };
}

/** A request to the docs API (its public URL) through openid-client, with a DPoP handle or as Bearer. */
async function call(config: oidc.Configuration, token: string, method: string, path: string, options: { dpop?: oidc.DPoPHandle; body?: unknown } = {}) {
  const headers = new Headers({ accept: 'application/json' });
  if (options.body !== undefined) headers.set('content-type', 'application/json');
  const body = options.body === undefined ? undefined : JSON.stringify(options.body);
  try {
    const res = await oidc.fetchProtectedResource(config, token, new URL(`${stack.docsUrl}${path}`), method, body, headers, options.dpop ? { DPoP: options.dpop } : undefined);
    return { status: res.status, body: (await res.json()) as any, challenges: undefined };
  } catch (err) {
    // openid-client raises a 401/403 with WWW-Authenticate as an error carrying the parsed challenges.
    const e = err as { response?: Response; cause?: { scheme: string; parameters: Record<string, string> }[] };
    if (!e.response) throw err;
    return { status: e.response.status, body: (await e.response.json()) as any, challenges: e.cause };
  }
}

async function dpopToken(client = bound) {
  const { config, sent } = await rp(client);
  const keys = await oidc.randomDPoPKeyPair('ES256');
  const dpop = oidc.getDPoPHandle(config, keys);
  const tokens = await oidc.clientCredentialsGrant(config, { scope: 'docs:read docs:write' }, { DPoP: dpop });
  return { config, sent, keys, dpop, tokens };
}

describe('the token endpoint', () => {
  it('a --dpop client without a proof -> 400; with openid-client\'s DPoP handle -> token_type DPoP, a JWT bound to the key (cnf.jkt)', async () => {
    const { config } = await rp(bound);
    expect(await oauthError(oidc.clientCredentialsGrant(config, { scope: 'docs:read' }))).toMatchObject({ status: 400, error: 'invalid_grant' });

    const { tokens, keys } = await dpopToken();
    expect(tokens.token_type).toBe('dpop');
    const { header, payload } = decodeJwt(tokens.access_token);
    expect(header.typ).toBe('at+jwt');
    expect(payload).toMatchObject({ client_id: bound.client_id, aud: stack.docsUrl, cnf: { jkt: await calculateJwkThumbprint(await exportJWK(keys.publicKey)) } });
  });

  it('an ordinary client gets a bearer token without a proof', async () => {
    const { config } = await rp(plain);
    const tokens = await oidc.clientCredentialsGrant(config, { scope: 'docs:read' });
    expect(tokens.token_type).toBe('bearer');
    expect(decodeJwt(tokens.access_token).payload).not.toHaveProperty('cnf');
  });
});

describe('the docs API with real proofs', () => {
  it('GET /me, POST /documents and GET /documents/:id with a fresh proof each; the same token as Bearer -> 401 DPoP invalid_token', async () => {
    const { config, dpop, tokens, sent } = await dpopToken();
    const me = await call(config, tokens.access_token, 'GET', '/me', { dpop });
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ sub: bound.client_id, kind: 'client', memberships: [{ orgId, role: 'editor' }] });
    const created = await call(config, tokens.access_token, 'POST', '/documents', { dpop, body: { title: 'Proven', content: 'held', orgId } });
    expect(created.status).toBe(201);
    const read = await call(config, tokens.access_token, 'GET', `/documents/${created.body.id}`, { dpop });
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ id: created.body.id, title: 'Proven', orgId });
    // Every request carried its own proof, for its own method and URL.
    const proofs = sent.map((h) => decodeJwt(h.dpop!).payload);
    expect(new Set(proofs.map((p) => p.jti)).size).toBe(3);
    expect(proofs.map((p) => `${p.htm} ${p.htu}`)).toEqual([`GET ${stack.docsUrl}/me`, `POST ${stack.docsUrl}/documents`, `GET ${stack.docsUrl}/documents/${created.body.id}`]);

    const asBearer = await call(config, tokens.access_token, 'GET', '/me');
    expect(asBearer.status).toBe(401);
    expect(asBearer.challenges).toEqual([{ scheme: 'dpop', parameters: expect.objectContaining({ error: 'invalid_token', algs: expect.stringContaining('ES256') }) }]);
    expect(asBearer.body).toMatchObject({ type: 'urn:clouddocs:problem:invalid-token', detail: expect.stringMatching(/DPoP-bound/) });
  });

  it("a proof made with another key than the token's -> 401 invalid_dpop_proof; an unbound token sent as DPoP -> 401 invalid_token", async () => {
    const { config, tokens } = await dpopToken();
    const stranger = oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair('ES256'));
    const wrongKey = await call(config, tokens.access_token, 'GET', '/me', { dpop: stranger });
    expect(wrongKey.status).toBe(401);
    expect(wrongKey.challenges).toEqual([{ scheme: 'dpop', parameters: expect.objectContaining({ error: 'invalid_dpop_proof' }) }]);

    const { config: plainConfig } = await rp(plain);
    const unbound = await oidc.clientCredentialsGrant(plainConfig, { scope: 'docs:read' });
    const asDpop = await call(plainConfig, unbound.access_token, 'GET', '/me', { dpop: oidc.getDPoPHandle(plainConfig, await oidc.randomDPoPKeyPair('ES256')) });
    expect(asDpop.status).toBe(401);
    expect(asDpop.challenges).toEqual([{ scheme: 'dpop', parameters: expect.objectContaining({ error: 'invalid_token' }) }]);
    expect((await call(plainConfig, unbound.access_token, 'GET', '/me')).status).toBe(200);
  });

  it('a revoked bound token is refused on the next request, proof or not', async () => {
    const { config, dpop, tokens } = await dpopToken();
    expect((await call(config, tokens.access_token, 'GET', '/me', { dpop })).status).toBe(200);
    await oidc.tokenRevocation(config, tokens.access_token);
    const refused = await call(config, tokens.access_token, 'GET', '/me', { dpop });
    expect(refused.status).toBe(401);
    expect(refused.challenges).toEqual([{ scheme: 'dpop', parameters: expect.objectContaining({ error: 'invalid_token' }) }]);
    expect(refused.body.detail).toMatch(/revoked/);
  });
});

describe('replay', () => {
  it('a proof accepted by one docs API process is refused by another on the same cache, both ways', async () => {
    const peer = await stack.startDocsPeer();
    try {
      const { config, dpop, tokens, sent, keys } = await dpopToken();
      // Process A accepts openid-client's proof; the very same request sent to process B is a replay.
      expect((await call(config, tokens.access_token, 'GET', '/me', { dpop })).status).toBe(200);
      const replayAtPeer = await fetch(`${peer.url}/me`, { headers: sent.at(-1)! });
      expect(replayAtPeer.status).toBe(401);
      expect(replayAtPeer.headers.get('www-authenticate')).toMatch(/^DPoP .*error="invalid_dpop_proof"/);
      expect(((await replayAtPeer.json()) as { detail: string }).detail).toMatch(/used before/);

      // Process B accepts a fresh proof (the load balancer sends the request there); A refuses it again.
      const viaPeer = await rp(bound, peer.url);
      const atPeer = await call(viaPeer.config, tokens.access_token, 'GET', '/me', { dpop: oidc.getDPoPHandle(viaPeer.config, keys) });
      expect(atPeer.status).toBe(200);
      expect(atPeer.body).toMatchObject({ sub: bound.client_id });
      const fresh = viaPeer.sent.at(-1)!;
      const replayAtFirst = await fetch(`${stack.docsUrl}/me`, { headers: fresh });
      expect(replayAtFirst.status).toBe(401);
      expect(((await replayAtFirst.json()) as { detail: string }).detail).toMatch(/used before/);
    } finally {
      await peer.stop();
    }
  });
});

describe('introspection', () => {
  it('a bound token introspects active with token_type DPoP and its cnf; an unbound one as Bearer without cnf', async () => {
    const { config, tokens, keys } = await dpopToken();
    const jkt = await calculateJwkThumbprint(await exportJWK(keys.publicKey));
    const res = await introspect(stack, bound, tokens.access_token);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ active: true, client_id: bound.client_id, token_type: 'DPoP', cnf: { jkt } });
    expect(await oidc.tokenIntrospection(config, tokens.access_token)).toMatchObject({ active: true, token_type: 'DPoP', cnf: { jkt } });

    const { config: plainConfig } = await rp(plain);
    const unbound = await oidc.clientCredentialsGrant(plainConfig, { scope: 'docs:read' });
    const plainRes = await introspect(stack, plain, unbound.access_token);
    expect(plainRes.body).toMatchObject({ active: true, token_type: 'Bearer' });
    expect(plainRes.body).not.toHaveProperty('cnf');
  });
});
