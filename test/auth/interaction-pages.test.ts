// The login and consent pages as a browser meets them: plain HTML forms, the same answer for an unknown
// email and a wrong password, security headers on every page, HttpOnly + SameSite cookies, and a login
// POST that only counts for the browser whose interaction it is (contract: Auth server).
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RegisteredClient } from '@clouddocs/auth-server';
import { Browser, formsOf, visibleText, type PageForm } from '../support/browser';
import { REDIRECT_URI, startAuthStack, type AuthStack } from '../support/stack';
import { discover, oidc, signInAndConsent, startAuthorization } from '../support/rp';

let stack: AuthStack;
let web: RegisteredClient;
let config: oidc.Configuration;

beforeAll(async () => {
  stack = await startAuthStack();
  web = await stack.createClient({ name: 'Team Wiki' });
  config = await discover(stack, web);
});
afterAll(async () => {
  await stack?.stop();
});

const toCallback = (url: string) => url.startsWith(`${REDIRECT_URI}?`);

/** A browser that has started an authorization and stands on the login page. */
async function atLoginPage(scope = 'openid email docs:read') {
  const browser = new Browser();
  const start = await startAuthorization(config, { scope });
  const step = await browser.navigate(start.url, toCallback);
  const html = await step.response.text();
  const form = formsOf(html).find((f) => f.action.endsWith('/login'));
  if (!form) throw new Error(`no login form at ${step.url}`);
  const uid = /\/interaction\/([^/]+)\/login$/.exec(form.action)![1]!;
  return { browser, start, response: step.response, html, url: step.url, form, uid };
}

function expectPageSecurityHeaders(res: Response) {
  expect(res.headers.get('content-type')).toMatch(/^text\/html/);
  const csp = res.headers.get('content-security-policy') ?? '';
  expect(csp).toMatch(/frame-ancestors 'none'/);
  expect(csp).toMatch(/default-src 'none'/);
  expect(csp).not.toMatch(/unsafe-inline|unsafe-eval/);
  expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  expect(res.headers.get('referrer-policy')).toEqual(expect.stringMatching(/no-referrer|same-origin|strict-origin/));
  expect(res.headers.get('cache-control')).toBe('no-store');
}

async function postLogin(browser: Browser, base: string, form: PageForm, email: string, password: string) {
  return browser.postForm(new URL(form.action, base), { ...form.fields, email, password });
}

describe('login page', () => {
  it('the login page is a plain form (email, password, hidden csrf) with a submit button, served with CSP frame-ancestors, nosniff and a Referrer-Policy', async () => {
    const page = await atLoginPage();
    expect(page.response.status).toBe(200);
    expectPageSecurityHeaders(page.response);
    expect(page.form.fields).toHaveProperty('csrf');
    expect(page.html).toMatch(/<input[^>]+name="email"/);
    expect(page.html).toMatch(/<input[^>]+name="password"[^>]+type="password"|<input[^>]+type="password"[^>]+name="password"/);
    expect(page.form.button).toBe('Sign in');
    expect(page.html).not.toMatch(/<script/i);
  });

  it('a failed sign-in shows the form again with a message; an unknown email and a wrong password get the same status and the same visible text', async () => {
    const user = await stack.createUser();
    const a = await atLoginPage();
    const wrongPassword = await postLogin(a.browser, a.url, a.form, user.email, 'not-the-password-at-all');
    const b = await atLoginPage();
    const unknownEmail = await postLogin(b.browser, b.url, b.form, user.email.replace('user-', 'nobody-'), 'not-the-password-at-all');

    expect(wrongPassword.status).toBe(unknownEmail.status);
    expect(wrongPassword.status).toBeGreaterThanOrEqual(200);
    expect(wrongPassword.status).toBeLessThan(500);
    expect(wrongPassword.headers.get('location')).toBeNull();
    expect(unknownEmail.headers.get('location')).toBeNull();
    expectPageSecurityHeaders(wrongPassword);
    const [htmlA, htmlB] = [await wrongPassword.text(), await unknownEmail.text()];
    expect(visibleText(htmlA)).toBe(visibleText(htmlB));
    expect(visibleText(htmlA)).toContain('The email or password is incorrect.');
    // Audit: each failure names the account (its id when it exists, the email otherwise).
    const failures = await stack.admin('audit.events').where({ action: 'auth.login.failed' }).whereIn('target_id', [user.id, user.email.replace('user-', 'nobody-')]);
    expect(failures.map((r) => r.target_id).sort()).toEqual([user.id, user.email.replace('user-', 'nobody-')].sort());
    for (const r of failures) expect(r).toMatchObject({ actor_type: 'anonymous', target_type: 'account', outcome: 'failure' });
    expect(JSON.stringify(failures)).not.toContain('not-the-password-at-all');
    // The form is shown again, ready for another try.
    const again = formsOf(htmlA).find((f) => f.action.endsWith('/login'));
    expect(again).toBeDefined();

    // ...and the right password on that form signs in.
    const ok = await postLogin(a.browser, a.url, again!, user.email, user.password);
    expect(ok.status).toBe(303);
    expect(ok.headers.get('location')).toMatch(new RegExp(`^${stack.issuer}/auth/`));
  });

  it('a login POST with a wrong csrf value -> 403 and the form again, no sign-in', async () => {
    const user = await stack.createUser();
    const page = await atLoginPage();
    const res = await page.browser.postForm(new URL(page.form.action, page.url), { csrf: 'forged', email: user.email, password: user.password });
    expect(res.status).toBe(403);
    expect(res.headers.get('location')).toBeNull();
    expect(formsOf(await res.text()).some((f) => f.action.endsWith('/login'))).toBe(true);
  });

  it('a login POST that is not urlencoded -> 415, never a 500', async () => {
    const page = await atLoginPage();
    const res = await page.browser.request(new URL(page.form.action, page.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'a@b.c', password: 'x', csrf: page.form.fields.csrf }),
    });
    expect(res.status).toBe(415);
    expect(res.headers.get('location')).toBeNull();
  });
});

