// Passkeys in a real browser (Debian chromium through playwright-core) with the DevTools protocol's
// virtual authenticator: one registered in the account console (the current password first), then a
// sign-in with it alone (amr hwk) and as the second factor after the password (amr pwd hwk mfa) at a
// third-party app; a replayed answer and one rewritten for another origin are refused with a 400; the
// pages that run the passkey script allow exactly that script by nonce, and the others none.
// WebAuthn needs a host name, so this issuer is http://localhost (127.0.0.1 is not a valid RP ID).
import { haveChromium, launchChromium } from '../support/chromium';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/ports';
import { startAuthStack, type AuthStack } from '../support/stack';
import { startNotesApp, type NotesApp } from './relying-party';


let stack: AuthStack;
let app: NotesApp;
let profile: string | undefined;
let context: BrowserContext;
let page: Page;
let user: Awaited<ReturnType<AuthStack['createUser']>>;

const visible = (locator: ReturnType<Page['getByRole']>) => expect.poll(() => locator.isVisible(), { timeout: 10_000 }).toBe(true);

beforeAll(async () => {
  stack = await startAuthStack(process.env, { hostname: 'localhost' });
  const appPort = await freePort();
  const client = await stack.createClient({ name: 'Notes', redirectUris: [`http://127.0.0.1:${appPort}/callback`], grants: ['authorization_code', 'refresh_token'] });
  app = await startNotesApp({ issuer: stack.issuer, port: appPort, clientId: client.client_id, clientSecret: client.client_secret!, scope: 'openid email' });
  user = await stack.createUser({ name: 'Kay Passkey' });
  if (!haveChromium) return;
  profile = await mkdtemp(join(tmpdir(), 'cd-chromium-'));
  context = await launchChromium(profile);
  page = context.pages()[0] ?? (await context.newPage());
  // The DevTools protocol's virtual authenticator: a platform authenticator with a PIN/biometric check that always passes.
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
});
afterAll(async () => {
  await context?.close().catch(() => {});
  if (profile) await rm(profile, { recursive: true, force: true }).catch(() => {});
  await app?.close();
  await stack?.stop();
});

async function auditRows(action: string) {
  await stack.auth.server.audit.flush();
  return stack.admin('audit.events').where({ action, target_id: user.id }).select('outcome', 'detail');
}

/** The app's "Login with CloudDocs" as far as CloudDocs' login page, in a browser without a CloudDocs session. */
async function toLoginPage() {
  await context.clearCookies();
  await page.goto(app.url);
  await page.getByRole('button', { name: 'Login with CloudDocs' }).click();
  await visible(page.getByRole('button', { name: 'Sign in with a passkey' }));
}

/** Allows on the consent page when asked; returns the methods (amr) the app saw in the ID token. */
async function allowAndReadAmr(): Promise<string> {
  await expect.poll(() => page.url().startsWith(app.redirectUri) || page.getByRole('button', { name: 'Allow' }).isVisible(), { timeout: 10_000 }).toBe(true);
  if (!page.url().startsWith(app.redirectUri)) await page.getByRole('button', { name: 'Allow' }).click();
  await expect.poll(() => page.url().startsWith(app.redirectUri), { timeout: 10_000 }).toBe(true);
  return (await page.locator('#amr').textContent()) ?? '';
}

/** The urlencoded answer the page's passkey form would post, caught on its way out (the request is dropped). */
async function catchPasskeyPost(pattern: string, click: () => Promise<void>): Promise<{ url: string; body: string }> {
  let caught: { url: string; body: string } | undefined;
  await page.route(pattern, async (route) => {
    caught = { url: route.request().url(), body: route.request().postData() ?? '' };
    await route.abort();
  });
  await click();
  await expect.poll(() => caught !== undefined, { timeout: 10_000 }).toBe(true);
  await page.unroute(pattern);
  return caught!;
}

