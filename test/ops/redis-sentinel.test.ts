// Redis high availability through ioredis's own Sentinel support: a real primary, a replica and three
// redis-sentinel processes started here on free ports. The cache works through the Sentinels, follows
// a `SENTINEL FAILOVER` by itself, and a revocation made before the failover is still refused after it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningAuth, RunningDocs } from '@clouddocs/cli';
import { ConfigError, loadAuthConfig, loadDocsConfig } from '@clouddocs/config';
import { ownServersAvailable, sentinelBinary, startOwnPostgres, startOwnSentinelGroup, type OwnPostgres, type OwnSentinelGroup } from '../support/own-servers';
import { startServicePair, type ServicePair } from '../support/service-pair';

const required = Boolean(process.env.DATABASE_URL);
const available = ownServersAvailable() && sentinelBinary() !== undefined;
if (required && !available) throw new Error('the Sentinel suite needs the PostgreSQL, redis-server and redis-sentinel binaries');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Sentinel configuration is validated, naming the variable', () => {
  it('REDIS_SENTINELS without REDIS_SENTINEL_NAME, a bad host:port list, or Sentinels with Cluster nodes -> ConfigError', () => {
    expect(() => loadAuthConfig({ REDIS_SENTINELS: '127.0.0.1:26379' })).toThrow(/REDIS_SENTINEL_NAME: required/);
    expect(() => loadAuthConfig({ REDIS_SENTINEL_NAME: 'main' })).toThrow(/REDIS_SENTINELS: required/);
    expect(() => loadAuthConfig({ REDIS_SENTINELS: 'localhost', REDIS_SENTINEL_NAME: 'main' })).toThrow(ConfigError);
    expect(() => loadAuthConfig({ REDIS_SENTINELS: 'localhost', REDIS_SENTINEL_NAME: 'main' })).toThrow(/REDIS_SENTINELS: must be host:port pairs/);
    expect(() => loadDocsConfig({ REDIS_SENTINELS: 'a:1,b:99999', REDIS_SENTINEL_NAME: 'main' })).toThrow(/REDIS_SENTINELS: every port/);
    expect(() => loadAuthConfig({ REDIS_SENTINELS: 'a:1', REDIS_SENTINEL_NAME: 'main', REDIS_CLUSTER_NODES: 'b:2' })).toThrow(/REDIS_CLUSTER_NODES: cannot be combined/);
    expect(loadAuthConfig({ REDIS_SENTINELS: 's1:26379,[::1]:26380', REDIS_SENTINEL_NAME: 'main' }).REDIS_SENTINELS).toEqual([
      { host: 's1', port: 26379 },
      { host: '::1', port: 26380 },
    ]);
  });
});

describe.skipIf(!available)('Redis through Sentinel, across a failover', () => {
  let group: OwnSentinelGroup;
  let pg: OwnPostgres;
  let pair: ServicePair;
  let auth: RunningAuth;
  let docs: RunningDocs;
  let client: { id: string; secret: string };
  const basic = () => `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString('base64')}`;
  const newKv = () => pair.newKv();
  const token = async () => {
    for (;;) {
      const r = await fetch(`${auth.url}/token`, {
        method: 'POST',
        headers: { authorization: basic(), 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials&scope=docs%3Aread',
      });
      if (r.status === 200) return ((await r.json()) as { access_token: string }).access_token;
      expect(r.status).toBe(503); // during the failover only
      await sleep(100);
    }
  };
  const me = (at: string) => fetch(`${docs.url}/me`, { headers: { authorization: `Bearer ${at}` } });

  beforeAll(async () => {
    [group, pg] = await Promise.all([startOwnSentinelGroup(), startOwnPostgres()]);
    pair = await startServicePair({ databaseUrl: pg.url, redis: { REDIS_SENTINELS: group.sentinels, REDIS_SENTINEL_NAME: group.name }, label: 'sentinel' });
    ({ auth, docs, client } = pair);
  }, 120_000);

  afterAll(async () => {
    await pair?.stop();
    await Promise.allSettled([pg?.destroy(), group?.stop()]);
  });

  it('the cache works through the Sentinels: values, sets, counters, pub/sub, rate limits', async () => {
    const kv = newKv();
    await kv.set('hello', 'world', 60);
    expect(await kv.get('hello')).toBe('world');
    expect(await kv.setIfAbsent('once', '1', 60)).toBe(true);
    expect(await kv.setIfAbsent('once', '2', 60)).toBe(false);
    await kv.addToSet('members', 'a', 60);
    await kv.addToSet('members', 'b', 60);
    expect((await kv.setMembers('members')).sort()).toEqual(['a', 'b']);
    expect(await kv.increment('count', 60)).toBe(1);
    expect(await kv.keys('mem')).toEqual(['members']);
    const heard: string[] = [];
    const listener = newKv();
    await listener.subscribe('news', (m) => heard.push(m));
    expect(await kv.publish('news', 'first')).toBe(1);
    await expect.poll(() => heard).toEqual(['first']);
    const limiter = kv.rateLimiter({ keyPrefix: 'sentinel-test', points: 1, duration: 60 });
    await limiter.consume('ip');
    await expect(limiter.consume('ip')).rejects.toBeDefined();
  });

  it('SENTINEL FAILOVER: the services follow the new primary, and a token revoked before it is still refused after it', async () => {
    const revokedToken = await token();
    const kept = await token();
    expect((await me(revokedToken)).status).toBe(200);
    const revoked = await fetch(`${auth.url}/token/revocation`, {
      method: 'POST',
      headers: { authorization: basic(), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: revokedToken }).toString(),
    });
    expect(revoked.status).toBe(200);
    expect((await me(revokedToken)).status).toBe(401);
    const kv = newKv();
    await kv.set('before-failover', 'kept', 120);
    await kv.get('before-failover');
    const heard: string[] = [];
    await newKv().subscribe('after', (m) => heard.push(m));

    // Watch the revoked token all through the failover: refused (503 while reloading), never 200.
    let watching = true;
    const statuses = new Set<number>();
    const watcher = (async () => {
      while (watching) {
        statuses.add((await me(revokedToken)).status);
        await sleep(25);
      }
    })();
    const { from, to } = await group.failover();
    expect(to).not.toBe(from);
    await expect.poll(async () => (await me(kept)).status, { timeout: 20_000, interval: 100 }).toBe(200);
    await sleep(500);
    watching = false;
    await watcher;
    expect(statuses.has(200)).toBe(false);
    expect((await me(revokedToken)).status).toBe(401);

    // The data written before went over with replication; writes and pub/sub work on the new primary.
    await expect.poll(async () => kv.get('before-failover').catch(() => 'unavailable'), { timeout: 10_000 }).toBe('kept');
    await kv.set('after-failover', 'yes', 60);
    expect(await kv.get('after-failover')).toBe('yes');
    await expect.poll(async () => (await kv.publish('after', 'hi').catch(() => 0)) > 0 && heard.includes('hi'), { timeout: 10_000, interval: 200 }).toBe(true);
    // Both services are ready without a restart, and a new token is issued and accepted.
    await expect.poll(async () => (await fetch(`${auth.url}/readyz`)).status, { timeout: 10_000 }).toBe(200);
    await expect.poll(async () => (await fetch(`${docs.url}/readyz`)).status, { timeout: 10_000 }).toBe(200);
    expect((await me(await token())).status).toBe(200);
  }, 90_000);
});
