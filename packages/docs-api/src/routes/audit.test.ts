import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '@clouddocs/audit';
import { createKnex, type Knex } from '@clouddocs/db';
import { createLogger } from '@clouddocs/observability';
import { createDocsApi } from '../app';
import { startHarness, type Harness } from '../testing/harness';
import { documentOf, expectProblem, orgWith, type TestUser } from '../testing/fixtures';

let h: Harness;
let owner: TestUser, admin: TestUser, editor: TestUser, outsider: TestUser;
let orgId: string;

beforeAll(async () => {
  h = await startHarness();
  [owner, admin, editor, outsider] = await Promise.all([h.user(), h.user(), h.user(), h.user()]);
  orgId = await orgWith(h, owner, [
    [admin, 'admin'],
    [editor, 'editor'],
  ]);
  await documentOf(h, editor, { orgId, title: 'a' });
  await documentOf(h, editor, { orgId, title: 'b' });
  await h.request('DELETE', `/orgs/${orgId}/members/${owner.id}`, { token: editor.token }); // a denied attempt
});
afterAll(() => h?.close());

describe('GET /orgs/:orgId/audit', () => {
  it("owners and admins read the org's events, newest first, with actor, action, target, outcome", async () => {
    for (const reader of [owner, admin]) {
      const res = await h.request('GET', `/orgs/${orgId}/audit`, { token: reader.token });
      expect(res.status).toBe(200);
      const actions = res.body.items.map((e: { action: string }) => e.action);
      expect(actions[actions.length - 1]).toBe('org.created');
      expect(actions).toEqual(expect.arrayContaining(['document.created', 'access.denied', 'org.member.added']));
      const ids = res.body.items.map((e: { id: number }) => e.id);
      expect(ids).toEqual([...ids].sort((a: number, b: number) => b - a));
      expect(res.body.items[0]).toMatchObject({ id: expect.any(Number), occurredAt: expect.any(String), actor: expect.any(Object), outcome: expect.any(String), orgId });
      expect(res.body.items.every((e: { orgId: string }) => e.orgId === orgId)).toBe(true);
      expect(res.text).not.toMatch(/"ip"|userAgent|prevHash/);
    }
  });

  it('other members get 403; non-members 404; a token without audit:read gets insufficient_scope', async () => {
    expectProblem(await h.request('GET', `/orgs/${orgId}/audit`, { token: editor.token }), 403);
    expectProblem(await h.request('GET', `/orgs/${orgId}/audit`, { token: outsider.token }), 404);
    const res = await h.request('GET', `/orgs/${orgId}/audit`, { token: await h.token({ sub: owner.id, scope: 'orgs:read' }) });
    expectProblem(res, 403);
    expect(res.headers.get('www-authenticate')).toContain('scope="audit:read"');
  });

  it('filters by action and time, and pages with a cursor bound to the filters', async () => {
    const created = await h.request('GET', `/orgs/${orgId}/audit?action=document.created`, { token: owner.token });
    expect(created.body.items).toHaveLength(2);
    expect(created.body.items.every((e: { action: string }) => e.action === 'document.created')).toBe(true);
    const both = await h.request('GET', `/orgs/${orgId}/audit?action=document.created,org.created`, { token: owner.token });
    expect(both.body.items).toHaveLength(3);
    const future = await h.request('GET', `/orgs/${orgId}/audit?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`, { token: owner.token });
    expect(future.body.items).toEqual([]);
    const past = await h.request('GET', `/orgs/${orgId}/audit?until=${encodeURIComponent(new Date(Date.now() - 3_600_000).toISOString())}`, { token: owner.token });
    expect(past.body.items).toEqual([]);

    const all = (await h.request('GET', `/orgs/${orgId}/audit`, { token: owner.token })).body.items.map((e: { id: number }) => e.id);
    const paged: number[] = [];
    let cursor: string | null = null;
    do {
      const res: any = await h.request('GET', `/orgs/${orgId}/audit?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { token: owner.token });
      paged.push(...res.body.items.map((e: { id: number }) => e.id));
      cursor = res.body.nextCursor;
    } while (cursor);
    expect(paged).toEqual(all);

    const first = await h.request('GET', `/orgs/${orgId}/audit?limit=1`, { token: owner.token });
    expectProblem(await h.request('GET', `/orgs/${orgId}/audit?limit=1&action=org.created&cursor=${encodeURIComponent(first.body.nextCursor)}`, { token: owner.token }), 400, /cursor/);
    expectProblem(await h.request('GET', `/orgs/${orgId}/audit?action=document.exploded`, { token: owner.token }), 400, /unknown action/);
    expectProblem(await h.request('GET', `/orgs/${orgId}/audit?since=yesterday`, { token: owner.token }), 400, /since/);
  });
});

describe('audit events commit with the change they describe', () => {
  let brokenKnex: Knex;
  let broken: Awaited<ReturnType<Harness['serve']>>;

  beforeAll(async () => {
    // Another API process whose audit chain row has gone: every append fails inside the transaction.
    brokenKnex = await createKnex({ url: h.db.url, poolMax: 2 });
    const audit = await AuditLog.open(brokenKnex, 'docs-api');
    await brokenKnex('audit.chains').where({ id: audit.chainId }).delete();
    const api = createDocsApi({ config: h.config, knex: brokenKnex, audit, kv: h.kv, revocations: h.revocations, jwks: h.jwks!, logger: createLogger({ level: 'silent', name: 'docs-api' }) });
    broken = await h.serve(api);
  });
  afterAll(async () => {
    await broken.close();
    await brokenKnex.destroy();
  });

  it('a document write whose audit insert fails is rolled back (503, nothing changed)', async () => {
    const create = await broken.request('POST', '/documents', { token: editor.token, body: { title: 'never stored', content: 'x', orgId } });
    expectProblem(create, 503, /audit/);
    expect(await h.knex('docs.documents').where({ title: 'never stored' })).toEqual([]);

    const id = await documentOf(h, editor, { orgId, title: 'stable' });
    expectProblem(await broken.request('PATCH', `/documents/${id}`, { token: editor.token, body: { title: 'changed' } }), 503);
    expectProblem(await broken.request('DELETE', `/documents/${id}`, { token: owner.token }), 503);
    expectProblem(await broken.request('PUT', `/documents/${id}/shares/${outsider.id}`, { token: owner.token, body: { permission: 'read' } }), 503);
    expect((await h.request('GET', `/documents/${id}`, { token: editor.token })).body.title).toBe('stable');
    expectProblem(await h.request('GET', `/documents/${id}`, { token: outsider.token }), 404);
  });

  it('an org or member change whose audit insert fails is rolled back', async () => {
    expectProblem(await broken.request('POST', '/orgs', { token: outsider.token, body: { name: 'Ghost' } }), 503);
    expect(await h.knex('docs.orgs').where({ name: 'Ghost' })).toEqual([]);
    expectProblem(await broken.request('PUT', `/orgs/${orgId}/members/${outsider.id}`, { token: owner.token, body: { role: 'admin' } }), 503);
    expectProblem(await h.request('GET', `/orgs/${orgId}`, { token: outsider.token }), 404);
  });

  it('every successful change has exactly its event, with actor, target, org and request id', async () => {
    const res = await h.request('PATCH', `/documents/${await documentOf(h, editor, { orgId })}`, { token: editor.token, body: { content: 'v2' } });
    const events = await h.knex('audit.events').where({ request_id: res.headers.get('x-request-id') });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ action: 'document.updated', actor_type: 'user', actor_id: editor.id, target_type: 'document', target_id: res.body.id, org_id: orgId, outcome: 'success' });
  });
});
