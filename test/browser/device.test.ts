// The device flow's pages in a real browser (Debian chromium through playwright-core) with JavaScript
// turned off: a TV shows its code, the person opens verification_uri_complete, sees the code already in
// the form, continues, confirms, signs in, allows, and the TV's polling (openid-client) gets its tokens.
// No page asks for a script, and Chromium reports no CSP violation.
import { haveChromium, launchChromium } from '../support/chromium';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RegisteredClient } from '@clouddocs/auth-server';
import { decodeJwtParts, discover, oidc } from '../support/rp';
import { startAuthStack, type AuthStack } from '../support/stack';


let stack: AuthStack;
let tv: RegisteredClient;
let profile: string | undefined;
let context: BrowserContext | undefined;

beforeAll(async () => {
  stack = await startAuthStack();
  tv = await stack.createClient({ name: 'Kitchen TV', grants: ['urn:ietf:params:oauth:grant-type:device_code'], public: true, redirectUris: [] });
});
afterAll(async () => {
  await context?.close().catch(() => {});
  if (profile) await rm(profile, { recursive: true, force: true }).catch(() => {});
  await stack?.stop();
});

describe.skipIf(!haveChromium)('device flow in a real browser', () => {
  it('verification_uri_complete -> code prefilled -> Continue -> Continue -> sign in -> Allow -> "Device connected", and the polling device gets tokens (JavaScript off)', async () => {
    const user = await stack.createUser();
    const config = await discover(stack, tv);
    const started = await oidc.initiateDeviceAuthorization(config, { scope: 'openid docs:read' });
    const polling = oidc.pollDeviceAuthorizationGrant(config, started);

    profile = await mkdtemp(join(tmpdir(), 'cd-chromium-'));
    context = await launchChromium(profile, { javaScriptEnabled: false });
    const page = context.pages()[0] ?? (await context.newPage());
    const problems: string[] = [];
    page.on('console', (m) => {
      // The browser's own favicon request is the one 404 (reported below with its URL if it were another).
      if ((m.type() === 'error' && !m.text().startsWith('Failed to load resource')) || /Content Security Policy/i.test(m.text())) problems.push(m.text());
    });
    page.on('response', (r) => {
      if (r.status() >= 400 && new URL(r.url()).pathname !== '/favicon.ico') problems.push(`${r.status()} ${r.url()}`);
    });

    await page.goto(started.verification_uri_complete!);
    await expect.poll(() => page.getByRole('heading', { name: 'Connect a device' }).isVisible()).toBe(true);
    expect(await page.getByLabel('Code').inputValue()).toBe(started.user_code);
    expect(await page.locator('script').count()).toBe(0);
    await page.getByRole('button', { name: 'Continue' }).click();

    await expect.poll(() => page.getByRole('heading', { name: 'Connect Kitchen TV?' }).isVisible()).toBe(true);
    expect(await page.locator('#user-code').textContent()).toBe(started.user_code);
    await page.getByRole('button', { name: 'Continue' }).click();

    await expect.poll(() => page.url()).toContain(`${stack.issuer}/interaction/`);
    await page.getByLabel('Email').fill(user.email);
    await page.getByLabel('Password').fill(user.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('heading', { name: /^Allow Kitchen TV/ }).isVisible()).toBe(true);
    await page.getByRole('button', { name: 'Allow' }).click();

    await expect.poll(() => page.getByRole('heading', { name: 'Device connected' }).isVisible()).toBe(true);
    expect(await page.locator('main').textContent()).toContain('Kitchen TV can now use your CloudDocs account');

    const tokens = await polling;
    expect(decodeJwtParts(tokens.id_token!).payload).toMatchObject({ sub: user.id, aud: tv.client_id });
    expect(problems).toEqual([]);
  }, 60_000);
});
