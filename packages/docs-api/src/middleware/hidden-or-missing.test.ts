// A hidden object (it exists, the caller may not see it) and a missing one are indistinguishable:
// the same status, headers and body, and the same work behind them (the same queries, one denied
// lookup audited each), so that not even the time it takes tells them apart. Timing itself is not
// asserted; what makes it differ (reads, writes) is. Every route that loads a document or an org by id
// is taken from the route table.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@clouddocs/observability';
import { createDocsApi, type DocsApi } from '../app';
import { startHarness, type Harness, type Response } from '../testing/harness';
import { auditEvents, documentOf, expectProblem, orgWith, type TestUser } from '../testing/fixtures';

let h: Harness;
let alice: TestUser, bob: TestUser;
let aliceOrg: string, personalDoc: string, orgDoc: string;
// An API whose cache entries outlive the test, so an expiry never falls between the two requests compared.
let api: DocsApi;
let served: Awaited<ReturnType<Harness['serve']>>;

beforeAll(async () => {
  h = await startHarness();
  [alice, bob] = await Promise.all([h.user(), h.user()]);
  aliceOrg = await orgWith(h, alice);
  personalDoc = await documentOf(h, alice);
  orgDoc = await documentOf(h, alice, { orgId: aliceOrg });
  api = createDocsApi({ config: h.config, knex: h.knex, audit: h.audit, kv: h.kv, revocations: h.revocations, jwks: h.jwks!, authzCacheTtlMs: 600_000, logger: createLogger({ level: 'silent', name: 'docs-api' }) });
  await api.ready();
  served = await h.serve(api);
});
afterAll(async () => {
  await served?.close();
  await api?.close();
  await h?.close();
});

interface Observed {
  res: Response;
  /** The statements the request ran (bindings aside), in order. */
  queries: string[];
}

async function observe(method: string, path: string, body?: unknown): Promise<Observed> {
  const queries: string[] = [];
  const record = (q: { sql: string }) => queries.push(q.sql);
  h.knex.on('query', record);
  try {
    const res = await served.request(method, path, { token: bob.token, ...(body !== undefined ? { body } : {}) });
    return { res, queries };
  } finally {
    h.knex.off('query', record);
  }
}

const VARYING = new Set(['date', 'x-request-id']);
const headersOf = (res: Response) => Object.fromEntries([...res.headers].filter(([name]) => !VARYING.has(name)));

async function expectIndistinguishable(hidden: Observed, missing: Observed, target: { type: string; hiddenId: string; missingId: string }) {
  expectProblem(hidden.res, 404);
  expectProblem(missing.res, 404);
  expect(headersOf(hidden.res)).toEqual(headersOf(missing.res));
  expect({ ...hidden.res.body, requestId: null }).toEqual({ ...missing.res.body, requestId: null });
  expect(hidden.queries).toEqual(missing.queries);
  const [hiddenEvents, missingEvents] = await Promise.all([
    auditEvents(h, { request_id: hidden.res.headers.get('x-request-id') }),
    auditEvents(h, { request_id: missing.res.headers.get('x-request-id') }),
  ]);
  expect(hiddenEvents).toHaveLength(1);
  expect(missingEvents).toHaveLength(1);
  for (const [event, id] of [[hiddenEvents[0], target.hiddenId], [missingEvents[0], target.missingId]] as const) {
    expect(event).toMatchObject({ action: 'access.denied', outcome: 'denied', actor_type: 'user', actor_id: bob.id, target_type: target.type, target_id: id });
  }
}

/** A body the route accepts, so that the request reaches the object step. */
const VALID_BODIES: Record<string, unknown> = {
  updateDocument: { title: 'x' },
  putShare: { permission: 'read' },
  putMember: { role: 'viewer' },
};

const concrete = (path: string, ids: Record<string, string>) => path.replace(/:([A-Za-z]+)/g, (_, name: string) => ids[name] ?? bob.id);

