// API keys against the real database (PostgreSQL when DATABASE_URL is set, embedded PGlite otherwise).
import { randomUUID } from 'node:crypto';
import type { Knex } from '@clouddocs/db';
import { MemoryKv, RevocationList } from '@clouddocs/kv';
import { beforeAll, describe, expect, it } from 'vitest';
import { createApiKeyQueries } from '../queries/api-keys';
import { useAuthDatabase } from '../test-support';
import { ApiKeyError, createApiKeyLibrary, generateApiKey, hashApiKey, isWellFormedApiKey, parseScopes } from './api-keys';

const database = useAuthDatabase();
let knex: Knex;
let revocations: RevocationList;
const actor = { type: 'system' as const, id: null };

beforeAll(async () => {
  knex = database.knex;
  revocations = new RevocationList(new MemoryKv(), 600);
  await revocations.follow();
});

async function newAccount(): Promise<string> {
  const id = randomUUID();
  await knex('auth.accounts').insert({ id, email: `${id}@example.com`, password_hash: 'x' });
  return id;
}
const library = () => createApiKeyLibrary({ knex, revocations });

describe('the key format', () => {
  it('is cd_pat_ + 36 random base62 characters + a 6-character checksum', () => {
    const key = generateApiKey();
    expect(key).toMatch(/^cd_pat_[0-9A-Za-z]{42}$/);
    expect(isWellFormedApiKey(key)).toBe(true);
    expect(generateApiKey()).not.toBe(key);
  });

  it('one character changed anywhere fails the checksum', () => {
    const key = generateApiKey();
    for (let i = 'cd_pat_'.length; i < key.length; i += 1) {
      const other = key[i] === 'a' ? 'b' : 'a';
      expect(isWellFormedApiKey(key.slice(0, i) + other + key.slice(i + 1))).toBe(false);
    }
    expect(isWellFormedApiKey(key.slice(0, -1))).toBe(false);
    expect(isWellFormedApiKey(`${key}a`)).toBe(false);
    expect(isWellFormedApiKey(key.replace('cd_pat_', 'cd_pak_'))).toBe(false);
  });

  it('scopes are known ones, in a stable order, at least one', () => {
    expect(parseScopes('docs:write docs:read')).toEqual(['docs:read', 'docs:write']);
    expect(() => parseScopes('admin:write')).toThrow(ApiKeyError);
    expect(() => parseScopes('openid')).toThrow(ApiKeyError);
    expect(() => parseScopes('')).toThrow(ApiKeyError);
  });
});

