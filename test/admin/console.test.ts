// The admin console (/admin) through the real pages (contract: "Admin console"): platform
// administrators only, a second factor required (set up first, and used at this sign-in), navigation
// named Clients, Users, Keys and Audit, lists with search and Next/Previous, actions as CSRF-protected
// forms with buttons named for the action, each taking effect at once and audited with the
// administrator as actor. Anyone else gets 403.
import { randomBytes } from 'node:crypto';
import { generate } from 'otplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSecurityStack, STRONG_PASSWORD, type SecurityStack } from '../account/support';
import { toPage, Visitor, type Page } from '../account/flow';

let stack: SecurityStack;
let admin: Visitor;
let adminId: string;

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const email = (label: string) => `${label}-${randomBytes(4).toString('hex')}@example.test`;

async function signInToAccount(v: Visitor, user: { email: string; password: string }, path = '/account/login'): Promise<Page> {
  const login = await v.get(path);
  return v.submitAndFollow(login, '/login', { email: user.email, password: user.password });
}

async function enrolTotp(v: Visitor): Promise<string> {
  const enrol = await v.submitAndFollow(await v.get('/account'), '/account/mfa/totp/start', { password: STRONG_PASSWORD });
  const secret = /data-secret="([A-Z2-7]+)"/.exec(enrol.html)![1]!;
  await v.submitAndFollow(enrol, '/account/mfa/totp/confirm', { code: await generate({ secret }) });
  return secret;
}

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
const clientToken = (id: string, secret: string) =>
  fetch(`${stack.issuer}/token`, { method: 'POST', headers: { ...FORM, authorization: basic(id, secret) }, body: 'grant_type=client_credentials&scope=docs%3Aread' });

beforeAll(async () => {
  stack = await startSecurityStack();
  const user = await stack.createUser({ email: email('admin') });
  adminId = user.id;
  await stack.admin('auth.accounts').where({ id: user.id }).update({ platform_admin: true });
  admin = new Visitor(stack);
  await signInToAccount(admin, user);
  // Without a second factor the console sends the administrator to set one up.
  const noFactor = await admin.get('/admin');
  expect(noFactor.status).toBe(403);
  expect(noFactor.text).toContain('Set up a second factor first');
  const secret = await enrolTotp(admin);
  // This browser signed in with the password alone: the console asks for a sign-in with the second factor.
  const again = await admin.get('/admin');
  expect(again.status).toBe(403);
  expect(again.text).toContain('Sign in again');
  const login = await admin.get('/account/login?next=/admin&reauth=1');
  const second = await admin.submitAndFollow(login, '/login', { email: user.email, password: STRONG_PASSWORD });
  const console = await admin.submitAndFollow(second, '/mfa', { code: await generate({ secret, epoch: Math.floor(Date.now() / 1000) + 30 }) });
  expect(console.url).toBe(`${stack.issuer}/admin/clients`);
}, 120_000);
afterAll(async () => {
  await stack?.stop();
});

