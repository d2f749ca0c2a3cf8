// The relying party: openid-client v6 configured from discovery alone, and the browser part of the
// authorization code flow driven through the real login and consent pages.
import * as oidc from 'openid-client';
import { expect } from 'vitest';
import { Browser, formsOf } from './browser';
import { REDIRECT_URI, type AuthStack } from './stack';

export { oidc };

export interface RpClient {
  client_id: string;
  client_secret?: string;
}

/**
 * openid-client configured by discovery (http issuer on loopback: insecure requests allowed). ID token
 * signatures are checked against the published JWKS too (non-repudiation checks), not only TLS-trusted.
 */
export function discover(stack: Pick<AuthStack, 'issuer'>, client: RpClient): Promise<oidc.Configuration> {
  const auth = client.client_secret ? oidc.ClientSecretBasic(client.client_secret) : oidc.None();
  return oidc.discovery(new URL(stack.issuer), client.client_id, undefined, auth, {
    execute: [oidc.allowInsecureRequests, oidc.enableNonRepudiationChecks],
  });
}

export interface AuthorizationStart {
  url: URL;
  verifier: string;
  state: string;
  nonce: string;
}

export async function startAuthorization(config: oidc.Configuration, params: Record<string, string> = {}): Promise<AuthorizationStart> {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: 'openid email profile',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    ...params,
  });
  return { url, verifier, state, nonce };
}

const isCallback = (redirectUri: string) => (url: string) => url.startsWith(`${redirectUri}?`) || url === redirectUri;

/**
 * Signs in through the login page, allows on the consent page (when asked), and returns the URL the
 * browser would be sent to at the client (the authorization response).
 */
export async function signInAndConsent(
  browser: Browser,
  authorizationUrl: URL,
  user: { email: string; password: string },
  redirectUri = REDIRECT_URI,
): Promise<URL> {
  let step = await browser.navigate(authorizationUrl, isCallback(redirectUri));
  for (let i = 0; i < 4; i++) {
    if (isCallback(redirectUri)(step.url)) return new URL(step.url);
    expect(step.response.status, `page at ${step.url}`).toBe(200);
    const html = await step.response.text();
    const forms = formsOf(html);
    const login = forms.find((f) => f.action.endsWith('/login'));
    const allow = forms.find((f) => f.action.endsWith('/confirm'));
    let response: Response;
    let action: URL;
    if (login) {
      action = new URL(login.action, step.url);
      response = await browser.postForm(action, { ...login.fields, email: user.email, password: user.password });
    } else if (allow) {
      expect(allow.button).toContain('Allow');
      action = new URL(allow.action, step.url);
      response = await browser.postForm(action, allow.fields);
    } else {
      throw new Error(`no login or consent form at ${step.url}: ${html.slice(0, 500)}`);
    }
    expect(response.status, `POST ${action.pathname}`).toBe(303);
    step = await browser.follow(response, action, isCallback(redirectUri));
  }
  throw new Error('the sign-in did not reach the redirect_uri');
}

/** Discovery, sign-in, consent and the code redemption: the tokens of one authorization code flow. */
export async function codeFlow(
  config: oidc.Configuration,
  user: { email: string; password: string },
  params: Record<string, string> = {},
): Promise<{ tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>; start: AuthorizationStart; callback: URL; browser: Browser }> {
  const browser = new Browser();
  const start = await startAuthorization(config, params);
  const callback = await signInAndConsent(browser, start.url, user);
  const tokens = await oidc.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: start.verifier,
    expectedState: start.state,
    expectedNonce: start.nonce,
    idTokenExpected: true,
  });
  return { tokens, start, callback, browser };
}

/** Only as far as the authorization response (the code not yet redeemed). */
export async function authorizationResponse(
  config: oidc.Configuration,
  user: { email: string; password: string },
  params: Record<string, string> = {},
): Promise<{ start: AuthorizationStart; callback: URL; code: string }> {
  const browser = new Browser();
  const start = await startAuthorization(config, params);
  const callback = await signInAndConsent(browser, start.url, user);
  const code = callback.searchParams.get('code');
  if (!code) throw new Error(`no code in ${callback}`);
  return { start, callback, code };
}

/** A raw token endpoint request (for the responses openid-client would not let us see). */
export async function tokenRequest(
  stack: Pick<AuthStack, 'issuer'>,
  client: RpClient,
  body: Record<string, string>,
  auth: 'basic' | 'post' | 'none' = client.client_secret ? 'basic' : 'none',
): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
  const form = new URLSearchParams(body);
  if (auth === 'basic') {
    headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(client.client_id)}:${encodeURIComponent(client.client_secret ?? '')}`).toString('base64')}`;
  } else {
    form.set('client_id', client.client_id);
    if (auth === 'post' && client.client_secret) form.set('client_secret', client.client_secret);
  }
  const res = await fetch(`${stack.issuer}/token`, { method: 'POST', headers, body: form.toString() });
  const text = await res.text();
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    parsed = { raw: text };
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

/** Raw introspection (RFC 7662) with client_secret_basic. */
export async function introspect(stack: Pick<AuthStack, 'issuer'>, client: RpClient, token: string): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const res = await fetch(`${stack.issuer}/token/introspection`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(client.client_id)}:${encodeURIComponent(client.client_secret ?? '')}`).toString('base64')}`,
    },
    body: new URLSearchParams({ token }).toString(),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

/** The error openid-client raised for an OAuth error response (status and RFC error code). */
export async function oauthError(promise: Promise<unknown>): Promise<{ error: string; status: number | undefined }> {
  try {
    await promise;
  } catch (err) {
    const e = err as { error?: string; status?: number; code?: string; response?: Response; cause?: { error?: string; status?: number } };
    if (!e.error && e.response) {
      // A 401 with WWW-Authenticate surfaces as a challenge error; the RFC error code is in the body.
      const body = (await e.response.clone().json().catch(() => ({}))) as { error?: string };
      if (body.error) return { error: body.error, status: e.response.status };
    }
    return { error: e.error ?? e.cause?.error ?? e.code ?? String(err), status: e.status ?? e.cause?.status };
  }
  throw new Error('expected an OAuth error, got a success');
}

export function decodeJwtParts(jwt: string): { header: Record<string, unknown>; payload: Record<string, unknown> } {
  const [h, p] = jwt.split('.');
  return {
    header: JSON.parse(Buffer.from(h ?? '', 'base64url').toString('utf8')) as Record<string, unknown>,
    payload: JSON.parse(Buffer.from(p ?? '', 'base64url').toString('utf8')) as Record<string, unknown>,
  };
}
