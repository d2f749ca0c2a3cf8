// The Kv seam against every real backend available: the in-process store always, Redis when REDIS_URL is set.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createKv, MemoryKv, RedisKv, type Kv } from './kv';
import { trackKvs } from './test-support';

const REDIS_URL = process.env.REDIS_URL || undefined;
const PREFIX = `cdtest:kv:${randomBytes(4).toString('hex')}:`;

const track = trackKvs();

type Backend = { name: string; open: () => Kv };
const backends: Backend[] = [{ name: 'memory', open: () => new MemoryKv() }];
if (REDIS_URL) backends.push({ name: 'redis', open: () => new RedisKv(REDIS_URL, PREFIX) });

const open = (backend: Backend): Kv => track(backend.open());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const unique = (label: string) => `${label}:${randomBytes(6).toString('hex')}`;

async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(10);
  }
}

it('createKv picks Redis when REDIS_URL is set and the in-process store otherwise', async () => {
  const memory = track(createKv({ REDIS_PREFIX: PREFIX }));
  expect(memory.kind).toBe('memory');
  if (REDIS_URL) {
    const redis = track(createKv({ REDIS_URL, REDIS_PREFIX: PREFIX }));
    expect(redis.kind).toBe('redis');
    expect(await redis.ping()).toBe(true);
  }
});

it('a RedisKv answers its first command at once after construction (it waits for the connection)', async () => {
  if (!REDIS_URL) return expect(backends).toHaveLength(1);
  const fresh = track(new RedisKv(REDIS_URL, PREFIX));
  const key = unique('fresh');
  await fresh.set(key, 'first');
  expect(await fresh.get(key)).toBe('first');
});

it('the backends under test include Redis exactly when REDIS_URL is set', () => {
  expect(backends.map((b) => b.name)).toEqual(REDIS_URL ? ['memory', 'redis'] : ['memory']);
});

describe.each(backends)('$name Kv', (backend) => {
  const kv = open(backend);

  it('ping answers true on a live store', async () => {
    expect(await kv.ping()).toBe(true);
  });

  it('set then get returns the value; an unknown key is null; del removes', async () => {
    const key = unique('plain');
    expect(await kv.get(key)).toBeNull();
    await kv.set(key, 'v1');
    expect(await kv.get(key)).toBe('v1');
    await kv.set(key, 'v2');
    expect(await kv.get(key)).toBe('v2');
    await kv.del(key);
    expect(await kv.get(key)).toBeNull();
    await kv.del(); // no keys: a no-op
  });

  it('a value set with a ttl is gone after the ttl', async () => {
    const key = unique('ttl');
    const kept = unique('kept');
    await kv.set(key, 'short', 1);
    await kv.set(kept, 'forever');
    expect(await kv.get(key)).toBe('short');
    await sleep(1300);
    expect(await kv.get(key)).toBeNull();
    expect(await kv.get(kept)).toBe('forever');
  });

  it('setIfAbsent is true only for the call that creates the key', async () => {
    const key = unique('nx');
    expect(await kv.setIfAbsent(key, 'first', 60)).toBe(true);
    expect(await kv.setIfAbsent(key, 'second', 60)).toBe(false);
    expect(await kv.get(key)).toBe('first');
  });

  it('setIfAbsent is atomic: 50 concurrent calls -> exactly one true', async () => {
    const key = unique('race');
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => kv.setIfAbsent(key, `caller-${i}`, 60)));
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await kv.get(key)).toBe(`caller-${results.indexOf(true)}`);
  });

  it('setIfAbsent succeeds again once the previous value expired', async () => {
    const key = unique('nx-ttl');
    expect(await kv.setIfAbsent(key, 'a', 1)).toBe(true);
    await sleep(1300);
    expect(await kv.setIfAbsent(key, 'b', 1)).toBe(true);
    expect(await kv.get(key)).toBe('b');
  });

  it('addToSet collects members; setMembers lists them; an unknown set is empty', async () => {
    const key = unique('set');
    expect(await kv.setMembers(key)).toEqual([]);
    await kv.addToSet(key, 'a', 60);
    await kv.addToSet(key, 'b', 60);
    await kv.addToSet(key, 'a', 60);
    expect((await kv.setMembers(key)).sort()).toEqual(['a', 'b']);
  });

  it('each member lapses on its own; adding a member again with a shorter ttl does not shorten it', async () => {
    const key = unique('set-ttl');
    await kv.addToSet(key, 'long', 3);
    await kv.addToSet(key, 'short', 1);
    await kv.addToSet(key, 'long', 1);
    await sleep(1300);
    expect(await kv.setMembers(key)).toEqual(['long']);
    await sleep(1900);
    expect(await kv.setMembers(key)).toEqual([]);
  });

  it('a member added again with a longer ttl lives longer', async () => {
    const key = unique('set-extend');
    await kv.addToSet(key, 'm', 1);
    await kv.addToSet(key, 'm', 3);
    await sleep(1300);
    expect(await kv.setMembers(key)).toEqual(['m']);
  });

  it('a set expires after its ttl', async () => {
    const key = unique('set-expire');
    await kv.addToSet(key, 'x', 1);
    await sleep(1300);
    expect(await kv.setMembers(key)).toEqual([]);
  });

  it('keys(prefix) lists the live keys with that prefix, without the store prefix', async () => {
    const base = unique('scan');
    await kv.set(`${base}:one`, '1');
    await kv.set(`${base}:two`, '2');
    await kv.set(`${base}:gone`, '3', 1);
    await kv.set(`other-${base}`, '4');
    await sleep(1300);
    expect((await kv.keys(`${base}:`)).sort()).toEqual([`${base}:one`, `${base}:two`]);
  });

  it('publish reaches every subscriber of the channel, and only that channel', async () => {
    const channel = unique('chan');
    const first: string[] = [];
    const second: string[] = [];
    const elsewhere: string[] = [];
    await kv.subscribe(channel, (m) => first.push(m));
    await kv.subscribe(channel, (m) => second.push(m));
    await kv.subscribe(unique('other-chan'), (m) => elsewhere.push(m));
    await kv.publish(channel, 'hello');
    await kv.publish(channel, 'world');
    await waitFor(() => first.length === 2 && second.length === 2);
    expect(first).toEqual(['hello', 'world']);
    expect(second).toEqual(['hello', 'world']);
    expect(elsewhere).toEqual([]);
  });

  it('rateLimiter: consume within the points, then rejects with msBeforeNext; blocked keys stay blocked', async () => {
    const limiter = kv.rateLimiter({ keyPrefix: unique('rl'), points: 3, duration: 60 });
    const key = unique('caller');
    for (let i = 0; i < 3; i++) {
      const res = await limiter.consume(key);
      expect(res.remainingPoints).toBe(2 - i);
    }
    const refused = await limiter.consume(key).then(
      () => undefined,
      (err: unknown) => err as { msBeforeNext: number; remainingPoints: number },
    );
    expect(refused).toBeDefined();
    expect(refused!.remainingPoints).toBe(0);
    expect(refused!.msBeforeNext).toBeGreaterThan(0);
    expect(refused!.msBeforeNext).toBeLessThanOrEqual(60_000);
    // another key has its own budget
    await expect(limiter.consume(unique('other-caller'))).resolves.toBeDefined();

    const blockedKey = unique('blocked');
    await limiter.block(blockedKey, 30);
    const blocked = await limiter.get(blockedKey);
    expect(blocked).not.toBeNull();
    expect(blocked!.msBeforeNext).toBeGreaterThan(25_000);
    await expect(limiter.consume(blockedKey)).rejects.toMatchObject({ remainingPoints: 0 });
    await limiter.delete(blockedKey);
    await expect(limiter.consume(blockedKey)).resolves.toBeDefined();
  });

  it('rateLimiter: concurrent consumes never exceed the points', async () => {
    const limiter = kv.rateLimiter({ keyPrefix: unique('rl-race'), points: 5, duration: 60 });
    const key = unique('caller');
    const settled = await Promise.allSettled(Array.from({ length: 25 }, () => limiter.consume(key)));
    expect(settled.filter((s) => s.status === 'fulfilled')).toHaveLength(5);
  });
});