describe('admin console', () => {
  it('anyone but a platform administrator gets 403; signed out, the page offers a sign-in', async () => {
    const someone = new Visitor(stack);
    expect((await someone.get('/admin/clients')).text).toContain('Sign in');
    await signInToAccount(someone, await stack.createUser({ email: email('plain') }));
    for (const path of ['/admin', '/admin/clients', '/admin/users', '/admin/keys', '/admin/audit']) {
      const page = await someone.get(path);
      expect(page.status, path).toBe(403);
    }
    const post = await someone.browser.postForm(new URL('/admin/keys/rotate', stack.issuer), { csrf: 'x' });
    expect(post.status).toBe(403);
  });

  it('navigation names Clients, Users, Keys and Audit; pages are no-store with a CSP that forbids framing', async () => {
    const page = await admin.get('/admin/clients');
    expect(page.status).toBe(200);
    for (const link of ['Clients', 'Users', 'Keys', 'Audit']) expect(page.html).toMatch(new RegExp(`<a href="/admin/${link.toLowerCase()}">${link}</a>`));
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(page.headers.get('content-security-policy')).toMatch(/frame-ancestors 'none'/);
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('clients: search, Disable (with confirmation) refuses the client at once, Enable, Rotate secret shows the new one once', async () => {
    const client = await stack.createClient({ name: `Console robot ${randomBytes(3).toString('hex')}`, grants: ['client_credentials'], redirectUris: [], scope: 'docs:read' });
    const list = await admin.get(`/admin/clients?q=${encodeURIComponent(client.client_name)}`);
    expect(list.html).toContain(`/admin/clients/${client.client_id}`);
    let page = await admin.get(`/admin/clients/${client.client_id}`);
    expect((await clientToken(client.client_id, client.client_secret!)).status).toBe(200);

    const unconfirmed = await admin.submit(page, `/admin/clients/${client.client_id}/disable`, { confirm: '' });
    expect(unconfirmed.response.status).toBe(400);
    expect(await unconfirmed.response.text()).toContain('Tick the confirmation box');
    page = await admin.submitAndFollow(await admin.get(`/admin/clients/${client.client_id}`), `/admin/clients/${client.client_id}/disable`, { confirm: 'yes' });
    expect(page.text).toContain('disabled');
    expect((await clientToken(client.client_id, client.client_secret!)).status).toBe(401);
    page = await admin.submitAndFollow(page, `/admin/clients/${client.client_id}/enable`);
    expect((await clientToken(client.client_id, client.client_secret!)).status).toBe(200);

    const rotated = await admin.submit(page, `/admin/clients/${client.client_id}/secret`, { previous_secret_expires_in: '0' });
    const shown = await toPage(rotated.response, rotated.action.toString());
    const secret = /id="new-secret">([A-Za-z0-9_-]+)</.exec(shown.html)?.[1];
    expect(secret).toBeDefined();
    expect((await clientToken(client.client_id, secret!)).status).toBe(200);
    expect((await clientToken(client.client_id, client.client_secret!)).status).toBe(401);
    expect((await admin.get(`/admin/clients/${client.client_id}`)).html).not.toContain(secret!);

    const events = await stack.admin('audit.events').where({ target_id: client.client_id }).whereIn('action', ['client.disabled', 'client.enabled', 'client.secret_rotated']).select('action', 'actor_id');
    expect(events.map((e) => e.action).sort()).toEqual(['client.disabled', 'client.enabled', 'client.secret_rotated']);
    expect(new Set(events.map((e) => e.actor_id))).toEqual(new Set([adminId]));
  });

  it('users: find by email, Sign out ends their sessions, Disable refuses their sign-in; an administrator cannot disable themselves (409)', async () => {
    const user = await stack.createUser({ email: email('person') });
    const theirs = new Visitor(stack);
    await signInToAccount(theirs, user);
    const found = await admin.get(`/admin/users?email=${encodeURIComponent(user.email)}`);
    expect(found.html).toContain(`/admin/users/${user.id}`);
    let page = await admin.get(`/admin/users/${user.id}`);
    page = await admin.submitAndFollow(page, `/admin/users/${user.id}/sign-out`);
    expect((await theirs.get('/account')).text).toContain('Sign in');
    page = await admin.submitAndFollow(page, `/admin/users/${user.id}/disable`, { confirm: 'yes' });
    expect(page.text).toContain('disabled');
    const refused = await signInToAccount(new Visitor(stack), user);
    expect(refused.text).toContain('The email or password is incorrect.');

    const self = await admin.submit(await admin.get(`/admin/users/${adminId}`), `/admin/users/${adminId}/disable`, { confirm: 'yes' });
    expect(self.response.status).toBe(409);
    expect(await self.response.text()).toContain('cannot disable themselves');
  });

  it('keys: Rotate keys publishes a pending generation; audit: the events with Next/Previous paging; a forged CSRF field is 403', async () => {
    const keys = await admin.get('/admin/keys');
    const generations = (html: string) => new Set([...html.matchAll(/<td>(\d+)<\/td><td>(pending|active|retiring)<\/td>/g)].map((m) => Number(m[1])));
    const before = Math.max(...generations(keys.html));
    const after = await admin.submitAndFollow(keys, '/admin/keys/rotate');
    expect(Math.max(...generations(after.html))).toBe(before + 1);
    expect(after.html).toMatch(/<td>pending<\/td>/);

    const audit = await admin.get('/admin/audit?limit=2');
    expect(audit.html).toContain('key.rotated');
    const next = /<a href="([^"]+)" rel="next">Next<\/a>/.exec(audit.html)?.[1];
    expect(next).toBeDefined();
    const second = await admin.get(next!.replace(/&amp;/g, '&'));
    expect(second.html).toMatch(/rel="prev">Previous<\/a>/);

    const forged = await admin.browser.postForm(new URL('/admin/keys/rotate', stack.issuer), { csrf: 'forged' });
    expect(forged.status).toBe(403);
  });
});