describe('consent page and cookies', () => {
  it('the consent page lists the scopes, has an "Allow" submit button, sends the same security headers; every cookie is HttpOnly and SameSite', async () => {
    const user = await stack.createUser();
    const page = await atLoginPage();
    const login = await postLogin(page.browser, page.url, page.form, user.email, user.password);
    expect(login.status).toBe(303);
    const step = await page.browser.follow(login, new URL(page.form.action, page.url), toCallback);
    expect(step.response.status).toBe(200);
    expect(step.url).toMatch(/\/interaction\/[^/]+$/);
    expectPageSecurityHeaders(step.response);
    // Chromium applies form-action to the redirect after the POST: the client's origin must be allowed.
    expect(step.response.headers.get('content-security-policy')).toContain(new URL(REDIRECT_URI).origin);
    const html = await step.response.text();
    const forms = formsOf(html);
    const allow = forms.find((f) => f.action.endsWith('/confirm'));
    expect(allow?.button).toContain('Allow');
    expect(allow?.fields).toHaveProperty('csrf');
    expect(forms.some((f) => f.action.endsWith('/abort'))).toBe(true);
    expect(html).toContain('docs:read');
    expect(html).toContain('Team Wiki');

    const confirmed = await page.browser.postForm(new URL(allow!.action, step.url), allow!.fields);
    expect(confirmed.status).toBe(303);
    const done = await page.browser.follow(confirmed, new URL(allow!.action, step.url), toCallback);
    expect(done.url).toMatch(new RegExp(`^${REDIRECT_URI}\\?`));

    const cookies = page.browser.received;
    expect(cookies.map((c) => c.name)).toEqual(expect.arrayContaining(['cd_interaction', 'cd_session']));
    for (const c of cookies) {
      expect(c.attributes.httponly, `${c.name} HttpOnly`).toBe(true);
      expect(String(c.attributes.samesite ?? ''), `${c.name} SameSite`).toMatch(/^(lax|strict)$/i);
    }
  });

  it('Deny on the consent page -> back to the client with access_denied and the issuer, no code', async () => {
    const user = await stack.createUser();
    const page = await atLoginPage();
    const login = await postLogin(page.browser, page.url, page.form, user.email, user.password);
    const step = await page.browser.follow(login, new URL(page.form.action, page.url), toCallback);
    const deny = formsOf(await step.response.text()).find((f) => f.action.endsWith('/abort'))!;
    const res = await page.browser.postForm(new URL(deny.action, step.url), deny.fields);
    expect(res.status).toBe(303);
    const done = await page.browser.follow(res, new URL(deny.action, step.url), toCallback);
    const callback = new URL(done.url);
    expect(callback.searchParams.get('error')).toBe('access_denied');
    expect(callback.searchParams.get('iss')).toBe(stack.issuer);
    expect(callback.searchParams.get('code')).toBeNull();
  });
});

