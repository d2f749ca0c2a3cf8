// Durable revocations: a revocation is stored in PostgreSQL with its audit event, so a Redis that
// restarts empty (or is flushed) does not bring a revoked token back. The docs API refuses it after
// the restart (503 while it reloads, never 200), a docs API process started on the empty cache
// reloads from PostgreSQL before it answers, and introspection says inactive. Own servers only.
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningAuth, RunningDocs } from '@clouddocs/cli';
import type { Knex } from '@clouddocs/db';
import { ownServersAvailable, startOwnPostgres, startOwnRedis, type OwnPostgres, type OwnRedis } from '../support/own-servers';
import { startServicePair, type ServicePair } from '../support/service-pair';

const required = Boolean(process.env.DATABASE_URL);
const available = ownServersAvailable();
if (required && !available) throw new Error('the durable revocation suite needs the PostgreSQL and Redis binaries');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!available)('durable revocations survive a Redis that comes back empty', () => {
  let pg: OwnPostgres;
  let redis: OwnRedis;
  let admin: Knex;
  let pair: ServicePair;
  let auth: RunningAuth;
  let docs: RunningDocs;
  let env: Record<string, string>;
  let client: { id: string; secret: string };
  const basic = () => `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString('base64')}`;

  const token = async () => {
    const r = await fetch(`${auth.url}/token`, {
      method: 'POST',
      headers: { authorization: basic(), 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials&scope=docs%3Aread',
    });
    expect(r.status).toBe(200);
    return ((await r.json()) as { access_token: string }).access_token;
  };
  const me = (url: string, at: string) => fetch(`${url}/me`, { headers: { authorization: `Bearer ${at}` } });
  const introspect = async (at: string) => {
    const r = await fetch(`${auth.url}/token/introspection`, {
      method: 'POST',
      headers: { authorization: basic(), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: at }).toString(),
    });
    return { status: r.status, body: (await r.json().catch(() => ({}))) as { active?: boolean } };
  };

  beforeAll(async () => {
    [pg, redis] = await Promise.all([startOwnPostgres(), startOwnRedis()]);
    pair = await startServicePair({ databaseUrl: pg.url, redis: { REDIS_URL: redis.url }, label: 'durable' });
    ({ admin, env, auth, docs, client } = pair);
  }, 120_000);

  afterAll(async () => {
    await pair?.stop();
    await Promise.allSettled([pg?.destroy(), redis?.stop()]);
  });

  it('a revoked token is stored in PostgreSQL with its audit event, and refused after Redis restarts empty (never 200)', async () => {
    const at = await token();
    expect((await me(docs.url, at)).status).toBe(200);
    const jti = JSON.parse(Buffer.from(at.split('.')[1]!, 'base64url').toString()).jti as string;
    const revoked = await fetch(`${auth.url}/token/revocation`, {
      method: 'POST',
      headers: { authorization: basic(), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: at }).toString(),
    });
    expect(revoked.status).toBe(200);
    const row = await admin('auth.revocations').where({ kind: 'jti', value: jti }).first();
    expect(row).toBeDefined();
    expect(row.expires_at.getTime()).toBeGreaterThan(Date.now());
    const audited = await admin('audit.events').where({ action: 'token.revoked', target_id: jti }).first();
    expect(audited).toBeDefined();
    expect((await me(docs.url, at)).status).toBe(401);

    await redis.stop();
    await redis.start(); // empty: no save, no append-only file
    // From the restart until the reload and after it: refused (503 while reloading), never 200.
    const seen = new Set<number>();
    const until = Date.now() + 4_000;
    while (Date.now() < until) {
      seen.add((await me(docs.url, at)).status);
      await sleep(50);
    }
    expect(seen.has(200)).toBe(false);
    expect((await me(docs.url, at)).status).toBe(401);
    // The reload put the revocation back into the cache, and introspection says inactive.
    const intro = await introspect(at);
    expect(intro).toEqual({ status: 200, body: { active: false } });
    // A fresh token still works: refusing is for the revoked one only.
    expect((await me(docs.url, await token())).status).toBe(200);
  }, 60_000);

  it('a cache flushed without a restart, and a docs API process started on it, reload from PostgreSQL before answering', async () => {
    const at = await token();
    const revoked = await fetch(`${auth.url}/token/revocation`, {
      method: 'POST',
      headers: { authorization: basic(), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: at }).toString(),
    });
    expect(revoked.status).toBe(200);
    const port = new URL(redis.url).port;
    expect(spawnSync('redis-cli', ['-p', port, 'FLUSHALL'], { encoding: 'utf8' }).stdout.trim()).toBe('OK');
    const fresh = await pair.startDocs();
    try {
      await fresh.running.api.ready();
      expect((await me(fresh.url, at)).status).toBe(401);
      expect((await me(docs.url, at)).status).toBe(401);
      // The marker is back: every live revocation is in the cache again.
      const keys = spawnSync('redis-cli', ['-p', port, '--scan', '--pattern', `${env.REDIS_PREFIX}revoked:*`], { encoding: 'utf8' }).stdout;
      expect(keys.split('\n').filter(Boolean).length).toBeGreaterThanOrEqual(2);
    } finally {
      await fresh.stop();
    }
  }, 60_000);

  it('while the cache is down the docs API cannot know of new revocations: a token is refused with 503, and served again once reloaded', async () => {
    const at = await token();
    expect((await me(docs.url, at)).status).toBe(200);
    await redis.stop();
    const refused = await me(docs.url, at);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('content-type')).toMatch(/application\/problem\+json/);
    await redis.start();
    await expect.poll(async () => (await me(docs.url, at)).status, { timeout: 15_000 }).toBe(200);
  }, 60_000);

  it('expired revocations are pruned and never reloaded', async () => {
    await admin('auth.revocations').insert({ kind: 'jti', value: 'long-gone', revoked_at: new Date(Date.now() - 7_200_000), expires_at: new Date(Date.now() - 3_600_000) });
    expect(await admin('auth.live_revocations').where({ value: 'long-gone' }).first()).toBeUndefined();
    await auth.stop();
    auth = await pair.startAuth();
    await expect
      .poll(async () => (await admin('auth.revocations').where({ value: 'long-gone' }).first()) ?? null, { timeout: 5_000 })
      .toBeNull();
  }, 60_000);
});
