// Audit end to end: every kind of event is produced by the action that should produce it, through the
// real pages, endpoints, docs API routes and operator CLI, and read back from audit.events: who, what,
// on what, outcome, when, and the request id the response carried. Afterwards the hash chains verify,
// and the org audit route lists the org's events newest first to owners only.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, formsOf, visibleText } from '../support/browser';
import { discover, startAuthorization, tokenRequest } from '../support/rp';
import { ALL_API, decodeJwt, expectProblem, PASSWORD, REDIRECT_URI, sleep, startDocsStack, type DocsStack, type User } from '../docs/support';

interface Row {
  id: string | number;
  actor_type: string;
  actor_id: string | null;
  action: string;
  target_type: string | null;
  target_id: string | null;
  outcome: string;
  org_id: string | null;
  request_id: string | null;
  occurred_at: Date;
  detail: Record<string, unknown>;
}

let stack: DocsStack;
let testStarted: number;
let keyGeneration: number;
let web: { client_id: string; client_secret: string };
let machine: { client_id: string; client_secret: string };
let alice: User;
let bob: User;
let carol: User;
let orgId: string;
let aliceToken: string;
let bobToken: string;
let carolToken: string;

/** The events of one action, optionally narrowed; oldest first. */
function events(action: string, where: Partial<Row> = {}): Promise<Row[]> {
  return stack.admin('audit.events').where({ action, ...where }).orderBy('id', 'asc') as Promise<Row[]>;
}

/** Exactly one event of `action` for `requestId`, with every field an event must have. */
async function oneEvent(action: string, requestId: string | null, where: Partial<Row> = {}): Promise<Row> {
  expect(requestId, `the response of ${action} carries an x-request-id`).toMatch(/\S/);
  const rows = await events(action, { request_id: requestId, ...where } as Partial<Row>);
  expect(rows, `one ${action} event for request ${requestId}`).toHaveLength(1);
  return complete(rows[0]!);
}

function complete(row: Row): Row {
  expect(row.actor_type).toMatch(/^(user|client|system|anonymous)$/);
  expect(row.action).toEqual(expect.any(String));
  expect(row.target_type).toEqual(expect.any(String));
  expect(row.outcome).toMatch(/^(success|failure|denied)$/);
  const at = new Date(row.occurred_at).getTime();
  expect(at).toBeGreaterThanOrEqual(testStarted - 2_000);
  expect(at).toBeLessThanOrEqual(Date.now() + 2_000);
  return row;
}

/** One login POST through a fresh browser, on the login page of a new authorization request. */
async function loginAttempt(email: string, password: string): Promise<{ status: number; requestId: string | null; text: string; retryAfter: number }> {
  const config = await discover({ issuer: stack.issuer }, web);
  const start = await startAuthorization(config, { scope: 'openid' });
  const browser = new Browser();
  const page = await browser.navigate(start.url, (u) => u.startsWith(REDIRECT_URI));
  expect(page.response.status).toBe(200);
  const login = formsOf(await page.response.text()).find((f) => f.action.endsWith('/login'));
  if (!login) throw new Error(`no login form at ${page.url}`);
  const res = await browser.postForm(new URL(login.action, page.url), { ...login.fields, email, password });
  return { status: res.status, requestId: res.headers.get('x-request-id'), text: visibleText(await res.text()), retryAfter: Number(res.headers.get('retry-after') ?? 0) };
}

async function cli(args: string[], stdin?: string) {
  const run = await stack.cli([...args, '--json'], stdin);
  expect(run.stderr, args.join(' ')).toBe('');
  expect(run.code, args.join(' ')).toBe(0);
  return run.json;
}

