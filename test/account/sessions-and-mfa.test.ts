// Sessions, second factor and the account console through the real pages (issue: account security):
// a new session id at sign-in, logout ending the session server-side, TOTP codes accepted once,
// recovery codes single-use, second-factor guesses throttled, single-use reset links, CSRF on every form.
import { randomBytes } from 'node:crypto';
import { generate } from 'otplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RegisteredClient } from '@clouddocs/auth-server';
import { decodeJwtParts } from '../support/rp';
import { startSecurityStack, type SecurityStack } from './support';
import { atCallback, toPage, Visitor, type Page } from './flow';

let stack: SecurityStack;
let client: RegisteredClient;

beforeAll(async () => {
  stack = await startSecurityStack();
  client = await stack.createClient();
});
afterAll(async () => {
  await stack?.stop();
});

/** Signs in to the account console (/account) through the ordinary sign-in page. */
export async function signInToAccount(v: Visitor, user: { email: string; password: string }): Promise<Page> {
  const login = await v.get('/account/login');
  expect(login.url).toMatch(/\/interaction\//);
  const page = await v.submitAndFollow(login, '/login', { email: user.email, password: user.password });
  expect(page.url).toBe(`${stack.issuer}/account`);
  expect(page.status).toBe(200);
  return page;
}

/** The session cookie pair (value and signature) as a Cookie header, to replay it later. */
function sessionCookieHeader(v: Visitor): string {
  return v.browser
    .cookies()
    .filter((c) => c.name === 'cd_session' || c.name === 'cd_session.sig')
    .map((c) => `${c.name}=${c.value}`)
    .join('; ');
}

/** Whether this Cookie header opens the account console (else it shows the signed-out page). */
async function signedInWith(cookie: string): Promise<boolean> {
  const res = await fetch(`${stack.issuer}/account`, { headers: { cookie, accept: 'text/html' } });
  const html = await res.text();
  expect(res.status).toBe(200);
  return html.includes('Where you are signed in');
}

async function enrolTotp(v: Visitor, password: string): Promise<{ secret: string; recoveryCodes: string[] }> {
  const account = await v.get('/account');
  // The current password is asked first (a stolen session alone cannot add a second factor).
  const refused = await v.submitAndFollow(account, '/account/mfa/totp/start', { password: 'not-the-password-0' });
  expect(refused.status).toBe(400);
  expect(refused.text).toContain('The password is incorrect.');
  const enrol = await v.submitAndFollow(refused, '/account/mfa/totp/start', { password });
  const secret = /data-secret="([A-Z2-7]+)"/.exec(enrol.html)?.[1];
  expect(secret).toBeDefined();
  expect(enrol.html).toMatch(/<img src="data:image\/png;base64,[A-Za-z0-9+/=]+"/);
  const codes = await v.submitAndFollow(enrol, '/account/mfa/totp/confirm', { code: await generate({ secret: secret! }) });
  expect(codes.url).toBe(`${stack.issuer}/account/mfa/recovery-codes`);
  const recoveryCodes = [...codes.html.matchAll(/<li><code>([a-z0-9-]+)<\/code><\/li>/g)].map((m) => m[1]!);
  expect(recoveryCodes).toHaveLength(10);
  // Shown once only.
  expect((await v.get('/account/mfa/recovery-codes')).url).toBe(`${stack.issuer}/account`);
  return { secret: secret!, recoveryCodes };
}

const stepCode = (secret: string, stepsAhead: number) => generate({ secret, epoch: Math.floor(Date.now() / 1000) + 30 * stepsAhead });

describe('sessions', () => {
  it('the session id changes at sign-in: a fresh id on every login, and the old cookie opens nothing', async () => {
    const user = await stack.createUser();
    const v = new Visitor(stack);
    const before = (await v.open(client), v.sessionCookie());
    await v.signIn(client, user);
    const first = v.sessionCookie();
    const firstCookie = sessionCookieHeader(v);
    expect(first).toEqual(expect.any(String));
    expect(first).not.toBe(before);
    expect(await signedInWith(firstCookie)).toBe(true);

    // Signing in again in the same browser (prompt=login) rotates the id; the previous one is dead.
    await v.signIn(client, user, { prompt: 'login consent' });
    const second = v.sessionCookie();
    expect(second).not.toBe(first);
    expect(await signedInWith(firstCookie)).toBe(false);
    expect(await signedInWith(sessionCookieHeader(v))).toBe(true);
  });

  it('logout (RP-initiated, /session/end) ends the session server-side: replaying its cookie opens nothing', async () => {
    const user = await stack.createUser();
    const v = new Visitor(stack);
    await signInToAccount(v, user);
    const cookie = sessionCookieHeader(v);
    expect(await signedInWith(cookie)).toBe(true);
    const prompt = await v.get('/session/end');
    expect(prompt.text).toContain('Sign out of CloudDocs?');
    const form = prompt.forms[0]!;
    const res = await v.browser.postForm(new URL(form.action, prompt.url), { ...form.fields, logout: 'yes' });
    expect([302, 303]).toContain(res.status);
    expect(await signedInWith(cookie)).toBe(false);
    const events = await stack.auditActions();
    expect(events.some((e) => e.action === 'auth.logout')).toBe(true);
  });

  it('the account page lists this browser and another one; signing the other out ends it', async () => {
    const user = await stack.createUser();
    const here = new Visitor(stack);
    const there = new Visitor(stack);
    await signInToAccount(there, user);
    const page = await signInToAccount(here, user);
    expect(page.text).toContain('This browser');
    expect(page.text).toContain('Another browser');
    expect(page.text).toContain('apps used: CloudDocs account');
    const other = page.forms.find((f) => f.action === '/account/sessions/revoke' && f.button.includes('that browser'))!;
    const done = await here.submitAndFollow(page, '/account/sessions/revoke', other.fields);
    expect(done.text).toContain('That browser is signed out.');
    expect(await signedInWith(sessionCookieHeader(there))).toBe(false);
    expect(await signedInWith(sessionCookieHeader(here))).toBe(true);
    expect((await stack.auditActions()).some((e) => e.action === 'auth.session.revoked')).toBe(true);
  });
});

describe('second factor', () => {
  it('TOTP at sign-in: a code is accepted once (replay refused), a recovery code once; amr = pwd otp mfa', async () => {
    const user = await stack.createUser();
    const v = new Visitor(stack);
    await signInToAccount(v, user);
    const { secret, recoveryCodes } = await enrolTotp(v, user.password);

    const code = await stepCode(secret, 1);
    const a = new Visitor(stack);
    const mfa = await a.submitAndFollow(await a.open(client), '/login', { email: user.email, password: user.password });
    expect(mfa.text).toContain('Two-step verification');
    expect(a.sessionCookie()).toBeUndefined(); // no session until the second factor
    let next = await a.submitAndFollow(mfa, '/mfa', { code });
    if (!atCallback(next.url)) next = await a.submitAndFollow(next, '/confirm');
    const tokens = await a.redeem(next.url);
    expect(decodeJwtParts(tokens.id_token!).payload).toMatchObject({ amr: ['pwd', 'otp', 'mfa'], acr: 'urn:clouddocs:mfa' });

    // The same code again, in another sign-in: refused.
    const b = new Visitor(stack);
    const mfaB = await b.submitAndFollow(await b.open(client), '/login', { email: user.email, password: user.password });
    const replay = await b.submitAndFollow(mfaB, '/mfa', { code });
    expect(replay.status).toBe(200);
    expect(replay.text).toContain('That code is not valid');

    // A recovery code works once (any case, with or without the dash).
    const rc = recoveryCodes[3]!;
    const ok = await b.submitAndFollow(replay, '/mfa', { code: rc.toUpperCase() });
    expect(ok.url).toMatch(/\/interaction\/|callback/);
    expect(ok.status === 200 || ok.status === 303).toBe(true);
    const c = new Visitor(stack);
    const mfaC = await c.submitAndFollow(await c.open(client), '/login', { email: user.email, password: user.password });
    const again = await c.submitAndFollow(mfaC, '/mfa', { code: rc.replace('-', '') });
    expect(again.text).toContain('That code is not valid');

    const events = await stack.auditActions();
    expect(events.some((e) => e.action === 'auth.mfa.enrolled' && e.target_id === user.id)).toBe(true);
    expect(events.filter((e) => e.action === 'auth.mfa.failed' && e.target_id === user.id).length).toBeGreaterThanOrEqual(2);
  });

  it('five wrong codes -> 429 with Retry-After, and the password step must be done again', async () => {
    const user = await stack.createUser();
    const v = new Visitor(stack);
    await signInToAccount(v, user);
    await enrolTotp(v, user.password);
    const a = new Visitor(stack);
    let page = await a.submitAndFollow(await a.open(client), '/login', { email: user.email, password: user.password });
    for (let i = 0; i < 5; i++) {
      page = await a.submitAndFollow(page, '/mfa', { code: String(100000 + i) });
      expect(page.text).toContain('That code is not valid');
    }
    page = await a.submitAndFollow(page, '/mfa', { code: '999999' });
    expect(page.status).toBe(429);
    expect(Number(page.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(page.text).toContain('Too many sign-in attempts');
    expect(page.forms.some((f) => f.action.endsWith('/login'))).toBe(true);
  });

  it('new recovery codes and turning two-step verification off both need the current password', async () => {
    const user = await stack.createUser();
    const v = new Visitor(stack);
    await signInToAccount(v, user);
    const { recoveryCodes } = await enrolTotp(v, user.password);
    let page = await v.get('/account');
    expect(page.text).toContain('Recovery codes left: 10');
    const fresh = await v.submitAndFollow(page, '/account/mfa/recovery-codes', { password: user.password });
    const renewed = [...fresh.html.matchAll(/<li><code>([a-z0-9-]+)<\/code><\/li>/g)].map((m) => m[1]!);
    expect(renewed).toHaveLength(10);
    expect(renewed.some((c) => recoveryCodes.includes(c))).toBe(false);
    page = await v.get('/account');
    page = await v.submitAndFollow(page, '/account/mfa/disable', { password: 'not-my-password-9' });
    expect(page.status).toBe(400);
    expect(page.text).toContain('The password is incorrect.');
    page = await v.submitAndFollow(page, '/account/mfa/disable', { password: user.password });
    expect(page.text).toContain('Two-step verification is off.');
    expect((await stack.auditActions()).some((e) => e.action === 'auth.mfa.disabled' && e.outcome === 'success')).toBe(true);
  });
});

describe('mailed links and CSRF', () => {
  it('a reset link works once and not after it expires; the reset ends every session', async () => {
    const user = await stack.createUser();
    const signedIn = new Visitor(stack);
    await signInToAccount(signedIn, user);

    const v = new Visitor(stack);
    const login = await v.open(client);
    const forgot = await v.get(login.html.match(/href="([^"]+\/forgot)"/)![1]!);
    const after = Date.now() - 1000;
    const sent = await v.submitAndFollow(forgot, '/forgot', { email: user.email });
    expect(sent.text).toContain('If an account exists for the address you entered');
    const mail = await stack.mailTo(user.email, { subject: /Reset/, after });
    const form = await v.get(mail.link!);
    const done = await v.submitAndFollow(form, '/reset-password', { password: 'fresh-meadow-lantern-5' });
    expect(done.text).toContain('Password changed');
    expect((await v.get(mail.link!)).text).toContain('This link has expired');
    const replay = await v.submitAndFollow(form, '/reset-password', { password: 'another-fresh-phrase-6' });
    expect(replay.status).toBe(400);
    expect(await signedInWith(sessionCookieHeader(signedIn))).toBe(false);

    // An expired link (30 minutes) is refused.
    const sent2 = Date.now(); // strictly after the first mail, which was already read
    await v.submitAndFollow(await v.get(login.html.match(/href="([^"]+\/forgot)"/)![1]!), '/forgot', { email: user.email });
    const mail2 = await stack.mailTo(user.email, { subject: /Reset/, after: sent2 });
    expect(mail2.link).not.toBe(mail.link);
    await stack.admin('auth.account_tokens').update({ expires_at: new Date(Date.now() - 1000).toISOString() });
    expect((await v.get(mail2.link!)).text).toContain('This link has expired');

    const events = await stack.auditActions();
    expect(events.some((e) => e.action === 'auth.password_reset.requested' && e.target_id === user.id)).toBe(true);
    expect(events.some((e) => e.action === 'auth.password_reset.completed' && e.target_id === user.id)).toBe(true);
  });

  it('an unconfirmed address: the account page sends a new confirmation link, which confirms it once', async () => {
    const user = await stack.createUser({ emailVerified: false });
    const v = new Visitor(stack);
    let page = await signInToAccount(v, user);
    expect(page.text).toContain('(not confirmed yet)');
    const after = Date.now();
    page = await v.submitAndFollow(page, '/account/verify-email');
    expect(page.text).toContain('We sent a new confirmation link');
    const mail = await stack.mailTo(user.email, { subject: /Confirm your email/, after });
    const confirm = await v.get(mail.link!);
    const done = await v.submitAndFollow(confirm, '/verify-email');
    expect(done.text).toContain('Email address confirmed');
    expect((await v.get('/account')).text).toContain('(confirmed)');
    expect((await v.get(mail.link!)).text).toContain('This link has expired');
    expect((await stack.auditActions()).some((e) => e.action === 'auth.email_verified' && e.target_id === user.id)).toBe(true);
  });

  it('a reset for an unknown email and sign-up with a taken email answer exactly like the real thing', async () => {
    const user = await stack.createUser();
    const v = new Visitor(stack);
    const login = await v.open(client);
    const forgotHref = login.html.match(/href="([^"]+\/forgot)"/)![1]!;
    const known = await v.submitAndFollow(await v.get(forgotHref), '/forgot', { email: user.email });
    const unknown = await v.submitAndFollow(await v.get(forgotHref), '/forgot', { email: `nobody-${randomBytes(3).toString('hex')}@example.test` });
    expect([known.status, known.url]).toEqual([unknown.status, unknown.url]);
    expect(known.text).toBe(unknown.text);

    const signupHref = login.html.match(/href="([^"]+\/signup)"/)![1]!;
    const taken = await v.submitAndFollow(await v.get(signupHref), '/signup', { name: 'Copy Cat', email: user.email, password: 'unique-harbor-violet-3' });
    const fresh = await v.submitAndFollow(await v.get(signupHref), '/signup', { name: 'New Person', email: `new-${randomBytes(3).toString('hex')}@example.test`, password: 'unique-harbor-violet-3' });
    expect([taken.status, taken.url, taken.text]).toEqual([fresh.status, fresh.url, fresh.text]);
    // The owner of the address hears about it by mail instead.
    const mail = await stack.mailTo(user.email, { subject: /tried to create a CloudDocs account/ });
    expect(mail.link).toMatch(/\/reset-password\?token=/);
  });

  it('every form refuses a POST without its CSRF field (403), and every credential POST answers 303', async () => {
    const user = await stack.createUser();
    const v = new Visitor(stack);
    const login = await v.open(client);
    for (const suffix of ['/login', '/signup', '/forgot', '/mfa', '/confirm', '/abort']) {
      const uidPath = new URL(login.forms[0]!.action, login.url).pathname.replace(/\/login$/, '');
      const res = await v.browser.postForm(new URL(uidPath + suffix, stack.issuer), { csrf: 'forged', email: user.email, password: user.password, name: 'x', code: '123456' });
      const page = await toPage(res, uidPath + suffix);
      expect(page.status, suffix).toBeGreaterThanOrEqual(400);
      expect(page.status, suffix).not.toBe(303);
    }
    await signInToAccount(v, user);
    for (const path of ['/account/mfa/totp/start', '/account/mfa/totp/confirm', '/account/mfa/recovery-codes', '/account/apps/revoke', '/account/sessions/revoke', '/account/mfa/disable', '/account/verify-email', '/verify-email', '/reset-password']) {
      const res = await v.browser.postForm(new URL(path, stack.issuer), { csrf: 'forged' });
      expect(res.status, path).toBe(403);
      await res.body?.cancel();
    }
    const fresh = new Visitor(stack);
    const ok = await fresh.submit(await fresh.open(client), '/login', { email: user.email, password: user.password });
    expect(ok.response.status).toBe(303);
  });
});
