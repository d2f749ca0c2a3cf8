// Security headers on every HTML page of the account-security surface, and the cookie rules
// (issue: account security; contract: Auth server): CSP with a fresh nonce and no script,
// frame-ancestors 'none', nosniff, Referrer-Policy no-referrer, no-store; HttpOnly + SameSite=Lax
// cookies, Secure and __Host-/__Secure- prefixed, plus HSTS, when the issuer is https.
import { generate } from 'otplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RegisteredClient } from '@clouddocs/auth-server';
import { Browser, parseSetCookie } from '../support/browser';
import { oidc } from '../support/rp';
import { startSecurityStack, type SecurityStack } from './support';
import { toPage, Visitor, type Page } from './flow';

let stack: SecurityStack;
let client: RegisteredClient;

beforeAll(async () => {
  stack = await startSecurityStack();
  client = await stack.createClient({ name: 'Header Check' });
});
afterAll(async () => {
  await stack?.stop();
});

const nonces = new Set<string>();

function expectSecurePage(page: Page, name: string) {
  const h = page.headers;
  expect(h.get('content-type'), name).toMatch(/^text\/html/);
  const csp = h.get('content-security-policy') ?? '';
  expect(csp, name).toContain("default-src 'none'");
  expect(csp, name).toContain("frame-ancestors 'none'");
  expect(csp, name).toContain("base-uri 'none'");
  expect(csp, name).toMatch(/form-action /);
  expect(csp, name).not.toContain('unsafe-inline');
  const nonce = /style-src 'nonce-([^']+)'/.exec(csp)?.[1];
  expect(nonce, name).toBeDefined();
  expect(page.html, name).toContain(`<style nonce="${nonce}">`);
  expect(nonces.has(nonce!), `${name}: nonce reused`).toBe(false);
  nonces.add(nonce!);
  expect(page.html, name).not.toMatch(/<script/i);
  expect(h.get('x-content-type-options'), name).toBe('nosniff');
  expect(h.get('referrer-policy'), name).toBe('no-referrer');
  expect(h.get('x-frame-options'), name).toBe('DENY');
  expect(h.get('cache-control'), name).toBe('no-store');
}

describe('security headers', () => {
  it('every page of sign-in, sign-up, reset, second factor, consent, account and mailed links sends them', async () => {
    const user = await stack.createUser();
    const v = new Visitor(stack);
    const pages: [string, Page][] = [];
    const login = await v.open(client);
    pages.push(['login', login]);
    const signupHref = login.html.match(/href="([^"]+\/signup)"/)![1]!;
    const forgotHref = login.html.match(/href="([^"]+\/forgot)"/)![1]!;
    const signup = await v.get(signupHref);
    pages.push(['signup', signup]);
    const email = `hdr-${Date.now()}@example.test`;
    pages.push(['signup refused', await v.submitAndFollow(signup, '/signup', { name: 'H', email, password: 'short' })]);
    pages.push(['signup sent', await v.submitAndFollow(await v.get(signupHref), '/signup', { name: 'Hedda', email, password: 'winter-pepper-orchard-2' })]);
    const verify = await v.get((await stack.mailTo(email)).link!);
    pages.push(['verify email', verify]);
    pages.push(['verify done', await v.submitAndFollow(verify, '/verify-email')]);
    const forgot = await v.get(forgotHref);
    pages.push(['forgot', forgot]);
    const after = Date.now() - 1000;
    pages.push(['forgot sent', await v.submitAndFollow(forgot, '/forgot', { email: user.email })]);
    const reset = await v.get((await stack.mailTo(user.email, { subject: /Reset/, after })).link!);
    pages.push(['reset', reset]);
    pages.push(['reset refused', await v.submitAndFollow(reset, '/reset-password', { password: 'abc' })]);
    pages.push(['reset done', await v.submitAndFollow(reset, '/reset-password', { password: 'shiny-kettle-summit-7' })]);
    pages.push(['expired link', await v.get('/reset-password?token=' + 'x'.repeat(43))]);
    pages.push(['failed sign-in', await v.submitAndFollow(await v.open(client), '/login', { email: user.email, password: 'wrong-password-1' })]);
    const consent = await v.submitAndFollow(await v.open(client), '/login', { email: user.email, password: 'shiny-kettle-summit-7' });
    expect(consent.text).toContain('Allow');
    pages.push(['consent', consent]);

    pages.push(['account signed out', await new Visitor(stack).get('/account')]);
    const account = await v.get('/account');
    expect(account.status).toBe(200);
    pages.push(['account', account]);
    const enrol = await v.submitAndFollow(account, '/account/mfa/totp/start', { password: 'shiny-kettle-summit-7' });
    pages.push(['totp enrol', enrol]);
    const secret = /data-secret="([A-Z2-7]+)"/.exec(enrol.html)![1]!;
    pages.push(['totp wrong code', await v.submitAndFollow(enrol, '/account/mfa/totp/confirm', { code: '000000' })]);
    pages.push(['recovery codes', await v.submitAndFollow(enrol, '/account/mfa/totp/confirm', { code: await generate({ secret }) })]);
    const w = new Visitor(stack);
    const mfa = await w.submitAndFollow(await w.open(client), '/login', { email: user.email, password: 'shiny-kettle-summit-7' });
    expect(mfa.text).toContain('Two-step verification');
    pages.push(['second factor', mfa]);
    pages.push(['second factor refused', await w.submitAndFollow(mfa, '/mfa', { code: '000000' })]);
    pages.push(['expired interaction', await v.get('/interaction/not-a-real-interaction')]);
    pages.push(['logout prompt', await v.get('/session/end')]);

    for (const [name, page] of pages) expectSecurePage(page, name);
    expect(pages.length).toBe(23);
  });

  it('every cookie the pages set is HttpOnly and SameSite=Lax (http issuer: no Secure, no prefix)', async () => {
    const user = await stack.createUser();
    const v = new Visitor(stack);
    await v.signIn(client, user);
    await v.get('/account');
    const names = new Set(v.browser.received.map((c) => c.name));
    expect([...names]).toEqual(expect.arrayContaining(['cd_interaction', 'cd_session', 'cd_csrf']));
    for (const c of v.browser.received) {
      expect(c.attributes.httponly, c.raw).toBe(true);
      expect(String(c.attributes.samesite).toLowerCase(), c.raw).toBe('lax');
    }
  });
});

