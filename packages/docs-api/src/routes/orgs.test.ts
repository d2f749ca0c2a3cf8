import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SERVICE_ROLE } from '@clouddocs/db';
import { bindClientToOrg } from '../index';
import { startHarness, type Harness } from '../testing/harness';
import { auditEvents, documentOf, expectProblem, orgWith, type TestUser } from '../testing/fixtures';

let h: Harness;
let owner: TestUser, admin: TestUser, editor: TestUser, viewer: TestUser, outsider: TestUser;
let orgId: string;

beforeAll(async () => {
  h = await startHarness();
  [owner, admin, editor, viewer, outsider] = await Promise.all([h.user(), h.user(), h.user(), h.user(), h.user()]);
  orgId = await orgWith(h, owner, [
    [admin, 'admin'],
    [editor, 'editor'],
    [viewer, 'viewer'],
  ]);
});
afterAll(() => h?.close());

describe('organizations', () => {
  it('POST /orgs creates an org with the caller as owner, and audits it in the same transaction', async () => {
    const me = await h.user();
    const res = await h.request('POST', '/orgs', { token: me.token, body: { name: '  Initech  ' } });
    expect(res.status).toBe(201);
    expect(res.headers.get('location')).toBe(`/orgs/${res.body.id}`);
    expect(res.body).toMatchObject({ id: expect.any(String), name: 'Initech', role: 'owner' });
    const [created] = await auditEvents(h, { action: 'org.created', org_id: res.body.id });
    expect(created).toMatchObject({ actor_type: 'user', actor_id: me.id, outcome: 'success', target_id: res.body.id });
    expect(created.request_id).toBe(res.headers.get('x-request-id'));
    const mine = await h.request('GET', `/orgs/${res.body.id}`, { token: me.token });
    expect(mine.body.members).toEqual([{ id: me.id, type: 'user', role: 'owner' }]);
  });

  it('mass assignment on POST /orgs (ownerId, role, __proto__) -> 400 naming the fields', async () => {
    const res = await h.request('POST', '/orgs', { token: outsider.token, rawBody: '{"name":"X","ownerId":"someone","role":"owner","__proto__":{"admin":true}}', headers: { 'content-type': 'application/json' } });
    expectProblem(res, 400, /unknown field\(s\): .*ownerId/);
    expect(res.body.detail).toContain('role');
    expect(res.body.detail).toContain('__proto__');
    expect((await h.request('GET', '/orgs', { token: outsider.token })).body.items).toEqual([]);
  });

  it('GET /orgs lists only the caller\'s orgs, paginated with an opaque cursor', async () => {
    const me = await h.user();
    const ids: string[] = [];
    for (let i = 0; i < 5; i += 1) ids.push(await orgWith(h, me, [], `Org ${i}`));
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res: any = await h.request('GET', `/orgs?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { token: me.token });
      expect(res.status).toBe(200);
      expect(res.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...res.body.items.map((o: { id: string }) => o.id));
      cursor = res.body.nextCursor;
      pages += 1;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual([...ids].reverse());
    expect(seen).not.toContain(orgId);
  });

  it('a non-member gets 404 for the org, the same as for an org that does not exist, and it is audited', async () => {
    const res = await h.request('GET', `/orgs/${orgId}`, { token: outsider.token, headers: { 'user-agent': 'curious-client/1.0' } });
    expectProblem(res, 404);
    const missing = await h.request('GET', '/orgs/00000000-0000-4000-8000-000000000000', { token: outsider.token });
    expectProblem(missing, 404);
    expect({ ...res.body, requestId: null }).toEqual({ ...missing.body, requestId: null });
    const denied = await auditEvents(h, { action: 'access.denied', actor_id: outsider.id, target_id: orgId });
    expect(denied.length).toBeGreaterThan(0);
    expect(denied[0]).toMatchObject({ outcome: 'denied', actor_type: 'user', target_type: 'org', org_id: orgId, request_id: res.headers.get('x-request-id'), user_agent: 'curious-client/1.0' });
    expect(denied[0].ip).toMatch(/127\.0\.0\.1/);
  });

  it('GET /orgs/:orgId shows member ids and roles, never emails', async () => {
    const res = await h.request('GET', `/orgs/${orgId}`, { token: viewer.token });
    expect(res.status).toBe(200);
    expect(res.body.role).toBe('viewer');
    expect(res.body.members).toEqual(
      expect.arrayContaining([
        { id: owner.id, type: 'user', role: 'owner' },
        { id: viewer.id, type: 'user', role: 'viewer' },
      ]),
    );
    expect(res.text).not.toMatch(/email|@/);
  });
});

describe('members', () => {
  it('BFLA: a viewer or an editor cannot add, change or remove members -> 403', async () => {
    const target = await h.user();
    for (const caller of [viewer, editor]) {
      expectProblem(await h.request('PUT', `/orgs/${orgId}/members/${target.id}`, { token: caller.token, body: { role: 'viewer' } }), 403);
      expectProblem(await h.request('PUT', `/orgs/${orgId}/members/${caller.id}`, { token: caller.token, body: { role: 'admin' } }), 403);
      expectProblem(await h.request('DELETE', `/orgs/${orgId}/members/${viewer.id}`, { token: caller.token }), 403);
    }
    const org = await h.request('GET', `/orgs/${orgId}`, { token: owner.token });
    expect(org.body.members.find((m: { id: string }) => m.id === editor.id).role).toBe('editor');
    expect(org.body.members.find((m: { id: string }) => m.id === target.id)).toBeUndefined();
  });

  it('a non-member gets 404 on the member routes', async () => {
    expectProblem(await h.request('PUT', `/orgs/${orgId}/members/${outsider.id}`, { token: outsider.token, body: { role: 'owner' } }), 404);
    expectProblem(await h.request('DELETE', `/orgs/${orgId}/members/${owner.id}`, { token: outsider.token }), 404);
  });

  it('an admin adds and changes non-owner members, audited as added and role_changed', async () => {
    const newcomer = await h.user();
    const added = await h.request('PUT', `/orgs/${orgId}/members/${newcomer.id}`, { token: admin.token, body: { role: 'viewer' } });
    expect(added.status).toBe(201);
    expect(added.body).toEqual({ orgId, userId: newcomer.id, role: 'viewer' });
    const changed = await h.request('PUT', `/orgs/${orgId}/members/${newcomer.id}`, { token: admin.token, body: { role: 'admin' } });
    expect(changed.status).toBe(200);
    expect(changed.body.role).toBe('admin');
    expect(await auditEvents(h, { org_id: orgId, target_id: newcomer.id, action: 'org.member.added' })).toHaveLength(1);
    const [roleChanged] = await auditEvents(h, { org_id: orgId, target_id: newcomer.id, action: 'org.member.role_changed' });
    expect(roleChanged.detail).toEqual({ from: 'viewer', to: 'admin' });
    expect(roleChanged.actor_id).toBe(admin.id);
    expect((await h.request('DELETE', `/orgs/${orgId}/members/${newcomer.id}`, { token: admin.token })).status).toBe(204);
    expect(await auditEvents(h, { org_id: orgId, target_id: newcomer.id, action: 'org.member.removed' })).toHaveLength(1);
  });

  it('an admin cannot make, demote or remove an owner -> 403', async () => {
    const newcomer = await h.user();
    expectProblem(await h.request('PUT', `/orgs/${orgId}/members/${newcomer.id}`, { token: admin.token, body: { role: 'owner' } }), 403, /owner/);
    expectProblem(await h.request('PUT', `/orgs/${orgId}/members/${admin.id}`, { token: admin.token, body: { role: 'owner' } }), 403);
    expectProblem(await h.request('PUT', `/orgs/${orgId}/members/${owner.id}`, { token: admin.token, body: { role: 'viewer' } }), 403);
    expectProblem(await h.request('DELETE', `/orgs/${orgId}/members/${owner.id}`, { token: admin.token }), 403);
    const org = await h.request('GET', `/orgs/${orgId}`, { token: owner.token });
    expect(org.body.members.find((m: { id: string }) => m.id === owner.id).role).toBe('owner');
    expect(org.body.members.find((m: { id: string }) => m.id === newcomer.id)).toBeUndefined();
    const denied = await auditEvents(h, { action: 'access.denied', actor_id: admin.id, org_id: orgId });
    expect(denied.map((e) => e.target_id)).toEqual([newcomer.id, admin.id, owner.id, owner.id]);
  });

  it('the last owner cannot leave, be removed or demote itself -> 409; with a second owner it can', async () => {
    const founder = await h.user();
    const other = await h.user();
    const id = await orgWith(h, founder, [[other, 'admin']]);
    expectProblem(await h.request('PUT', `/orgs/${id}/members/${founder.id}`, { token: founder.token, body: { role: 'admin' } }), 409, /last owner/);
    expectProblem(await h.request('DELETE', `/orgs/${id}/members/${founder.id}`, { token: founder.token }), 409, /last owner/);
    expect((await h.request('PUT', `/orgs/${id}/members/${other.id}`, { token: founder.token, body: { role: 'owner' } })).status).toBe(200);
    expect((await h.request('DELETE', `/orgs/${id}/members/${founder.id}`, { token: founder.token })).status).toBe(204);
    expectProblem(await h.request('GET', `/orgs/${id}`, { token: founder.token }), 404);
    expectProblem(await h.request('DELETE', `/orgs/${id}/members/${other.id}`, { token: other.token }), 409);
  });

  it('mass assignment and bad input on PUT members -> 400', async () => {
    expectProblem(await h.request('PUT', `/orgs/${orgId}/members/${viewer.id}`, { token: owner.token, body: { role: 'editor', orgId: 'x' } }), 400, /orgId/);
    expectProblem(await h.request('PUT', `/orgs/${orgId}/members/${viewer.id}`, { token: owner.token, body: { role: 'superuser' } }), 400);
    expectProblem(await h.request('PUT', `/orgs/${orgId}/members/${encodeURIComponent('bad id!')}`, { token: owner.token, body: { role: 'viewer' } }), 400);
  });

  it('a role change takes effect on the next request with the same token', async () => {
    const member = await h.user();
    const id = await orgWith(h, owner, [[member, 'editor']]);
    const docId = await documentOf(h, member, { orgId: id });
    expect((await h.request('PATCH', `/documents/${docId}`, { token: member.token, body: { title: 'v2' } })).status).toBe(200);
    expect((await h.request('PUT', `/orgs/${id}/members/${member.id}`, { token: owner.token, body: { role: 'viewer' } })).status).toBe(200);
    expectProblem(await h.request('PATCH', `/documents/${docId}`, { token: member.token, body: { title: 'v3' } }), 403);
    expect((await h.request('GET', `/documents/${docId}`, { token: member.token })).status).toBe(200);
    expectProblem(await h.request('POST', '/documents', { token: member.token, body: { title: 't', content: 'c', orgId: id } }), 403);
    expect((await h.request('DELETE', `/orgs/${id}/members/${member.id}`, { token: owner.token })).status).toBe(204);
    expectProblem(await h.request('GET', `/documents/${docId}`, { token: member.token }), 404);
    expectProblem(await h.request('GET', `/orgs/${id}`, { token: member.token }), 404);
    expect((await h.request('GET', '/me', { token: member.token })).body.memberships).toEqual([]);
  });
});

describe('members are users: a :userId that is not an existing, enabled user -> 404', () => {
  it('PUT /orgs/:orgId/members for a random id, a deleted user or another org\'s machine client -> 404, no membership, no event', async () => {
    const deleted = await h.user();
    await h.owner('auth.accounts').where({ id: deleted.id }).delete();
    const elsewhere = await orgWith(h, outsider, [], 'Elsewhere');
    const clientId = `svc-${randomUUID().slice(0, 8)}`;
    await bindClientToOrg(h.knex, h.audit, { orgId: elsewhere, clientId, role: 'viewer' });
    for (const userId of [randomUUID(), deleted.id, clientId]) {
      const res = await h.request('PUT', `/orgs/${orgId}/members/${userId}`, { token: owner.token, body: { role: 'viewer' } });
      expectProblem(res, 404, /no such user/);
      expect(res.body).toMatchObject({ type: 'urn:clouddocs:problem:not-found', title: 'Not Found' });
      expect(await h.knex('docs.memberships').where({ org_id: orgId, principal_id: userId })).toEqual([]);
      expect(await auditEvents(h, { request_id: res.headers.get('x-request-id') })).toEqual([]);
    }
    expect(await h.knex('docs.memberships').where({ principal_id: clientId })).toMatchObject([{ org_id: elsewhere, principal_type: 'client' }]);
  });

  it('a member whose account is gone can still be removed, but not given a new role', async () => {
    const leaving = await h.user();
    const id = await orgWith(h, owner, [[leaving, 'editor']]);
    await h.owner('auth.accounts').where({ id: leaving.id }).delete();
    expectProblem(await h.request('PUT', `/orgs/${id}/members/${leaving.id}`, { token: owner.token, body: { role: 'admin' } }), 404, /no such user/);
    expect((await h.request('DELETE', `/orgs/${id}/members/${leaving.id}`, { token: owner.token })).status).toBe(204);
  });

  it('the check reads only the auth schema\'s read-only view of enabled users, as the service role', async () => {
    const { rows } = await h.knex.raw('SELECT current_user AS role');
    // On PostgreSQL the API acts as the restricted role; the embedded store has one session and no roles.
    expect(rows[0].role).toBe(h.db.embedded ? 'postgres' : SERVICE_ROLE);
    expect(await h.knex('auth.enabled_users').where({ id: owner.id })).toEqual([{ id: owner.id }]);
    await expect(h.knex('auth.enabled_users').where({ id: owner.id }).delete()).rejects.toThrow(/cannot delete from view/);
    await expect(h.knex('auth.enabled_users').insert({ id: randomUUID() })).rejects.toThrow(/cannot insert into view/);
    expect(await h.knex('auth.enabled_users').where({ id: owner.id })).toEqual([{ id: owner.id }]);
  });
});
