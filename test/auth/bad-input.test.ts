// What the server refuses, and how: unregistered or near-miss redirect URIs get an error page and
// never a redirect; requests without PKCE S256, for unknown resources or other response types get an
// error code at the redirect_uri; every malformed or hostile request elsewhere gets a 4xx with its RFC
// error code, never a 500 and never a stack trace (contract: Auth server; RFC 6749 §5.2, RFC 6750 §3.1,
// RFC 7009 §2.2.1, RFC 7662 §2.3, RFC 8252 §7.3, RFC 8707 §2, RFC 9700 §2.1, §4.1).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RegisteredClient } from '@clouddocs/auth-server';
import { Browser, formsOf } from '../support/browser';
import { REDIRECT_URI, startAuthStack, type AuthStack } from '../support/stack';
import { discover, oidc, startAuthorization, tokenRequest } from '../support/rp';

let stack: AuthStack;
let web: RegisteredClient;
let spa: RegisteredClient;
let native: RegisteredClient;
let machine: RegisteredClient;

beforeAll(async () => {
  stack = await startAuthStack();
  web = await stack.createClient({ name: 'Web app' });
  spa = await stack.createClient({ name: 'Single-page app', public: true });
  native = await stack.createClient({ name: 'Desktop app', public: true, applicationType: 'native' });
  machine = await stack.createClient({ name: 'Machine', grants: ['client_credentials'], redirectUris: [] });
});
afterAll(async () => {
  await stack?.stop();
});

async function authorize(clientId: string, overrides: Record<string, string | undefined> = {}): Promise<Response> {
  const verifier = oidc.randomPKCECodeVerifier();
  const params: Record<string, string | undefined> = {
    client_id: clientId,
    response_type: 'code',
    redirect_uri: REDIRECT_URI,
    scope: 'openid',
    state: 'st-1',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    ...overrides,
  };
  const url = new URL(`${stack.issuer}/auth`);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.set(k, v);
  return fetch(url, { redirect: 'manual', headers: { accept: 'text/html' } });
}

