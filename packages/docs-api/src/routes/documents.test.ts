import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../testing/harness';
import { documentBody, documentJson, isoTimestamp } from './documents';
import { auditEvents, documentOf, expectProblem, orgWith, type TestUser } from '../testing/fixtures';

let h: Harness;
let alice: TestUser, bob: TestUser;

beforeAll(async () => {
  h = await startHarness();
  [alice, bob] = await Promise.all([h.user(), h.user()]);
});
afterAll(() => h?.close());

describe('personal documents', () => {
  it('POST /documents answers 201 with the document; GET returns id, title, content, orgId null, ownerId', async () => {
    const created = await h.request('POST', '/documents', { token: alice.token, body: { title: 'Notes', content: 'hello' } });
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toBe(`/documents/${created.body.id}`);
    expect(created.body).toMatchObject({ id: expect.any(String), title: 'Notes', content: 'hello', orgId: null, ownerId: alice.id, permissions: ['read', 'write', 'delete', 'share'] });
    const read = await h.request('GET', `/documents/${created.body.id}`, { token: alice.token });
    expect(read.status).toBe(200);
    expect(read.body).toEqual(created.body);
    const [event] = await auditEvents(h, { action: 'document.created', target_id: created.body.id });
    expect(event).toMatchObject({ actor_type: 'user', actor_id: alice.id, outcome: 'success', org_id: null, request_id: created.headers.get('x-request-id') });
  });

  it('title and content are required strings on create -> 400', async () => {
    expectProblem(await h.request('POST', '/documents', { token: alice.token, body: { title: 'only' } }), 400, /content/);
    expectProblem(await h.request('POST', '/documents', { token: alice.token, body: { content: 'only' } }), 400, /title/);
    expectProblem(await h.request('POST', '/documents', { token: alice.token, body: { title: 1, content: 'x' } }), 400, /title/);
    expectProblem(await h.request('POST', '/documents', { token: alice.token, body: ['title'] }), 400);
  });

  it('mass assignment (ownerId, role, id, __proto__, constructor) -> 400 naming the fields, nothing created', async () => {
    const before = await h.knex('docs.documents').count({ n: '*' }).first();
    for (const field of ['ownerId', 'role', 'id', 'constructor']) {
      const res = await h.request('POST', '/documents', { token: alice.token, body: { title: 't', content: 'c', [field]: bob.id } });
      expectProblem(res, 400, new RegExp(`unknown field\\(s\\): ${field}`));
      expect(res.body.invalidParams).toContainEqual({ name: field, reason: 'unknown field' });
    }
    const proto = await h.request('POST', '/documents', { token: alice.token, rawBody: '{"title":"t","content":"c","__proto__":{"ownerId":"x"}}', headers: { 'content-type': 'application/json' } });
    expectProblem(proto, 400, /__proto__/);
    expect(await h.knex('docs.documents').count({ n: '*' }).first()).toEqual(before);
  });

  it('size limits: title over 200, content over 100 000 characters -> 400; a body over the limit -> 413', async () => {
    expectProblem(await h.request('POST', '/documents', { token: alice.token, body: { title: 'x'.repeat(201), content: '' } }), 400, /title/);
    expectProblem(await h.request('POST', '/documents', { token: alice.token, body: { title: 't', content: 'x'.repeat(100_001) } }), 400, /content/);
    expect((await h.request('POST', '/documents', { token: alice.token, body: { title: 'x'.repeat(200), content: 'x'.repeat(100_000) } })).status).toBe(201);
    expectProblem(await h.request('POST', '/documents', { token: alice.token, body: { title: 't', content: 'x'.repeat(300 * 1024) } }), 413);
  });

  it('malformed JSON -> 400; a non-JSON body -> 415; no body -> 400', async () => {
    expectProblem(await h.request('POST', '/documents', { token: alice.token, rawBody: '{"title": "t",', headers: { 'content-type': 'application/json' } }), 400, /JSON/);
    expectProblem(await h.request('POST', '/documents', { token: alice.token, rawBody: 'title=t&content=c', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 415);
    expectProblem(await h.request('POST', '/documents', { token: alice.token }), 400, /body is required/);
  });

  it('PATCH accepts only title and content: orgId, ownerId or an empty patch -> 400', async () => {
    const id = await documentOf(h, alice);
    const org = await orgWith(h, alice);
    expectProblem(await h.request('PATCH', `/documents/${id}`, { token: alice.token, body: { orgId: org } }), 400, /orgId/);
    expectProblem(await h.request('PATCH', `/documents/${id}`, { token: alice.token, body: { ownerId: bob.id } }), 400, /ownerId/);
    expectProblem(await h.request('PATCH', `/documents/${id}`, { token: alice.token, body: {} }), 400);
    const doc = await h.request('GET', `/documents/${id}`, { token: alice.token });
    expect(doc.body).toMatchObject({ orgId: null, ownerId: alice.id });
    const patched = await h.request('PATCH', `/documents/${id}`, { token: alice.token, body: { content: 'new' } });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ title: 'Plan', content: 'new' });
  });

  it("BOLA: another user gets 404 on GET, PATCH, DELETE and share of a document, like a missing one, and it is unchanged", async () => {
    const id = await documentOf(h, alice, { title: 'Private', content: 'alice only' });
    const missing = randomUUID();
    const attempts: [string, string, unknown?][] = [
      ['GET', ''],
      ['PATCH', '', { title: 'pwned' }],
      ['DELETE', ''],
      ['PUT', `/shares/${bob.id}`, { permission: 'write' }],
      ['DELETE', `/shares/${bob.id}`],
    ];
    for (const [method, suffix, body] of attempts) {
      const res = await h.request(method, `/documents/${id}${suffix}`, { token: bob.token, ...(body ? { body } : {}) });
      expectProblem(res, 404);
      const none = await h.request(method, `/documents/${missing}${suffix}`, { token: bob.token, ...(body ? { body } : {}) });
      expect({ ...res.body, requestId: null }).toEqual({ ...none.body, requestId: null });
    }
    const list = await h.request('GET', '/documents', { token: bob.token });
    expect(list.body.items.map((d: { id: string }) => d.id)).not.toContain(id);
    const doc = await h.request('GET', `/documents/${id}`, { token: alice.token });
    expect(doc.body).toMatchObject({ title: 'Private', content: 'alice only' });
    const denied = await auditEvents(h, { action: 'access.denied', actor_id: bob.id, target_id: id });
    expect(denied).toHaveLength(attempts.length);
    expect(denied[0]).toMatchObject({ outcome: 'denied', target_type: 'document' });
  });

  it('sharing: read lets a user read only; write lets them edit; neither may delete or share (403); unsharing hides it again', async () => {
    const id = await documentOf(h, alice);
    const shared = await h.request('PUT', `/documents/${id}/shares/${bob.id}`, { token: alice.token, body: { permission: 'read' } });
    expect(shared.status).toBe(201);
    expect(shared.body).toEqual({ documentId: id, userId: bob.id, permission: 'read' });
    const seen = await h.request('GET', `/documents/${id}`, { token: bob.token });
    expect(seen.status).toBe(200);
    expect(seen.body.permissions).toEqual(['read']);
    expect((await h.request('GET', '/documents', { token: bob.token })).body.items).toContainEqual(expect.objectContaining({ id, permissions: ['read'] }));
    expectProblem(await h.request('PATCH', `/documents/${id}`, { token: bob.token, body: { title: 'x' } }), 403);
    expectProblem(await h.request('DELETE', `/documents/${id}`, { token: bob.token }), 403);
    expectProblem(await h.request('PUT', `/documents/${id}/shares/${randomUUID()}`, { token: bob.token, body: { permission: 'read' } }), 403);

    expect((await h.request('PUT', `/documents/${id}/shares/${bob.id}`, { token: alice.token, body: { permission: 'write' } })).status).toBe(200);
    expect((await h.request('PATCH', `/documents/${id}`, { token: bob.token, body: { title: 'edited by bob' } })).status).toBe(200);
    expectProblem(await h.request('DELETE', `/documents/${id}`, { token: bob.token }), 403);
    expectProblem(await h.request('DELETE', `/documents/${id}/shares/${bob.id}`, { token: bob.token }), 403);

    expect((await h.request('DELETE', `/documents/${id}/shares/${bob.id}`, { token: alice.token })).status).toBe(204);
    expectProblem(await h.request('GET', `/documents/${id}`, { token: bob.token }), 404);
    expectProblem(await h.request('DELETE', `/documents/${id}/shares/${bob.id}`, { token: alice.token }), 404);
    const actions = (await auditEvents(h, { target_id: id })).map((e) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['document.created', 'document.shared', 'document.updated', 'document.unshared']));
  });

  it('only the owner deletes a personal document', async () => {
    const id = await documentOf(h, alice);
    expect((await h.request('DELETE', `/documents/${id}`, { token: alice.token })).status).toBe(204);
    expectProblem(await h.request('GET', `/documents/${id}`, { token: alice.token }), 404);
    expect(await auditEvents(h, { action: 'document.deleted', target_id: id })).toHaveLength(1);
  });
});

