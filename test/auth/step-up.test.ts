// Step-up (contract "Step-up and second factors"): acr_values=urn:clouddocs:mfa requires a second factor
// for that sign-in even inside a password session, the ID token then says acr urn:clouddocs:mfa and
// amr pwd otp mfa (RFC 8176); a person without a second factor is offered to set one up, and declining
// gives the client unmet_authentication_requirements; max_age asks for the password again.
import { generate } from 'otplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RegisteredClient } from '@clouddocs/auth-server';
import { Browser } from '../support/browser';
import { decodeJwtParts, discover, oidc } from '../support/rp';
import { REDIRECT_URI, startAuthStack, type AuthStack } from '../support/stack';
import { enrolTotp, go, openAuthorization, signInToAccount, submit, type Page } from './hostile';

const MFA = 'urn:clouddocs:mfa';

let stack: AuthStack;
let client: RegisteredClient;
let config: oidc.Configuration;

beforeAll(async () => {
  stack = await startAuthStack();
  client = await stack.createClient({ name: 'Payroll' });
  config = await discover(stack, client);
});
afterAll(async () => {
  await stack?.stop();
});

/** A TOTP code of a later time step (the one used at enrolment is spent). */
const laterCode = (secret: string, steps = 1) => generate({ secret, epoch: Math.floor(Date.now() / 1000) + 30 * steps });

/** Allows on the consent page when asked; returns the callback page. */
async function allowIfAsked(browser: Browser, page: Page): Promise<Page> {
  return page.url.startsWith(`${REDIRECT_URI}?`) ? page : submit(browser, page, '/confirm');
}

async function idTokenOf(callback: Page, start: Awaited<ReturnType<typeof openAuthorization>>['start']) {
  expect(callback.url.startsWith(`${REDIRECT_URI}?`), `expected the callback, got ${callback.url}: ${callback.text.slice(0, 200)}`).toBe(true);
  const tokens = await oidc.authorizationCodeGrant(config, new URL(callback.url), { pkceCodeVerifier: start.verifier, expectedState: start.state, expectedNonce: start.nonce, idTokenExpected: true });
  return decodeJwtParts(tokens.id_token!).payload;
}

async function auditRows(action: string, targetId: string) {
  await stack.auth.server.audit.flush();
  return stack.admin('audit.events').where({ action, target_id: targetId }).select('outcome', 'detail');
}

