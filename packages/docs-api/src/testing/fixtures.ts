// Small builders for test scenarios, all through the public HTTP API.
import { expect } from 'vitest';
import type { Role } from '../access';
import type { Harness, Response } from './harness';

export interface TestUser {
  id: string;
  token: string;
}

/** An org owned by `owner`, with the given members added by the owner. */
export async function orgWith(h: Harness, owner: TestUser, members: [TestUser, Role][] = [], name = 'Acme'): Promise<string> {
  const created = await h.request('POST', '/orgs', { token: owner.token, body: { name } });
  expect(created.status).toBe(201);
  for (const [user, role] of members) {
    const res = await h.request('PUT', `/orgs/${created.body.id}/members/${user.id}`, { token: owner.token, body: { role } });
    expect(res.status).toBe(201);
  }
  return created.body.id as string;
}

export async function documentOf(h: Harness, user: TestUser, body: { title?: string; content?: string; orgId?: string } = {}): Promise<string> {
  const res = await h.request('POST', '/documents', { token: user.token, body: { title: 'Plan', content: 'secret plan', ...body } });
  expect(res.status).toBe(201);
  return res.body.id as string;
}

/** Every error body is RFC 9457 problem+json without a stack trace. */
export function expectProblem(res: Response, status: number, detail?: RegExp) {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ status, type: expect.stringMatching(/^urn:clouddocs:problem:/), title: expect.any(String), detail: expect.any(String) });
  if (detail) expect(res.body.detail).toMatch(detail);
  expect(res.text).not.toMatch(/\bat [^ ]+ \(|node_modules|\.ts:\d+|stack/i);
}

export async function auditEvents(h: Harness, where: Record<string, unknown>) {
  return h.knex('audit.events').where(where).orderBy('id');
}