describe('org documents', () => {
  let owner: TestUser, admin: TestUser, editor: TestUser, viewer: TestUser, outsider: TestUser;
  let orgId: string;
  beforeAll(async () => {
    [owner, admin, editor, viewer, outsider] = await Promise.all([h.user(), h.user(), h.user(), h.user(), h.user()]);
    orgId = await orgWith(h, owner, [
      [admin, 'admin'],
      [editor, 'editor'],
      [viewer, 'viewer'],
    ]);
  });

  it('an editor creates a document in the org; a viewer cannot (403); a non-member gets 404 for the org', async () => {
    const created = await h.request('POST', '/documents', { token: editor.token, body: { title: 'Roadmap', content: 'q3', orgId } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ orgId, ownerId: editor.id, permissions: ['read', 'write'] });
    expectProblem(await h.request('POST', '/documents', { token: viewer.token, body: { title: 't', content: 'c', orgId } }), 403);
    expectProblem(await h.request('POST', '/documents', { token: outsider.token, body: { title: 't', content: 'c', orgId } }), 404);
    expectProblem(await h.request('POST', '/documents', { token: outsider.token, body: { title: 't', content: 'c', orgId: randomUUID() } }), 404);
    const [event] = await auditEvents(h, { action: 'document.created', target_id: created.body.id });
    expect(event.org_id).toBe(orgId);
  });

  it('a viewer reads but cannot edit (403); an editor edits but cannot delete or share (403); an admin deletes', async () => {
    const id = await documentOf(h, editor, { orgId });
    expect((await h.request('GET', `/documents/${id}`, { token: viewer.token })).body.permissions).toEqual(['read']);
    expectProblem(await h.request('PATCH', `/documents/${id}`, { token: viewer.token, body: { title: 'x' } }), 403, /may not write/);
    expect((await h.request('PATCH', `/documents/${id}`, { token: editor.token, body: { title: 'y' } })).status).toBe(200);
    expectProblem(await h.request('DELETE', `/documents/${id}`, { token: editor.token }), 403, /may not delete/);
    expectProblem(await h.request('DELETE', `/documents/${id}`, { token: viewer.token }), 403);
    expectProblem(await h.request('GET', `/documents/${id}`, { token: outsider.token }), 404);
    const denied = await auditEvents(h, { action: 'access.denied', actor_id: editor.id, target_id: id });
    expect(denied[0]).toMatchObject({ org_id: orgId, outcome: 'denied' });
    expect((await h.request('DELETE', `/documents/${id}`, { token: admin.token })).status).toBe(204);
  });

  it('BFLA: viewers and editors cannot share or unshare an org document (403); owners and admins can', async () => {
    const id = await documentOf(h, editor, { orgId });
    for (const caller of [viewer, editor]) {
      expectProblem(await h.request('PUT', `/documents/${id}/shares/${outsider.id}`, { token: caller.token, body: { permission: 'read' } }), 403);
      expectProblem(await h.request('DELETE', `/documents/${id}/shares/${outsider.id}`, { token: caller.token }), 403);
    }
    expectProblem(await h.request('GET', `/documents/${id}`, { token: outsider.token }), 404);
    expect((await h.request('PUT', `/documents/${id}/shares/${outsider.id}`, { token: admin.token, body: { permission: 'read' } })).status).toBe(201);
    expect((await h.request('GET', `/documents/${id}`, { token: outsider.token })).status).toBe(200);
    expect((await h.request('DELETE', `/documents/${id}/shares/${outsider.id}`, { token: owner.token })).status).toBe(204);
  });

  it('GET /documents shows own, shared and org documents only', async () => {
    const mine = await documentOf(h, outsider);
    const orgDoc = await documentOf(h, editor, { orgId });
    const othersPersonal = await documentOf(h, editor);
    const ids = (await h.request('GET', '/documents?limit=100', { token: viewer.token })).body.items.map((d: { id: string }) => d.id);
    expect(ids).toContain(orgDoc);
    expect(ids).not.toContain(mine);
    expect(ids).not.toContain(othersPersonal);
  });
});