describe('a hidden object and a missing one are indistinguishable', () => {
  const documentRoutes = () => h.api.routes.filter((r) => r.path.startsWith('/documents/:id'));
  const orgRoutes = () => h.api.routes.filter((r) => r.path.startsWith('/orgs/:orgId'));

  it('covers every route that loads a document or an org by id', () => {
    expect(documentRoutes().map((r) => r.operationId).sort()).toEqual(['deleteDocument', 'deleteShare', 'getDocument', 'putShare', 'updateDocument']);
    expect(orgRoutes().map((r) => r.operationId).sort()).toEqual(['deleteMember', 'getOrg', 'listOrgAuditEvents', 'putMember']);
  });

  it('a document of another user or of an org the caller is not in -> 404 like a missing document: same headers, body, queries and one denied lookup each', async () => {
    // Warm the caller's cached memberships, so that both requests below start from the same cache.
    await observe('GET', `/documents/${randomUUID()}`);
    for (const route of documentRoutes()) {
      for (const hiddenId of [personalDoc, orgDoc]) {
        const missingId = randomUUID();
        const body = VALID_BODIES[route.operationId];
        // Twice each: the hot read's first look comes from the authorization cache the second time.
        for (let round = 0; round < 2; round++) {
          const hidden = await observe(route.method.toUpperCase(), concrete(route.path, { id: hiddenId }), body);
          const missing = await observe(route.method.toUpperCase(), concrete(route.path, { id: missingId }), body);
          await expectIndistinguishable(hidden, missing, { type: 'document', hiddenId, missingId });
        }
      }
    }
  });

  it('the hot read never denies on cached data: both re-read the memberships and the document from the database', async () => {
    const missingId = randomUUID();
    await observe('GET', `/documents/${personalDoc}`);
    await observe('GET', `/documents/${missingId}`);
    const hidden = await observe('GET', `/documents/${personalDoc}`);
    const missing = await observe('GET', `/documents/${missingId}`);
    for (const { queries } of [hidden, missing]) {
      expect(queries.filter((q) => /docs"\."memberships/.test(q))).toHaveLength(1);
      expect(queries.filter((q) => /docs"\."documents/.test(q))).toHaveLength(1);
    }
    await expectIndistinguishable(hidden, missing, { type: 'document', hiddenId: personalDoc, missingId });
  });

  it("another's org -> 404 like a missing org: same headers, body, queries (nothing read) and one denied lookup each", async () => {
    for (const route of orgRoutes()) {
      const missingId = randomUUID();
      const body = VALID_BODIES[route.operationId];
      const hidden = await observe(route.method.toUpperCase(), concrete(route.path, { orgId: aliceOrg }), body);
      const missing = await observe(route.method.toUpperCase(), concrete(route.path, { orgId: missingId }), body);
      await expectIndistinguishable(hidden, missing, { type: 'org', hiddenId: aliceOrg, missingId });
      expect(hidden.queries.filter((q) => /docs"\."orgs/.test(q))).toEqual([]);
    }
  });

  it('creating a document in an org the caller is not in -> 404 like a missing org, with the same work', async () => {
    const missingId = randomUUID();
    const hidden = await observe('POST', '/documents', { title: 't', content: 'c', orgId: aliceOrg });
    const missing = await observe('POST', '/documents', { title: 't', content: 'c', orgId: missingId });
    await expectIndistinguishable(hidden, missing, { type: 'org', hiddenId: aliceOrg, missingId });
  });

  it('the owner still reads, edits and shares them (the denial path is only for callers who may not see)', async () => {
    expect((await served.request('GET', `/documents/${personalDoc}`, { token: alice.token })).status).toBe(200);
    expect((await served.request('GET', `/orgs/${aliceOrg}`, { token: alice.token })).status).toBe(200);
    expect((await served.request('PATCH', `/documents/${orgDoc}`, { token: alice.token, body: { content: 'still mine' } })).body.content).toBe('still mine');
  });
});
