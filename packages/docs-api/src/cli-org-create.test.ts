// `clouddocs org create` end to end on a test database: the real command, the real migrations.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKnex, createTestDatabase, type Knex, type TestDatabase } from '@clouddocs/db';

// Loaded by a computed path so this package's typecheck does not take in the CLI and all it imports.
const command = new URL('../../cli/src/commands/org-create.ts', import.meta.url).pathname;
type Run = (args: string[]) => Promise<{ json: Record<string, unknown>; text: string }>;
let run: Run;

let db: TestDatabase;
let knex: Knex;
const ownerId = randomUUID();

beforeAll(async () => {
  db = await createTestDatabase();
  process.env.DATABASE_URL = db.url;
  process.env.LOG_LEVEL = 'silent';
  knex = await createKnex({ url: db.url, poolMax: 2 });
  ({ run } = (await import(/* @vite-ignore */ command)) as { run: Run });
});
afterAll(async () => {
  await knex?.destroy();
  await db?.drop();
});

describe('clouddocs org create', () => {
  it('creates an org owned by the user with that email and prints { id, name }', async () => {
    await expect(run(['--name', 'Acme', '--owner', 'nobody@example.com'])).rejects.toThrow(/no user has the email nobody@example.com/);
    await knex('auth.accounts').insert({ id: ownerId, email: 'owner@example.com', password_hash: 'x' });
    const result = await run(['--name', 'Acme', '--owner', 'Owner@Example.com']);
    expect(result.json).toEqual({ id: expect.any(String), name: 'Acme' });
    const id = result.json.id as string;
    expect(await knex('docs.memberships').where({ org_id: id })).toMatchObject([{ principal_id: ownerId, principal_type: 'user', role: 'owner' }]);
    const [event] = await knex('audit.events').where({ action: 'org.created', org_id: id });
    expect(event).toMatchObject({ actor_type: 'system', target_id: id, outcome: 'success' });
    expect(event.chain_id).toMatch(/^cli:/);
  });

  it('refuses a missing or empty name with a one-line reason', async () => {
    await expect(run(['--owner', 'owner@example.com'])).rejects.toThrow(/--name is required/);
    await expect(run(['--name', '   ', '--owner', 'owner@example.com'])).rejects.toThrow(/name/);
  });
});
