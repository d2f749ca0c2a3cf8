// Every key pattern of the cache on a real Redis Cluster (three primaries started here): single-key
// commands and transactions, scans over every primary, deletions across slots, pub/sub with
// acknowledgements, rate limits, and the revocation list between a writer and a follower.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAuthConfig } from '@clouddocs/config';
import { createKv, RevocationList, type Kv } from '@clouddocs/kv';
import { redisBinary, startOwnRedisCluster, type OwnRedisCluster } from '../support/own-servers';

const required = Boolean(process.env.REDIS_URL);
const available = redisBinary() !== undefined;
if (required && !available) throw new Error('the Redis Cluster suite needs the redis-server binary');

describe.skipIf(!available)('the cache on a Redis Cluster', () => {
  let cluster: OwnRedisCluster;
  const kvs: Kv[] = [];
  const open = () => {
    const kv = createKv(loadAuthConfig({ REDIS_CLUSTER_NODES: cluster.nodes, REDIS_PREFIX: `cluster-${prefix}:` }));
    kvs.push(kv);
    return kv;
  };
  const prefix = randomBytes(3).toString('hex');

  beforeAll(async () => {
    cluster = await startOwnRedisCluster();
    // A client's first view of the slots can lag the nodes' agreement: wait until keys of every slot range work.
    const probe = open();
    const deadline = Date.now() + 20_000;
    for (;;) {
      try {
        for (let i = 0; i < 30; i += 1) await probe.set(`probe:${i}`, 'x', 10);
        if ((await probe.keys('probe:')).length === 30) break;
      } catch (err) {
        if (Date.now() > deadline) throw err;
      }
      if (Date.now() > deadline) throw new Error('the cluster client never saw every slot');
      await new Promise((r) => setTimeout(r, 200));
    }
  }, 60_000);
  afterAll(async () => {
    for (const kv of kvs) await kv.close().catch(() => {});
    await cluster?.stop();
  });

  it('values, sets, counters, scans over every primary and deletions across slots', async () => {
    const kv = open();
    const names = Array.from({ length: 30 }, (_, i) => `spread:${i}`); // land in many slots
    for (const name of names) await kv.set(name, name, 60);
    expect((await kv.keys('spread:')).sort()).toEqual([...names].sort());
    await kv.del(...names);
    expect(await kv.keys('spread:')).toEqual([]);
    expect(await kv.setIfAbsent('once', '1', 60)).toBe(true);
    expect(await kv.setIfAbsent('once', '1', 60)).toBe(false);
    await kv.addToSet('set', 'a', 60);
    await kv.addToSet('set', 'b', 60);
    expect((await kv.setMembers('set')).sort()).toEqual(['a', 'b']);
    expect(await kv.increment('n', 60)).toBe(1);
    expect(await kv.increment('n', 60)).toBe(2);
    const limiter = kv.rateLimiter({ keyPrefix: 'cluster', points: 2, duration: 60 });
    await limiter.consume('ip');
    await limiter.consume('ip');
    await expect(limiter.consume('ip')).rejects.toBeDefined();
    expect(await kv.ping()).toBe(true);
  });

  it('pub/sub reaches a subscriber on another connection, and a revocation reaches a follower before revoke() resolves', async () => {
    const writerKv = open();
    const followerKv = open();
    const heard: string[] = [];
    await followerKv.subscribe('ping', (m) => heard.push(m));
    // The shard's subscriber connection is up once a message published now is counted and delivered.
    await expect.poll(async () => (await writerKv.publish('ping', 'p')) === 1 && heard.length > 0, { timeout: 10_000, interval: 100 }).toBe(true);
    const writer = new RevocationList(writerKv, 600);
    const follower = new RevocationList(followerKv, 600);
    await follower.follow();
    expect(follower.isCurrent()).toBe(true);
    await writer.revoke('jti', 'cluster-jti');
    expect(follower.isRevoked({ jti: 'cluster-jti' })).toBe(true);
    // A follower started later loads it from the keys spread over the primaries.
    await writer.revoke('grant', 'cluster-grant');
    const late = new RevocationList(open(), 600);
    await late.follow();
    expect(late.isRevoked({ jti: 'cluster-jti' })).toBe(true);
    expect(late.isRevoked({ gid: 'cluster-grant' })).toBe(true);
    expect(late.isRevoked({ jti: 'other' })).toBe(false);
    follower.stop();
    late.stop();
  });
});
