// Machine clients (client credentials): `sub` = client id, bound to one org with a role, acting there only.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bindClientToOrg, OrganizationNotFoundError } from './index';
import { startHarness, type Harness } from './testing/harness';
import { documentOf, expectProblem, orgWith, type TestUser } from './testing/fixtures';

let h: Harness;
let owner: TestUser, otherOwner: TestUser;
let orgId: string, otherOrgId: string;
const clientId = `svc-${randomUUID().slice(0, 8)}`;
let clientToken: string;

beforeAll(async () => {
  h = await startHarness();
  [owner, otherOwner] = await Promise.all([h.user(), h.user()]);
  orgId = await orgWith(h, owner, [], 'Home');
  otherOrgId = await orgWith(h, otherOwner, [], 'Elsewhere');
  await bindClientToOrg(h.knex, h.audit, { orgId, clientId, role: 'editor' });
  clientToken = await h.token({ sub: clientId, clientId, scope: 'docs:read docs:write orgs:read orgs:write audit:read' });
});
afterAll(() => h?.close());

describe('machine clients', () => {
  it('GET /me shows the client and its one membership', async () => {
    const res = await h.request('GET', '/me', { token: clientToken });
    expect(res.body).toMatchObject({ sub: clientId, client_id: clientId, kind: 'client', memberships: [{ orgId, role: 'editor' }] });
  });

  it('acts inside its org with its role: creates and edits org documents, cannot delete them (editor)', async () => {
    const created = await h.request('POST', '/documents', { token: clientToken, body: { title: 'report', content: 'nightly', orgId } });
    expect(created.status).toBe(201);
    expect(created.body.ownerId).toBe(clientId);
    expect((await h.request('PATCH', `/documents/${created.body.id}`, { token: clientToken, body: { content: 'v2' } })).status).toBe(200);
    expectProblem(await h.request('DELETE', `/documents/${created.body.id}`, { token: clientToken }), 403);
    expect((await h.request('GET', `/documents/${created.body.id}`, { token: owner.token })).body.content).toBe('v2');
    const [event] = await h.knex('audit.events').where({ action: 'document.created', target_id: created.body.id });
    expect(event).toMatchObject({ actor_type: 'client', actor_id: clientId, org_id: orgId });
  });

  it("another org's objects are 404, even a document shared with the client id", async () => {
    const foreign = await documentOf(h, otherOwner, { orgId: otherOrgId });
    const personal = await documentOf(h, otherOwner);
    // The API shares with users only (routes/documents.test.ts); a share row made behind its back still never counts.
    expectProblem(await h.request('PUT', `/documents/${personal}/shares/${clientId}`, { token: otherOwner.token, body: { permission: 'write' } }), 404);
    await h.owner('docs.shares').insert({ document_id: personal, user_id: clientId, permission: 'write' });
    for (const id of [foreign, personal]) {
      expectProblem(await h.request('GET', `/documents/${id}`, { token: clientToken }), 404);
      expectProblem(await h.request('PATCH', `/documents/${id}`, { token: clientToken, body: { title: 'x' } }), 404);
    }
    expectProblem(await h.request('GET', `/orgs/${otherOrgId}`, { token: clientToken }), 404);
    expectProblem(await h.request('POST', '/documents', { token: clientToken, body: { title: 't', content: 'c', orgId: otherOrgId } }), 404);
    const listed = (await h.request('GET', '/documents?limit=100', { token: clientToken })).body.items;
    expect(listed.length).toBeGreaterThan(0);
    expect(listed.every((d: { orgId: string }) => d.orgId === orgId)).toBe(true);
  });

  it('has no personal space and creates no orgs -> 403', async () => {
    expectProblem(await h.request('POST', '/documents', { token: clientToken, body: { title: 't', content: 'c' } }), 403);
    expectProblem(await h.request('POST', '/orgs', { token: clientToken, body: { name: 'Bot Org' } }), 403);
  });

  it("another org's owner cannot make the client id a user member there (404), and a row made behind the API's back does not widen the client", async () => {
    expectProblem(await h.request('PUT', `/orgs/${otherOrgId}/members/${clientId}`, { token: otherOwner.token, body: { role: 'admin' } }), 404, /no such user/);
    expect(await h.knex('docs.memberships').where({ org_id: otherOrgId, principal_id: clientId })).toEqual([]);
    await h.owner('docs.memberships').insert({ org_id: otherOrgId, principal_id: clientId, principal_type: 'user', role: 'admin' });
    expectProblem(await h.request('GET', `/orgs/${otherOrgId}`, { token: clientToken }), 404);
    expect((await h.request('GET', '/me', { token: clientToken })).body.memberships).toEqual([{ orgId, role: 'editor' }]);
  });

  it('a role change by an org owner applies to the next request', async () => {
    const id = await documentOf(h, owner, { orgId });
    expect((await h.request('PUT', `/orgs/${orgId}/members/${clientId}`, { token: owner.token, body: { role: 'viewer' } })).status).toBe(200);
    expectProblem(await h.request('PATCH', `/documents/${id}`, { token: clientToken, body: { title: 'x' } }), 403);
    expect((await h.request('PUT', `/orgs/${orgId}/members/${clientId}`, { token: owner.token, body: { role: 'editor' } })).status).toBe(200);
    expect((await h.request('PATCH', `/documents/${id}`, { token: clientToken, body: { title: 'x' } })).status).toBe(200);
  });

  it('bindClientToOrg: a missing org is a clear error; a client binds to one org only; the binding is audited', async () => {
    await expect(bindClientToOrg(h.knex, h.audit, { orgId: randomUUID(), clientId: 'svc-x', role: 'viewer' })).rejects.toBeInstanceOf(OrganizationNotFoundError);
    await expect(bindClientToOrg(h.knex, h.audit, { orgId: otherOrgId, clientId, role: 'viewer' })).rejects.toThrow(/already bound/);
    await expect(bindClientToOrg(h.knex, h.audit, { orgId, clientId: 'svc-y', role: 'superuser' })).rejects.toThrow(/role/);
    const [event] = await h.knex('audit.events').where({ action: 'org.member.added', target_id: clientId, org_id: orgId });
    expect(event).toMatchObject({ target_type: 'client', actor_type: 'system', detail: { role: 'editor' } });
    // Inside a caller's transaction (as `clouddocs client create` does), it commits or rolls back with it.
    await h.knex.transaction(async (trx) => {
      await bindClientToOrg(trx, h.audit, { orgId, clientId: 'svc-z', role: 'viewer' });
      await trx.rollback();
    }).catch(() => {});
    expect(await h.knex('docs.memberships').where({ principal_id: 'svc-z' })).toEqual([]);
  });
});
