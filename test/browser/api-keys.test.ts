// The account console's API key pages in a real browser (Debian chromium through playwright-core):
// sign in, create a key (shown once, on a no-store page), use it at the docs API, revoke it, and the
// docs API refuses it on the next request.
import { haveChromium, launchChromium } from '../support/chromium';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDocsStack, type DocsStack, type User } from '../docs/support';


let stack: DocsStack;
let person: User;
let context: BrowserContext;
let profile: string;

beforeAll(async () => {
  stack = await startDocsStack();
  person = await stack.createUser('keys');
  profile = await mkdtemp(join(tmpdir(), 'cd-chromium-'));
  if (haveChromium) context = await launchChromium(profile);
}, 120_000);
afterAll(async () => {
  await context?.close().catch(() => {});
  await rm(profile, { recursive: true, force: true }).catch(() => {});
  await stack?.stop();
});

describe.skipIf(!haveChromium)('API keys in the account console (Chromium)', () => {
  it('create a key (shown once, no-store), use it at the docs API, revoke it from the list: refused on the next request', async () => {
    const page = context.pages()[0] ?? (await context.newPage());
    await page.goto(`${stack.authUrl}/account`);
    await page.click('a:has-text("Sign in")');
    await page.fill('input[name=email]', person.email);
    await page.fill('input[name=password]', person.password);
    await Promise.all([page.waitForURL(/\/account$/), page.click('button[type=submit]')]);
    expect(await page.textContent('h2#api-keys')).toBe('API keys');
    expect(await page.textContent('#api-keys + p')).toMatch(/A key lets a script use the CloudDocs API/);

    await page.fill('#api-key-name', 'Nightly export');
    await page.check('input[name="scope:docs:write"]');
    await page.fill('#api-key-days', '7');
    const [created] = await Promise.all([page.waitForResponse((r) => r.url() === `${stack.authUrl}/account/api-keys` && r.request().method() === 'POST'), page.click('button:has-text("Create API key")')]);
    expect(created.status()).toBe(200);
    expect(created.headers()['cache-control']).toMatch(/no-store/);
    const key = (await page.getAttribute('#api-key', 'data-key'))!;
    expect(key).toMatch(/^cd_pat_[A-Za-z0-9_-]{32,}/);
    expect(await page.textContent('h1')).toBe('Your new API key');
    expect(page.url()).not.toContain(key);

    const listed = await stack.api('GET', '/documents', { token: key });
    expect(listed.status).toBe(200);
    const written = await stack.api('POST', '/documents', { token: key, body: { title: 'From a key', content: 'ok' } });
    expect(written.status).toBe(201);
    expect(written.body.ownerId).toBe(person.id);

    await page.click('text=Done');
    await page.waitForURL(`${stack.authUrl}/account`);
    const item = page.locator('#api-key-list li', { hasText: 'Nightly export' });
    expect(await item.textContent()).toMatch(/docs:read docs:write/);
    expect(await page.content()).not.toContain(key); // the list shows its first characters only
    await Promise.all([page.waitForURL(/\/account\?notice=api-key-revoked$/), item.locator('button:has-text("Revoke")').click()]);
    expect(await page.locator('#api-key-list li', { hasText: 'Nightly export' }).textContent()).toMatch(/revoked/);

    const refused = await stack.api('GET', '/documents', { token: key });
    expect(refused.status).toBe(401);
  });
});
