// API keys end to end, on the real auth server and docs API sharing their stores: made in the account
// console (through the real sign-in and console pages), by the CLI (a real process) and listed or
// revoked through the admin API; used at the docs API as `Bearer cd_pat_…` with the key's scopes and
// the user's live roles; refused (401 invalid_token) on the very next request once revoked, expired,
// changed by one character, or its user disabled — in a second docs API process too; never accepted
// by the auth server as an OAuth token; never in an audit event.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClientLibrary, SecretBox, type RegisteredClient } from '@clouddocs/auth-server';
import { toPage, Visitor, type Page } from '../account/flow';
import { basic, expectProblem, sleep, startDocsStack, type DocsStack, type User } from './support';

let stack: DocsStack;
let operator: RegisteredClient;

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

async function adminToken(): Promise<string> {
  const res = await fetch(`${stack.authUrl}/token`, { method: 'POST', headers: { ...FORM, authorization: basic(operator) }, body: 'grant_type=client_credentials&scope=admin%3Aread+admin%3Awrite' });
  expect(res.status).toBe(200);
  return ((await res.json()) as { access_token: string }).access_token;
}

async function adminApi(method: string, path: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${stack.authUrl}/admin/v1${path}`, { method, headers: { authorization: `Bearer ${await adminToken()}`, accept: 'application/json' } });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

async function signInToAccount(user: User): Promise<{ v: Visitor; page: Page }> {
  const v = new Visitor(stack);
  const login = await v.get('/account/login');
  const page = await v.submitAndFollow(login, '/login', { email: user.email, password: user.password });
  expect(page.url).toBe(`${stack.issuer}/account`);
  return { v, page };
}

/** Creates a key through the console form: only the scopes given are checked. */
async function createInConsole(v: Visitor, input: { name: string; scopes: string[]; days?: string }): Promise<{ page: Page; key: string }> {
  const account = await v.get('/account');
  expect(account.text).toContain('API keys');
  const form = account.forms.find((f) => f.action.endsWith('/account/api-keys'))!;
  expect(form.button).toBe('Create API key');
  const fields: Record<string, string> = { csrf: form.fields.csrf!, name: input.name, expires_in_days: input.days ?? form.fields.expires_in_days! };
  for (const scope of input.scopes) fields[`scope:${scope}`] = 'on';
  const response = await v.browser.postForm(new URL('/account/api-keys', stack.issuer), fields);
  const html = await response.text();
  const page = await toPage(new Response(html, { status: response.status, headers: response.headers }), `${stack.issuer}/account/api-keys`);
  const key = /data-key="(cd_pat_[0-9A-Za-z]+)"/.exec(html)?.[1] ?? '';
  return { page, key };
}

async function revokeInConsole(v: Visitor, keyId: string): Promise<Page> {
  const account = await v.get('/account');
  const form = account.forms.find((f) => f.action.endsWith('/account/api-keys/revoke') && f.fields.key === keyId);
  if (!form) throw new Error(`no Revoke button for ${keyId}`);
  expect(form.button).toBe('Revoke');
  return v.submitAndFollow(account, '/account/api-keys/revoke', { key: keyId });
}

const me = (key: string, base = stack.docsUrl, scheme = 'Bearer') => fetch(`${base}/me`, { headers: { authorization: `${scheme} ${key}` } });

async function expectRefused(res: Response) {
  expect(res.status).toBe(401);
  expect(res.headers.get('www-authenticate')).toMatch(/^Bearer .*error="invalid_token"/);
  await res.body?.cancel();
}

async function keyIdOf(key: string): Promise<string> {
  const res = await me(key);
  expect(res.status).toBe(200);
  return ((await res.json()) as { client_id: string }).client_id;
}

async function events(action: string, targetId: string) {
  await stack.auth.server.audit.flush();
  return stack.admin('audit.events').where({ action, target_id: targetId }).select('actor_type', 'actor_id', 'outcome', 'detail');
}

beforeAll(async () => {
  stack = await startDocsStack();
  const clients = createClientLibrary({ knex: stack.admin, box: new SecretBox(stack.config.AUTH_ENCRYPTION_KEY), issuer: stack.issuer });
  operator = await clients.create({ name: 'operator robot', grants: ['client_credentials'], scope: 'admin:read admin:write' });
}, 120_000);
afterAll(async () => {
  await stack?.stop();
});

describe('API keys in the account console, at the docs API', () => {
  it('create (shown once) → use with its scopes → listed without the key → revoke → 401 on the very next request', async () => {
    const user = await stack.createUser('pat');
    const { v } = await signInToAccount(user);
    const { page, key } = await createInConsole(v, { name: 'laptop script', scopes: ['docs:read', 'docs:write'], days: '30' });
    expect(page.status).toBe(200);
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(page.text).toContain('only time it is shown');
    expect(key).toMatch(/^cd_pat_[0-9A-Za-z]{42}$/);

    // The key acts as its user, with its scopes only.
    const who = await me(key);
    expect(who.status).toBe(200);
    const body = (await who.json()) as { sub: string; kind: string; scopes: string[]; client_id: string };
    expect(body).toMatchObject({ sub: user.id, kind: 'api_key', scopes: ['docs:read', 'docs:write'] });
    const created = await stack.api('POST', '/documents', { token: key, body: { title: 'via key', content: 'hello' } });
    expect(created.status).toBe(201);
    expect(created.body.ownerId).toBe(user.id);
    expect((await stack.api('GET', `/documents/${created.body.id}`, { token: key })).status).toBe(200);
    const orgs = await stack.api('GET', '/orgs', { token: key });
    expectProblem(orgs, 403);
    expect(orgs.headers.get('www-authenticate')).toMatch(/insufficient_scope/);
    // The scheme name is case-insensitive.
    expect((await me(key, stack.docsUrl, 'bearer')).status).toBe(200);

    // The console lists it by name, first characters and scopes; the key itself never again.
    const account = await v.get('/account');
    expect(account.text).toContain('laptop script');
    expect(account.text).toContain(`${key.slice(0, 11)}…`);
    expect(account.text).toContain('docs:read docs:write');
    expect(account.html).not.toContain(key);
    expect(account.text).toMatch(/last used \d{4}-\d\d-\d\d/);

    // Audited: created (by the person), first used once (however many uses), never the key.
    const keyId = body.client_id;
    expect(await events('api_key.created', keyId)).toEqual([expect.objectContaining({ actor_type: 'user', actor_id: user.id, outcome: 'success' })]);
    expect(await events('api_key.used', keyId)).toHaveLength(1);

    const revoked = await revokeInConsole(v, keyId);
    expect(revoked.status).toBe(200);
    expect(revoked.text).toContain('API key revoked');
    expect(revoked.text).toMatch(/revoked \d{4}-/);
    await expectRefused(await me(key));
    expectProblem(await stack.api('GET', '/documents', { token: key }), 401);
    expect(await events('api_key.revoked', keyId)).toEqual([expect.objectContaining({ actor_type: 'user', actor_id: user.id })]);
    // Revoking it again (or someone else's key) is a 404 page.
    const again = await v.browser.postForm(new URL('/account/api-keys/revoke', stack.issuer), { csrf: account.forms[0]!.fields.csrf!, key: keyId });
    expect(again.status).toBe(404);
    await again.body?.cancel();

    const all = await stack.admin('audit.events').select('detail', 'target_id', 'actor_id');
    expect(JSON.stringify(all)).not.toContain(key);
    expect(JSON.stringify(all)).not.toContain(key.slice(11));
  });

  it('the console refuses a key without scopes or with an expiry outside 1–365 days (400, the console again)', async () => {
    const user = await stack.createUser('pat-rules');
    const { v } = await signInToAccount(user);
    for (const input of [{ name: 'none', scopes: [] }, { name: 'long', scopes: ['docs:read'], days: '366' }, { name: 'zero', scopes: ['docs:read'], days: '0' }]) {
      const { page, key } = await createInConsole(v, input);
      expect(page.status).toBe(400);
      expect(page.text).toContain('The key was not created');
      expect(key).toBe('');
    }
    expect((await stack.admin('auth.api_keys').where({ account_id: user.id })).length).toBe(0);
    // Without the CSRF field: 403, nothing made.
    const res = await v.browser.postForm(new URL('/account/api-keys', stack.issuer), { name: 'x', expires_in_days: '5', 'scope:docs:read': 'on' });
    expect(res.status).toBe(403);
    await res.body?.cancel();
  });

  it('a key with one character changed, an unknown key, a key sent as DPoP → 401 invalid_token', async () => {
    const user = await stack.createUser('pat-forged');
    const created = await stack.cli(['apikey', 'create', '--email', user.email, '--name', 'ci', '--scope', 'docs:read', '--json']);
    expect(created.code, created.stderr).toBe(0);
    const key = created.json.key as string;
    expect((await me(key)).status).toBe(200);
    for (let i = 7; i < key.length; i += 9) {
      const changed = key.slice(0, i) + (key[i] === 'Q' ? 'R' : 'Q') + key.slice(i + 1);
      await expectRefused(await me(changed));
    }
    await expectRefused(await me(`${key}x`));
    await expectRefused(await me('cd_pat_000000000000000000000000000000000000000000'));
    const dpop = await me(key, stack.docsUrl, 'DPoP');
    expect(dpop.status).toBe(401);
    expect(dpop.headers.get('www-authenticate')).toMatch(/invalid_token/);
  });

  it('an expired key → 401', async () => {
    const user = await stack.createUser('pat-expiry');
    const created = await stack.cli(['apikey', 'create', '--email', user.email, '--name', 'short', '--scope', 'docs:read', '--expires-in-days', '1', '--json']);
    expect(created.code, created.stderr).toBe(0);
    expect(Math.round((Date.parse(created.json.expires_at) - Date.now()) / 86_400_000)).toBe(1);
    // A day is long for a test: the stored expiry is brought forward to a moment from now.
    await stack.admin('auth.api_keys').where({ id: created.json.id }).update({ expires_at: new Date(Date.now() + 2_000) });
    expect((await me(created.json.key)).status).toBe(200);
    await sleep(2_500);
    const res = await me(created.json.key);
    expect(res.status).toBe(401);
    expect(((await res.json()) as { detail: string }).detail).toMatch(/expired/);
  });

  it("a disabled user's keys → 401 on the next request; the admin API lists and revokes keys", async () => {
    const user = await stack.createUser('pat-admin');
    const a = await stack.cli(['apikey', 'create', '--email', user.email, '--name', 'one', '--scope', 'docs:read orgs:read', '--json']);
    const b = await stack.cli(['apikey', 'create', '--email', user.email, '--name', 'two', '--scope', 'docs:read', '--json']);
    expect(a.json.scopes).toEqual(['docs:read', 'orgs:read']);
    expect((await me(a.json.key)).status).toBe(200);
    expect((await me(b.json.key)).status).toBe(200);

    const listed = await adminApi('GET', `/users/${user.id}/api-keys`);
    expect(listed.status).toBe(200);
    expect(listed.body.items.map((k: { name: string }) => k.name).sort()).toEqual(['one', 'two']);
    expect(JSON.stringify(listed.body)).not.toContain(a.json.key);
    expect((await adminApi('GET', '/users/no-such-user/api-keys')).status).toBe(404);

    expect((await adminApi('DELETE', `/users/${user.id}/api-keys/${b.json.id}`)).status).toBe(204);
    await expectRefused(await me(b.json.key));
    expect((await adminApi('DELETE', `/users/${user.id}/api-keys/${b.json.id}`)).status).toBe(404);
    expect(await events('api_key.revoked', b.json.id)).toEqual([expect.objectContaining({ actor_type: 'client', actor_id: operator.client_id })]);

    expect((await adminApi('POST', `/users/${user.id}/disable`)).status).toBe(200);
    await expectRefused(await me(a.json.key));
    expect((await adminApi('POST', `/users/${user.id}/enable`)).status).toBe(200);
  });

  it('the CLI lists and revokes keys (audited with actor system/cli); the list never shows a key', async () => {
    const user = await stack.createUser('pat-cli');
    const created = await stack.cli(['apikey', 'create', '--email', user.email, '--name', 'deploy', '--scope', 'docs:read', '--json']);
    expect(Object.keys(created.json).sort()).toEqual(['expires_at', 'id', 'key', 'scopes']);
    const listed = await stack.cli(['apikey', 'list', '--email', user.email, '--json']);
    expect(listed.code).toBe(0);
    expect(listed.json.items).toEqual([expect.objectContaining({ id: created.json.id, name: 'deploy', prefix: created.json.key.slice(0, 11), revoked_at: null })]);
    expect(listed.stdout).not.toContain(created.json.key);
    expect((await stack.cli(['apikey', 'create', '--email', user.email, '--name', 'x', '--scope', 'admin:write'])).code).not.toBe(0);
    expect((await stack.cli(['apikey', 'create', '--email', 'nobody@example.test', '--name', 'x', '--scope', 'docs:read'])).code).not.toBe(0);

    expect((await me(created.json.key)).status).toBe(200);
    const revoked = await stack.cli(['apikey', 'revoke', created.json.id, '--json']);
    expect(revoked.code, revoked.stderr).toBe(0);
    if (process.env.REDIS_URL) await expectRefused(await me(created.json.key)); // published on the shared cache: at once
    expect((await stack.cli(['apikey', 'revoke', created.json.id])).code).not.toBe(0);
    expect(await events('api_key.created', created.json.id)).toEqual([expect.objectContaining({ actor_type: 'system', actor_id: 'cli' })]);
    expect(await events('api_key.revoked', created.json.id)).toEqual([expect.objectContaining({ actor_type: 'system', actor_id: 'cli' })]);
  });

  it('the auth server never accepts a key as an OAuth token (userinfo 401, introspection inactive)', async () => {
    const user = await stack.createUser('pat-oauth');
    const created = await stack.cli(['apikey', 'create', '--email', user.email, '--name', 'x', '--scope', 'docs:read', '--json']);
    const userinfo = await fetch(`${stack.authUrl}/me`, { headers: { authorization: `Bearer ${created.json.key}` } });
    expect(userinfo.status).toBe(401);
    await userinfo.body?.cancel();
    const web = await stack.createWebClient();
    const introspection = await fetch(`${stack.authUrl}/token/introspection`, { method: 'POST', headers: { ...FORM, authorization: basic(web) }, body: new URLSearchParams({ token: created.json.key }).toString() });
    expect(introspection.status).toBe(200);
    expect(((await introspection.json()) as { active: boolean }).active).toBe(false);
  });

  it('across two docs API processes: revoked in the console, refused by both on the very next request', async () => {
    const peer = await stack.startDocsPeer();
    try {
      const user = await stack.createUser('pat-peers');
      const { v } = await signInToAccount(user);
      const { key } = await createInConsole(v, { name: 'two processes', scopes: ['docs:read'] });
      // Both processes have the key cached.
      for (const base of [stack.docsUrl, peer.url, stack.docsUrl, peer.url]) expect((await me(key, base)).status).toBe(200);
      const keyId = await keyIdOf(key);
      await revokeInConsole(v, keyId);
      await expectRefused(await me(key, peer.url));
      await expectRefused(await me(key, stack.docsUrl));
      expect(await events('api_key.used', keyId)).toHaveLength(1);
    } finally {
      await peer.stop();
    }
  });
});
