// OIDC Back-Channel Logout 1.0 (contract "Logout"): a client registered with backchannel_logout_uri gets
// a logout token, verified here by the RP's own endpoint with jose against the JWKS, for every way its
// session ends: RP-initiated logout, "Sign out" in the account console, a password reset, an
// administrator's sign-out and disable (admin API), the CLI's sign-out. Failing endpoints (500, a
// redirect, no answer) are retried a bounded number of times and audited, never a 5xx to the person; a
// delivery pending when its process stops is delivered by another one.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createBackchannelLogout, createClientLibrary, endAccountSessionsInCache, SecretBox, type RegisteredClient } from '@clouddocs/auth-server';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSecurityStack, type SecurityStack } from '../account/support';
import { Visitor } from '../account/flow';
import { formsOf } from '../support/browser';
import { eventually } from '../support/faults';
import { freePort } from '../support/ports';
import { decodeJwtParts, oidc } from '../support/rp';

type Mode = 'ok' | 'error' | 'redirect' | 'hang';
interface Received {
  path: string;
  token: string;
  contentType: string | undefined;
}

let stack: SecurityStack;
let rp: Server;
let rpBase: string;
const received: Received[] = [];
const modes = new Map<string, Mode>();
let clients: ReturnType<typeof createClientLibrary>;

async function readBody(req: IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of req) body += chunk;
  return body;
}

beforeAll(async () => {
  stack = await startSecurityStack({ env: { AUTH_BACKCHANNEL_TIMEOUT_SECONDS: '1', AUTH_BACKCHANNEL_ATTEMPTS: '3', AUTH_BACKCHANNEL_RETRY_SECONDS: '1' } });
  clients = createClientLibrary({ knex: stack.admin, box: new SecretBox(stack.config.AUTH_ENCRYPTION_KEY), issuer: stack.issuer });
  const port = await freePort();
  rpBase = `http://127.0.0.1:${port}`;
  rp = createServer(async (req, res) => {
    const path = new URL(req.url ?? '/', rpBase).pathname;
    const body = await readBody(req);
    received.push({ path, token: new URLSearchParams(body).get('logout_token') ?? '', contentType: req.headers['content-type'] });
    const mode = modes.get(path) ?? 'ok';
    if (mode === 'hang') return; // never answers
    if (mode === 'redirect') return void res.writeHead(302, { location: `${rpBase}/redirect-target` }).end();
    res.writeHead(mode === 'error' ? 500 : 200).end();
  });
  await new Promise<void>((resolve) => rp.listen(port, '127.0.0.1', resolve));
});
afterAll(async () => {
  rp?.closeAllConnections();
  await new Promise((r) => rp?.close(r));
  await stack?.stop();
});

async function backchannelClient(path: string, sessionRequired = true): Promise<RegisteredClient> {
  return clients.create({ name: `RP ${path}`, redirectUris: ['http://127.0.0.1:8080/callback'], grants: ['authorization_code', 'refresh_token'], backchannelLogoutUri: `${rpBase}${path}`, backchannelLogoutSessionRequired: sessionRequired });
}

/** The logout tokens the RP endpoint `path` received, verified as an RP does (OIDC BCL §2.6). */
async function verifiedAt(path: string, clientId: string, count = 1, jwksFrom = stack.issuer): Promise<JWTPayload[]> {
  const tokens = await eventually(async () => {
    const got = received.filter((r) => r.path === path);
    return got.length >= count ? got : undefined;
  });
  const jwks = createRemoteJWKSet(new URL(`${jwksFrom}/jwks`));
  return Promise.all(
    tokens.map(async (r) => {
      expect(r.contentType).toBe('application/x-www-form-urlencoded');
      const { payload, protectedHeader } = await jwtVerify(r.token, jwks, { issuer: stack.issuer, audience: clientId, typ: 'logout+jwt', maxTokenAge: 120 });
      expect(protectedHeader.alg).toBe('RS256'); // signed like the client's ID tokens
      expect(payload.events).toEqual({ 'http://schemas.openid.net/event/backchannel-logout': {} });
      expect(typeof payload.jti).toBe('string');
      expect(typeof payload.iat).toBe('number');
      expect(payload).not.toHaveProperty('nonce'); // §2.4: a logout token never carries a nonce
      return payload;
    }),
  );
}

async function auditRows(action: string, clientId: string) {
  return stack.admin('audit.events').where({ action, target_id: clientId }).orderBy('id').select('outcome', 'actor_type', 'detail');
}

