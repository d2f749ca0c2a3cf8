// Mailed tokens against the real store: hashed at rest, single use (also under concurrency),
// short-lived, purpose-bound, and a newer token voids the older one.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditGrants, auditMigrations } from '@clouddocs/audit';
import { createKnex, createTestDatabase, migrate, type Knex, type TestDatabase } from '@clouddocs/db';
import { authGrants, authMigrations } from '../migrations';
import { createAccountLibrary } from './accounts';
import { PasswordHasher } from './passwords';
import { createAccountTokenLibrary } from './tokens';

let db: TestDatabase;
let knex: Knex;
let tokens: ReturnType<typeof createAccountTokenLibrary>;
let accountId: string;

beforeAll(async () => {
  db = await createTestDatabase();
  knex = await createKnex({ url: db.url, poolMax: 4 });
  await migrate(knex, [...auditMigrations, ...authMigrations], [auditGrants, authGrants]);
  tokens = createAccountTokenLibrary({ knex });
  const accounts = createAccountLibrary({ knex, hasher: new PasswordHasher({ memoryCost: 19456, timeCost: 2, parallelism: 1 }) });
  accountId = (await accounts.create({ email: 'tokens@example.test', password: 'granite-poppy-harbor-8' })).id;
});
afterAll(async () => {
  await knex?.destroy();
  await db?.drop();
});

describe('mailed tokens', () => {
  it('only a SHA-256 of the token is stored; the token is 256 random bits', async () => {
    const token = await tokens.issue(accountId, 'password_reset', '/interaction/abc');
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const rows = await knex('auth.account_tokens').where({ account_id: accountId }).select('token_hash');
    expect(rows.map((r) => r.token_hash)).toContain(createHash('sha256').update(token).digest('base64url'));
    expect(JSON.stringify(rows)).not.toContain(token);
  });

  it('single use: of 10 concurrent uses exactly one succeeds, and it names the account and where to continue', async () => {
    const token = await tokens.issue(accountId, 'verify_email', '/interaction/xyz');
    const results = await Promise.all(Array.from({ length: 10 }, () => tokens.consume(token, 'verify_email')));
    expect(results.filter(Boolean)).toEqual([{ accountId, returnTo: '/interaction/xyz', newEmail: null }]);
    expect(await tokens.peek(token, 'verify_email')).toBeUndefined();
  });

  it('bound to its purpose, refused once expired, and voided by a newer token of the same purpose', async () => {
    const reset = await tokens.issue(accountId, 'password_reset');
    expect(await tokens.consume(reset, 'verify_email')).toBeUndefined();
    const newer = await tokens.issue(accountId, 'password_reset');
    expect(await tokens.peek(reset, 'password_reset')).toBeUndefined();
    expect(await tokens.peek(newer, 'password_reset')).toEqual({ accountId, returnTo: null, newEmail: null });
    await knex('auth.account_tokens').where({ token_hash: createHash('sha256').update(newer).digest('base64url') }).update({ expires_at: new Date(Date.now() - 1000).toISOString() });
    expect(await tokens.consume(newer, 'password_reset')).toBeUndefined();
    expect(await tokens.consume('not-a-token', 'password_reset')).toBeUndefined();
  });

  it('an email change token carries the new address until it is used', async () => {
    const token = await tokens.issue(accountId, 'change_email', null, 'next@example.test');
    expect(await tokens.peek(token, 'change_email')).toEqual({ accountId, returnTo: null, newEmail: 'next@example.test' });
    expect(await tokens.consume(token, 'verify_email')).toBeUndefined();
    expect(await tokens.consume(token, 'change_email')).toEqual({ accountId, returnTo: null, newEmail: 'next@example.test' });
    expect(await tokens.consume(token, 'change_email')).toBeUndefined();
  });
});
