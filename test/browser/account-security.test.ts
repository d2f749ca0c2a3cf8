// A real browser (Debian chromium through playwright-core) going through the account-security pages
// from a third-party app's "Login with CloudDocs" button: sign-up, email confirmation from the dev
// outbox, sign-in, consent, back at the app with tokens; TOTP enrolment and sign-in with a code;
// removing the app from the account page kills its refresh token; password reset with a recovery code.
// Screenshots of every page are written under test-results/browser/ when a test fails.
import { haveChromium, launchChromium } from '../support/chromium';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { generate } from 'otplib';
import { type BrowserContext, type Locator, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RegisteredClient } from '@clouddocs/auth-server';
import { freePort } from '../support/ports';
import { startSecurityStack, type SecurityStack } from '../account/support';
import { startNotesApp, type NotesApp } from './relying-party';


const ARTIFACTS = resolve(import.meta.dirname, '../../test-results/browser');

let stack: SecurityStack;
let app: NotesApp;
let client: RegisteredClient;
const profiles: string[] = [];
const contexts: BrowserContext[] = [];
let shots: { name: string; png: Buffer }[] = [];

const person = { name: 'Ada Browser', email: `ada-${Date.now()}@example.test`, password: 'velvet-tundra-compass-42' };
const newPassword = 'amber-glacier-piano-913';
let totpSecret = '';
let recoveryCodes: string[] = [];

async function newBrowser(): Promise<{ context: BrowserContext; page: Page }> {
  const dir = await mkdtemp(join(tmpdir(), 'cd-chromium-'));
  profiles.push(dir);
  const context = await launchChromium(dir);
  contexts.push(context);
  const page = context.pages()[0] ?? (await context.newPage());
  return { context, page };
}

async function snap(page: Page, name: string) {
  shots.push({ name: `${String(shots.length).padStart(2, '0')}-${name}`, png: await page.screenshot({ fullPage: true }) });
}

/** Current TOTP code; `stepsAhead` gives a later step's code (each step's code is accepted once). */
const totp = (stepsAhead = 0) => generate({ secret: totpSecret, epoch: Math.floor(Date.now() / 1000) + 30 * stepsAhead });

beforeAll(async () => {
  stack = await startSecurityStack();
  const appPort = await freePort();
  client = await stack.createClient({
    name: 'Notes',
    redirectUris: [`http://127.0.0.1:${appPort}/callback`],
    grants: ['authorization_code', 'refresh_token'],
  });
  app = await startNotesApp({ issuer: stack.issuer, port: appPort, clientId: client.client_id, clientSecret: client.client_secret!, scope: 'openid email profile offline_access docs:read' });
});

afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail') {
    // The page each browser was on when the test failed.
    for (const [i, c] of contexts.entries()) {
      for (const p of c.pages()) shots.push({ name: `zz-final-browser${i}`, png: await p.screenshot({ fullPage: true }).catch(() => Buffer.alloc(0)) });
    }
    const dir = join(ARTIFACTS, ctx.task.name.replace(/[^A-Za-z0-9]+/g, '-').slice(0, 80));
    await mkdir(dir, { recursive: true });
    await Promise.all(shots.map((s) => writeFile(join(dir, `${s.name}.png`), s.png)));
  }
  shots = [];
});

afterAll(async () => {
  await Promise.all(contexts.map((c) => c.close().catch(() => {})));
  await Promise.all(profiles.map((d) => rm(d, { recursive: true, force: true }).catch(() => {})));
  await app?.close();
  await stack?.stop();
});

let first: { context: BrowserContext; page: Page };

