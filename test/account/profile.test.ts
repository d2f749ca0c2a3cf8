// The account console's profile, as a person uses it through the real pages (contract: "Account
// console"): name, an email change confirmed at the new address (the old one stays the sign-in address
// until then and is told afterwards), a password change that needs the current one and ends the other
// sessions, the person's own security activity, a JSON download of their data, and deleting the account.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSecurityStack, STRONG_PASSWORD, type SecurityStack } from './support';
import { toPage, Visitor, type Page } from './flow';

let stack: SecurityStack;

beforeAll(async () => {
  stack = await startSecurityStack();
});
afterAll(async () => {
  await stack?.stop();
});

async function signInToAccount(v: Visitor, user: { email: string; password: string }): Promise<Page> {
  const login = await v.get('/account/login');
  const page = await v.submitAndFollow(login, '/login', { email: user.email, password: user.password });
  expect(page.url).toBe(`${stack.issuer}/account`);
  return page;
}

const email = (label: string) => `${label}-${randomBytes(4).toString('hex')}@example.test`;

describe('account console: profile', () => {
  it('name: saved and shown; audited', async () => {
    const user = await stack.createUser({ email: email('name') });
    const v = new Visitor(stack);
    const page = await signInToAccount(v, user);
    const saved = await v.submitAndFollow(page, '/account/profile', { name: 'Grace Hopper' });
    expect(saved.status).toBe(200);
    expect(saved.text).toContain('Your profile is saved.');
    expect(saved.text).toContain('Grace Hopper');
    expect((await stack.auditActions()).some((e) => e.action === 'auth.profile.updated' && e.target_id === user.id)).toBe(true);
  });

  it('email: the current password is required; the old address signs in until the link to the new one is opened; then the new one does and the old one is told', async () => {
    const user = await stack.createUser({ email: email('old') });
    const next = email('new');
    const v = new Visitor(stack);
    let page = await signInToAccount(v, user);
    const wrong = await v.submit(page, '/account/email', { email: next, password: 'not-the-password' });
    expect(wrong.response.status).toBe(400);
    expect(await wrong.response.text()).toContain('The password is incorrect.');

    page = await v.submitAndFollow(await v.get('/account'), '/account/email', { email: next, password: STRONG_PASSWORD });
    expect(page.text).toContain('we sent it a link');
    const mail = await stack.mailTo(next, { subject: /Confirm your new/ });
    expect(mail.link).toMatch(/\/account\/email\/confirm\?token=/);
    // Until the link is opened, the old address is the sign-in address.
    await signInToAccount(new Visitor(stack), user);

    const confirmPage = await v.get(mail.link!);
    expect(confirmPage.status).toBe(200);
    const confirmed = await v.submit(confirmPage, '/account/email/confirm');
    const done = await toPage(confirmed.response, confirmed.action.toString());
    expect(done.status).toBe(200);
    expect(done.text).toContain(`You now sign in with ${next}`);
    await signInToAccount(new Visitor(stack), { email: next, password: STRONG_PASSWORD });
    const old = new Visitor(stack);
    const refused = await old.submitAndFollow(await old.get('/account/login'), '/login', { email: user.email, password: STRONG_PASSWORD });
    expect(refused.text).toContain('The email or password is incorrect.');
    const notice = await stack.mailTo(user.email, { subject: /was changed/ });
    expect(notice.text).toContain(next);
    // The link works once.
    const again = await v.get(mail.link!);
    expect(again.status).toBe(400);
    const actions = (await stack.auditActions()).filter((e) => e.target_id === user.id).map((e) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['auth.email_change.requested', 'auth.email_changed']));
  });

  it('email: an address another account uses gets the same answer and no mail', async () => {
    const user = await stack.createUser({ email: email('asker') });
    const other = await stack.createUser({ email: email('taken') });
    const v = new Visitor(stack);
    const page = await v.submitAndFollow(await signInToAccount(v, user), '/account/email', { email: other.email, password: STRONG_PASSWORD });
    expect(page.text).toContain('we sent it a link');
    await expect(stack.mailTo(other.email, { subject: /Confirm your new/ })).rejects.toThrow(/no mail/);
  }, 30_000);

  it('password: the current one is required, the new one passes the policy, the other sessions end, this one stays', async () => {
    const user = await stack.createUser({ email: email('pw') });
    const elsewhere = new Visitor(stack);
    await signInToAccount(elsewhere, user);
    const v = new Visitor(stack);
    const page = await signInToAccount(v, user);
    const weak = await v.submit(page, '/account/password', { current: STRONG_PASSWORD, password: 'password' });
    expect(weak.response.status).toBe(400);
    const changed = await v.submitAndFollow(await v.get('/account'), '/account/password', { current: STRONG_PASSWORD, password: 'saffron-glacier-ember-19' });
    expect(changed.text).toContain('Your password is changed');
    expect((await elsewhere.get('/account')).text).toContain('Sign in');
    expect((await v.get('/account')).text).toContain('Where you are signed in');
    await signInToAccount(new Visitor(stack), { email: user.email, password: 'saffron-glacier-ember-19' });
    expect((await stack.auditActions()).some((e) => e.action === 'auth.password_changed' && e.target_id === user.id && (e.detail as { sessionsEnded?: number }).sessionsEnded === 1)).toBe(true);
  });

  it('activity lists the person\'s own sign-ins and failures; the data download is JSON with the profile', async () => {
    const user = await stack.createUser({ email: email('activity') });
    const failed = new Visitor(stack);
    await failed.submitAndFollow(await failed.get('/account/login'), '/login', { email: user.email, password: 'wrong-password-here' });
    const v = new Visitor(stack);
    await signInToAccount(v, user);
    const activity = await v.get('/account/activity');
    expect(activity.status).toBe(200);
    expect(activity.text).toContain('Signed in');
    expect(activity.text).toContain('Sign-in failed');
    const res = await v.browser.request(new URL('/account/data', stack.issuer));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toMatch(/attachment/);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const data = (await res.json()) as { profile: { id: string; email: string }; activity: unknown[]; apiKeys: unknown[] };
    expect(data.profile).toMatchObject({ id: user.id, email: user.email });
    expect(data.apiKeys).toEqual([]);
    expect(data.activity.length).toBeGreaterThan(0);
  });

  it('delete: needs the email typed again and the password; then the account is erased and signed out everywhere', async () => {
    const user = await stack.createUser({ email: email('delete') });
    const v = new Visitor(stack);
    const page = await signInToAccount(v, user);
    const mistyped = await v.submit(page, '/account/delete', { confirm: 'someone@example.test', password: STRONG_PASSWORD });
    expect(mistyped.response.status).toBe(400);
    const deleted = await v.submit(await v.get('/account'), '/account/delete', { confirm: user.email, password: STRONG_PASSWORD });
    const done = await toPage(deleted.response, deleted.action.toString());
    expect(done.status).toBe(200);
    expect(done.text).toContain('Your account is deleted');
    expect(await stack.admin('auth.accounts').where({ id: user.id }).first()).toBeUndefined();
    expect((await v.get('/account')).text).toContain('Sign in');
    expect((await stack.auditActions()).some((e) => e.action === 'user.deleted' && e.target_id === user.id)).toBe(true);
  });

  it('every profile form refuses a forged CSRF field with 403', async () => {
    const user = await stack.createUser({ email: email('csrf') });
    const v = new Visitor(stack);
    await signInToAccount(v, user);
    for (const path of ['/account/profile', '/account/email', '/account/password', '/account/delete', '/account/email/confirm']) {
      const res = await v.browser.postForm(new URL(path, stack.issuer), { csrf: 'forged', name: 'x', email: 'x@example.test', password: 'x', current: 'x', confirm: 'x', token: 'x' });
      expect(res.status, path).toBe(403);
      await res.body?.cancel();
    }
    expect(await stack.admin('auth.accounts').where({ id: user.id }).first()).toBeDefined();
  });
});