describe('sessions', () => {
  it('a second authorization in the same browser skips the password (single sign-on) but prompt=login asks for it again', async () => {
    const user = await stack.createUser();
    const browser = new Browser();
    const first = await startAuthorization(config, { scope: 'openid' });
    await signInAndConsent(browser, first.url, user);

    const again = await startAuthorization(config, { scope: 'openid' });
    const sso = await browser.navigate(again.url, toCallback);
    expect(sso.url).toMatch(new RegExp(`^${REDIRECT_URI}\\?code=`));

    const forced = await startAuthorization(config, { scope: 'openid', prompt: 'login' });
    const login = await browser.navigate(forced.url, toCallback);
    expect(login.response.status).toBe(200);
    expect(formsOf(await login.response.text()).some((f) => f.action.endsWith('/login'))).toBe(true);
  });

  it('a consent POST with a wrong csrf value -> 403, no redirect, nothing granted', async () => {
    const user = await stack.createUser();
    const page = await atLoginPage();
    const login = await postLogin(page.browser, page.url, page.form, user.email, user.password);
    const step = await page.browser.follow(login, new URL(page.form.action, page.url), toCallback);
    const allow = formsOf(await step.response.text()).find((f) => f.action.endsWith('/confirm'))!;
    const res = await page.browser.postForm(new URL(allow.action, step.url), { csrf: 'forged' });
    expect(res.status).toBe(403);
    expect(res.headers.get('location')).toBeNull();
    expect(await stack.admin('audit.events').where({ action: 'auth.consent.granted', actor_id: user.id })).toEqual([]);
  });
});