/** The audit events of an action on a client, once there are `count` (the RP may hear before the audit is written). */
async function auditedAtLeast(action: string, clientId: string, count = 1) {
  return eventually(async () => {
    const rows = await auditRows(action, clientId);
    return rows.length >= count ? rows : undefined;
  });
}

/** Signs in to the account console (/account) in the visitor's browser (its session already exists: SSO). */
async function signInToAccount(v: Visitor, user: { email: string; password: string }): Promise<void> {
  let page = await v.get('/account/login');
  if (page.forms.some((f) => f.action.endsWith('/login'))) page = await v.submitAndFollow(page, '/login', { email: user.email, password: user.password });
  expect(page.url).toBe(`${stack.issuer}/account`);
}

/** The session uid of the visitor's own browser, from the account console's "Sign out" form. */
async function currentSessionUid(v: Visitor): Promise<string> {
  const page = await v.get('/account');
  const form = formsOf(page.html).find((f) => f.action.endsWith('/account/sessions/revoke') && f.button?.trim() === 'Sign out');
  expect(form, 'the Sign out form of this browser').toBeDefined();
  return form!.fields.session!;
}

async function adminToken(): Promise<string> {
  const operator = await clients.create({ name: 'operator', grants: ['client_credentials'], scope: 'admin:read admin:write' });
  const res = await fetch(`${stack.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${operator.client_id}:${operator.client_secret}`).toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'admin:read admin:write' }).toString(),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { access_token: string }).access_token;
}

