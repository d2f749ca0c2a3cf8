// Dynamic client registration (RFC 7591) and management (RFC 7592), contract "Dynamic client
// registration": an initial access token is required (none: 401; unknown, used up, expired or revoked:
// 401 invalid_token), the usual client rules apply (every invalid field a 400 with its RFC error code,
// never a 5xx), admin:* is never granted, a registered client is third-party (its user sees the consent
// page before the first grant), it reads, updates and deletes itself with its registration access token;
// tokens come from the admin API (and the CLI); registrations are rate limited and audited.
import { createClientLibrary, createRegistrationTokenLibrary, SecretBox } from '@clouddocs/auth-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, formsOf } from '../support/browser';
import { oidc, startAuthorization, tokenRequest } from '../support/rp';
import { REDIRECT_URI, startAuthStack, type AuthStack } from '../support/stack';

let stack: AuthStack;
let tokens: ReturnType<typeof createRegistrationTokenLibrary>;
let adminToken: string;

beforeAll(async () => {
  stack = await startAuthStack();
  tokens = createRegistrationTokenLibrary({ knex: stack.admin });
  const operator = await createClientLibrary({ knex: stack.admin, box: new SecretBox(stack.config.AUTH_ENCRYPTION_KEY), issuer: stack.issuer }).create({ name: 'operator', grants: ['client_credentials'], scope: 'admin:read admin:write' });
  const res = await tokenRequest(stack, operator, { grant_type: 'client_credentials', scope: 'admin:read admin:write' });
  expect(res.status).toBe(200);
  adminToken = res.body.access_token as string;
});
afterAll(async () => {
  await stack?.stop();
});

const APP = { client_name: 'Third-party notes', redirect_uris: [REDIRECT_URI] };