describe('session fixation', () => {
  it("a login POST to one browser's interaction with another browser's interaction cookie -> refused, and neither interaction is signed in", async () => {
    const victim = await stack.createUser();
    const attacker = await atLoginPage();
    const other = await atLoginPage();
    expect(attacker.uid).not.toBe(other.uid);

    // The victim's browser (other) is lured into posting credentials to the attacker's interaction URL.
    const cookie = other.browser.cookieHeader(new URL(`${stack.issuer}/interaction/${other.uid}/login`));
    expect(cookie).toMatch(/cd_interaction=/);
    const res = await fetch(`${stack.issuer}/interaction/${attacker.uid}/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie, accept: 'text/html' },
      body: new URLSearchParams({ ...attacker.form.fields, email: victim.email, password: victim.password }).toString(),
    });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(res.headers.get('location')).toBeNull();
    expect(res.headers.getSetCookie().filter((c) => c.startsWith('cd_session='))).toEqual([]);

    // The attacker's own browser still stands before the login form: nothing was signed in for it.
    const check = await attacker.browser.navigate(attacker.url, toCallback);
    expect(check.response.status).toBe(200);
    expect(formsOf(await check.response.text()).some((f) => f.action.endsWith('/login'))).toBe(true);
  });

  it('a login POST without the interaction cookie -> refused (400 page), no sign-in', async () => {
    const user = await stack.createUser();
    const page = await atLoginPage();
    const res = await fetch(new URL(page.form.action, page.url), {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
      body: new URLSearchParams({ ...page.form.fields, email: user.email, password: user.password }).toString(),
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
  });

  it("a login POST with the other browser's csrf value and this browser's cookie -> 403", async () => {
    const user = await stack.createUser();
    const mine = await atLoginPage();
    const theirs = await atLoginPage();
    const res = await mine.browser.postForm(new URL(mine.form.action, mine.url), { csrf: theirs.form.fields.csrf!, email: user.email, password: user.password });
    expect(res.status).toBe(403);
    expect(res.headers.get('location')).toBeNull();
  });
});

describe('RP-initiated logout', () => {
  it('logout asks for confirmation on a page, then ends the session and returns to the registered post_logout_redirect_uri with the state', async () => {
    const user = await stack.createUser();
    const app = await stack.createClient({ name: 'Logout app', postLogoutRedirectUris: ['http://127.0.0.1:8080/signed-out'] });
    const appConfig = await discover(stack, app);
    const browser = new Browser();
    const start = await startAuthorization(appConfig);
    const callback = await signInAndConsent(browser, start.url, user);
    const tokens = await oidc.authorizationCodeGrant(appConfig, callback, { pkceCodeVerifier: start.verifier, expectedState: start.state, expectedNonce: start.nonce });

    const endUrl = oidc.buildEndSessionUrl(appConfig, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: 'http://127.0.0.1:8080/signed-out', state: 'bye-1' });
    const prompt = await browser.request(endUrl);
    expect(prompt.status).toBe(200);
    expectPageSecurityHeaders(prompt);
    const html = await prompt.text();
    const logoutForm = formsOf(html).find((f) => f.action.includes('/session/end/confirm'));
    expect(logoutForm).toBeDefined();
    expect(html).toMatch(/<button[^>]+type="submit"[^>]*>\s*Sign out/);

    const confirmUrl = new URL(logoutForm!.action, endUrl);
    const done = await browser.postForm(confirmUrl, { ...logoutForm!.fields, logout: 'yes' });
    expect([302, 303]).toContain(done.status);
    const back = new URL(done.headers.get('location')!, confirmUrl);
    expect(back.origin + back.pathname).toBe('http://127.0.0.1:8080/signed-out');
    expect(back.searchParams.get('state')).toBe('bye-1');

    // Signed out: the next authorization asks for the password again.
    const again = await browser.navigate((await startAuthorization(appConfig)).url, toCallback);
    expect(again.response.status).toBe(200);
    expect(formsOf(await again.response.text()).some((f) => f.action.endsWith('/login'))).toBe(true);
  });

  it('logout with an unregistered post_logout_redirect_uri -> 400 error page, no redirect', async () => {
    const user = await stack.createUser();
    const browser = new Browser();
    const start = await startAuthorization(config);
    const callback = await signInAndConsent(browser, start.url, user);
    const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: start.verifier, expectedState: start.state, expectedNonce: start.nonce });
    const endUrl = oidc.buildEndSessionUrl(config, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: 'https://attacker.example/' });
    const res = await browser.request(endUrl);
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    expect(await res.text()).toContain('post_logout_redirect_uri');
  });

  it('a logout confirmation without its xsrf value -> 400, the session stays', async () => {
    const res = await fetch(`${stack.issuer}/session/end/confirm`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
      body: 'logout=yes',
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
  });
});

/** Whether a page's CSP lets each of its inline scripts run (by hash or nonce), as a browser decides. */
function inlineScriptsAllowed(html: string, csp: string): boolean {
  const directive = (name: string) => new RegExp(`(?:^|;)\\s*${name}\\s+([^;]*)`).exec(csp)?.[1];
  const sources = (directive('script-src') ?? directive('default-src') ?? '').split(/\s+/);
  return [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)].every(([, attrs = '', body = '']) => {
    const nonce = /nonce="([^"]+)"/.exec(attrs)?.[1];
    const hash = `'sha256-${createHash('sha256').update(body).digest('base64')}'`;
    return sources.includes(hash) || (nonce !== undefined && sources.includes(`'nonce-${nonce}'`));
  });
}

/** The origins a page's CSP lets its forms post to (`'self'` spelled out as the issuer's origin). */
function formActionAllows(csp: string, target: string, self: string): boolean {
  const sources = (/(?:^|;)\s*form-action\s+([^;]*)/.exec(csp)?.[1] ?? '*').split(/\s+/);
  const origin = new URL(target).origin;
  return sources.includes('*') || sources.includes(origin) || (sources.includes("'self'") && origin === new URL(self).origin);
}

describe("oidc-provider's own auto-submitting pages", () => {
  // These pages rely on one inline script (and post to the client's origin): without a script-src
  // naming it and a form-action allowing that origin, a browser leaves them blank on "Submitting Callback".
  it('response_mode=form_post (advertised in discovery): the page that posts the code to the client may run its script and post there', async () => {
    const user = await stack.createUser();
    const start = await startAuthorization(config, { response_mode: 'form_post' });
    const browser = new Browser();
    let step = await browser.navigate(start.url, toCallback);
    const login = formsOf(await step.response.text()).find((f) => f.action.endsWith('/login'))!;
    const loggedIn = await postLogin(browser, step.url, login, user.email, user.password);
    step = await browser.follow(loggedIn, new URL(login.action, step.url), toCallback);
    const allow = formsOf(await step.response.text()).find((f) => f.action.endsWith('/confirm'))!;
    const allowed = await browser.postForm(new URL(allow.action, step.url), allow.fields);
    step = await browser.follow(allowed, new URL(allow.action, step.url), toCallback);
    expect(step.response.status).toBe(200);
    const html = await step.response.text();
    const csp = step.response.headers.get('content-security-policy') ?? '';
    expect(formsOf(html)[0]?.action).toBe(REDIRECT_URI);
    expect(inlineScriptsAllowed(html, csp)).toBe(true);
    expect(formActionAllows(csp, REDIRECT_URI, stack.issuer)).toBe(true);
  });

  it('GET /session/end without a session: the page that confirms the logout by itself may run its script', async () => {
    const res = await fetch(`${stack.issuer}/session/end`, { redirect: 'manual', headers: { accept: 'text/html' } });
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(inlineScriptsAllowed(html, res.headers.get('content-security-policy') ?? '')).toBe(true);
  });
});