describe('pagination', () => {
  it('GET /documents pages through everything once, newest first, with an opaque cursor', async () => {
    const carol = await h.user();
    const ids: string[] = [];
    for (let i = 0; i < 7; i += 1) ids.push(await documentOf(h, carol, { title: `doc ${i}` }));
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: any = await h.request('GET', `/documents?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { token: carol.token });
      expect(res.status).toBe(200);
      expect(res.body.items[0]).not.toHaveProperty('content');
      seen.push(...res.body.items.map((d: { id: string }) => d.id));
      cursor = res.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());
  });

  it('GET /documents pages through org, personal and shared documents merged newest first, each once (a document both in the org and shared appears once)', async () => {
    const dave = await h.user();
    const erin = await h.user();
    const orgId = await orgWith(h, erin, [[dave, 'editor']]);
    const created: string[] = [];
    for (let i = 0; i < 9; i += 1) {
      const kind = i % 3;
      if (kind === 0) created.push(await documentOf(h, dave, { title: `org ${i}`, orgId }));
      else if (kind === 1) created.push(await documentOf(h, dave, { title: `mine ${i}` }));
      else {
        const id = await documentOf(h, erin, i === 5 ? { title: `erin's org doc ${i}`, orgId } : { title: `erin ${i}` });
        expect((await h.request('PUT', `/documents/${id}/shares/${dave.id}`, { token: erin.token, body: { permission: 'read' } })).status).toBe(201);
        created.push(id);
      }
      await new Promise((resolve) => setTimeout(resolve, 3)); // distinct creation times
    }
    await documentOf(h, erin, { title: 'not shared' });
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: any = await h.request('GET', `/documents?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { token: dave.token });
      expect(res.status).toBe(200);
      expect(res.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...res.body.items.map((d: { id: string }) => d.id));
      cursor = res.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual([...created].reverse());
  });

  it('a forged, edited or foreign cursor -> 400; limit over the cap or an unknown query field -> 400', async () => {
    const carol = await h.user();
    for (let i = 0; i < 3; i += 1) await documentOf(h, carol);
    const first = await h.request('GET', '/documents?limit=1', { token: carol.token });
    const cursor = first.body.nextCursor as string;
    const [payload, mac] = cursor.split('.') as [string, string];
    const edited = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), t: '2999-01-01T00:00:00.000Z' })).toString('base64url');
    const forgedMac = `${mac.slice(0, -2)}${mac.endsWith('AA') ? 'BA' : 'AA'}`; // never the real one by chance
    for (const bad of ['garbage', `${edited}.${mac}`, `${payload}.${forgedMac}`, `${payload}`]) {
      expectProblem(await h.request('GET', `/documents?cursor=${encodeURIComponent(bad)}`, { token: carol.token }), 400, /cursor/);
    }
    const orgCursor = await (async () => {
      for (let i = 0; i < 2; i += 1) await orgWith(h, carol);
      return (await h.request('GET', '/orgs?limit=1', { token: carol.token })).body.nextCursor as string;
    })();
    expectProblem(await h.request('GET', `/documents?cursor=${encodeURIComponent(orgCursor)}`, { token: carol.token }), 400, /cursor/);
    expectProblem(await h.request('GET', '/documents?limit=101', { token: carol.token }), 400, /limit/);
    expectProblem(await h.request('GET', '/documents?limit=0', { token: carol.token }), 400, /limit/);
    expectProblem(await h.request('GET', '/documents?ownerId=x', { token: carol.token }), 400, /ownerId/);
    expectProblem(await h.request('GET', '/documents?__proto__=x&constructor=y', { token: carol.token }), 400, /__proto__, constructor/);
    expectProblem(await h.request('GET', '/documents?limit=1&limit=2', { token: carol.token }), 400);
  });
});

describe('concurrent changes', () => {
  it('edits and deletes racing on one document: each answers 200/204 or 404, never 500, and one delete wins', async () => {
    const dave = await h.user();
    const id = await documentOf(h, dave);
    const results = await Promise.all([
      h.request('DELETE', `/documents/${id}`, { token: dave.token }),
      h.request('PATCH', `/documents/${id}`, { token: dave.token, body: { title: 'late edit' } }),
      h.request('DELETE', `/documents/${id}`, { token: dave.token }),
      h.request('PUT', `/documents/${id}/shares/${alice.id}`, { token: dave.token, body: { permission: 'read' } }),
    ]);
    for (const res of results) expect([200, 201, 204, 404]).toContain(res.status);
    expect(results.filter((r) => r.status === 204)).toHaveLength(1);
    expect(await auditEvents(h, { action: 'document.deleted', target_id: id })).toHaveLength(1);
  });
});

describe('shares are for users: a :userId that is not an existing, enabled user -> 404', () => {
  it('PUT /documents/:id/shares for a random id, a deleted user or a machine client id -> 404, no share, no event', async () => {
    const id = await documentOf(h, alice);
    const deleted = await h.user();
    await h.owner('auth.accounts').where({ id: deleted.id }).delete();
    for (const userId of [randomUUID(), deleted.id, 'svc-reporting']) {
      const res = await h.request('PUT', `/documents/${id}/shares/${userId}`, { token: alice.token, body: { permission: 'write' } });
      expectProblem(res, 404, /no such user/);
      expect(res.body).toMatchObject({ type: 'urn:clouddocs:problem:not-found', title: 'Not Found' });
      expect(await h.knex('docs.shares').where({ document_id: id, user_id: userId })).toEqual([]);
      expect(await auditEvents(h, { request_id: res.headers.get('x-request-id') })).toEqual([]);
    }
  });

  it('a share with a user whose account is gone can still be removed', async () => {
    const id = await documentOf(h, alice);
    const leaving = await h.user();
    expect((await h.request('PUT', `/documents/${id}/shares/${leaving.id}`, { token: alice.token, body: { permission: 'read' } })).status).toBe(201);
    await h.owner('auth.accounts').where({ id: leaving.id }).delete();
    expectProblem(await h.request('PUT', `/documents/${id}/shares/${leaving.id}`, { token: alice.token, body: { permission: 'write' } }), 404);
    expect((await h.request('DELETE', `/documents/${id}/shares/${leaving.id}`, { token: alice.token })).status).toBe(204);
  });
});

describe('timestamps in document views', () => {
  it('isoTimestamp is Date.prototype.toISOString: every field padded, years 0-9999, beyond them and invalid dates too', () => {
    const dates = [
      new Date(0),
      new Date(Date.UTC(2026, 10, 29, 21, 5, 7, 9)),
      new Date(Date.UTC(2026, 0, 1, 0, 0, 0, 0)),
      new Date(Date.UTC(1999, 11, 31, 23, 59, 59, 999)),
      new Date('0000-01-01T00:00:00.000Z'),
      new Date('0042-03-04T05:06:07.008Z'),
      new Date('9999-12-31T23:59:59.999Z'),
      new Date('+010000-01-01T00:00:00.000Z'),
      new Date('-000001-01-01T00:00:00.000Z'),
    ];
    for (let i = 0; i < 200; i++) dates.push(new Date(Math.floor(Math.random() * 8e12) - 1e12));
    for (const date of dates) expect(isoTimestamp(date), String(date.getTime())).toBe(date.toISOString());
    expect(() => isoTimestamp(new Date(Number.NaN))).toThrow(RangeError);
  });
});

describe('the serialised document of a read', () => {
  it('documentBody is JSON.stringify(documentJson(...)) for each set of permissions of the same row', () => {
    const row = { id: randomUUID(), orgId: null, ownerId: 'u-1', title: 'T "quoted" é', content: 'line\nbreak \u2028 ✓', createdAt: new Date(0), updatedAt: new Date() };
    const sets = [new Set(['read'] as const), new Set(['read', 'write', 'delete', 'share'] as const), new Set(['share', 'read'] as const), new Set(['read'] as const)];
    for (const actions of sets) expect(documentBody(row, actions)).toBe(JSON.stringify(documentJson(row, actions)));
    expect(documentBody({ ...row, title: 'other' }, sets[0]!)).toBe(JSON.stringify(documentJson({ ...row, title: 'other' }, sets[0]!)));
  });

  it('GET /documents/:id, from the database and from the cache, is sent as koa sends an object body: JSON, its type and length', async () => {
    const created = await h.request('POST', '/documents', { token: alice.token, body: { title: 'Sent', content: 'ünïcödé ✓' } });
    for (let i = 0; i < 2; i++) {
      const read = await h.request('GET', `/documents/${created.body.id}`, { token: alice.token });
      expect(read.status).toBe(200);
      expect(read.headers.get('content-type')).toBe('application/json; charset=utf-8');
      expect(read.headers.get('content-length')).toBe(String(Buffer.byteLength(read.text)));
      expect(read.text).toBe(JSON.stringify(created.body));
    }
  });
});