const post = (url: string, body: string) =>
  context.request.post(url, { headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' }, data: body, maxRedirects: 0, failOnStatusCode: false });

describe.skipIf(!haveChromium)('passkeys with a virtual authenticator', () => {
  it('account console: the password first, then "Create passkey" -> listed, audited; only the passkey page allows a script, by its nonce', async () => {
    await page.goto(`${stack.issuer}/account/login`);
    await page.getByLabel('Email').fill(user.email);
    await page.getByLabel('Password', { exact: true }).fill(user.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await visible(page.getByRole('heading', { name: 'Passkeys' }));
    const account = await context.request.get(`${stack.issuer}/account`);
    expect(account.headers()['content-security-policy']).not.toContain('script-src');
    expect(await account.text()).not.toContain('<script');

    await page.locator('#passkey-password').fill(user.password);
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    await visible(page.getByRole('button', { name: 'Create passkey' }));
    expect(page.url()).toBe(`${stack.issuer}/account/passkeys/new`);
    const enrol = await context.request.get(`${stack.issuer}/account/passkeys/new`);
    const csp = enrol.headers()['content-security-policy']!;
    const html = await enrol.text();
    const nonce = /<script nonce="([^"]+)">/.exec(html)?.[1];
    expect(nonce).toBeDefined();
    expect(csp).toContain(`script-src 'nonce-${nonce}'`);
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|script-src[^;]*(https?:|\*|'self')/);
    expect(html.match(/<script/g)).toHaveLength(1);

    await page.getByLabel('Name (to tell your passkeys apart)').fill('Test laptop');
    await page.getByRole('button', { name: 'Create passkey' }).click();
    await visible(page.getByRole('button', { name: 'Remove Test laptop' }));
    expect(await page.locator('main').textContent()).toContain('Passkey added');
    expect((await auditRows('auth.mfa.enrolled')).some((r) => r.outcome === 'success' && (r.detail as { method?: string }).method === 'passkey')).toBe(true);
  }, 60_000);

  it('step-up (acr_values=urn:clouddocs:mfa) inside that password session asks only for the passkey -> amr pwd hwk mfa, acr urn:clouddocs:mfa', async () => {
    await page.goto(`${app.url}/login?acr_values=urn:clouddocs:mfa`);
    await visible(page.getByRole('button', { name: 'Use your passkey' }));
    expect(await page.getByLabel('Password', { exact: true }).count()).toBe(0);
    await page.getByRole('button', { name: 'Use your passkey' }).click();
    expect(await allowAndReadAmr()).toBe('pwd hwk mfa');
    expect(await page.locator('#acr').textContent()).toBe('urn:clouddocs:mfa');
  }, 60_000);

  it('sign-in with the passkey alone at a third-party app -> the ID token says amr hwk (acr urn:clouddocs:mfa: user verified); the login page allows only its script', async () => {
    await toLoginPage();
    const login = await context.request.get(page.url());
    const nonce = /<script nonce="([^"]+)">/.exec(await login.text())?.[1];
    expect(login.headers()['content-security-policy']).toContain(`script-src 'nonce-${nonce}'`);
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    expect(await allowAndReadAmr()).toBe('hwk');
    expect(await page.locator('#acr').textContent()).toBe('urn:clouddocs:mfa');
    const signIns = await auditRows('auth.login.succeeded');
    expect(signIns.some((r) => (r.detail as { method?: string }).method === 'passkey')).toBe(true);
  }, 60_000);

  it('the password, then the passkey as the second factor -> amr pwd hwk mfa', async () => {
    await toLoginPage();
    await page.getByLabel('Email').fill(user.email);
    await page.getByLabel('Password', { exact: true }).fill(user.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await visible(page.getByRole('button', { name: 'Use your passkey' }));
    await page.getByRole('button', { name: 'Use your passkey' }).click();
    expect(await allowAndReadAmr()).toBe('pwd hwk mfa');
  }, 60_000);

  it('an answer rewritten for another origin -> 400; an answer posted twice -> the first signs in (303), the replay is 400; never a 5xx', async () => {
    await toLoginPage();
    const foreign = await catchPasskeyPost('**/interaction/*/passkey', () => page.getByRole('button', { name: 'Sign in with a passkey' }).click());
    const fields = new URLSearchParams(foreign.body);
    const answer = JSON.parse(fields.get('response')!) as { response: { clientDataJSON: string } };
    const clientData = JSON.parse(Buffer.from(answer.response.clientDataJSON, 'base64url').toString('utf8')) as { origin: string };
    expect(clientData.origin).toBe(stack.issuer);
    answer.response.clientDataJSON = Buffer.from(JSON.stringify({ ...clientData, origin: 'https://evil.example' })).toString('base64url');
    fields.set('response', JSON.stringify(answer));
    const refused = await post(foreign.url, fields.toString());
    expect(refused.status()).toBe(400);
    expect(await refused.text()).toContain('That passkey could not be used');

    await page.reload();
    const genuine = await catchPasskeyPost('**/interaction/*/passkey', () => page.getByRole('button', { name: 'Sign in with a passkey' }).click());
    const first = await post(genuine.url, genuine.body);
    expect(first.status()).toBe(303);
    const replay = await post(genuine.url, genuine.body);
    expect(replay.status()).toBe(400);
    expect(await replay.text()).toContain('That passkey could not be used');

    await stack.auth.server.audit.flush();
    const failures = await stack.admin('audit.events').where({ action: 'auth.login.failed' }).select('detail');
    const reasons = failures.map((r) => (r.detail as { reason?: string }).reason);
    expect(reasons).toContain('passkey_not_verified'); // the foreign origin
    expect(reasons).toContain('passkey_replayed');
  }, 60_000);

  it('Remove in the account console (password again) -> gone, audited', async () => {
    await context.clearCookies();
    await page.goto(`${stack.issuer}/account/login`);
    await page.getByLabel('Email').fill(user.email);
    await page.getByLabel('Password', { exact: true }).fill(user.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    // The account has a passkey: it is now the second factor.
    await page.getByRole('button', { name: 'Use your passkey' }).click();
    await visible(page.getByRole('button', { name: 'Remove Test laptop' }));
    await page.locator('form[action="/account/passkeys/remove"] input[name=password]').fill(user.password);
    await page.getByRole('button', { name: 'Remove Test laptop' }).click();
    await visible(page.getByRole('heading', { name: 'Passkeys' }));
    expect(await page.locator('main').textContent()).toContain('Passkey removed');
    expect(await page.getByRole('button', { name: 'Remove Test laptop' }).count()).toBe(0);
    expect((await auditRows('auth.mfa.disabled')).some((r) => (r.detail as { method?: string }).method === 'passkey')).toBe(true);
  }, 60_000);

  it('the data download lists passkeys (never key material); the admin API counts them, and "reset second factors" removes them', async () => {
    await page.goto(`${stack.issuer}/account`);
    await page.locator('#passkey-password').fill(user.password);
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    await page.getByLabel('Name (to tell your passkeys apart)').fill('Second key');
    await page.getByRole('button', { name: 'Create passkey' }).click();
    await visible(page.getByRole('button', { name: 'Remove Second key' }));

    const data = (await (await context.request.get(`${stack.issuer}/account/data`)).json()) as { passkeys: Record<string, unknown>[] };
    expect(data.passkeys).toEqual([expect.objectContaining({ name: 'Second key', synced: false })]);
    expect(Object.keys(data.passkeys[0]!).sort()).toEqual(['createdAt', 'id', 'lastUsedAt', 'name', 'synced']);

    const operator = await stack.createClient({ name: 'operator', grants: ['client_credentials'], scope: 'admin:read admin:write', redirectUris: [] });
    const tokenRes = await fetch(`${stack.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${operator.client_id}:${operator.client_secret}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'admin:read admin:write' }).toString(),
    });
    const adminToken = ((await tokenRes.json()) as { access_token: string }).access_token;
    const adminApi = async (method: string, path: string) => {
      const res = await fetch(`${stack.issuer}/admin/v1${path}`, { method, headers: { authorization: `Bearer ${adminToken}`, accept: 'application/json' } });
      return { status: res.status, body: (await res.json()) as { second_factors: { passkeys: number } } };
    };
    expect((await adminApi('GET', `/users/${user.id}`)).body.second_factors.passkeys).toBe(1);
    const reset = await adminApi('POST', `/users/${user.id}/reset-second-factors`);
    expect(reset.status).toBe(200);
    expect(reset.body.second_factors.passkeys).toBe(0);
    await page.goto(`${stack.issuer}/account`);
    expect(await page.locator('main').textContent()).toContain('No passkey yet');
  }, 60_000);
});
