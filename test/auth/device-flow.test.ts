// The device authorization grant (RFC 8628, contract "Device authorization grant"): openid-client polls
// while the person enters the code on the verification page, signs in through the ordinary pages
// (second factor included) and allows; polling answers authorization_pending, slow_down, access_denied
// and expired_token; wrong user codes are throttled per IP (never a 5xx); every step is audited.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RegisteredClient } from '@clouddocs/auth-server';
import { decodeJwtParts, discover, oauthError, oidc, tokenRequest } from '../support/rp';
import { RedisKv } from '@clouddocs/kv';
import { switchableKv } from '../support/faults';
import { DOCS_AUDIENCE, startAuthStack, type AuthStack } from '../support/stack';
import { generate } from 'otplib';
import { BrowserAt, enrolTotp, go, LEAK, signInToAccount, submit, toPage, type Page } from './hostile';

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

let stack: AuthStack;
let tv: RegisteredClient; // public
let cli: RegisteredClient; // confidential
let tvConfig: oidc.Configuration;

beforeAll(async () => {
  // Every browser here speaks from an address of its own (X-Forwarded-For, trusted), so each test has its own allowance.
  stack = await startAuthStack(process.env, { env: { AUTH_TRUST_PROXY: 'true' } });
  tv = await stack.createClient({ name: 'Living room TV', grants: [DEVICE_GRANT, 'refresh_token'], public: true, redirectUris: [] });
  cli = await stack.createClient({ name: 'Docs CLI', grants: [DEVICE_GRANT], redirectUris: [] });
  tvConfig = await discover(stack, tv);
});
afterAll(async () => {
  await stack?.stop();
});

/** Enters the code on the verification page and confirms it ("Continue"); returns the page after the confirmation. */
async function enterCode(browser: BrowserAt, verificationUri: string, userCode: string, shown = userCode): Promise<Page> {
  const input = await go(browser, verificationUri, () => false);
  expect(input.status).toBe(200);
  const confirm = await submit(browser, input, '/device', { user_code: userCode }, () => false);
  expect(confirm.status).toBe(200);
  expect(confirm.text).toContain(shown);
  const form = confirm.forms.find((f) => f.fields.confirm === 'yes')!;
  expect(form.button).toContain('Continue');
  return confirm;
}

/** Confirms, signs in (password, then a TOTP code when given), allows; returns the final page. */
async function approve(browser: BrowserAt, verificationUri: string, userCode: string, user: { email: string; password: string }, totp?: () => Promise<string>, shown = userCode): Promise<Page> {
  const confirm = await enterCode(browser, verificationUri, userCode, shown);
  const form = confirm.forms.find((f) => f.fields.confirm === 'yes')!;
  const response = await browser.postForm(new URL(form.action, confirm.url), form.fields);
  expect(response.status).toBe(303);
  const step = await browser.follow(response, new URL(form.action, confirm.url), () => false);
  let page = await toPage(step.response, step.url);
  for (let i = 0; i < 5 && !page.text.includes('Device connected'); i++) {
    if (page.forms.some((f) => f.action.endsWith('/login'))) page = await submit(browser, page, '/login', { email: user.email, password: user.password }, () => false);
    else if (page.forms.some((f) => f.action.endsWith('/mfa'))) page = await submit(browser, page, '/mfa', { code: await totp!() }, () => false);
    else if (page.forms.some((f) => f.action.endsWith('/confirm'))) {
      expect(page.forms.find((f) => f.action.endsWith('/confirm'))!.button).toContain('Allow');
      page = await submit(browser, page, '/confirm', {}, () => false);
    } else throw new Error(`unexpected page ${page.url}: ${page.text.slice(0, 300)}`);
  }
  return page;
}

async function auditRows(action: string) {
  await stack.auth.server.audit.flush();
  return stack.admin('audit.events').where({ action }).orderBy('id').select('actor_id', 'target_id', 'outcome', 'detail');
}