describe.skipIf(!haveChromium)('in a real browser', () => {
  it('Login with CloudDocs -> create an account -> confirm the email from the outbox -> sign in -> Allow -> back at the app with tokens', async () => {
    first = await newBrowser();
    const { page } = first;
    await page.goto(app.url);
    await snap(page, 'app-home');
    await page.getByRole('button', { name: 'Login with CloudDocs' }).click();
    await expect.poll(() => page.url()).toContain(`${stack.issuer}/interaction/`);
    await snap(page, 'login');
    const loginUrl = page.url();

    await page.getByRole('link', { name: 'Create an account' }).click();
    await snap(page, 'signup');
    await page.getByLabel('Name').fill(person.name);
    await page.getByLabel('Email').fill(person.email);
    await page.getByLabel('Password').fill('password1');
    await page.getByRole('button', { name: 'Create account' }).click();
    expect(await textOf(page.getByRole('alert'))).toContain('most commonly used passwords');
    await snap(page, 'signup-common-password');
    await page.getByLabel('Password').fill(person.password);
    await page.getByRole('button', { name: 'Create account' }).click();
    await visible(page.getByRole('heading', { name: 'Check your email' }));
    await snap(page, 'signup-sent');

    const mail = await stack.mailTo(person.email, { subject: /Confirm your email/ });
    expect(mail.link).toMatch(new RegExp(`^${stack.issuer}/verify-email\\?token=[A-Za-z0-9_-]{43}$`));
    await page.goto(mail.link!);
    await snap(page, 'verify-email');
    await page.getByRole('button', { name: 'Confirm email address' }).click();
    await visible(page.getByRole('heading', { name: 'Email address confirmed' }));
    await snap(page, 'verified');
    await page.getByRole('link', { name: 'Continue signing in' }).click();
    expect(page.url()).toBe(loginUrl);

    await page.getByLabel('Email').fill(person.email);
    await page.getByLabel('Password').fill(person.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await visible(page.getByRole('heading', { name: /^Allow Notes/ }));
    await snap(page, 'consent');
    await page.getByRole('button', { name: 'Allow' }).click();
    expect(await textOf(page.locator('#email'))).toBe(person.email);
    await snap(page, 'app-signed-in');
    expect(await textOf(page.locator('#email-verified'))).toBe('true');
    expect(await textOf(page.locator('#amr'))).toBe('pwd');
    expect(await textOf(page.locator('#has-refresh'))).toBe('yes');
    expect(page.url().startsWith(app.redirectUri)).toBe(true);

    const cookies = await first.context.cookies(stack.issuer);
    for (const c of cookies) {
      expect(c.httpOnly, c.name).toBe(true);
      expect(c.sameSite, c.name).toBe('Lax');
    }
  });

  it('TOTP: enrol on the account page with the QR code (code computed with otplib), then sign in with password + code; amr says otp', async () => {
    const { page } = first;
    await page.goto(`${stack.issuer}/account`);
    await visible(page.getByRole('heading', { name: 'Your CloudDocs account' }));
    await snap(page, 'account');
    await page.getByRole('region', { name: 'Two-step verification' }).getByLabel('Current password').fill(person.password);
    await page.getByRole('button', { name: 'Set up an authenticator app' }).click();
    await visible(page.getByRole('img', { name: /QR code/ }));
    await snap(page, 'totp-enrol');
    expect(await page.getByRole('img', { name: /QR code/ }).getAttribute('src')).toMatch(/^data:image\/png;base64,/);
    totpSecret = (await page.locator('#totp-secret').getAttribute('data-secret'))!;
    expect(totpSecret).toMatch(/^[A-Z2-7]{32}$/);
    await page.getByLabel('Code').fill('000000');
    await page.getByRole('button', { name: 'Turn on' }).click();
    expect(await textOf(page.getByRole('alert'))).toContain('did not match');
    await page.getByLabel('Code').fill(await totp());
    await page.getByRole('button', { name: 'Turn on' }).click();
    await visible(page.getByRole('heading', { name: 'Save your recovery codes' }));
    await snap(page, 'recovery-codes');
    recoveryCodes = await page.locator('#recovery-codes code').allTextContents();
    expect(recoveryCodes).toHaveLength(10);

    // A fresh sign-in at the app (prompt=login): password, then the authenticator code.
    await page.goto(`${app.url}/?prompt=login%20consent`);
    await page.getByRole('button', { name: 'Login with CloudDocs' }).click();
    await page.getByLabel('Email').fill(person.email);
    await page.getByLabel('Password').fill(person.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await visible(page.getByRole('heading', { name: 'Two-step verification' }));
    await snap(page, 'second-factor');
    await page.getByLabel(/Code from your authenticator app/).fill('123456');
    await page.getByRole('button', { name: 'Verify' }).click();
    expect(await textOf(page.getByRole('alert'))).toContain('not valid');
    // The enrolment used the current step; the next step's code is new (a replay would be refused).
    await page.getByLabel(/Code from your authenticator app/).fill(await totp(1));
    await page.getByRole('button', { name: 'Verify' }).click();
    await visible(page.getByRole('heading', { name: /^Allow Notes/ }));
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForURL((u) => u.href.startsWith(app.redirectUri));
    await snap(page, 'app-signed-in-mfa');
    expect(await textOf(page.locator('#email'))).toBe(person.email);
    expect(await textOf(page.locator('#amr'))).toBe('pwd otp mfa');
  });

  it('removing Notes on the account page: its refresh token stops working and its JWT access token introspects inactive', async () => {
    const { page } = first;
    const held = app.tokens()!;
    expect(held.access_token.split('.')).toHaveLength(3); // docs:read -> an RFC 9068 JWT
    await page.goto(`${app.url}/refresh`);
    expect(await textOf(page.locator('#refresh'))).toBe('refreshed');
    const jwt = app.tokens()!.access_token;
    expect((await introspect(jwt)).active).toBe(true);

    await page.goto(`${stack.issuer}/account`);
    await visible(page.getByRole('heading', { name: 'Connected apps' }));
    await snap(page, 'account-apps');
    await page.getByRole('button', { name: 'Remove access for Notes' }).click();
    expect(await textOf(page.getByRole('status'))).toContain('Access removed');
    await snap(page, 'account-app-removed');
    expect(await page.getByRole('button', { name: 'Remove access for Notes' }).count()).toBe(0);

    await page.goto(`${app.url}/refresh`);
    expect(await textOf(page.locator('#refresh'))).toBe('refresh failed: invalid_grant');
    await snap(page, 'app-refresh-failed');
    expect((await introspect(jwt)).active).toBe(false);
    const events = await stack.auditActions();
    expect(events.some((e) => e.action === 'grant.revoked' && (e.detail as { route?: string }).route === 'account')).toBe(true);
  });

  it('forgot password -> reset link from the outbox -> new password -> sign in with it and a recovery code; the old sessions are gone', async () => {
    const { page } = await newBrowser();
    await page.goto(app.url);
    await page.getByRole('button', { name: 'Login with CloudDocs' }).click();
    await page.getByRole('link', { name: 'Forgot your password?' }).click();
    await snap(page, 'forgot');
    const requested = Date.now() - 1000;
    await page.getByLabel('Email').fill(person.email);
    await page.getByRole('button', { name: 'Send reset link' }).click();
    await visible(page.getByRole('heading', { name: 'Check your email' }));
    await snap(page, 'forgot-sent');
    const mail = await stack.mailTo(person.email, { subject: /Reset your CloudDocs password/, after: requested });
    await page.goto(mail.link!);
    await snap(page, 'reset');
    await page.getByLabel('New password').fill('qwerty123');
    await page.getByRole('button', { name: 'Change password' }).click();
    expect(await textOf(page.getByRole('alert'))).toContain('most commonly used');
    await page.getByLabel('New password').fill(newPassword);
    await page.getByRole('button', { name: 'Change password' }).click();
    await visible(page.getByRole('heading', { name: 'Password changed' }));
    await snap(page, 'reset-done');
    // The link works once.
    const again = await fetch(mail.link!);
    expect(await again.text()).toContain('This link has expired');

    await page.getByRole('link', { name: 'Continue signing in' }).click();
    await page.getByLabel('Email').fill(person.email);
    await page.getByLabel('Password').fill(person.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    expect(await textOf(page.getByRole('alert'))).toContain('The email or password is incorrect.');
    await page.getByLabel('Password').fill(newPassword);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await visible(page.getByRole('heading', { name: 'Two-step verification' }));
    await page.getByLabel(/Code from your authenticator app/).fill(recoveryCodes[0]!);
    await page.getByRole('button', { name: 'Verify' }).click();
    await visible(page.getByRole('heading', { name: /^Allow Notes/ }));
    await page.getByRole('button', { name: 'Allow' }).click();
    expect(await textOf(page.locator('#email'))).toBe(person.email);
    await snap(page, 'app-after-reset');

    // Every step above is one audit event (committed before its response).
    const events = await stack.auditActions();
    const actions = new Set(events.map((e) => e.action));
    for (const action of ['auth.signup', 'auth.email_verified', 'auth.login.succeeded', 'auth.login.failed', 'auth.consent.granted', 'auth.mfa.enrolled', 'auth.mfa.failed', 'grant.revoked', 'auth.password_reset.requested', 'auth.password_reset.completed', 'token.issued', 'token.refreshed']) {
      expect(actions.has(action), action).toBe(true);
    }

    // The first browser was signed out everywhere by the reset.
    await first.page.goto(`${stack.issuer}/account`);
    await visible(first.page.getByRole('link', { name: 'Sign in' }));
    await snap(first.page, 'account-signed-out');
  });
});

/** Waits for the element (the page may still be loading after a click). */
async function visible(locator: Locator): Promise<void> {
  await locator.first().waitFor({ state: 'visible', timeout: 20_000 });
}

async function textOf(locator: Locator): Promise<string> {
  await visible(locator);
  return ((await locator.first().textContent()) ?? '').trim();
}

async function introspect(token: string): Promise<{ active: boolean }> {
  const res = await fetch(`${stack.issuer}/token/introspection`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(client.client_id)}:${encodeURIComponent(client.client_secret!)}`).toString('base64')}`,
    },
    body: new URLSearchParams({ token }).toString(),
  });
  return (await res.json()) as { active: boolean };
}