describe('https issuer', () => {
  it('cookies are Secure with __Host- (session, CSRF) and __Secure- (path-bound) names, and pages send HSTS', async () => {
    const tls = await startSecurityStack({ https: true });
    try {
      const c = await tls.createClient();
      const user = await tls.createUser();
      const browser = new Browser();
      const plain = (u: string) => u.replace(/^https:/, 'http:');
      const hop = (url: string, init: { method?: string; body?: string; headers?: Record<string, string> } = {}) =>
        browser.request(plain(new URL(url, tls.issuer).toString()), { ...init, headers: { 'x-forwarded-proto': 'https', ...init.headers } });
      const verifier = oidc.randomPKCECodeVerifier();
      const auth = new URL('/auth', tls.issuer);
      auth.search = new URLSearchParams({
        client_id: c.client_id,
        response_type: 'code',
        scope: 'openid',
        redirect_uri: 'http://127.0.0.1:8080/callback',
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state: 'tls-state',
      }).toString();
      let res = await hop(auth.toString());
      expect(res.status).toBe(303);
      const loginUrl = res.headers.get('location')!;
      res = await hop(loginUrl);
      const login = await toPage(res, loginUrl);
      expect(login.status).toBe(200);
      expect(login.headers.get('strict-transport-security')).toMatch(/max-age=\d{7,}/);
      const form = login.forms.find((f) => f.action.endsWith('/login'))!;
      res = await hop(form.action, {
        method: 'POST',
        body: new URLSearchParams({ ...form.fields, email: user.email, password: user.password }).toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      expect(res.status).toBe(303);
      for (let i = 0; i < 5 && res.status >= 300 && res.status < 400; i++) {
        const next = res.headers.get('location')!;
        if (next.startsWith('http://127.0.0.1:8080/')) break;
        res = await hop(next);
      }
      const account = await hop('/account');
      expect(account.status).toBe(200);
      expect(account.headers.get('strict-transport-security')).toMatch(/max-age=/);
      await account.text();

      const received = browser.received.map((r) => parseSetCookie(r.raw, new URL(tls.issuer)));
      const names = received.map((r) => r.name);
      expect(names).toEqual(expect.arrayContaining(['__Secure-cd_interaction', '__Host-cd_session', '__Host-cd_csrf']));
      for (const cookie of received) {
        expect(cookie.attributes.secure, cookie.raw).toBe(true);
        expect(cookie.attributes.httponly, cookie.raw).toBe(true);
        expect(String(cookie.attributes.samesite).toLowerCase(), cookie.raw).toBe('lax');
        if (cookie.name.startsWith('__Host-')) {
          expect(cookie.path, cookie.raw).toBe('/');
          expect(cookie.attributes.domain, cookie.raw).toBeUndefined();
        }
      }
      expect(names.every((n) => n.startsWith('__Host-') || n.startsWith('__Secure-'))).toBe(true);
    } finally {
      await tls.stop();
    }
  });
});