async function deviceAuthorization(client: RegisteredClient, body: Record<string, string>, auth: 'basic' | 'none' = client.client_secret ? 'basic' : 'none', secret = client.client_secret) {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
  const form = new URLSearchParams(body);
  if (auth === 'basic') headers.authorization = `Basic ${Buffer.from(`${client.client_id}:${secret}`).toString('base64')}`;
  else form.set('client_id', client.client_id);
  const res = await fetch(`${stack.issuer}/device/auth`, { method: 'POST', headers, body: form.toString() });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const poll = (client: RegisteredClient, deviceCode: string) => tokenRequest(stack, client, { grant_type: DEVICE_GRANT, device_code: deviceCode });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('device authorization grant', () => {
  it('discovery names the device authorization endpoint and the grant', async () => {
    const meta = (await (await fetch(`${stack.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(meta.device_authorization_endpoint).toBe(`${stack.issuer}/device/auth`);
    expect(meta.grant_types_supported).toContain(DEVICE_GRANT);
  });

  it('openid-client polls while the person enters the code, signs in and allows -> tokens for that person (ID token, docs API token, refresh token); every step audited', async () => {
    const user = await stack.createUser();
    const started = await oidc.initiateDeviceAuthorization(tvConfig, { scope: 'openid email offline_access docs:read' });
    expect(started).toMatchObject({ verification_uri: `${stack.issuer}/device`, expires_in: 600, interval: 5 });
    expect(started.user_code).toMatch(/^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
    expect(started.verification_uri_complete).toBe(`${stack.issuer}/device?user_code=${started.user_code}`);

    const polling = oidc.pollDeviceAuthorizationGrant(tvConfig, started);
    const browser = new BrowserAt();
    // The code typed in lower case and without its dash is the same code.
    const done = await approve(browser, started.verification_uri, started.user_code.toLowerCase().replace('-', ''), user, undefined, started.user_code);
    expect(done.status).toBe(200);
    expect(done.text).toContain('Living room TV can now use your CloudDocs account');
    expect(done.html).not.toContain('<script');

    const tokens = await polling;
    expect(decodeJwtParts(tokens.id_token!).payload).toMatchObject({ sub: user.id, aud: tv.client_id, amr: ['pwd'] });
    expect(decodeJwtParts(tokens.access_token).payload).toMatchObject({ sub: user.id, aud: DOCS_AUDIENCE, client_id: tv.client_id, scope: 'docs:read' });
    expect(tokens.refresh_token).toEqual(expect.any(String));
    const refreshed = await oidc.refreshTokenGrant(tvConfig, tokens.refresh_token!);
    expect(refreshed.access_token).toEqual(expect.any(String));

    // The device code works once (polled at the interval, so not a slow_down).
    await sleep(4100);
    expect((await poll(tv, started.device_code)).body.error).toBe('invalid_grant');

    expect((await auditRows('device.authorization_requested')).some((r) => r.target_id === tv.client_id)).toBe(true);
    expect((await auditRows('device.code_entered')).some((r) => r.actor_id === null && r.outcome === 'success' && r.target_id === tv.client_id)).toBe(true);
    expect((await auditRows('device.approved')).some((r) => r.actor_id === user.id && r.target_id === tv.client_id)).toBe(true);
    expect((await auditRows('auth.consent.granted')).some((r) => r.actor_id === user.id && r.target_id === tv.client_id)).toBe(true);
    expect((await auditRows('token.issued')).some((r) => r.actor_id === user.id && (r.detail as { grantType?: string }).grantType === DEVICE_GRANT)).toBe(true);
    // No code, user or device, is ever written to the audit log.
    const all = JSON.stringify(await stack.admin('audit.events').select('detail', 'target_id'));
    expect(all).not.toContain(started.device_code);
    expect(all).not.toContain(started.user_code);
  });

  it('a confidential client with a second-factor user: password, TOTP, Allow -> amr pwd otp mfa; a wrong client secret at the device endpoint -> 401 invalid_client', async () => {
    const user = await stack.createUser();
    const setup = new BrowserAt();
    await signInToAccount(setup, stack.issuer, user);
    const secret = await enrolTotp(setup, stack.issuer, user.password);
    expect((await deviceAuthorization(cli, { scope: 'openid' }, 'basic', 'wrong-secret')).body.error).toBe('invalid_client');

    const config = await discover(stack, cli);
    const started = await oidc.initiateDeviceAuthorization(config, { scope: 'openid docs:read' });
    const polling = oidc.pollDeviceAuthorizationGrant(config, started);
    const done = await approve(new BrowserAt(), started.verification_uri, started.user_code, user, () => generate({ secret, epoch: Math.floor(Date.now() / 1000) + 30 }));
    expect(done.text).toContain('Device connected');
    const tokens = await polling;
    expect(decodeJwtParts(tokens.id_token!).payload).toMatchObject({ sub: user.id, amr: ['pwd', 'otp', 'mfa'], acr: 'urn:clouddocs:mfa' });
  });

  it('polling: authorization_pending, then slow_down when faster than the interval; "Deny" on the consent page -> access_denied', async () => {
    const user = await stack.createUser();
    const { status, body } = await deviceAuthorization(tv, { scope: 'openid docs:read' });
    expect(status).toBe(200);
    const deviceCode = body.device_code as string;
    const pending = await poll(tv, deviceCode);
    expect(pending.status).toBe(400);
    expect(pending.body.error).toBe('authorization_pending');
    const fast = await poll(tv, deviceCode);
    expect(fast.status).toBe(400);
    expect(fast.body.error).toBe('slow_down');
    expect(fast.headers.get('cache-control')).toBe('no-store');

    const browser = new BrowserAt();
    const confirm = await enterCode(browser, body.verification_uri as string, body.user_code as string);
    let page = await submit(browser, confirm, '/device', confirm.forms.find((f) => f.fields.confirm === 'yes')!.fields, () => false);
    page = await submit(browser, page, '/login', { email: user.email, password: user.password }, () => false);
    const deny = page.forms.find((f) => f.action.endsWith('/abort'))!;
    expect(deny.button).toContain('Deny');
    page = await submit(browser, page, '/abort', {}, () => false);
    expect(page.status).toBe(200);
    expect(page.text).toContain('Device not connected');

    await sleep(5000);
    const denied = await poll(tv, deviceCode);
    expect(denied.status).toBe(400);
    expect(denied.body.error).toBe('access_denied');
    expect((await auditRows('auth.consent.denied')).some((r) => r.actor_id === user.id && r.target_id === tv.client_id)).toBe(true);
  });

  it('"Cancel" on the confirmation page -> access_denied at the next poll (and openid-client raises it), audited', async () => {
    const started = await oidc.initiateDeviceAuthorization(tvConfig, { scope: 'openid' });
    const polling = oauthError(oidc.pollDeviceAuthorizationGrant(tvConfig, started));
    const browser = new BrowserAt();
    const confirm = await enterCode(browser, started.verification_uri, started.user_code);
    const cancel = confirm.forms.find((f) => f.fields.abort === 'yes')!;
    expect(cancel.button).toContain('Cancel');
    const page = await submit(browser, confirm, '/device', cancel.fields, () => false);
    expect(page.text).toContain('Device not connected');
    expect((await polling).error).toBe('access_denied');
    expect((await auditRows('device.denied')).some((r) => r.target_id === tv.client_id)).toBe(true);
    // The code is spent: entering it again says so.
    const again = await submit(browser, await go(browser, started.verification_uri, () => false), '/device', { user_code: started.user_code }, () => false);
    expect(again.text).toContain('already been used');
  });

  it('an expired device code -> expired_token when polled, and its user code says it expired', async () => {
    const { body } = await deviceAuthorization(tv, { scope: 'openid' });
    const key = `oidc:DeviceCode:${body.device_code as string}`;
    const stored = JSON.parse((await stack.kv.get(key))!) as { exp: number };
    await stack.kv.set(key, JSON.stringify({ ...stored, exp: Math.floor(Date.now() / 1000) - 1 }), 600);
    const expired = await poll(tv, body.device_code as string);
    expect(expired.status).toBe(400);
    expect(expired.body.error).toBe('expired_token');
    const browser = new BrowserAt();
    const page = await submit(browser, await go(browser, `${stack.issuer}/device`, () => false), '/device', { user_code: body.user_code as string }, () => false);
    expect(page.status).toBe(200);
    expect(page.text).toContain('That code has expired');
  });

  it('verification_uri_complete shows the code in the form (no script, no auto-submit); the person still presses Continue', async () => {
    const { body } = await deviceAuthorization(tv, { scope: 'openid' });
    const browser = new BrowserAt();
    const page = await go(browser, body.verification_uri_complete as string, () => false);
    expect(page.status).toBe(200);
    expect(page.html).not.toContain('<script');
    const form = page.forms.find((f) => f.action.endsWith('/device'))!;
    expect(form.fields.user_code).toBe(body.user_code);
    expect(form.button).toContain('Continue');
    expect(page.headers.get('content-security-policy')).toMatch(/frame-ancestors 'none'/);
    expect(page.headers.get('content-security-policy')).not.toMatch(/script-src/);
    const confirm = await submit(browser, page, '/device', {}, () => false);
    expect(confirm.text).toContain('Connect Living room TV?');
  });

  it('a form without its xsrf field (another site posting a code) -> the form again, nothing confirmed', async () => {
    const { body } = await deviceAuthorization(tv, { scope: 'openid' });
    const browser = new BrowserAt();
    await go(browser, `${stack.issuer}/device`, () => false);
    const res = await browser.postForm(`${stack.issuer}/device`, { user_code: body.user_code as string, confirm: 'yes' });
    expect(res.status).toBe(400);
    const text = await res.text();
    expect(text).toContain('This form has expired');
    expect((await poll(tv, body.device_code as string)).body.error).toBe('authorization_pending');
  });

  it('a user code guessed 100 times from one address: the first 20 say "not valid", then 429 with Retry-After (never a 5xx); the right code is refused there too, accepted elsewhere', async () => {
    const { body } = await deviceAuthorization(tv, { scope: 'openid' });
    const guesser = new BrowserAt();
    let page = await go(guesser, `${stack.issuer}/device`, () => false);
    const statuses: number[] = [];
    for (let i = 0; i < 100; i++) {
      const form = page.forms.find((f) => f.action.endsWith('/device'));
      const fields = { ...(form?.fields ?? {}), user_code: `BCDF-${String(i).padStart(4, 'G').replace(/\d/g, (d) => 'BCDFGHJKLM'[Number(d)]!)}` };
      const res = await guesser.postForm(`${stack.issuer}/device`, fields);
      statuses.push(res.status);
      const text = await res.text();
      expect(text).not.toMatch(LEAK);
      if (res.status === 200) {
        expect(text).toContain('That code is not valid');
        page = await toPage(new Response(text, { headers: res.headers }), `${stack.issuer}/device`);
      } else {
        expect(res.status).toBe(429);
        expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
        expect(res.headers.get('content-type')).toMatch(/text\/html/);
        expect(text).toContain('Too many codes entered');
      }
    }
    expect(statuses.filter((s) => s === 200)).toHaveLength(20);
    expect(statuses.filter((s) => s === 429)).toHaveLength(80);
    expect(statuses.every((s) => s < 500)).toBe(true);

    const refused = await guesser.postForm(`${stack.issuer}/device`, { ...(page.forms[0]?.fields ?? {}), user_code: body.user_code as string });
    expect(refused.status).toBe(429);
    const elsewhere = new BrowserAt();
    expect((await enterCode(elsewhere, `${stack.issuer}/device`, body.user_code as string)).text).toContain('Connect Living room TV?');

    const entered = await auditRows('device.code_entered');
    expect(entered.filter((r) => r.outcome === 'failure' && (r.detail as { result?: string }).result === 'not_found').length).toBeGreaterThanOrEqual(20);
    expect(entered.some((r) => r.outcome === 'denied' && r.target_id === guesser.address)).toBe(true);
  });

  it('a client not registered with the device grant -> 400 at the device endpoint (oidc-provider: invalid_request naming the grant)', async () => {
    const web = await stack.createClient({ name: 'Web only' });
    const res = await deviceAuthorization(web, { scope: 'openid' });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: 'invalid_request', error_description: `${DEVICE_GRANT} is not allowed for this client` });
  });
});

describe('device flow limits fail closed', () => {
  it('the cache unreachable -> a code entered at /device is a 503 page (not counted, not looked up), a poll is 503 temporarily_unavailable; cache back -> the code is found', async () => {
    const down = new RedisKv('redis://127.0.0.1:1', 'down:');
    const sw = { down: false };
    const failing = await startAuthStack(process.env, { wrapKv: (kv) => switchableKv(kv, down, sw) });
    try {
      const client = await failing.createClient({ name: 'Outage TV', grants: [DEVICE_GRANT], public: true, redirectUris: [] });
      const res = await fetch(`${failing.issuer}/device/auth`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ client_id: client.client_id, scope: 'openid' }).toString() });
      const started = (await res.json()) as { device_code: string; user_code: string };
      const browser = new BrowserAt();
      const input = await go(browser, `${failing.issuer}/device`, () => false);

      sw.down = true;
      const refused = await browser.postForm(`${failing.issuer}/device`, { ...input.forms[0]!.fields, user_code: started.user_code });
      expect(refused.status).toBe(503);
      expect(refused.headers.get('content-type')).toMatch(/text\/html/);
      expect(await refused.text()).not.toMatch(LEAK);
      const polled = await tokenRequest(failing, client, { grant_type: DEVICE_GRANT, device_code: started.device_code });
      expect(polled.status).toBe(503);
      expect(polled.body.error).toBe('temporarily_unavailable');

      sw.down = false;
      const page = await go(browser, `${failing.issuer}/device`, () => false);
      const found = await submit(browser, page, '/device', { user_code: started.user_code }, () => false);
      expect(found.text).toContain('Connect Outage TV?');
    } finally {
      sw.down = false;
      await failing.stop();
      await down.close();
    }
  });
});