beforeAll(async () => {
  testStarted = Date.now();
  // A short refresh token reuse grace window, so that reuse after it is seen in this run.
  stack = await startDocsStack({ env: { AUTH_REFRESH_REUSE_GRACE_SECONDS: '2' } });
  [bob, carol] = await Promise.all([stack.createUser('bob'), stack.createUser('carol')]);
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

describe('operator changes through the real CLI', () => {
  it('user.created, client.created (a web client, and a machine client bound to the org: org.member.added), org.created and key.rotated', async () => {
    // Independent commands run side by side (the key rotation too: its key signs 1 s later, long before
    // the docs API, whose JWKS refetch on an unknown kid has a 5 s cooldown, first sees a token with it).
    const [user, webClient, rotated] = await Promise.all([
      cli(['user', 'create', '--email', `alice-${Date.now()}@example.test`, '--password-stdin'], `${PASSWORD}\n`),
      cli(['client', 'create', '--name', 'audit web', '--redirect-uri', REDIRECT_URI, '--grant', 'authorization_code', '--grant', 'refresh_token']),
      cli(['keys', 'rotate']),
    ]);
    keyGeneration = rotated.generation;
    alice = { id: user.id, email: user.email, password: PASSWORD };
    web = { client_id: webClient.client_id, client_secret: webClient.client_secret };
    const [created] = await events('user.created', { target_id: alice.id });
    expect(complete(created!)).toMatchObject({ actor_type: 'system', target_type: 'account', outcome: 'success', request_id: null });
    const [client] = await events('client.created', { target_id: web.client_id });
    expect(complete(client!)).toMatchObject({ actor_type: 'system', target_type: 'client', outcome: 'success' });

    const org = await cli(['org', 'create', '--name', 'Audited', '--owner', alice.email]);
    orgId = org.id;
    const [orgCreated] = await events('org.created', { target_id: orgId });
    expect(complete(orgCreated!)).toMatchObject({ target_type: 'org', org_id: orgId, outcome: 'success', detail: { ownerId: alice.id } });

    const bound = await cli(['client', 'create', '--name', 'audit worker', '--grant', 'client_credentials', '--scope', 'docs:read docs:write', '--org', orgId, '--role', 'editor']);
    machine = { client_id: bound.client_id, client_secret: bound.client_secret };
    const [machineCreated] = await events('client.created', { target_id: machine.client_id });
    expect(complete(machineCreated!)).toMatchObject({ org_id: orgId, detail: expect.objectContaining({ org: orgId, role: 'editor' }) });
    const [binding] = await events('org.member.added', { target_id: machine.client_id });
    expect(complete(binding!)).toMatchObject({ org_id: orgId, outcome: 'success', detail: { role: 'editor' } });

    const [event] = await events('key.rotated', { target_id: String(keyGeneration) });
    expect(complete(event!)).toMatchObject({ actor_type: 'system', target_type: 'key_generation', outcome: 'success' });
    expect(JSON.stringify(event!.detail)).not.toMatch(/"d"|PRIVATE/);
  });
});

describe('sign-in', () => {
  it('auth.login.failed names the account id for a wrong password and the email for an unknown account', async () => {
    const wrong = await loginAttempt(alice.email, 'not-her-password-123');
    expect(wrong.status).toBe(200);
    expect(wrong.text).toContain('The email or password is incorrect.');
    expect(await oneEvent('auth.login.failed', wrong.requestId)).toMatchObject({ actor_type: 'anonymous', target_type: 'account', target_id: alice.id, outcome: 'failure' });

    const ghost = `ghost-${Date.now()}@example.test`;
    const unknown = await loginAttempt(ghost, 'whatever-password-123');
    expect(unknown.status).toBe(200);
    expect(await oneEvent('auth.login.failed', unknown.requestId)).toMatchObject({ target_type: 'account', target_id: ghost, outcome: 'failure' });
  });

  it('auth.login.succeeded for the login POST, token.issued for the code redemption', async () => {
    const signIn = await stack.signIn(web, alice, { scope: `${ALL_API} offline_access`, prompt: 'consent' });
    aliceToken = signIn.tokens.access_token;
    expect(await oneEvent('auth.login.succeeded', signIn.loginRequestId)).toMatchObject({ actor_type: 'user', actor_id: alice.id, target_type: 'account', target_id: alice.id, outcome: 'success' });
    const issued = await oneEvent('token.issued', signIn.tokenRequestId);
    expect(issued).toMatchObject({ actor_type: 'user', actor_id: alice.id, outcome: 'success', detail: expect.objectContaining({ clientId: web.client_id, grantType: 'authorization_code', jti: decodeJwt(aliceToken).payload.jti }) });
    expect(JSON.stringify(issued.detail)).not.toContain(aliceToken);
  });

  it('auth.lockout after enough failures, naming the account; the correct password is then refused (429)', async () => {
    const dave = await stack.createUser('dave');
    let lockedAttempt: Awaited<ReturnType<typeof loginAttempt>> | undefined;
    const requestIds: string[] = [];
    const seen: string[] = [];
    for (let round = 0; round < 6 && !lockedAttempt; round++) {
      const results = await Promise.all(Array.from({ length: 14 }, () => loginAttempt(dave.email, 'guessing-wrong-123')));
      requestIds.push(...results.map((r) => r.requestId!));
      seen.push(results.map((r) => `${r.status}/${r.retryAfter}`).join(' '));
      lockedAttempt = results.find((r) => r.status === 429 && r.retryAfter > 60);
      if (!lockedAttempt) await new Promise((r) => setTimeout(r, 1000 * Math.max(0, ...results.map((r) => r.retryAfter))));
    }
    expect(lockedAttempt?.text, `status/retry-after per round: ${seen.join(' | ')}`).toMatch(/Try again later/);
    const lockouts = await events('auth.lockout', { target_id: dave.id });
    expect(lockouts, `status/retry-after per round: ${seen.join(' | ')}`).toHaveLength(1);
    expect(complete(lockouts[0]!)).toMatchObject({ target_type: 'account', outcome: 'success' });
    expect(requestIds).toContain(lockouts[0]!.request_id);
    const refused = await loginAttempt(dave.email, dave.password);
    expect(refused.status).toBe(429);
    expect(await oneEvent('auth.login.failed', refused.requestId)).toMatchObject({ target_id: dave.email, outcome: 'denied', detail: expect.objectContaining({ reason: expect.stringMatching(/^(locked|throttled)$/) }) });
    // At least one refusal of the lockout names it as such.
    expect((await events('auth.login.failed', { target_id: dave.email })).some((e) => e.detail.reason === 'locked')).toBe(true);
  });
});

describe('tokens', () => {
  let refreshToken: string;
  // A client of its own: a grant is one per user and client, and reuse detection revokes it whole.
  let app: { client_id: string; client_secret: string };
  beforeAll(async () => {
    const created = await stack.createWebClient();
    app = { client_id: created.client_id, client_secret: created.client_secret! };
  });

  it('token.refreshed for a refresh, again (replay: true) for a retry within the grace window, token.reuse_detected when the old refresh token is replayed after it', async () => {
    const signIn = await stack.signIn(app, alice, { scope: 'openid offline_access docs:read', prompt: 'consent' });
    const first = signIn.tokens.refresh_token!;
    const refreshed = await tokenRequest(stack, app, { grant_type: 'refresh_token', refresh_token: first });
    // Within AUTH_REFRESH_REUSE_GRACE_SECONDS (2 s here) of the first use: the same answer, audited as given again.
    const retry = await tokenRequest(stack, app, { grant_type: 'refresh_token', refresh_token: first });
    expect(refreshed.status).toBe(200);
    expect(refreshed.headers.get('cache-control')).toBe('no-store');
    refreshToken = refreshed.body.refresh_token as string;
    expect(refreshToken).not.toBe(first);
    expect(await oneEvent('token.refreshed', refreshed.headers.get('x-request-id'))).toMatchObject({ actor_type: 'user', actor_id: alice.id, target_type: 'grant', outcome: 'success', detail: expect.objectContaining({ grantType: 'refresh_token' }) });
    expect(retry.status).toBe(200);
    expect(retry.body.refresh_token).toBe(refreshToken);
    expect(await oneEvent('token.refreshed', retry.headers.get('x-request-id'))).toMatchObject({ actor_id: alice.id, target_type: 'grant', outcome: 'success', detail: expect.objectContaining({ replay: true }) });

    await sleep(3_000); // past the window
    const replay = await tokenRequest(stack, app, { grant_type: 'refresh_token', refresh_token: first });
    expect(replay.status).toBe(400);
    expect(replay.body.error).toBe('invalid_grant');
    expect(await oneEvent('token.reuse_detected', replay.headers.get('x-request-id'))).toMatchObject({ target_type: 'grant', outcome: 'denied' });
    // The grant is gone: the newest refresh token is dead too.
    expect((await tokenRequest(stack, app, { grant_type: 'refresh_token', refresh_token: refreshToken })).body.error).toBe('invalid_grant');
  });

  it('token.issued for client_credentials; client.auth_failed for a wrong secret', async () => {
    const cc = await tokenRequest(stack, machine, { grant_type: 'client_credentials', scope: 'docs:read docs:write' });
    expect(cc.status).toBe(200);
    expect(await oneEvent('token.issued', cc.headers.get('x-request-id'))).toMatchObject({ actor_type: 'client', actor_id: machine.client_id, outcome: 'success', detail: expect.objectContaining({ grantType: 'client_credentials' }) });

    const wrong = await tokenRequest(stack, { client_id: machine.client_id, client_secret: `${machine.client_secret}x` }, { grant_type: 'client_credentials' });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error).toBe('invalid_client');
    expect(await oneEvent('client.auth_failed', wrong.headers.get('x-request-id'))).toMatchObject({ actor_type: 'anonymous', target_type: 'client', target_id: machine.client_id, outcome: 'failure' });
  });

  it('token.revoked at the revocation endpoint, for a JWT access token and for an opaque refresh token', async () => {
    const signIn = await stack.signIn(app, alice, { scope: 'openid offline_access docs:read', prompt: 'consent' });
    const jwt = await stack.revoke(app, signIn.tokens.access_token, 'access_token');
    expect(jwt.status).toBe(200);
    expect(await oneEvent('token.revoked', jwt.headers.get('x-request-id'))).toMatchObject({
      actor_type: 'client',
      actor_id: app.client_id,
      target_type: 'access_token',
      target_id: decodeJwt(signIn.tokens.access_token).payload.jti,
      outcome: 'success',
      detail: expect.objectContaining({ format: 'jwt' }),
    });

    const opaque = await stack.revoke(app, signIn.tokens.refresh_token!, 'refresh_token');
    expect(opaque.status).toBe(200);
    expect(await oneEvent('token.revoked', opaque.headers.get('x-request-id'))).toMatchObject({
      actor_type: 'client',
      actor_id: app.client_id,
      outcome: 'success',
      detail: expect.objectContaining({ tokenType: 'refresh_token', format: 'opaque' }),
    });
  });
});

describe('docs API changes and denials', () => {
  let docId: string;

  beforeAll(async () => {
    [bobToken, carolToken] = await Promise.all([stack.signIn(web, bob).then((s) => s.tokens.access_token), stack.signIn(web, carol).then((s) => s.tokens.access_token)]);
  });

  it('org.member.added, org.member.role_changed and org.member.removed, by the owner through the API', async () => {
    const expected = { actor_type: 'user', actor_id: alice.id, org_id: orgId, outcome: 'success', target_type: 'user' };
    const addBob = await stack.api('PUT', `/orgs/${orgId}/members/${bob.id}`, { token: aliceToken, body: { role: 'viewer' } });
    expect(addBob.status).toBe(201);
    expect(await oneEvent('org.member.added', addBob.requestId)).toMatchObject({ ...expected, target_id: bob.id, detail: { role: 'viewer' } });
    const addCarol = await stack.api('PUT', `/orgs/${orgId}/members/${carol.id}`, { token: aliceToken, body: { role: 'editor' } });
    expect(addCarol.status).toBe(201);
    const change = await stack.api('PUT', `/orgs/${orgId}/members/${carol.id}`, { token: aliceToken, body: { role: 'viewer' } });
    expect(change.status).toBe(200);
    expect(await oneEvent('org.member.role_changed', change.requestId)).toMatchObject({ ...expected, target_id: carol.id, detail: { from: 'editor', to: 'viewer' } });
    const remove = await stack.api('DELETE', `/orgs/${orgId}/members/${carol.id}`, { token: aliceToken });
    expect(remove.status).toBe(204);
    expect(await oneEvent('org.member.removed', remove.requestId)).toMatchObject({ ...expected, target_id: carol.id });
  });

  it('document.created, updated, shared, unshared and deleted, each with its request id', async () => {
    const expected = { actor_type: 'user', actor_id: alice.id, target_type: 'document', outcome: 'success' };
    const created = await stack.api('POST', '/documents', { token: aliceToken, body: { title: 'Ledger', content: 'v1', orgId } });
    expect(created.status).toBe(201);
    docId = created.body.id;
    expect(await oneEvent('document.created', created.requestId)).toMatchObject({ ...expected, target_id: docId, org_id: orgId });
    const updated = await stack.api('PATCH', `/documents/${docId}`, { token: aliceToken, body: { content: 'v2' } });
    expect(updated.status).toBe(200);
    expect(await oneEvent('document.updated', updated.requestId)).toMatchObject({ ...expected, target_id: docId, org_id: orgId });
    const shared = await stack.api('PUT', `/documents/${docId}/shares/${carol.id}`, { token: aliceToken, body: { permission: 'read' } });
    expect(shared.status).toBe(201);
    expect(await oneEvent('document.shared', shared.requestId)).toMatchObject({ ...expected, target_id: docId, detail: { userId: carol.id, permission: 'read' } });
    const unshared = await stack.api('DELETE', `/documents/${docId}/shares/${carol.id}`, { token: aliceToken });
    expect(unshared.status).toBe(204);
    expect(await oneEvent('document.unshared', unshared.requestId)).toMatchObject({ ...expected, target_id: docId, detail: { userId: carol.id } });

    const scratch = await stack.api('POST', '/documents', { token: aliceToken, body: { title: 'Scratch', content: 'x' } });
    const deleted = await stack.api('DELETE', `/documents/${scratch.body.id}`, { token: aliceToken });
    expect(deleted.status).toBe(204);
    expect(await oneEvent('document.deleted', deleted.requestId)).toMatchObject({ ...expected, target_id: scratch.body.id, org_id: null });
  });

  it('access.denied for a 403 (a viewer writing) and for a hidden object (404 to a stranger)', async () => {
    const forbidden = await stack.api('PATCH', `/documents/${docId}`, { token: bobToken, body: { content: 'nope' } });
    expectProblem(forbidden, 403);
    expect(await oneEvent('access.denied', forbidden.requestId)).toMatchObject({ actor_type: 'user', actor_id: bob.id, target_type: 'document', target_id: docId, org_id: orgId, outcome: 'denied' });

    const hidden = await stack.api('GET', `/documents/${docId}`, { token: carolToken });
    expectProblem(hidden, 404);
    expect(await oneEvent('access.denied', hidden.requestId)).toMatchObject({ actor_type: 'user', actor_id: carol.id, target_type: 'document', target_id: docId, outcome: 'denied' });
  });

  it("GET /orgs/:orgId/audit: the owner pages through the org's events newest first; a viewer 403; a non-member 404", async () => {
    const fromDb = (await stack.admin('audit.events').where({ org_id: orgId }).orderBy('id', 'desc').select('id', 'action')) as { id: string | number; action: string }[];
    expect(fromDb.length).toBeGreaterThan(8);
    const paged: { id: number; action: string; occurredAt: string; orgId: string }[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await stack.api('GET', `/orgs/${orgId}/audit?limit=4${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { token: aliceToken });
      expect(res.status).toBe(200);
      expect(res.body.items.length).toBeLessThanOrEqual(4);
      for (const item of res.body.items) expect(item).toMatchObject({ id: expect.any(Number), occurredAt: expect.any(String), actor: expect.any(Object), action: expect.any(String), target: expect.any(Object), outcome: expect.any(String), orgId });
      paged.push(...res.body.items);
      cursor = res.body.nextCursor;
      pages += 1;
    } while (cursor && pages < 50);
    expect(pages).toBeGreaterThan(1);
    expect(paged.map((e) => [Number(e.id), e.action])).toEqual(fromDb.map((e) => [Number(e.id), e.action]));
    expect(paged.at(-1)!.action).toBe('org.created');
    const times = paged.map((e) => Date.parse(e.occurredAt));
    expect(times).toEqual([...times].sort((a, b) => b - a));

    expectProblem(await stack.api('GET', `/orgs/${orgId}/audit`, { token: bobToken }), 403); // a viewer
    expectProblem(await stack.api('GET', `/orgs/${orgId}/audit`, { token: carolToken }), 404); // no longer a member
  });
});

describe('the chain', () => {
  it('after all of the above, `clouddocs audit verify --json` exits 0 over every chain', async () => {
    const total = Number((await stack.admin('audit.events').count({ n: '*' }).first())!.n);
    const verify = await stack.cli(['audit', 'verify', '--json']);
    expect(verify.stderr).toBe('');
    expect(verify.code).toBe(0);
    expect(verify.json).toMatchObject({ ok: true, events: total });
    expect(verify.json.chains).toBeGreaterThanOrEqual(3); // auth server, docs API and CLI writers
  });

  it('every event of this run names an actor type, action, target, outcome and time; those caused by a request carry its id', async () => {
    const rows = (await stack.admin('audit.events').orderBy('id', 'asc')) as Row[];
    const requestCaused = new Set(['auth.login.failed', 'auth.login.succeeded', 'auth.lockout', 'token.issued', 'token.refreshed', 'token.reuse_detected', 'token.revoked', 'client.auth_failed', 'org.member.role_changed', 'org.member.removed', 'document.created', 'document.updated', 'document.deleted', 'document.shared', 'document.unshared', 'access.denied']);
    for (const row of rows) {
      complete(row);
      if (requestCaused.has(row.action)) expect(row.request_id, `${row.action} #${row.id}`).toMatch(/\S/);
    }
    for (const action of [...requestCaused, 'user.created', 'client.created', 'org.created', 'org.member.added', 'key.rotated']) {
      expect(rows.some((r) => r.action === action), action).toBe(true);
    }
  });
});
