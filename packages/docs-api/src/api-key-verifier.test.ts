// API keys at the docs API (PostgreSQL when DATABASE_URL is set, embedded PGlite otherwise): keys made
// as the auth server makes them, read through its view; refusals on the next request; use recorded
// without a write per request.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateApiKey, hashApiKey } from '../../auth-server/src/libraries/api-keys';
import { createLogger } from '@clouddocs/observability';
import { createApiKeyVerifier } from './api-key-verifier';
import { auditEvents, expectProblem } from './testing/fixtures';
import { startHarness, type Harness } from './testing/harness';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());

async function newKey(scopes: string[] = ['docs:read'], expiresInMs = 86_400_000): Promise<{ userId: string; keyId: string; key: string }> {
  const userId = randomUUID();
  await h.createAccount(userId);
  const key = generateApiKey();
  const keyId = randomUUID();
  await h.owner('auth.api_keys').insert({ id: keyId, account_id: userId, name: 'test', prefix: key.slice(0, 11), key_hash: hashApiKey(key), scopes, expires_at: new Date(Date.now() + expiresInMs) });
  return { userId, keyId, key };
}

describe('Bearer cd_pat_… at the docs API', () => {
  it("acts as its user with the key's scopes; GET /me says kind api_key", async () => {
    const { userId, keyId, key } = await newKey(['docs:read']);
    const me = await h.request('GET', '/me', { token: key });
    expect(me.status).toBe(200);
    expect(me.body).toEqual({ sub: userId, client_id: keyId, kind: 'api_key', scopes: ['docs:read'], memberships: [] });
    const write = await h.request('POST', '/documents', { token: key, body: { title: 't', content: 'c' } });
    expectProblem(write, 403);
    expect(write.headers.get('www-authenticate')).toMatch(/insufficient_scope/);
    expect((await h.request('GET', '/documents', { token: key })).status).toBe(200);
  });

  it('one character changed, an unknown key, a revoked key (before the cache forgets it) → 401 invalid_token', async () => {
    const { keyId, key } = await newKey();
    expect((await h.request('GET', '/me', { token: key })).status).toBe(200);
    const changed = `${key.slice(0, 30)}${key[30] === '0' ? '1' : '0'}${key.slice(31)}`;
    expectProblem(await h.request('GET', '/me', { token: changed }), 401, /malformed/);
    expectProblem(await h.request('GET', '/me', { token: generateApiKey() }), 401, /unknown or revoked/);
    // Revoked: the view still shows it and this process has it cached, but the revocation list refuses it.
    await h.revocations.revoke('api_key', keyId);
    const res = await h.request('GET', '/me', { token: key });
    expectProblem(res, 401, /revoked/);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer realm="docs-api", error="invalid_token"/);
  });

  it("a disabled or deleted user's key → 401 on the next request; a user only signed out keeps their keys", async () => {
    const a = await newKey();
    const b = await newKey();
    for (const k of [a, b]) expect((await h.request('GET', '/me', { token: k.key })).status).toBe(200);
    await h.revocations.revoke('sub', a.userId); // signed out everywhere: the view still shows the key
    expect((await h.request('GET', '/me', { token: a.key })).status).toBe(200);
    await h.owner('auth.accounts').where({ id: a.userId }).update({ disabled_at: new Date() });
    await h.revocations.revoke('sub', a.userId);
    expectProblem(await h.request('GET', '/me', { token: a.key }), 401);
    await h.owner('auth.accounts').where({ id: b.userId }).delete();
    await h.revocations.revoke('sub', b.userId);
    expectProblem(await h.request('GET', '/me', { token: b.key }), 401);
  });

  it('an expired key → 401', async () => {
    const { key } = await newKey(['docs:read'], -1000);
    expectProblem(await h.request('GET', '/me', { token: key }), 401, /expired/);
  });

  it('the first use is recorded and audited once; later uses are recorded in one batch, not per request', async () => {
    const { keyId, key, userId } = await newKey();
    const verifier = createApiKeyVerifier({ knex: h.knex, audit: h.audit, logger: createLogger({ level: 'silent', name: 'test' }), revocations: h.revocations, revocationsLoaded: () => true });
    const context = () => ({ actor: { type: 'anonymous' as const, id: null }, requestId: 'r1' });
    expect((await verifier.verify(key, context)).id).toBe(userId);
    const first = (await h.owner('auth.api_keys').where({ id: keyId }).first()).last_used_at as Date;
    expect(first).not.toBeNull();
    await verifier.verify(key, context);
    await verifier.verify(key, context);
    expect((await h.owner('auth.api_keys').where({ id: keyId }).first()).last_used_at).toEqual(first); // nothing written yet
    await verifier.close(); // the batch (also what the timer does)
    expect(((await h.owner('auth.api_keys').where({ id: keyId }).first()).last_used_at as Date).getTime()).toBeGreaterThanOrEqual(first.getTime());
    // Through the API as well: however many requests, one api_key.used event, with the user as actor.
    for (let i = 0; i < 3; i += 1) expect((await h.request('GET', '/me', { token: key })).status).toBe(200);
    await h.audit.flush();
    const used = await auditEvents(h, { action: 'api_key.used', target_id: keyId });
    expect(used).toHaveLength(1);
    expect(used[0]).toMatchObject({ actor_type: 'user', actor_id: userId });
    expect(JSON.stringify(used)).not.toContain(key);
  });
});