describe('discovery and client rules', () => {
  it('discovery says backchannel_logout_supported and backchannel_logout_session_supported', async () => {
    const meta = (await (await fetch(`${stack.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(meta.backchannel_logout_supported).toBe(true);
    expect(meta.backchannel_logout_session_supported).toBe(true);
  });

  it('a backchannel logout URI follows the redirect URI rules: http only on loopback or a localhost issuer, no fragment', async () => {
    const https = createClientLibrary({ knex: stack.admin, box: new SecretBox(stack.config.AUTH_ENCRYPTION_KEY), issuer: 'https://id.example.com' });
    const base = { name: 'x', redirectUris: ['https://app.example.com/cb'] };
    await expect(https.create({ ...base, backchannelLogoutUri: 'http://app.example.com/logout' })).rejects.toThrow(/backchannel logout URI .* must use https/);
    await expect(https.create({ ...base, backchannelLogoutUri: 'https://app.example.com/logout#x' })).rejects.toThrow(/fragment/);
    await expect(https.create({ ...base, backchannelLogoutUri: 'not a url' })).rejects.toThrow(/absolute URL/);
    await expect(https.create({ ...base, backchannelLogoutSessionRequired: true })).rejects.toThrow(/needs a backchannel logout URI/);
    expect((await https.create({ ...base, backchannelLogoutUri: 'http://127.0.0.1:9/logout' })).backchannel_logout_uri).toBe('http://127.0.0.1:9/logout');
    expect((await https.create({ ...base, backchannelLogoutUri: 'https://app.example.com/logout' })).backchannel_logout_uri).toBe('https://app.example.com/logout');
  });

  it('admin API: POST /clients takes backchannel_logout_uri (+ session_required), PATCH changes and removes it, a bad one is 400', async () => {
    const token = await adminToken();
    const call = (method: string, path: string, body: unknown) =>
      fetch(`${stack.issuer}/admin/v1${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const created = await call('POST', '/clients', { client_name: 'api rp', redirect_uris: ['http://127.0.0.1:8080/callback'], backchannel_logout_uri: `${rpBase}/api`, backchannel_logout_session_required: true });
    expect(created.status).toBe(201);
    const c = (await created.json()) as Record<string, unknown>;
    expect([c.backchannel_logout_uri, c.backchannel_logout_session_required]).toEqual([`${rpBase}/api`, true]);
    const bad = await call('PATCH', `/clients/${String(c.client_id)}`, { backchannel_logout_uri: 'ftp://example.com/x' });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toContain('application/problem+json');
    const removed = await call('PATCH', `/clients/${String(c.client_id)}`, { backchannel_logout_uri: null });
    expect(removed.status).toBe(200);
    expect(await removed.json()).not.toHaveProperty('backchannel_logout_uri');
  });
});

describe('every way a session ends reaches the RP', () => {
  it('RP-initiated logout: a logout token whose sid is the ID token sid and whose sub is the user', async () => {
    const client = await backchannelClient('/rp-logout');
    const user = await stack.createUser();
    const v = new Visitor(stack);
    const tokens = await v.signIn(client, user);
    const idClaims = decodeJwtParts(tokens.id_token!).payload;
    expect(typeof idClaims.sid).toBe('string');
    const prompt = await v.browser.request(oidc.buildEndSessionUrl(v.config, { id_token_hint: tokens.id_token! }));
    const form = formsOf(await prompt.text()).find((f) => f.action.includes('/session/end/confirm'))!;
    const done = await v.browser.postForm(new URL(form.action, stack.issuer), { ...form.fields, logout: 'yes' });
    expect([302, 303]).toContain(done.status);
    const [logout] = await verifiedAt('/rp-logout', client.client_id);
    expect(logout!.sid).toBe(idClaims.sid);
    expect(logout!.sub).toBe(user.id);
    const delivered = await auditedAtLeast('auth.backchannel_logout.delivered', client.client_id);
    expect(delivered).toHaveLength(1);
    expect(delivered[0]).toMatchObject({ outcome: 'success', actor_type: 'system' });
    expect(JSON.stringify(delivered)).not.toContain(received.find((r) => r.path === '/rp-logout')!.token.split('.')[2]);
  });

  it('"Sign out" in the account console: the apps signed in through that session get a logout token', async () => {
    const client = await backchannelClient('/console');
    const user = await stack.createUser();
    const v = new Visitor(stack);
    const tokens = await v.signIn(client, user);
    await signInToAccount(v, user);
    const uid = await currentSessionUid(v);
    const page = await v.get('/account');
    const res = await v.submit(page, '/account/sessions/revoke', { session: uid });
    expect(res.response.status).toBe(303);
    const [logout] = await verifiedAt('/console', client.client_id);
    expect(logout!.sid).toBe(decodeJwtParts(tokens.id_token!).payload.sid);
  });

  it('a password change in the account console signs out the other sessions: their apps get a logout token, this one\'s do not', async () => {
    const client = await backchannelClient('/others');
    const user = await stack.createUser();
    const elsewhere = new Visitor(stack);
    const elsewhereTokens = await elsewhere.signIn(client, user);
    const here = new Visitor(stack);
    await here.signIn(client, user);
    await signInToAccount(here, user);
    const changed = await here.submitAndFollow(await here.get('/account'), '/account/password', { current: user.password, password: 'saffron-glacier-ember-19' });
    expect(changed.status).toBe(200);
    const [logout] = await verifiedAt('/others', client.client_id);
    expect(logout!.sid).toBe(decodeJwtParts(elsewhereTokens.id_token!).payload.sid);
    const delivered = await auditedAtLeast('auth.backchannel_logout.delivered', client.client_id);
    expect(delivered[0]!.detail).toMatchObject({ reason: 'session_revoked' });
    await new Promise((r) => setTimeout(r, 500));
    expect(received.filter((r) => r.path === '/others')).toHaveLength(1);
  });

  it('a password reset ends every session with a logout token to each app', async () => {
    const client = await backchannelClient('/reset', false);
    const user = await stack.createUser();
    const signedIn = new Visitor(stack);
    await signedIn.signIn(client, user);
    const v = new Visitor(stack);
    const login = await v.open(client);
    const forgot = await v.get(login.html.match(/href="([^"]+\/forgot)"/)![1]!);
    const after = Date.now() - 1000;
    await v.submitAndFollow(forgot, '/forgot', { email: user.email });
    const mail = await stack.mailTo(user.email, { subject: /Reset/, after });
    const done = await v.submitAndFollow(await v.get(mail.link!), '/reset-password', { password: 'fresh-meadow-lantern-5' });
    expect(done.text).toContain('Password changed');
    const [logout] = await verifiedAt('/reset', client.client_id);
    expect(logout!.sub).toBe(user.id);
    const delivered = await auditedAtLeast('auth.backchannel_logout.delivered', client.client_id);
    expect(delivered[0]!.detail).toMatchObject({ reason: 'password_reset', sub: user.id });
  });

  it('an administrator signing the user out, then disabling them (admin API): a logout token for each session', async () => {
    const client = await backchannelClient('/admin');
    const token = await adminToken();
    const user = await stack.createUser();
    await new Visitor(stack).signIn(client, user);
    const signOut = await fetch(`${stack.issuer}/admin/v1/users/${user.id}/sign-out`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    expect(signOut.status).toBe(200);
    expect((await verifiedAt('/admin', client.client_id, 1))[0]!.sub).toBe(user.id);
    await new Visitor(stack).signIn(client, user);
    const disable = await fetch(`${stack.issuer}/admin/v1/users/${user.id}/disable`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    expect(disable.status).toBe(200);
    const both = await verifiedAt('/admin', client.client_id, 2);
    expect(both[1]!.sid).not.toBe(both[0]!.sid);
  });

  it("the CLI's sign-out (no provider in its process) queues the logout; a running server delivers it", async () => {
    const client = await backchannelClient('/cli');
    const user = await stack.createUser();
    const tokens = await new Visitor(stack).signIn(client, user);
    // What `clouddocs user sign-out` does to the sessions (packages/cli/src/operator.ts).
    const queue = createBackchannelLogout({ knex: stack.admin, clients });
    expect(await endAccountSessionsInCache(stack.kv, user.id, queue.sessionEnded)).toBe(1);
    const [logout] = await verifiedAt('/cli', client.client_id);
    expect(logout!.sid).toBe(decodeJwtParts(tokens.id_token!).payload.sid);
  });
});

describe('failing endpoints', () => {
  for (const [path, mode, error] of [
    ['/answers-500', 'error', /HTTP 500/],
    ['/redirects', 'redirect', /redirect \(not followed\)/],
    ['/hangs', 'hang', /no answer within 1 s/],
  ] as const) {
    it(`an endpoint that ${mode === 'error' ? 'answers 500' : mode === 'redirect' ? 'redirects' : 'never answers'}: tried 3 times with backoff, each failure audited, the person's sign-out unaffected`, { timeout: 30_000 }, async () => {
      modes.set(path, mode);
      const client = await backchannelClient(path);
      const user = await stack.createUser();
      const v = new Visitor(stack);
      await v.signIn(client, user);
      await signInToAccount(v, user);
      const res = await v.submit(await v.get('/account'), '/account/sessions/revoke', { session: await currentSessionUid(v) });
      expect(res.response.status).toBe(303);
      const failures = await auditedAtLeast('auth.backchannel_logout.failed', client.client_id, 3);
      expect(failures.map((f) => f.outcome)).toEqual(['failure', 'failure', 'failure']);
      expect(failures.map((f) => (f.detail as { attempt: number }).attempt)).toEqual([1, 2, 3]);
      expect(failures.map((f) => (f.detail as { final: boolean }).final)).toEqual([false, false, true]);
      for (const f of failures) expect((f.detail as { error: string }).error).toMatch(error);
      expect((failures[0]!.detail as { retry_in_seconds: number }).retry_in_seconds).toBe(1);
      expect((failures[1]!.detail as { retry_in_seconds: number }).retry_in_seconds).toBe(2);
      // Nothing more after the last attempt, and a redirect is never followed.
      await new Promise((r) => setTimeout(r, 1500));
      expect(received.filter((r) => r.path === path)).toHaveLength(3);
      expect(received.filter((r) => r.path === '/redirect-target')).toHaveLength(0);
      expect(await auditRows('auth.backchannel_logout.delivered', client.client_id)).toHaveLength(0);
      const row = await stack.admin('auth.backchannel_deliveries').where({ client_id: client.client_id }).first();
      expect([row.status, row.attempts]).toEqual(['failed', 3]);
    });
  }
});

describe('durability', () => {
  it('a delivery still pending when its process stops is delivered by another process', { timeout: 40_000 }, async () => {
    modes.set('/durable', 'error');
    const client = await backchannelClient('/durable');
    const user = await stack.createUser();
    const v = new Visitor(stack);
    await v.signIn(client, user);
    await signInToAccount(v, user);
    await v.submit(await v.get('/account'), '/account/sessions/revoke', { session: await currentSessionUid(v) });
    await auditedAtLeast('auth.backchannel_logout.failed', client.client_id);
    await stack.auth.stop(); // the process that queued it is gone, its retry still pending
    const row = await stack.admin('auth.backchannel_deliveries').where({ client_id: client.client_id }).first();
    expect(row.status).toBe('pending');
    modes.set('/durable', 'ok');
    const other = await stack.startPeer();
    try {
      const tokens = await verifiedAt('/durable', client.client_id, received.filter((r) => r.path === '/durable').length + 1, other.url);
      expect(tokens.at(-1)!.sub).toBe(user.id);
      await auditedAtLeast('auth.backchannel_logout.delivered', client.client_id);
      expect((await stack.admin('auth.backchannel_deliveries').where({ client_id: client.client_id }).first()).status).toBe('delivered');
    } finally {
      await other.stop();
    }
  });
});