/** An error page at the authorization server: HTML, 400, and no redirect anywhere. */
async function expectErrorPage(res: Response, error: string) {
  expect(res.status).toBe(400);
  expect(res.headers.get('location')).toBeNull();
  expect(res.headers.get('content-type')).toMatch(/^text\/html/);
  expect(res.headers.get('content-security-policy')).toMatch(/frame-ancestors 'none'/);
  const body = await res.text();
  expect(body).toContain(error);
  expect(body).not.toMatch(/at \w+ \(|node_modules/); // no stack trace
}

/** An error sent back to the (verified) redirect_uri with the issuer (RFC 9207), no sign-in started. */
function expectErrorRedirect(res: Response, error: string, redirectUri = REDIRECT_URI) {
  expect([302, 303]).toContain(res.status);
  const location = new URL(res.headers.get('location')!);
  expect(location.origin + location.pathname).toBe(redirectUri);
  expect(location.searchParams.get('error')).toBe(error);
  expect(location.searchParams.get('iss')).toBe(stack.issuer);
  expect(location.searchParams.get('state')).toBe('st-1');
  expect(location.searchParams.get('code')).toBeNull();
}

describe('redirect_uri', () => {
  it('the registered redirect_uri starts a sign-in (the control case)', async () => {
    const res = await authorize(web.client_id);
    expect([302, 303]).toContain(res.status);
    expect(res.headers.get('location')).toMatch(/^\/interaction\/[\w-]+$/);
  });

  it('an unregistered redirect_uri -> 400 HTML error page, no Location header', async () => {
    await expectErrorPage(await authorize(web.client_id, { redirect_uri: 'https://attacker.example/callback' }), 'redirect_uri');
  });

  it.each([
    ['path case', 'http://127.0.0.1:8080/Callback'],
    ['port', 'http://127.0.0.1:8081/callback'],
    ['no port', 'http://127.0.0.1/callback'],
    ['trailing slash', 'http://127.0.0.1:8080/callback/'],
    ['added query', 'http://127.0.0.1:8080/callback?next=/admin'],
    ['host spelling', 'http://localhost:8080/callback'],
    ['scheme', 'https://127.0.0.1:8080/callback'],
    ['fragment', 'http://127.0.0.1:8080/callback#x'],
  ])('a redirect_uri differing only in %s -> refused with an error page, no redirect', async (_what, uri) => {
    await expectErrorPage(await authorize(web.client_id, { redirect_uri: uri }), 'redirect_uri');
  });

  it('a web public client may not vary the loopback port -> error page', async () => {
    await expectErrorPage(await authorize(spa.client_id, { redirect_uri: 'http://127.0.0.1:51234/callback' }), 'redirect_uri');
  });

  it('a native public client may vary the loopback port (RFC 8252 §7.3), and nothing else', async () => {
    const ok = await authorize(native.client_id, { redirect_uri: 'http://127.0.0.1:51234/callback' });
    expect([302, 303]).toContain(ok.status);
    expect(ok.headers.get('location')).toMatch(/^\/interaction\//);
    await expectErrorPage(await authorize(native.client_id, { redirect_uri: 'http://127.0.0.1:51234/other' }), 'redirect_uri');
  });

  it('an unknown client_id -> 400 error page, no redirect', async () => {
    await expectErrorPage(await authorize('cd_no_such_client'), 'invalid_client');
  });

  it('a client without the authorization_code grant -> error page or error redirect, never a sign-in', async () => {
    const res = await authorize(machine.client_id);
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
  });
});

describe('PKCE', () => {
  it('a public client without PKCE -> invalid_request back to the client, no sign-in', async () => {
    expectErrorRedirect(await authorize(spa.client_id, { code_challenge: undefined, code_challenge_method: undefined }), 'invalid_request');
  });

  it('a confidential client without PKCE -> invalid_request too (required for every client)', async () => {
    expectErrorRedirect(await authorize(web.client_id, { code_challenge: undefined, code_challenge_method: undefined }), 'invalid_request');
  });

  it('code_challenge_method=plain -> invalid_request', async () => {
    expectErrorRedirect(await authorize(spa.client_id, { code_challenge: 'a'.repeat(43), code_challenge_method: 'plain' }), 'invalid_request');
  });

  it('a code_challenge that is not a S256 value -> invalid_request', async () => {
    expectErrorRedirect(await authorize(spa.client_id, { code_challenge: 'short' }), 'invalid_request');
  });
});

describe('resource indicators and response types', () => {
  it('an unknown resource at the authorization endpoint -> invalid_target', async () => {
    expectErrorRedirect(await authorize(web.client_id, { scope: 'openid docs:read', resource: 'https://other-api.example' }), 'invalid_target');
  });

  it('an unknown resource at the token endpoint -> 400 invalid_target', async () => {
    const res = await tokenRequest(stack, machine, { grant_type: 'client_credentials', scope: 'docs:read', resource: 'https://other-api.example' });
    expect(res.status).toBe(400);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.body.error).toBe('invalid_target');
  });

  it.each(['token', 'id_token', 'code id_token', 'none'])('response_type=%s -> unsupported_response_type, no tokens in the redirect', async (responseType) => {
    const res = await authorize(web.client_id, { response_type: responseType, nonce: 'n-1' });
    expect(res.status).toBeLessThan(500);
    const location = res.headers.get('location');
    if (location) {
      expect(location).not.toMatch(/access_token|id_token=|code=/);
      const url = new URL(location.replace('#', '?'));
      expect(['unsupported_response_type', 'invalid_request']).toContain(url.searchParams.get('error'));
    } else {
      expect(res.status).toBe(400);
      expect(await res.text()).toMatch(/unsupported_response_type|invalid_request/);
    }
  });
});

const basic = (c: { client_id: string; client_secret?: string }) =>
  `Basic ${Buffer.from(`${encodeURIComponent(c.client_id)}:${encodeURIComponent(c.client_secret ?? '')}`).toString('base64')}`;

interface Case {
  name: string;
  path: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string | (() => string);
  status: number | number[];
  errors: string[];
}

const FORM = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();

function cases(): Case[] {
  const webAuth = { ...FORM, authorization: basic(web) };
  const machineAuth = { ...FORM, authorization: basic(machine) };
  return [
    // Token endpoint (RFC 6749 §5.2)
    { name: 'token: no grant_type', path: '/token', headers: webAuth, body: form({}), status: 400, errors: ['invalid_request'] },
    { name: 'token: the password grant', path: '/token', headers: webAuth, body: form({ grant_type: 'password', username: 'a', password: 'b' }), status: 400, errors: ['unsupported_grant_type'] },
    { name: 'token: an invented grant type', path: '/token', headers: webAuth, body: form({ grant_type: 'urn:example:magic' }), status: 400, errors: ['unsupported_grant_type'] },
    { name: 'token: authorization_code without a code', path: '/token', headers: webAuth, body: form({ grant_type: 'authorization_code', redirect_uri: REDIRECT_URI, code_verifier: 'v'.repeat(43) }), status: 400, errors: ['invalid_request'] },
    { name: 'token: a made-up code', path: '/token', headers: webAuth, body: form({ grant_type: 'authorization_code', code: 'made-up-code', redirect_uri: REDIRECT_URI, code_verifier: 'v'.repeat(43) }), status: 400, errors: ['invalid_grant'] },
    { name: 'token: a 10 kB code', path: '/token', headers: webAuth, body: form({ grant_type: 'authorization_code', code: 'x'.repeat(10_000), redirect_uri: REDIRECT_URI, code_verifier: 'v'.repeat(43) }), status: 400, errors: ['invalid_grant', 'invalid_request'] },
    { name: 'token: a made-up refresh token', path: '/token', headers: webAuth, body: form({ grant_type: 'refresh_token', refresh_token: 'made-up' }), status: 400, errors: ['invalid_grant'] },
    { name: 'token: a JWT-shaped refresh token', path: '/token', headers: webAuth, body: form({ grant_type: 'refresh_token', refresh_token: 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.' }), status: 400, errors: ['invalid_grant'] },
    { name: 'token: client_credentials for a client not registered for it', path: '/token', headers: webAuth, body: form({ grant_type: 'client_credentials' }), status: 400, errors: ['unauthorized_client', 'invalid_request'] },
    { name: 'token: a scope outside the client registration', path: '/token', headers: machineAuth, body: form({ grant_type: 'client_credentials', scope: 'openid' }), status: 400, errors: ['invalid_scope'] },
    { name: 'token: a resource that is not a URL', path: '/token', headers: machineAuth, body: form({ grant_type: 'client_credentials', resource: 'not a url' }), status: 400, errors: ['invalid_target'] },
    { name: 'token: a resource with a fragment', path: '/token', headers: machineAuth, body: form({ grant_type: 'client_credentials', resource: 'http://localhost:4000#frag' }), status: 400, errors: ['invalid_target'] },
    { name: 'token: a repeated parameter', path: '/token', headers: machineAuth, body: 'grant_type=client_credentials&grant_type=client_credentials', status: 400, errors: ['invalid_request'] },
    { name: 'token: a JSON body', path: '/token', headers: { 'content-type': 'application/json', authorization: basic(machine) }, body: JSON.stringify({ grant_type: 'client_credentials' }), status: 400, errors: ['invalid_request'] },
    { name: 'token: two client authentication methods', path: '/token', headers: machineAuth, body: form({ grant_type: 'client_credentials', client_id: machine.client_id, client_secret: machine.client_secret! }), status: [400, 401], errors: ['invalid_request', 'invalid_client'] },
    { name: 'token: a malformed Basic header', path: '/token', headers: { ...FORM, authorization: 'Basic !!!not-base64!!!' }, body: form({ grant_type: 'client_credentials' }), status: [400, 401], errors: ['invalid_request', 'invalid_client'] },
    { name: 'token: no client authentication', path: '/token', headers: FORM, body: form({ grant_type: 'client_credentials' }), status: [400, 401], errors: ['invalid_request', 'invalid_client'] },
    { name: 'token: an unknown client', path: '/token', headers: { ...FORM, authorization: basic({ client_id: 'cd_nobody', client_secret: 'x' }) }, body: form({ grant_type: 'client_credentials' }), status: 401, errors: ['invalid_client'] },
    { name: 'token: a public client asking for client_credentials', path: '/token', headers: FORM, body: form({ grant_type: 'client_credentials', client_id: spa.client_id }), status: [400, 401], errors: ['unauthorized_client', 'invalid_client', 'invalid_request'] },
    { name: 'token: a confidential client posing as public (no secret)', path: '/token', headers: FORM, body: form({ grant_type: 'client_credentials', client_id: machine.client_id }), status: [400, 401], errors: ['invalid_client', 'invalid_request'] },
    { name: 'token: broken percent-encoding', path: '/token', headers: machineAuth, body: 'grant_type=client_%ZZcredentials%', status: 400, errors: ['invalid_request', 'unsupported_grant_type'] },
    // Introspection (RFC 7662) and revocation (RFC 7009)
    { name: 'introspection: no token parameter', path: '/token/introspection', headers: machineAuth, body: form({}), status: 400, errors: ['invalid_request'] },
    { name: 'introspection: no client authentication (JWT-shaped token)', path: '/token/introspection', headers: FORM, body: form({ token: 'a.b.c' }), status: 401, errors: ['invalid_client'] },
    { name: 'introspection: no client authentication (opaque token)', path: '/token/introspection', headers: FORM, body: form({ token: 'opaque' }), status: [400, 401], errors: ['invalid_client', 'invalid_request'] },
    { name: 'introspection: a public client (JWT-shaped token)', path: '/token/introspection', headers: FORM, body: form({ token: 'a.b.c', client_id: spa.client_id }), status: 401, errors: ['invalid_client'] },
    { name: 'revocation: no token parameter', path: '/token/revocation', headers: machineAuth, body: form({}), status: 400, errors: ['invalid_request'] },
    { name: 'revocation: an unsupported token_type_hint value is ignored or refused by code', path: '/token/revocation', headers: machineAuth, body: form({ token: 'x', token_type_hint: 'id_token' }), status: [200, 400], errors: ['unsupported_token_type', 'invalid_request'] },
    // Userinfo (RFC 6750 §3.1)
    { name: 'userinfo: no access token', path: '/me', method: 'GET', headers: { accept: 'application/json' }, status: [400, 401], errors: ['invalid_token', 'invalid_request'] },
    { name: 'userinfo: a made-up access token', path: '/me', method: 'GET', headers: { accept: 'application/json', authorization: 'Bearer made-up' }, status: 401, errors: ['invalid_token'] },
    { name: 'userinfo: a JWT-shaped forgery', path: '/me', method: 'GET', headers: { accept: 'application/json', authorization: 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.' }, status: 401, errors: ['invalid_token'] },
    { name: 'userinfo: a Basic Authorization header', path: '/me', method: 'GET', headers: { accept: 'application/json', authorization: basic(web) }, status: [400, 401], errors: ['invalid_request', 'invalid_token'] },
    { name: 'userinfo: the token twice (header and query)', path: '/me?access_token=abc', method: 'GET', headers: { accept: 'application/json', authorization: 'Bearer abc' }, status: 400, errors: ['invalid_request'] },
  ];
}

describe('bad input at the token, introspection, revocation and userinfo endpoints', () => {
  it('every bad request -> 4xx with the RFC error code, JSON, no-store on token responses, never a 500', async () => {
    const failures: string[] = [];
    for (const c of cases()) {
      const res = await fetch(`${stack.issuer}${c.path}`, {
        method: c.method ?? 'POST',
        headers: c.headers,
        body: typeof c.body === 'function' ? c.body() : c.body,
        redirect: 'manual',
      });
      const text = await res.text();
      let body: { error?: string } = {};
      try {
        body = JSON.parse(text) as { error?: string };
      } catch {
        // not JSON
      }
      const statuses = Array.isArray(c.status) ? c.status : [c.status];
      const problems: string[] = [];
      if (!statuses.includes(res.status)) problems.push(`status ${res.status}`);
      if (res.status >= 400 && !c.errors.includes(body.error ?? '')) problems.push(`error ${JSON.stringify(body.error)}`);
      if (res.status >= 400 && !/^application\/json/.test(res.headers.get('content-type') ?? '')) problems.push(`content-type ${res.headers.get('content-type')}`);
      if (c.path === '/token' && res.headers.get('cache-control') !== 'no-store') problems.push(`cache-control ${res.headers.get('cache-control')}`);
      if (/node_modules|\n\s+at /.test(text)) problems.push('stack trace in body');
      if (problems.length) failures.push(`${c.name}: ${problems.join(', ')} (${text.slice(0, 160)})`);
    }
    expect(failures).toEqual([]);
  });

  it('an unknown scope at client credentials -> 400 invalid_scope, and no token', async () => {
    const res = await fetch(`${stack.issuer}/token`, {
      method: 'POST',
      headers: { ...FORM, authorization: basic(machine) },
      body: form({ grant_type: 'client_credentials', scope: 'root' }),
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = (await res.json()) as { error: string; error_description: string; access_token?: string };
    expect(body.error).toBe('invalid_scope');
    expect(body.access_token).toBeUndefined();
  });

  it('a made-up opaque token introspects active: false, and revoking it answers 200 (RFC 7009 §2.2)', async () => {
    const config = await discover(stack, machine);
    expect(await oidc.tokenIntrospection(config, 'made-up-token')).toEqual({ active: false });
    expect(await oidc.tokenIntrospection(config, 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln')).toEqual({ active: false });
    await oidc.tokenRevocation(config, 'made-up-token');
    await oidc.tokenRevocation(config, 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln');
  });
});

describe('bad input at the authorization endpoint and the interaction pages', () => {
  async function get(path: string) {
    const res = await fetch(`${stack.issuer}${path}`, { redirect: 'manual', headers: { accept: 'text/html' } });
    return { res, text: await res.text() };
  }

  it('an authorization request without parameters -> 400 error page naming invalid_request', async () => {
    const { res, text } = await get('/auth');
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    expect(text).toContain('invalid_request');
  });

  it('a repeated client_id -> 400 error page, no redirect', async () => {
    const { res, text } = await get(`/auth?client_id=${web.client_id}&client_id=${web.client_id}&response_type=code&redirect_uri=${encodeURIComponent(REDIRECT_URI)}`);
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    expect(text).toContain('invalid_request');
  });

  it('unsupported request objects and malformed max_age -> error codes at the redirect_uri', async () => {
    const config = await discover(stack, web);
    for (const [extra, error] of [
      [{ request: 'eyJhbGciOiJub25lIn0.e30.' }, ['request_not_supported', 'invalid_request_object', 'invalid_request']],
      [{ request_uri: 'https://attacker.example/req' }, ['request_uri_not_supported', 'invalid_request_uri', 'invalid_request']],
      [{ max_age: 'soon' }, ['invalid_request']],
      [{ prompt: 'none' }, ['login_required']],
      [{ prompt: 'none login' }, ['invalid_request']],
    ] as const) {
      const start = await startAuthorization(config, { ...extra });
      const res = await fetch(start.url, { redirect: 'manual', headers: { accept: 'text/html' } });
      expect(res.status, JSON.stringify(extra)).toBeLessThan(500);
      const location = res.headers.get('location');
      expect(location, JSON.stringify(extra)).toMatch(new RegExp(`^${REDIRECT_URI}\\?`));
      const url = new URL(location!);
      expect(error as readonly string[], JSON.stringify(extra)).toContain(url.searchParams.get('error'));
      expect(url.searchParams.get('iss')).toBe(stack.issuer);
    }
  });

  it('unknown interaction ids and a consent POST before sign-in -> 4xx pages, never a 500', async () => {
    for (const path of ['/interaction/does-not-exist', '/interaction/%00', '/interaction/../../etc/passwd']) {
      const { res, text } = await get(path);
      expect(res.status, path).toBeGreaterThanOrEqual(400);
      expect(res.status, path).toBeLessThan(500);
      expect(text).not.toMatch(/node_modules|\n\s+at /);
    }
    const post = await fetch(`${stack.issuer}/interaction/does-not-exist/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form({ email: 'a@b.c', password: 'x', csrf: 'y' }),
    });
    expect(post.status).toBe(400);

    // A real interaction at the login step: Allow before signing in is refused.
    const browser = new Browser();
    const start = await startAuthorization(await discover(stack, web));
    const step = await browser.navigate(start.url, (u) => u.startsWith(REDIRECT_URI));
    const login = formsOf(await step.response.text()).find((f) => f.action.endsWith('/login'))!;
    const confirmUrl = new URL(login.action.replace(/\/login$/, '/confirm'), step.url);
    const early = await browser.postForm(confirmUrl, { csrf: login.fields.csrf! });
    expect(early.status).toBe(400);
    expect(early.headers.get('location')).toBeNull();

    // A field sent twice, unknown fields and an oversized form.
    const loginUrl = new URL(login.action, step.url);
    const twice = await browser.request(loginUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `csrf=${login.fields.csrf}&email=a%40b.c&email=c%40d.e&password=x`,
    });
    expect(twice.status).toBe(400);
    const extra = await browser.postForm(loginUrl, { csrf: login.fields.csrf!, email: 'a@b.c', password: 'x', role: 'admin' });
    expect(extra.status).toBe(400);
    expect(extra.headers.get('location')).toBeNull();
    // Over a field's limit: the form again (400); over the body limit (56 KiB): 413, never truncated.
    const long = await browser.postForm(loginUrl, { csrf: login.fields.csrf!, email: 'a@b.c', password: 'p'.repeat(20_000) });
    expect(long.status).toBe(400);
    expect(await long.text()).toContain('Enter your email and password.');
    const huge = await browser.postForm(loginUrl, { csrf: login.fields.csrf!, email: 'a@b.c', password: 'p'.repeat(60_000) });
    expect(huge.status).toBe(413);
  });

  it('error pages escape what the request put in them (no reflected markup)', async () => {
    const evil = '<script>alert(1)</script>';
    for (const path of [
      `/auth?client_id=${encodeURIComponent(evil)}&response_type=code&redirect_uri=${encodeURIComponent(REDIRECT_URI)}`,
      `/auth?client_id=${web.client_id}&response_type=code&redirect_uri=${encodeURIComponent(`https://x.example/${evil}`)}`,
      `/interaction/${encodeURIComponent(evil)}`,
    ]) {
      const { res, text } = await get(path);
      expect(res.status, path).toBe(400);
      expect(text, path).not.toContain(evil);
      expect(res.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
    }
  });

  it('logout with a forged id_token_hint -> 400 error page, no redirect', async () => {
    const { res, text } = await get(`/session/end?id_token_hint=eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.&post_logout_redirect_uri=${encodeURIComponent('https://attacker.example/')}`);
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    expect(text).toMatch(/invalid_request|id_token_hint/);
  });
});

// Runs last: it uses up this address's allowance of failed client authentications.
describe('failed client authentication is rate limited per address', () => {
  it('after 30 failed client authentications from one address -> 429 with Retry-After and no-store, even with the right secret', async () => {
    const wrong = { ...FORM, authorization: basic({ client_id: machine.client_id, client_secret: 'wrong-secret' }) };
    let status = 0;
    for (let i = 0; i < 31 && status !== 429; i++) {
      const res = await fetch(`${stack.issuer}/token`, { method: 'POST', headers: wrong, body: form({ grant_type: 'client_credentials' }) });
      status = res.status;
      await res.body?.cancel();
      if (status !== 429) expect(status).toBe(401);
    }
    expect(status).toBe(429);
    const right = await fetch(`${stack.issuer}/token`, { method: 'POST', headers: { ...FORM, authorization: basic(machine) }, body: form({ grant_type: 'client_credentials' }) });
    expect(right.status).toBe(429);
    expect(Number(right.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(right.headers.get('cache-control')).toBe('no-store');
    expect(((await right.json()) as { error?: string }).error).toEqual(expect.any(String));
  });
});

describe('unknown endpoints', () => {
  it('an unknown path answers 404 with a JSON error that points at discovery, not an HTML or plain-text page', async () => {
    for (const path of ['/nope', '/administrator', '/.well-known/unknown', '/token/nope']) {
      const response = await fetch(`${stack.issuer}${path}`);
      expect(response.status, path).toBe(404);
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      expect(((await response.json()) as { error?: string }).error).toBe('not_found');
    }
  });
});
