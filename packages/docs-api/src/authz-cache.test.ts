// The read path's caches never outlive a change: every write kind is seen by the very next request,
// in the process that made it and in a second docs API instance on the same stores; entries expire
// after their TTL when a change is missed; and nothing is cached while the subscription is down.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createKv, RevocationList, type Kv } from '@clouddocs/kv';
import { createLogger } from '@clouddocs/observability';
import { createDocsApi, REVOCATION_RETAIN_SECONDS, type DocsApi, type DocsApiDeps } from './app';
import { bindClientToOrg } from './index';
import { staticKeySource } from './key-source';
import { startHarness, type Harness, type Response } from './testing/harness';
import { documentOf, orgWith, type TestUser } from './testing/fixtures';
import { createTokenVerifier } from './token-verifier';

let h: Harness;
/** A second docs API process on the same database and shared cache (its own Redis connections when REDIS_URL is set). */
let second: Awaited<ReturnType<Harness['serve']>>;
let secondApi: DocsApi;
let secondKv: Kv;
const opened: { api: DocsApi; close(): Promise<void> }[] = [];

type Request = Harness['request'];

/** `kv` with some members replaced, every other member bound to `kv` itself. */
function kvWith(kv: Kv, overrides: Partial<Kv>): Kv {
  return new Proxy(kv, {
    get(target, prop) {
      if (prop in overrides) return overrides[prop as keyof Kv];
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
const logger = createLogger({ level: 'silent', name: 'docs-api' });

/** Another API instance over the harness's stores; `kv` defaults to the harness's. */
async function instance(extra: Partial<DocsApiDeps> = {}) {
  const kv = extra.kv ?? h.kv;
  const revocations = kv === h.kv ? h.revocations : new RevocationList(kv, REVOCATION_RETAIN_SECONDS);
  const api = createDocsApi({ config: h.config, knex: h.knex, audit: h.audit, kv, revocations, jwks: h.jwks!, logger, ...extra });
  await api.ready();
  const served = await h.serve(api);
  const handle = { api, request: served.request, close: async () => (await served.close(), await api.close()) };
  opened.push(handle);
  return handle;
}

beforeAll(async () => {
  h = await startHarness();
  // With Redis, the second instance has connections of its own, as another process would.
  secondKv = h.kv.kind === 'redis' ? createKv(h.config) : h.kv;
  secondApi = createDocsApi({
    config: h.config,
    knex: h.knex,
    audit: h.audit,
    kv: secondKv,
    revocations: secondKv === h.kv ? h.revocations : new RevocationList(secondKv, REVOCATION_RETAIN_SECONDS),
    jwks: h.jwks!,
    logger,
  });
  await secondApi.ready();
  await vi.waitFor(() => expect(secondApi.authz.isLive() && h.api.authz.isLive()).toBe(true));
  second = await h.serve(secondApi);
});
afterAll(async () => {
  for (const o of opened) await o.close();
  await second?.close();
  await secondApi?.close();
  if (secondKv && secondKv !== h.kv) await secondKv.close();
  await h?.close();
});

const both = (): [string, Request][] => [
  ['the instance that made the change', h.request],
  ['a second instance', second.request],
];

/** Reads `path` on both instances (filling both caches) and checks what each answers. */
async function expectOnBoth(path: string, user: TestUser, check: (res: Response) => void) {
  for (const [, request] of both()) check(await request('GET', path, { token: user.token }));
}

describe('every change is seen by the next request, here and in a second instance', () => {
  it('a role change', async () => {
    const [owner, bob] = await Promise.all([h.user(), h.user()]);
    const orgId = await orgWith(h, owner, [[bob, 'editor']]);
    const docId = await documentOf(h, owner, { orgId });
    await expectOnBoth(`/documents/${docId}`, bob, (res) => expect(res.body.permissions).toEqual(['read', 'write']));
    await expectOnBoth(`/me`, bob, (res) => expect(res.body.memberships).toEqual([{ orgId, role: 'editor' }]));
    expect((await h.request('PUT', `/orgs/${orgId}/members/${bob.id}`, { token: owner.token, body: { role: 'viewer' } })).status).toBe(200);
    await expectOnBoth(`/documents/${docId}`, bob, (res) => expect(res.body.permissions).toEqual(['read']));
    await expectOnBoth(`/me`, bob, (res) => expect(res.body.memberships).toEqual([{ orgId, role: 'viewer' }]));
    expect((await second.request('PATCH', `/documents/${docId}`, { token: bob.token, body: { title: 'no' } })).status).toBe(403);
    // and back up, made on the second instance this time
    expect((await second.request('PUT', `/orgs/${orgId}/members/${bob.id}`, { token: owner.token, body: { role: 'admin' } })).status).toBe(200);
    await expectOnBoth(`/documents/${docId}`, bob, (res) => expect(res.body.permissions).toEqual(['read', 'write', 'delete', 'share']));
  });

  it('a member removal', async () => {
    const [owner, bob] = await Promise.all([h.user(), h.user()]);
    const orgId = await orgWith(h, owner, [[bob, 'viewer']]);
    const docId = await documentOf(h, owner, { orgId });
    await expectOnBoth(`/documents/${docId}`, bob, (res) => expect(res.status).toBe(200));
    await expectOnBoth(`/orgs/${orgId}`, bob, (res) => expect(res.status).toBe(200));
    expect((await h.request('DELETE', `/orgs/${orgId}/members/${bob.id}`, { token: owner.token })).status).toBe(204);
    await expectOnBoth(`/documents/${docId}`, bob, (res) => expect(res.status).toBe(404));
    await expectOnBoth(`/orgs/${orgId}`, bob, (res) => expect(res.status).toBe(404));
    await expectOnBoth(`/orgs`, bob, (res) => expect(res.body.items).toEqual([]));
  });

  it('a share granted, changed and revoked', async () => {
    const [alice, carol] = await Promise.all([h.user(), h.user()]);
    const docId = await documentOf(h, alice);
    await expectOnBoth(`/documents/${docId}`, carol, (res) => expect(res.status).toBe(404));
    expect((await h.request('PUT', `/documents/${docId}/shares/${carol.id}`, { token: alice.token, body: { permission: 'read' } })).status).toBe(201);
    await expectOnBoth(`/documents/${docId}`, carol, (res) => expect(res.body.permissions).toEqual(['read']));
    expect((await h.request('PUT', `/documents/${docId}/shares/${carol.id}`, { token: alice.token, body: { permission: 'write' } })).status).toBe(200);
    await expectOnBoth(`/documents/${docId}`, carol, (res) => expect(res.body.permissions).toEqual(['read', 'write']));
    expect((await h.request('DELETE', `/documents/${docId}/shares/${carol.id}`, { token: alice.token })).status).toBe(204);
    await expectOnBoth(`/documents/${docId}`, carol, (res) => expect(res.status).toBe(404));
  });

  it('a document update and a document delete', async () => {
    const alice = await h.user();
    const docId = await documentOf(h, alice, { title: 'Before' });
    await expectOnBoth(`/documents/${docId}`, alice, (res) => expect(res.body.title).toBe('Before'));
    expect((await h.request('PATCH', `/documents/${docId}`, { token: alice.token, body: { title: 'After' } })).status).toBe(200);
    await expectOnBoth(`/documents/${docId}`, alice, (res) => expect(res.body.title).toBe('After'));
    expect((await second.request('DELETE', `/documents/${docId}`, { token: alice.token })).status).toBe(204);
    await expectOnBoth(`/documents/${docId}`, alice, (res) => expect(res.status).toBe(404));
  });

  it('an org creation, and a machine client bound to an org', async () => {
    const alice = await h.user();
    await expectOnBoth('/me', alice, (res) => expect(res.body.memberships).toEqual([]));
    const created = await h.request('POST', '/orgs', { token: alice.token, body: { name: 'New' } });
    expect(created.status).toBe(201);
    await expectOnBoth('/me', alice, (res) => expect(res.body.memberships).toEqual([{ orgId: created.body.id, role: 'owner' }]));

    const clientId = `svc-${randomUUID()}`;
    const client = { id: clientId, token: await h.token({ sub: clientId, clientId, scope: 'docs:read orgs:read' }) };
    await expectOnBoth('/me', client, (res) => expect(res.body.memberships).toEqual([]));
    await bindClientToOrg(h.knex, h.audit, { orgId: created.body.id, clientId, role: 'viewer' }, { kv: h.kv });
    await expectOnBoth('/me', client, (res) => expect(res.body.memberships).toEqual([{ orgId: created.body.id, role: 'viewer' }]));
  });
});

describe('the backstops', () => {
  /** bob's permissions on an org document, as GET /documents/:id (the cached read) reports them. */
  async function orgDocumentFor(role: string) {
    const [owner, bob] = await Promise.all([h.user(), h.user()]);
    const orgId = await orgWith(h, owner, [[bob, role as 'editor']]);
    const docId = await documentOf(h, owner, { orgId });
    const setRole = (to: string) => h.knex('docs.memberships').where({ org_id: orgId, principal_id: bob.id }).update({ role: to });
    return { owner, bob, orgId, docId, setRole };
  }
  const permissionsOf = async (request: Request, docId: string, user: TestUser) => {
    const res = await request('GET', `/documents/${docId}`, { token: user.token });
    return res.status === 200 ? (res.body.permissions as string[]).join(',') : res.status;
  };

  it('reads are cached; a change the cache was not told of is seen once its entries expire (TTL)', async () => {
    const short = await instance({ authzCacheTtlMs: 300 });
    await vi.waitFor(() => expect(short.api.authz.isLive()).toBe(true));
    const { bob, orgId, docId, setRole } = await orgDocumentFor('editor');
    expect(await permissionsOf(short.request, docId, bob)).toBe('read,write');
    // Behind the API's back (no invalidation): the cached entry still answers...
    await setRole('viewer');
    expect(await permissionsOf(short.request, docId, bob)).toBe('read,write');
    // ...writes and every other route never use it...
    expect((await short.request('PATCH', `/documents/${docId}`, { token: bob.token, body: { title: 'no' } })).status).toBe(403);
    expect((await short.request('GET', '/me', { token: bob.token })).body.memberships).toEqual([{ orgId, role: 'viewer' }]);
    // ...and it expires.
    await new Promise((r) => setTimeout(r, 350));
    expect(await permissionsOf(short.request, docId, bob)).toBe('read');
  });

  it('a denial is never decided on cached data: a grant the cache was not told of (as from the CLI) is seen at once', async () => {
    const cached = await instance({ authzCacheTtlMs: 60_000 });
    await vi.waitFor(() => expect(cached.api.authz.isLive()).toBe(true));
    const [owner, bob] = await Promise.all([h.user(), h.user()]);
    const orgId = await orgWith(h, owner);
    const docId = await documentOf(h, owner, { orgId });
    expect(await permissionsOf(cached.request, docId, bob)).toBe(404);
    await h.knex('docs.memberships').insert({ org_id: orgId, principal_id: bob.id, principal_type: 'user', role: 'viewer' });
    expect(await permissionsOf(cached.request, docId, bob)).toBe('read');
    const personal = await documentOf(h, owner);
    expect(await permissionsOf(cached.request, personal, bob)).toBe(404);
    await h.knex('docs.shares').insert({ document_id: personal, user_id: bob.id, permission: 'write' });
    expect(await permissionsOf(cached.request, personal, bob)).toBe('read,write');
  });

  it('while the subscription is down nothing is cached; once it is back the cache starts empty', async () => {
    let live = true;
    const listeners = new Set<(live: boolean) => void>();
    const watched = kvWith(h.kv, {
      subscriptionLive: () => live,
      onSubscriptionChange: (listener) => (listeners.add(listener), () => void listeners.delete(listener)),
    });
    const setLive = (value: boolean) => {
      live = value;
      for (const l of listeners) l(value);
    };
    // The revocation list follows the unwatched store (a lost subscription makes it refuse tokens, 503:
    // tested in the durable revocation suite); here only the authorization cache sees the loss.
    const api = await instance({ kv: watched, revocations: h.revocations, authzCacheTtlMs: 60_000 });
    await vi.waitFor(() => expect(api.api.authz.isLive()).toBe(true));
    const { bob, docId, setRole } = await orgDocumentFor('admin');
    const seen = () => permissionsOf(api.request, docId, bob);

    expect(await seen()).toBe('read,write,delete,share');
    await setRole('editor');
    expect(await seen()).toBe('read,write,delete,share'); // cached (no invalidation was sent)

    setLive(false); // connection lost: messages could be missed from now on
    expect(api.api.authz.isLive()).toBe(false);
    expect(await seen()).toBe('read,write');
    await setRole('viewer');
    expect(await seen()).toBe('read'); // read from the database every time
    await setRole('editor');
    expect(await seen()).toBe('read,write');

    setLive(true); // subscribed again: starts empty, then caches
    expect(await seen()).toBe('read,write');
    await setRole('viewer');
    expect(await seen()).toBe('read,write');
  });

  it('a subscription that cannot be made leaves the cache bypassed', async () => {
    const failing = kvWith(h.kv, {
      subscribe: async (channel, onMessage) => {
        if (channel === 'docs:authz-changed') throw new Error('subscribe refused');
        return h.kv.subscribe(channel, onMessage);
      },
    });
    const api = await instance({ kv: failing });
    const { bob, docId, setRole } = await orgDocumentFor('editor');
    expect(await permissionsOf(api.request, docId, bob)).toBe('read,write');
    await setRole('viewer');
    expect(api.api.authz.isLive()).toBe(false);
    expect(await permissionsOf(api.request, docId, bob)).toBe('read');
  });
});

describe('verified-token cache', () => {
  it('verifies a token once, and still checks exp and the revocation list on every use', async () => {
    let keyLookups = 0;
    const jwks = h.jwks!;
    const verify = createTokenVerifier({
      keys: staticKeySource(((...args: Parameters<typeof jwks>) => (keyLookups++, jwks(...args))) as typeof jwks),
      issuer: h.issuer,
      audience: h.config.DOCS_API_AUDIENCE,
      clockToleranceSeconds: 5,
      revocations: h.revocations,
      revocationsLoaded: () => true,
    });
    const token = await h.token({ expiresIn: 30 });
    const first = await verify(token);
    expect(await verify(token)).toBe(first);
    expect(keyLookups).toBe(1);

    const realNow = Date.now();
    const clock = vi.spyOn(Date, 'now');
    try {
      clock.mockReturnValue(realNow + 34_000); // within exp + tolerance
      expect((await verify(token)).principal.id).toBe(first.principal.id);
      clock.mockReturnValue(realNow + 36_000); // past exp + tolerance
      await expect(verify(token)).rejects.toMatchObject({ status: 401, detail: 'the token has expired' });
    } finally {
      clock.mockRestore();
    }
    expect(keyLookups).toBe(1);

    const revoked = await h.token();
    await verify(revoked);
    const jti = JSON.parse(Buffer.from(revoked.split('.')[1]!, 'base64url').toString()).jti as string;
    await h.revocations.revoke('jti', jti);
    await vi.waitFor(() => expect(h.revocations.isRevoked({ jti })).toBe(true));
    await expect(verify(revoked)).rejects.toMatchObject({ status: 401, detail: 'the token has been revoked' });
  });
});