async function register(body: unknown, token?: string, contentType = 'application/json') {
  const res = await fetch(`${stack.issuer}/reg`, {
    method: 'POST',
    headers: { 'content-type': contentType, accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    parsed = { raw: text };
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

async function admin(method: string, path: string, body?: unknown) {
  const res = await fetch(`${stack.issuer}/admin/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${adminToken}`, accept: 'application/json', ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, any>) : undefined };
}

async function audited(action: string) {
  await stack.auth.server.audit.flush();
  return stack.admin('audit.events').where({ action }).orderBy('id').select('actor_type', 'actor_id', 'target_id', 'outcome', 'detail');
}

describe('registration with openid-client, then a code flow', () => {
  it('discovery names the registration_endpoint', async () => {
    const meta = (await (await fetch(`${stack.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(meta.registration_endpoint).toBe(`${stack.issuer}/reg`);
  });

  it('a registered client signs a person in: consent page first (third-party), code flow, tokens at the token endpoint', async () => {
    const { token } = await tokens.create({ maxUses: 5 });
    const config = await oidc.dynamicClientRegistration(new URL(stack.issuer), { ...APP, grant_types: ['authorization_code', 'refresh_token'], scope: 'openid email profile docs:read' }, undefined, {
      initialAccessToken: token,
      execute: [oidc.allowInsecureRequests],
    });
    const registered = config.clientMetadata();
    expect(registered.client_id).toMatch(/^cd_/);
    expect(typeof registered.client_secret).toBe('string');
    expect(registered.registration_access_token).toEqual(expect.any(String));
    expect(registered.registration_client_uri).toBe(`${stack.issuer}/reg/${registered.client_id}`);
    expect(registered.token_endpoint_auth_method).toBe('client_secret_basic');

    const user = await stack.createUser();
    const browser = new Browser();
    const start = await startAuthorization(config, { scope: 'openid email docs:read' });
    let step = await browser.navigate(start.url, (u) => u.startsWith(REDIRECT_URI));
    const login = formsOf(await step.response.text()).find((f) => f.action.endsWith('/login'))!;
    const afterLogin = await browser.postForm(new URL(login.action, step.url), { ...login.fields, email: user.email, password: user.password });
    step = await browser.follow(afterLogin, new URL(login.action, step.url), (u) => u.startsWith(REDIRECT_URI));
    // The consent page, before any grant.
    expect(step.url).toMatch(/\/interaction\//);
    const consent = formsOf(await step.response.text()).find((f) => f.action.endsWith('/confirm'));
    expect(consent?.button).toContain('Allow');
    const allowed = await browser.postForm(new URL(consent!.action, step.url), consent!.fields);
    step = await browser.follow(allowed, new URL(consent!.action, step.url), (u) => u.startsWith(REDIRECT_URI));
    const result = await oidc.authorizationCodeGrant(config, new URL(step.url), { pkceCodeVerifier: start.verifier, expectedState: start.state, expectedNonce: start.nonce, idTokenExpected: true });
    expect(result.claims()!.sub).toBe(user.id);
    expect(result.scope?.split(' ')).toEqual(expect.arrayContaining(['docs:read']));

    const events = await audited('client.registered');
    expect(events.find((e) => e.target_id === registered.client_id)).toMatchObject({ outcome: 'success', actor_type: 'client' });
    const consents = await audited('auth.consent.granted');
    expect(consents.some((e) => e.target_id === registered.client_id)).toBe(true);
  });

  it('a public native client (token_endpoint_auth_method none) gets no secret', async () => {
    const { token } = await tokens.create();
    const res = await register({ ...APP, token_endpoint_auth_method: 'none', application_type: 'native' }, token);
    expect(res.status).toBe(201);
    expect(res.body.client_secret).toBeUndefined();
    expect(res.body).toMatchObject({ token_endpoint_auth_method: 'none', application_type: 'native' });
  });

  it('metadata it does not understand is ignored (RFC 7591 §2), not stored', async () => {
    const { token } = await tokens.create();
    const res = await register({ ...APP, logo_uri: 'https://app.example/logo.png', contacts: ['a@example.com'], id_token_signed_response_alg: 'ES256' }, token);
    expect(res.status).toBe(201);
    expect(res.body.logo_uri).toBeUndefined();
    expect(res.body.id_token_signed_response_alg).toBe('RS256');
  });
});

describe('initial access tokens', () => {
  it('no token -> 401 with a Bearer challenge; an unknown one -> 401 invalid_token', async () => {
    const none = await register(APP);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer /);
    const unknown = await register(APP, 'cd_reg_not-a-real-token');
    expect(unknown.status).toBe(401);
    expect(unknown.body.error).toBe('invalid_token');
    expect(unknown.headers.get('www-authenticate')).toContain('error="invalid_token"');
    // The provider's router also takes /REG and /reg/: the same gate stands there.
    for (const path of ['/REG', '/reg/', '/Reg/']) {
      const res = await fetch(`${stack.issuer}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...APP, scope: 'admin:write' }) });
      expect(res.status, path).toBe(401);
    }
  });

  it('max uses: a token for one registration works once; a refused registration does not use it up', async () => {
    const { token, id } = await tokens.create({ maxUses: 1 });
    expect((await register({ ...APP, redirect_uris: ['not a uri'] }, token)).status).toBe(400);
    expect((await tokens.get(id))!.uses).toBe(0);
    expect((await register(APP, token)).status).toBe(201);
    const again = await register(APP, token);
    expect(again.status).toBe(401);
    expect(again.body.error).toBe('invalid_token');
    expect((await tokens.get(id))!.uses).toBe(1);
  });

  it('two registrations racing for the last use: exactly one gets it', async () => {
    const { token } = await tokens.create({ maxUses: 1 });
    const results = await Promise.all([register(APP, token), register(APP, token), register(APP, token)]);
    expect(results.map((r) => r.status).sort()).toEqual([201, 401, 401]);
  });

  it('an expired token -> 401 invalid_token', async () => {
    const { token, id } = await tokens.create({ expiresIn: 3600 });
    await stack.admin('auth.registration_tokens').where({ id }).update({ expires_at: new Date(Date.now() - 1000) });
    const res = await register(APP, token);
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('invalid_token');
  });

  it('admin API: POST /registration-tokens → { token, … } once, GET lists its uses (never the token), DELETE revokes it at once', async () => {
    const created = await admin('POST', '/registration-tokens', { max_uses: 2, expires_in: 600 });
    expect(created.status).toBe(201);
    expect(created.body!.token).toMatch(/^cd_reg_[A-Za-z0-9_-]{43}$/);
    expect(created.body).toMatchObject({ max_uses: 2, uses: 0, revoked: false });
    expect(Date.parse(created.body!.expires_at) - Date.now()).toBeGreaterThan(590_000);
    expect((await register(APP, created.body!.token)).status).toBe(201);
    const listed = await admin('GET', '/registration-tokens?limit=100');
    const item = listed.body!.items.find((t: { id: string }) => t.id === created.body!.id);
    expect(item).toMatchObject({ uses: 1, max_uses: 2 });
    expect(JSON.stringify(listed.body)).not.toContain(created.body!.token);
    expect((await admin('GET', `/registration-tokens/${created.body!.id}`)).body).toMatchObject({ uses: 1 });
    expect((await admin('DELETE', `/registration-tokens/${created.body!.id}`)).status).toBe(204);
    expect((await admin('DELETE', `/registration-tokens/${created.body!.id}`)).status).toBe(404);
    const refused = await register(APP, created.body!.token);
    expect([refused.status, refused.body.error]).toEqual([401, 'invalid_token']);
    for (const bad of [{ max_uses: 0 }, { expires_in: -1 }, { max_uses: 'x' }, { token: 'mine' }]) expect((await admin('POST', '/registration-tokens', bad)).status).toBe(400);
    const events = await audited('registration_token.created');
    expect(events.find((e) => e.target_id === created.body!.id)).toMatchObject({ actor_type: 'client', outcome: 'success' });
    expect(JSON.stringify(await stack.admin('audit.events').select('detail'))).not.toContain(created.body!.token);
    expect((await audited('registration_token.revoked')).some((e) => e.target_id === created.body!.id)).toBe(true);
  });
});

describe('the client rules, for every metadata field', () => {
  const cases: [string, unknown, string][] = [
    ['no client_name', { redirect_uris: [REDIRECT_URI] }, 'invalid_client_metadata'],
    ['client_name not a string', { ...APP, client_name: 42 }, 'invalid_client_metadata'],
    ['client_name too long', { ...APP, client_name: 'x'.repeat(201) }, 'invalid_client_metadata'],
    ['no redirect_uris', { client_name: 'x' }, 'invalid_redirect_uri'],
    ['redirect_uris not an array', { ...APP, redirect_uris: REDIRECT_URI }, 'invalid_redirect_uri'],
    ['a relative redirect URI', { ...APP, redirect_uris: ['/callback'] }, 'invalid_redirect_uri'],
    ['a redirect URI with a fragment', { ...APP, redirect_uris: [`${REDIRECT_URI}#x`] }, 'invalid_redirect_uri'],
    ['a javascript: redirect URI', { ...APP, redirect_uris: ['javascript:alert(1)'] }, 'invalid_redirect_uri'],
    ['a redirect URI with credentials', { ...APP, redirect_uris: ['https://u:p@app.example/cb'] }, 'invalid_redirect_uri'],
    ['a bad post_logout_redirect_uri', { ...APP, post_logout_redirect_uris: ['nope'] }, 'invalid_redirect_uri'],
    ['client_credentials', { ...APP, grant_types: ['client_credentials'] }, 'invalid_client_metadata'],
    ['an unknown grant', { ...APP, grant_types: ['implicit'] }, 'invalid_client_metadata'],
    ['refresh_token alone', { ...APP, grant_types: ['refresh_token'] }, 'invalid_client_metadata'],
    ['grant_types not an array', { ...APP, grant_types: 'authorization_code' }, 'invalid_client_metadata'],
    ['response_types token', { ...APP, response_types: ['token'] }, 'invalid_client_metadata'],
    ['response_types code id_token', { ...APP, response_types: ['code id_token'] }, 'invalid_client_metadata'],
    ['scope admin:read', { ...APP, scope: 'openid admin:read' }, 'invalid_client_metadata'],
    ['scope admin:write', { ...APP, scope: 'admin:write' }, 'invalid_client_metadata'],
    ['an unknown scope', { ...APP, scope: 'openid everything' }, 'invalid_client_metadata'],
    ['scope not a string', { ...APP, scope: ['openid'] }, 'invalid_client_metadata'],
    ['token_endpoint_auth_method private_key_jwt', { ...APP, token_endpoint_auth_method: 'private_key_jwt' }, 'invalid_client_metadata'],
    ['token_endpoint_auth_method client_secret_jwt', { ...APP, token_endpoint_auth_method: 'client_secret_jwt' }, 'invalid_client_metadata'],
    ['an unknown application_type', { ...APP, application_type: 'desktop' }, 'invalid_client_metadata'],
    ['a confidential native client', { ...APP, application_type: 'native' }, 'invalid_client_metadata'],
    ['a bad backchannel_logout_uri', { ...APP, backchannel_logout_uri: 'ftp://app.example/logout' }, 'invalid_client_metadata'],
    ['backchannel_logout_session_required not a boolean', { ...APP, backchannel_logout_uri: 'https://app.example/logout', backchannel_logout_session_required: 'yes' }, 'invalid_client_metadata'],
    ['dpop_bound_access_tokens not a boolean', { ...APP, dpop_bound_access_tokens: 'true' }, 'invalid_client_metadata'],
    ['a JSON array body', [APP], 'invalid_client_metadata'],
    ['a JSON null body', null, 'invalid_client_metadata'],
  ];
  for (const [what, body, error] of cases) {
    it(`${what} -> 400 ${error}`, async () => {
      const { token, id } = await tokens.create({ maxUses: 1 });
      const res = await register(JSON.stringify(body), token);
      expect(res.status, JSON.stringify(res.body)).toBe(400);
      expect(res.body.error).toBe(error);
      expect(typeof res.body.error_description).toBe('string');
      expect((await tokens.get(id))!.uses).toBe(0);
    });
  }

  it('malformed JSON, a form body, a NUL in a field -> 400, never a 5xx', async () => {
    const { token } = await tokens.create();
    for (const [body, type] of [
      ['{"client_name": ', 'application/json'],
      ['client_name=x&redirect_uris=y', 'application/x-www-form-urlencoded'],
      [JSON.stringify({ ...APP, client_name: 'a\u0000b' }), 'application/json'],
    ] as const) {
      const res = await register(body, token, type);
      expect(res.status, body).toBe(400);
    }
  });

  it('refusals are audited with the rule, never the token', async () => {
    const events = await audited('client.registration_refused');
    expect(events.some((e) => (e.detail as { error?: string }).error === 'invalid_redirect_uri')).toBe(true);
    expect(events.some((e) => /admin API scopes are given by an operator only/.test((e.detail as { reason?: string }).reason ?? ''))).toBe(true);
  });
});

describe('RFC 7592: the client manages itself with its registration access token', () => {
  it('read (GET), update (PUT, by the same rules, rotating the token), delete (DELETE: its grants and tokens end)', async () => {
    const { token } = await tokens.create();
    const created = await register({ ...APP, grant_types: ['authorization_code', 'refresh_token'] }, token);
    expect(created.status).toBe(201);
    const uri = created.body.registration_client_uri as string;
    const rat = created.body.registration_access_token as string;
    const clientId = created.body.client_id as string;
    const call = (method: string, bearer: string, body?: unknown) =>
      fetch(uri, { method, headers: { authorization: `Bearer ${bearer}`, accept: 'application/json', ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, body: body === undefined ? undefined : JSON.stringify(body) });

    const read = await call('GET', rat);
    expect(read.status).toBe(200);
    expect(await read.json()).toMatchObject({ client_id: clientId, client_name: APP.client_name, redirect_uris: [REDIRECT_URI] });
    expect((await call('GET', 'not-the-token')).status).toBe(401);

    const bad = await call('PUT', rat, { client_id: clientId, ...APP, redirect_uris: ['https://app.example/cb#frag'] });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toBe('invalid_redirect_uri');
    const adminScope = await call('PUT', rat, { client_id: clientId, ...APP, scope: 'openid admin:write' });
    expect(adminScope.status).toBe(400);

    const updated = await call('PUT', rat, { client_id: clientId, client_name: 'Renamed notes', redirect_uris: [REDIRECT_URI, 'http://127.0.0.1:8080/other'], grant_types: ['authorization_code', 'refresh_token'] });
    expect(updated.status).toBe(200);
    const after = (await updated.json()) as Record<string, unknown>;
    expect(after).toMatchObject({ client_name: 'Renamed notes', redirect_uris: [REDIRECT_URI, 'http://127.0.0.1:8080/other'] });
    const newRat = after.registration_access_token as string;
    expect(newRat).not.toBe(rat);
    expect((await call('GET', rat)).status).toBe(401);
    expect(((await stack.admin('auth.clients').where({ client_id: clientId }).first()) as { name: string }).name).toBe('Renamed notes');

    // Its secret still authenticates (a token request reaches the grant check, not invalid_client).
    const stillKnown = await tokenRequest(stack, { client_id: clientId, client_secret: created.body.client_secret as string }, { grant_type: 'authorization_code', code: 'x', redirect_uri: REDIRECT_URI, code_verifier: 'x'.repeat(43) });
    expect(stillKnown.body.error).toBe('invalid_grant');

    expect((await call('DELETE', newRat)).status).toBe(204);
    expect(await stack.admin('auth.clients').where({ client_id: clientId }).first()).toBeUndefined();
    const gone = await tokenRequest(stack, { client_id: clientId, client_secret: created.body.client_secret as string }, { grant_type: 'authorization_code', code: 'x', redirect_uri: REDIRECT_URI, code_verifier: 'x'.repeat(43) });
    expect([gone.status, gone.body.error]).toEqual([401, 'invalid_client']);
    expect((await audited('client.deleted')).some((e) => e.target_id === clientId && e.actor_id === clientId)).toBe(true);
    expect((await audited('client.updated')).some((e) => e.target_id === clientId)).toBe(true);
  });

  it('a registration access token cannot manage an operator client, nor another registered client', async () => {
    const { token } = await tokens.create();
    const mine = await register(APP, token);
    const theirs = await register(APP, token);
    const res = await fetch(`${stack.issuer}/reg/${theirs.body.client_id as string}`, { headers: { authorization: `Bearer ${mine.body.registration_access_token as string}` } });
    expect(res.status).toBe(401);
    const operatorClient = await stack.createClient();
    const put = await fetch(`${stack.issuer}/reg/${operatorClient.client_id}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${mine.body.registration_access_token as string}`, 'content-type': 'application/json' },
      body: JSON.stringify({ client_id: operatorClient.client_id, ...APP }),
    });
    expect(put.status).toBe(401);
  });
});

describe('rate limit', () => {
  it('registrations from one address are limited per hour (429 with Retry-After), the refusals audited', async () => {
    let last: Awaited<ReturnType<typeof register>> | undefined;
    for (let i = 0; i < 60; i++) {
      last = await register(APP, 'cd_reg_guess');
      if (last.status === 429) break;
      expect(last.status).toBe(401);
    }
    expect(last!.status).toBe(429);
    expect(Number(last!.headers.get('retry-after'))).toBeGreaterThan(0);
    // A valid token does not get past the limit either.
    const { token } = await tokens.create();
    expect((await register(APP, token)).status).toBe(429);
  });
});