if (REDIS_URL) describe('Redis Kv sharing', () => {
  it('two RedisKv instances with the same prefix share keys and pub/sub; a different prefix is isolated', async () => {
    const a = track(new RedisKv(REDIS_URL!, PREFIX));
    const b = track(new RedisKv(REDIS_URL!, PREFIX));
    const other = track(new RedisKv(REDIS_URL!, `${PREFIX}other:`));
    const key = unique('shared');
    await a.set(key, 'from-a');
    expect(await b.get(key)).toBe('from-a');
    expect(await other.get(key)).toBeNull();
    const got: string[] = [];
    const channel = unique('shared-chan');
    await b.subscribe(channel, (m) => got.push(m));
    await a.publish(channel, 'ping');
    await waitFor(() => got.length === 1);
    expect(got).toEqual(['ping']);
  });
});

if (REDIS_URL) describe('Redis index sets', () => {
  it('an add drops the lapsed members from the store, and the key expires with its longest-lived member', async () => {
    const kv = track(new RedisKv(REDIS_URL!, PREFIX));
    const key = unique('index');
    for (let i = 0; i < 50; i += 1) await kv.addToSet(key, `old-${i}`, 1);
    await kv.addToSet(key, 'keeper', 20);
    expect(await kv.client.zcard(key)).toBe(51);
    await sleep(1300);
    await kv.addToSet(key, 'new', 5);
    expect(await kv.client.zcard(key)).toBe(2);
    expect((await kv.setMembers(key)).sort()).toEqual(['keeper', 'new']);
    const ttl = await kv.client.pttl(key);
    expect(ttl).toBeGreaterThan(15_000);
    expect(ttl).toBeLessThanOrEqual(20_000);
  });

  it('a key still holding an earlier plain set is read as it is; the next add keeps its members until its expiry', async () => {
    const kv = track(new RedisKv(REDIS_URL!, PREFIX));
    const key = unique('index-old');
    expect(await kv.ping()).toBe(true); // connected: the raw client below has no offline queue
    await kv.client.sadd(key, 'a', 'b');
    await kv.client.expire(key, 2);
    expect((await kv.setMembers(key)).sort()).toEqual(['a', 'b']);
    await kv.addToSet(key, 'c', 10);
    expect(await kv.client.type(key)).toBe('zset');
    expect((await kv.setMembers(key)).sort()).toEqual(['a', 'b', 'c']);
    await sleep(2300);
    expect(await kv.setMembers(key)).toEqual(['c']);
  });

  it('an add to a key of another type is refused, the key left as it was', async () => {
    const kv = track(new RedisKv(REDIS_URL!, PREFIX));
    const key = unique('index-string');
    await kv.set(key, 'plain');
    await expect(kv.addToSet(key, 'm', 10)).rejects.toThrow(/WRONGTYPE/);
    expect(await kv.get(key)).toBe('plain');
  });
});

it('a RedisKv on a closed port fails its commands and ping answers false (no server needed)', async () => {
  const dead = new RedisKv('redis://127.0.0.1:1', PREFIX);
  try {
    expect(await dead.ping()).toBe(false);
    await expect(dead.get('anything')).rejects.toThrow();
    await expect(dead.set('anything', 'x')).rejects.toThrow();
  } finally {
    await dead.close();
  }
});
