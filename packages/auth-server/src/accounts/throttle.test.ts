// Sign-in throttling over every available cache: the in-process store always, Redis when REDIS_URL is set.
import { randomBytes } from 'node:crypto';
import { MemoryKv, RedisKv, type Kv } from '@clouddocs/kv';
import { afterAll, describe, expect, it } from 'vitest';
import { createLoginThrottle, THROTTLE, ThrottleUnavailableError } from './throttle';

const REDIS_URL = process.env.REDIS_URL || undefined;
const PREFIX = `cdtest:throttle:${randomBytes(4).toString('hex')}:`;

const opened: Kv[] = [];
afterAll(async () => {
  for (const kv of opened) {
    if (kv instanceof RedisKv) {
      const keys = await kv.keys('');
      if (keys.length) await kv.del(...keys);
    }
    await kv.close();
  }
});

type Backend = { name: string; open: () => Promise<Kv> };
const backends: Backend[] = [{ name: 'memory', open: async () => new MemoryKv() }];
if (REDIS_URL) {
  backends.push({
    name: 'redis',
    async open() {
      const kv = new RedisKv(REDIS_URL, PREFIX);
      expect(await kv.ping()).toBe(true); // connected before the rate limiters use the client
      return kv;
    },
  });
}

const account = () => `account-${randomBytes(6).toString('hex')}`;
const ip = () => `10.${randomBytes(1)[0]}.${randomBytes(1)[0]}.${randomBytes(1)[0]}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it('the backends under test include Redis exactly when REDIS_URL is set', () => {
  expect(backends.map((b) => b.name)).toEqual(REDIS_URL ? ['memory', 'redis'] : ['memory']);
});

it('the policy: back off after 3 failures, lock after 10 for 15 minutes', () => {
  expect(THROTTLE).toMatchObject({ BACKOFF_AFTER: 3, LOCK_AFTER: 10, LOCK_SECONDS: 900 });
});

describe.each(backends)('login throttle over $name', (backend) => {
  const open = async () => {
    const kv = await backend.open();
    opened.push(kv);
    return createLoginThrottle(kv);
  };

  it(`after ${THROTTLE.BACKOFF_AFTER} failures the next attempt is refused with retryAfterSeconds (not locked)`, async () => {
    const throttle = await open();
    const who = account();
    const from = ip();
    for (let i = 1; i <= THROTTLE.BACKOFF_AFTER; i++) {
      expect(await throttle.attempt(who, from)).toEqual({ allowed: true });
      expect(await throttle.failed(who)).toBe(i);
    }
    const refused = await throttle.attempt(who, from);
    expect(refused).toEqual({ allowed: false, retryAfterSeconds: 1, locked: false, scope: 'account' });
    // the block is for this account only
    expect(await throttle.attempt(account(), from)).toEqual({ allowed: true });
    // and it ends: 2^(3-3) = 1 s later the account may try again
    await sleep(1100);
    expect(await throttle.attempt(who, from)).toEqual({ allowed: true });
  });

  it('each further failure doubles the wait', async () => {
    const throttle = await open();
    const who = account();
    const from = ip();
    for (let i = 1; i <= THROTTLE.BACKOFF_AFTER; i++) {
      await throttle.attempt(who, from);
      await throttle.failed(who);
    }
    await sleep(1100);
    expect(await throttle.attempt(who, from)).toEqual({ allowed: true });
    expect(await throttle.failed(who)).toBe(THROTTLE.BACKOFF_AFTER + 1);
    const refused = await throttle.attempt(who, from);
    expect(refused).toMatchObject({ allowed: false, locked: false, scope: 'account' });
    expect((refused as { retryAfterSeconds: number }).retryAfterSeconds).toBe(2);
  });

  it(`after ${THROTTLE.LOCK_AFTER} attempts the account is locked (locked: true, about ${THROTTLE.LOCK_SECONDS} s)`, async () => {
    const throttle = await open();
    const who = account();
    for (let i = 0; i < THROTTLE.LOCK_AFTER; i++) expect(await throttle.attempt(who, ip())).toEqual({ allowed: true });
    const locked = await throttle.attempt(who, ip());
    expect(locked).toMatchObject({ allowed: false, locked: true, scope: 'account' });
    const wait = (locked as { retryAfterSeconds: number }).retryAfterSeconds;
    expect(wait).toBeGreaterThan(THROTTLE.LOCK_SECONDS - 10);
    expect(wait).toBeLessThanOrEqual(THROTTLE.LOCK_SECONDS);
    // a locked account stays locked, from any IP (a correct password would be refused the same way)
    expect(await throttle.attempt(who, ip())).toMatchObject({ allowed: false, locked: true });
  });

  it(`20 parallel attempts on a fresh account -> at most ${THROTTLE.LOCK_AFTER} allowed`, async () => {
    const throttle = await open();
    const who = account();
    const from = ip();
    const decisions = await Promise.all(Array.from({ length: 20 }, () => throttle.attempt(who, from)));
    const allowed = decisions.filter((d) => d.allowed).length;
    expect(allowed).toBeLessThanOrEqual(THROTTLE.LOCK_AFTER);
    expect(allowed).toBe(THROTTLE.LOCK_AFTER); // and no fewer: nothing was refused wrongly
    for (const d of decisions.filter((d) => !d.allowed)) expect(d).toMatchObject({ locked: true, scope: 'account' });
  });

  it('succeeded clears the account: failures and backoff are forgotten', async () => {
    const throttle = await open();
    const who = account();
    const from = ip();
    for (let i = 0; i < THROTTLE.BACKOFF_AFTER; i++) {
      await throttle.attempt(who, from);
      await throttle.failed(who);
    }
    expect(await throttle.attempt(who, from)).toMatchObject({ allowed: false });
    await throttle.succeeded(who, from);
    expect(await throttle.attempt(who, from)).toEqual({ allowed: true });
    expect(await throttle.failed(who)).toBe(1); // counting starts again
  });

  it(`one IP gets ${THROTTLE.IP_POINTS} failed attempts per window across accounts, then scope: ip`, async () => {
    const throttle = await open();
    const from = ip();
    for (let i = 0; i < THROTTLE.IP_POINTS; i++) expect(await throttle.attempt(account(), from)).toEqual({ allowed: true });
    const refused = await throttle.attempt(account(), from);
    expect(refused).toMatchObject({ allowed: false, locked: false, scope: 'ip' });
    expect(await throttle.attempt(account(), ip())).toEqual({ allowed: true });
  });
});

describe('fail closed', () => {
  it('a Redis cache on a closed port -> attempt throws ThrottleUnavailableError (never allows)', async () => {
    const kv = new RedisKv('redis://127.0.0.1:1', PREFIX);
    try {
      const throttle = createLoginThrottle(kv);
      await expect(throttle.attempt(account(), ip())).rejects.toBeInstanceOf(ThrottleUnavailableError);
      await expect(throttle.failed(account())).rejects.toBeInstanceOf(ThrottleUnavailableError);
      await expect(throttle.succeeded(account(), ip())).rejects.toBeInstanceOf(ThrottleUnavailableError);
    } finally {
      await kv.close();
    }
  });
});