describe('step-up with acr_values=urn:clouddocs:mfa', () => {
  it('discovery lists urn:clouddocs:mfa in acr_values_supported', async () => {
    const meta = (await (await fetch(`${stack.issuer}/.well-known/openid-configuration`)).json()) as { acr_values_supported: string[]; claims_supported: string[] };
    expect(meta.acr_values_supported).toEqual(expect.arrayContaining(['urn:clouddocs:pwd', MFA]));
    expect(meta.claims_supported).toEqual(expect.arrayContaining(['acr', 'amr']));
  });

  it('inside a password session: only the second factor is asked (no password), then acr urn:clouddocs:mfa and amr pwd otp mfa', async () => {
    const user = await stack.createUser();
    const browser = new Browser();
    await signInToAccount(browser, stack.issuer, user); // a password session
    const secret = await enrolTotp(browser, stack.issuer, user.password); // the session stays a password session

    // Without acr_values the password session is enough.
    const plain = await openAuthorization(browser, config);
    const plainClaims = await idTokenOf(await allowIfAsked(browser, plain.page), plain.start);
    expect(plainClaims).toMatchObject({ sub: user.id, acr: 'urn:clouddocs:pwd', amr: ['pwd'] });

    const { start, page } = await openAuthorization(browser, config, { acr_values: MFA });
    expect(page.status).toBe(200);
    expect(page.text).toContain('Two-step verification');
    expect(page.forms.some((f) => f.action.endsWith('/login'))).toBe(false);
    const wrong = await submit(browser, page, '/mfa', { code: '000000' === (await laterCode(secret, 0)) ? '111111' : '000000' });
    expect(wrong.text).toContain('That code is not valid');
    const callback = await allowIfAsked(browser, await submit(browser, wrong, '/mfa', { code: await laterCode(secret) }));
    const claims = await idTokenOf(callback, start);
    expect(claims).toMatchObject({ sub: user.id, acr: MFA, amr: ['pwd', 'otp', 'mfa'] });

    // The session now has its second factor: a second step-up request is answered without a page.
    const again = await openAuthorization(browser, config, { acr_values: MFA });
    expect(await idTokenOf(again.page, again.start)).toMatchObject({ acr: MFA });
    expect((await auditRows('auth.login.succeeded', user.id)).some((r) => (r.detail as { secondFactor?: string }).secondFactor === 'totp')).toBe(true);
  });

  it('prompt=none with acr_values=urn:clouddocs:mfa in a password session -> error=login_required at the client', async () => {
    const user = await stack.createUser();
    const browser = new Browser();
    await signInToAccount(browser, stack.issuer, user);
    const { page } = await openAuthorization(browser, config, { acr_values: MFA, prompt: 'none' });
    const callback = new URL(page.url);
    expect(callback.origin + callback.pathname).toBe(REDIRECT_URI);
    expect(callback.searchParams.get('error')).toBe('login_required');
  });

  it('no second factor: the person is offered to set one up; "Cancel" -> error=unmet_authentication_requirements at the client, audited', async () => {
    const user = await stack.createUser();
    const browser = new Browser();
    const { start, page } = await openAuthorization(browser, config, { acr_values: MFA });
    const offer = await submit(browser, page, '/login', { email: user.email, password: user.password });
    expect(offer.status).toBe(200);
    expect(offer.text).toContain('Two-step verification required');
    expect(offer.html).toContain('href="/account"');
    const form = offer.forms.find((f) => f.action.endsWith('/step-up/decline'))!;
    expect(form.button).toContain('Cancel');

    // The form's CSRF field is required.
    const forged = await browser.postForm(new URL(form.action, offer.url), { csrf: 'forged' });
    expect(forged.status).toBe(403);

    const callback = await submit(browser, offer, '/step-up/decline');
    const url = new URL(callback.url);
    expect(url.origin + url.pathname).toBe(REDIRECT_URI);
    expect(url.searchParams.get('error')).toBe('unmet_authentication_requirements');
    expect(url.searchParams.get('state')).toBe(start.state);
    expect(url.searchParams.get('code')).toBeNull();
    const rows = await auditRows('auth.login.failed', user.id);
    expect(rows.some((r) => r.outcome === 'denied' && (r.detail as { reason?: string }).reason === 'unmet_authentication_requirements')).toBe(true);
  });

  it('no second factor: set one up in the account console, continue -> the second factor is asked and the ID token says mfa', async () => {
    const user = await stack.createUser();
    const browser = new Browser();
    const { start, page } = await openAuthorization(browser, config, { acr_values: MFA });
    const offer = await submit(browser, page, '/login', { email: user.email, password: user.password });
    expect(offer.text).toContain('Two-step verification required');
    const continueHref = /href="(\/interaction\/[^"]+)"/.exec(offer.html)?.[1];
    expect(continueHref).toBeDefined();

    // The password session is there already: the account console opens without another sign-in.
    expect((await go(browser, `${stack.issuer}/account/login`)).url).toBe(`${stack.issuer}/account`);
    const secret = await enrolTotp(browser, stack.issuer, user.password);
    const factor = await go(browser, new URL(continueHref!, stack.issuer));
    expect(factor.text).toContain('Two-step verification');
    const callback = await allowIfAsked(browser, await submit(browser, factor, '/mfa', { code: await laterCode(secret) }));
    expect(await idTokenOf(callback, start)).toMatchObject({ sub: user.id, acr: MFA, amr: ['pwd', 'otp', 'mfa'] });
  });
});

describe('max_age', () => {
  it('a session older than max_age asks for the password again; a younger one does not; auth_time says when', async () => {
    const user = await stack.createUser();
    const browser = new Browser();
    const first = await openAuthorization(browser, config, { max_age: '600' });
    const firstClaims = await idTokenOf(await allowIfAsked(browser, await submit(browser, first.page, '/login', { email: user.email, password: user.password })), first.start);

    const young = await openAuthorization(browser, config, { max_age: '600' });
    expect(await idTokenOf(young.page, young.start)).toMatchObject({ auth_time: firstClaims.auth_time });

    await new Promise((r) => setTimeout(r, 2100));
    const old = await openAuthorization(browser, config, { max_age: '1' });
    expect(old.page.status).toBe(200);
    expect(old.page.forms.some((f) => f.action.endsWith('/login'))).toBe(true);
    const callback = await allowIfAsked(browser, await submit(browser, old.page, '/login', { email: user.email, password: user.password }));
    const claims = await idTokenOf(callback, old.start);
    expect(claims.auth_time as number).toBeGreaterThan(firstClaims.auth_time as number);
  });
});
