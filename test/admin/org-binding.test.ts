// The admin API binds a machine client to an organization when it creates it (contract: Admin API,
// `POST /clients` "plus org_id/role for machine clients"), as `clouddocs client create --org --role`
// does: the client and its binding commit together, or neither does.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, expectProblem, startDocsStack, type DocsStack } from '../docs/support';

let stack: DocsStack;
let adminToken: string;
let orgId: string;

async function clientCredentials(client: { client_id: string; client_secret: string }, scope: string): Promise<string> {
  const res = await fetch(`${stack.issuer}/token`, {
    method: 'POST',
    headers: { authorization: basic(client), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope }),
  });
  const body = (await res.json()) as { access_token?: string };
  expect(res.status, JSON.stringify(body)).toBe(200);
  return body.access_token!;
}

async function adminPost(path: string, body: unknown): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(`${stack.issuer}/admin/v1${path}`, { method: 'POST', headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json(), headers: res.headers };
}

const clientCount = async () => Number((await stack.admin('auth.clients').count({ n: '*' }).first())!.n);

beforeAll(async () => {
  stack = await startDocsStack();
  const owner = await stack.createUser('owner');
  const org = await stack.cli(['org', 'create', '--name', 'Robots Inc', '--owner', owner.email, '--json']);
  expect(org.code, org.stderr).toBe(0);
  orgId = org.json.id;
  const operator = await stack.cli(['client', 'create', '--name', 'operator', '--grant', 'client_credentials', '--scope', 'admin:read admin:write', '--json']);
  expect(operator.code, operator.stderr).toBe(0);
  adminToken = await clientCredentials(operator.json, 'admin:read admin:write');
}, 120_000);
afterAll(async () => {
  await stack?.stop();
});

describe('POST /admin/v1/clients with org_id and role', () => {
  it('201 with org_id and role; the client then acts in that org at the docs API with its role; the binding is audited', async () => {
    const created = await adminPost('/clients', { client_name: 'Nightly robot', grant_types: ['client_credentials'], scope: 'docs:read docs:write', org_id: orgId, role: 'editor' });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toMatchObject({ client_id: expect.any(String), client_secret: expect.any(String), org_id: orgId, role: 'editor' });
    const token = await clientCredentials(created.body, 'docs:read docs:write');
    const me = await stack.api('GET', '/me', { token });
    expect(me.body).toMatchObject({ kind: 'client', memberships: [{ orgId, role: 'editor' }] });
    const doc = await stack.api('POST', '/documents', { token, body: { title: 'Report', content: 'ok', orgId } });
    expect(doc.status).toBe(201);
    const events = await stack.admin('audit.events').whereIn('action', ['client.created', 'org.member.added']).andWhere('target_id', created.body.client_id).select('action', 'org_id', 'actor_type');
    expect(events.map((e: { action: string }) => e.action).sort()).toEqual(['client.created', 'org.member.added']);
    expect(events.every((e: { org_id: string }) => e.org_id === orgId)).toBe(true);
  });

  it('a viewer binding gives read but not write', async () => {
    const created = await adminPost('/clients', { client_name: 'Reader robot', grant_types: ['client_credentials'], scope: 'docs:read docs:write', org_id: orgId, role: 'viewer' });
    expect(created.status).toBe(201);
    const token = await clientCredentials(created.body, 'docs:read docs:write');
    expectProblem(await stack.api('POST', '/documents', { token, body: { title: 'No', content: 'no', orgId } }), 403);
  });

  it('refused with 400 and nothing created: org_id without role, role without org_id, an unknown org, an unknown role, a client that is not client_credentials', async () => {
    const before = await clientCount();
    const cases: [unknown, RegExp][] = [
      [{ client_name: 'x', grant_types: ['client_credentials'], org_id: orgId }, /org_id and role go together/],
      [{ client_name: 'x', grant_types: ['client_credentials'], role: 'editor' }, /org_id and role go together/],
      [{ client_name: 'x', grant_types: ['client_credentials'], org_id: 'no-such-org', role: 'editor' }, /no organization no-such-org/],
      [{ client_name: 'x', grant_types: ['client_credentials'], org_id: orgId, role: 'god' }, /role/],
      [{ client_name: 'x', redirect_uris: ['https://app.example/cb'], org_id: orgId, role: 'editor' }, /bind a client_credentials client/],
    ];
    for (const [body, reason] of cases) {
      const res = await adminPost('/clients', body);
      expect(res.status, JSON.stringify(res.body)).toBe(400);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(res.body.detail).toMatch(reason);
    }
    expect(await clientCount()).toBe(before);
  });
});
