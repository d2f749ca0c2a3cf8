// What the authorization endpoint refuses before anyone signs in: unregistered or near-miss
// redirect URIs (an error page, never a redirect), requests without PKCE S256, unknown resources and
// response types other than `code` (contract: Auth server; RFC 9700 §2.1, §4.1; RFC 8252 §7.3; RFC 8707).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RegisteredClient } from '@clouddocs/auth-server';
import { REDIRECT_URI, startAuthStack, type AuthStack } from '../support/stack';
import { oidc, tokenRequest } from '../support/rp';

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
