// The admin console in a real browser (Debian chromium through playwright-core): a platform
// administrator sets up a second factor, signs in again with it, finds a user by email, disables them
// (ticking the confirmation), and rotates the signing keys, all without JavaScript on the pages.
import { haveChromium, launchChromium } from '../support/chromium';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate } from 'otplib';
import { type BrowserContext, type Locator } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSecurityStack, STRONG_PASSWORD, type SecurityStack } from '../account/support';


let stack: SecurityStack;
let context: BrowserContext | undefined;
let profile: string | undefined;

const visible = (locator: Locator) => locator.first().waitFor({ state: 'visible', timeout: 20_000 });

beforeAll(async () => {
  stack = await startSecurityStack();
});
afterAll(async () => {
  await context?.close().catch(() => {});
  if (profile) await rm(profile, { recursive: true, force: true }).catch(() => {});
  await stack?.stop();
});

describe.skipIf(!haveChromium)('admin console in a real browser', () => {
  it('set up a second factor -> sign in again with it -> Users -> search -> Disable (confirmed) -> Keys -> Rotate keys', async () => {
    const adminUser = await stack.createUser({ email: `root-${Date.now()}@example.test` });
    await stack.admin('auth.accounts').where({ id: adminUser.id }).update({ platform_admin: true });
    const target = await stack.createUser({ email: `target-${Date.now()}@example.test` });

    profile = await mkdtemp(join(tmpdir(), 'cd-chromium-admin-'));
    context = await launchChromium(profile);
    context.setDefaultTimeout(20_000);
    const page = context.pages()[0] ?? (await context.newPage());

    await page.goto(`${stack.issuer}/account/login`);
    await page.getByLabel('Email').fill(adminUser.email);
    await page.getByLabel('Password').fill(STRONG_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await visible(page.getByRole('heading', { name: 'Your CloudDocs account' }));

    await page.goto(`${stack.issuer}/admin`);
    await visible(page.getByRole('heading', { name: 'Set up a second factor first' }));
    await page.getByRole('link', { name: 'Set up two-step verification' }).click();
    await page.getByRole('region', { name: 'Two-step verification' }).getByLabel('Current password').fill(STRONG_PASSWORD);
    await page.getByRole('button', { name: 'Set up an authenticator app' }).click();
    const secret = (await page.locator('#totp-secret').getAttribute('data-secret'))!;
    expect(await page.locator('#totp-secret').textContent()).toContain(secret.slice(0, 4)); // the key as text beside the QR code
    await page.getByLabel('Code').fill(await generate({ secret }));
    await page.getByRole('button', { name: 'Turn on' }).click();
    await visible(page.getByRole('heading', { name: 'Save your recovery codes' }));

    await page.goto(`${stack.issuer}/admin`);
    await page.getByRole('link', { name: 'Sign in with your second factor' }).click();
    await page.getByLabel('Email').fill(adminUser.email);
    await page.getByLabel('Password').fill(STRONG_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByLabel(/Code from your authenticator app/).fill(await generate({ secret, epoch: Math.floor(Date.now() / 1000) + 30 }));
    await page.getByRole('button', { name: 'Verify' }).click();
    await visible(page.getByRole('heading', { name: 'Clients' }));
    for (const name of ['Clients', 'Users', 'Keys', 'Audit']) await visible(page.getByRole('navigation', { name: 'Admin' }).getByRole('link', { name }));

    await page.getByRole('link', { name: 'Users' }).click();
    await page.getByLabel('Email').fill(target.email);
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('link', { name: target.email }).click();
    await page.getByRole('checkbox').first().check();
    await page.getByRole('button', { name: 'Disable' }).click();
    await visible(page.getByRole('button', { name: 'Enable' }));
    expect((await stack.admin('auth.accounts').where({ id: target.id }).first()).disabled_at).not.toBeNull();

    await page.getByRole('link', { name: 'Keys' }).click();
    await page.getByRole('button', { name: 'Rotate keys' }).click();
    await visible(page.getByRole('cell', { name: 'pending' }));
    const actions = (await stack.admin('audit.events').where({ actor_id: adminUser.id }).select('action')).map((e) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['user.disabled', 'key.rotated']));
  });
});