describe('createApiKeyLibrary', () => {
  it('creates a key shown once and stored only as its SHA-256', async () => {
    const user = await newAccount();
    const { result, event } = await library().create(actor, user, { name: 'laptop', scopes: 'docs:read' });
    expect(result.key).toMatch(/^cd_pat_/);
    expect(result.prefix).toBe(result.key.slice(0, 11));
    expect(result.scopes).toEqual(['docs:read']);
    const days = (new Date(result.expires_at).getTime() - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(89.9);
    expect(days).toBeLessThanOrEqual(90);
    const stored = await knex('auth.api_keys').where({ id: result.id }).first();
    expect(JSON.stringify(stored)).not.toContain(result.key);
    expect(stored.key_hash).toBe(hashApiKey(result.key));
    expect(event).toMatchObject({ action: 'api_key.created', target: { type: 'api_key', id: result.id }, detail: { userId: user, prefix: result.prefix } });
    expect(JSON.stringify(event)).not.toContain(result.key);
    const listed = await library().list(user);
    expect(listed).toHaveLength(1);
    expect(listed[0]).not.toHaveProperty('key');
    expect(JSON.stringify(listed)).not.toContain(result.key);
  });

  it('refuses a bad name, unknown scopes and an expiry outside 1–365 days', async () => {
    const user = await newAccount();
    await expect(library().create(actor, user, { name: ' ', scopes: 'docs:read' })).rejects.toThrow(ApiKeyError);
    await expect(library().create(actor, user, { name: 'k', scopes: 'admin:read' })).rejects.toThrow(ApiKeyError);
    await expect(library().create(actor, user, { name: 'k', scopes: 'docs:read', expiresInDays: 0 })).rejects.toThrow(ApiKeyError);
    await expect(library().create(actor, user, { name: 'k', scopes: 'docs:read', expiresInDays: 366 })).rejects.toThrow(ApiKeyError);
    await expect(library().create(actor, user, { name: 'k', scopes: 'docs:read', expiresInDays: 1.5 })).rejects.toThrow(ApiKeyError);
    const { result } = await library().create(actor, user, { name: 'k', scopes: 'docs:read', expiresInDays: 365 });
    expect(Math.round((new Date(result.expires_at).getTime() - Date.now()) / 86_400_000)).toBe(365);
  });

  it('verifies a live key; refuses a changed, revoked, expired key or one of a disabled user', async () => {
    const user = await newAccount();
    const lib = library();
    const { result } = await lib.create(actor, user, { name: 'ci', scopes: ['docs:read', 'orgs:read'] });
    expect(await lib.verify(result.key)).toMatchObject({ id: result.id, user_id: user, scopes: ['docs:read', 'orgs:read'] });
    expect(await lib.verify(`${result.key.slice(0, 20)}${result.key[20] === 'x' ? 'y' : 'x'}${result.key.slice(21)}`)).toBeUndefined();
    expect(await lib.verify(generateApiKey())).toBeUndefined();

    await knex('auth.accounts').where({ id: user }).update({ disabled_at: knex.fn.now() });
    expect(await lib.verify(result.key)).toBeUndefined();
    expect(await knex('auth.api_key_credentials').where({ id: result.id }).first()).toBeUndefined();
    await knex('auth.accounts').where({ id: user }).update({ disabled_at: null });
    expect(await lib.verify(result.key)).toBeDefined();

    await knex('auth.api_keys').where({ id: result.id }).update({ expires_at: new Date(Date.now() - 1000) });
    expect(await lib.verify(result.key)).toBeUndefined();
    await knex('auth.api_keys').where({ id: result.id }).update({ expires_at: new Date(Date.now() + 60_000) });

    const revoked = await lib.revoke(actor, result.id, user);
    expect(revoked?.event).toMatchObject({ action: 'api_key.revoked', target: { id: result.id } });
    expect(revoked?.result.revoked_at).not.toBeNull();
    expect(revocations.isRevoked({ api_key: result.id })).toBe(true);
    expect(await lib.verify(result.key)).toBeUndefined();
    expect(await lib.revoke(actor, result.id, user)).toBeUndefined();
    expect(await knex('auth.api_key_credentials').where({ id: result.id }).first()).toBeUndefined();
  });

  it("revokes only the account's own keys when an account is given", async () => {
    const [alice, bob] = [await newAccount(), await newAccount()];
    const { result } = await library().create(actor, alice, { name: 'a', scopes: 'docs:read' });
    expect(await library().revoke(actor, result.id, bob)).toBeUndefined();
    expect(await library().revoke(actor, result.id)).toBeDefined();
  });

  it("a deleted user's keys go with the account", async () => {
    const user = await newAccount();
    const { result } = await library().create(actor, user, { name: 'a', scopes: 'docs:read' });
    await knex('auth.accounts').where({ id: user }).delete();
    expect(await library().get(result.id)).toBeUndefined();
  });

  it('records use in batches: the latest time wins, and a first use is reported exactly once', async () => {
    const user = await newAccount();
    const { result: a } = await library().create(actor, user, { name: 'a', scopes: 'docs:read' });
    const { result: b } = await library().create(actor, user, { name: 'b', scopes: 'docs:read' });
    const queries = createApiKeyQueries(knex);
    const t1 = new Date(Date.now() - 5000);
    const t2 = new Date(Date.now() - 1000);
    const firsts = await Promise.all([queries.recordUse([{ id: a.id, at: t1 }, { id: a.id, at: t2 }]), queries.recordUse([{ id: a.id, at: t1 }, { id: b.id, at: t1 }])]);
    expect(firsts.flat().sort()).toEqual([a.id, b.id].sort());
    expect(await queries.recordUse([{ id: a.id, at: t1 }, { id: 'no-such-key', at: t1 }])).toEqual([]);
    const [la, lb] = [await library().get(a.id), await library().get(b.id)];
    expect(la?.last_used_at).toBe(t2.toISOString());
    expect(lb?.last_used_at).toBe(t1.toISOString());
    expect((await knex('auth.api_key_credentials').where({ id: a.id }).first()).used).toBe(true);
  });
});
