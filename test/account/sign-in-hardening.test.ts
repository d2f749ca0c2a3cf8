// Sign-in hardening through the real pages (issue: account security): enumeration-proof answers,
// lockout that refuses the correct password, 429 + Retry-After, fail-closed throttling, password
// policy at sign-up, rehash on stronger parameters.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RegisteredClient } from '@clouddocs/auth-server';
import { RedisKv, type Kv } from '@clouddocs/kv';
import { startSecurityStack, type SecurityStack } from './support';
import { Visitor } from './flow';
import { switchableKv } from '../support/faults';

let stack: SecurityStack;
let client: RegisteredClient;

beforeAll(async () => {
  stack = await startSecurityStack();
  client = await stack.createClient();
});
afterAll(async () => {
  await stack?.stop();
});

const timed = async <T>(fn: () => Promise<T>) => {
  const t0 = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - t0 };
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

describe('enumeration', () => {
  it('an unknown email and a wrong password get the same status and the same visible text, in about the same time', async () => {
    // A fresh account each time, so the per-account backoff (after 3 failures) stays out of the way.
    const users = await Promise.all(Array.from({ length: 5 }, () => stack.createUser()));
    const wrong: { status: number; text: string; ms: number }[] = [];
    const unknown: { status: number; text: string; ms: number }[] = [];
    for (let i = 0; i < 5; i++) {
      for (const [email, sink] of [
        [users[i]!.email, wrong],
        [`nobody-${randomBytes(4).toString('hex')}@example.test`, unknown],
      ] as const) {
        const v = new Visitor(stack);
        const login = await v.open(client);
        const { value: page, ms } = await timed(() => v.submitAndFollow(login, '/login', { email, password: `wrong-${i}-password-x` }));
        sink.push({ status: page.status, text: page.text.replace(email, 'EMAIL'), ms });
      }
    }
    expect(new Set([...wrong, ...unknown].map((r) => r.status))).toEqual(new Set([200]));
    expect(new Set([...wrong, ...unknown].map((r) => r.text)).size).toBe(1);
    expect(wrong[0]!.text).toContain('The email or password is incorrect.');
    // Both verify an argon2 hash (a dummy one for unknown accounts): no timing oracle worth the name.
    const ratio = median(unknown.map((r) => r.ms)) / median(wrong.map((r) => r.ms));
    expect(ratio).toBeGreaterThan(0.4);
    expect(ratio).toBeLessThan(2.5);
  });
});

describe('throttling and lockout', () => {
  it('after 10 failures the account is locked: 429 + Retry-After, and the correct password is refused while it lasts; parallel guesses cannot exceed the budget', async () => {
    const user = await stack.createUser();
    const statuses: number[] = [];
    let locked = false;
    // Parallel wrong guesses: every attempt takes a point before the password is checked.
    for (let round = 0; round < 6 && !locked; round++) {
      const results = await parallelAttempts(user.email, 14);
      statuses.push(...results.map((r) => r.status));
      locked = results.some((r) => r.status === 429 && Number(r.headers.get('retry-after')) > 60);
      if (!locked) {
        const wait = Math.max(0, ...results.map((r) => Number(r.headers.get('retry-after') ?? 0)));
        await new Promise((r) => setTimeout(r, wait * 1000));
      }
    }
    expect(locked).toBe(true);
    // At most 10 guesses were checked against the password; everything else was refused unseen.
    expect(statuses.filter((s) => s === 200).length).toBeLessThanOrEqual(10);

    const v = new Visitor(stack);
    const login = await v.open(client);
    const page = await v.submitAndFollow(login, '/login', { email: user.email, password: user.password });
    expect(page.status).toBe(429);
    expect(Number(page.headers.get('retry-after'))).toBeGreaterThan(60);
    expect(page.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(page.text).toMatch(/Too many sign-in attempts\. Try again later/);
    expect(page.url).toMatch(/\/interaction\//); // no redirect to the client

    const events = await stack.auditActions();
    expect(events.some((e) => e.action === 'auth.lockout' && e.target_id === user.id)).toBe(true);
    expect(events.some((e) => e.action === 'auth.login.failed' && (e.detail as { reason?: string }).reason === 'locked')).toBe(true);
    expect(events.some((e) => e.action === 'auth.login.succeeded' && e.target_id === user.id)).toBe(false);
  });

  it('an unknown email is locked exactly like a real one (no enumeration through lockout)', async () => {
    const email = `ghost-${randomBytes(4).toString('hex')}@example.test`;
    let last;
    for (let round = 0; round < 6; round++) {
      const results = await parallelAttempts(email, 14);
      last = results.find((r) => r.status === 429 && Number(r.headers.get('retry-after')) > 60);
      if (last) break;
      await new Promise((r) => setTimeout(r, 1000 * Math.max(0, ...results.map((r) => Number(r.headers.get('retry-after') ?? 0)))));
    }
    expect(last?.status).toBe(429);
    expect(last?.text).toMatch(/Too many sign-in attempts/);
  });

  it('backoff after 3 consecutive failures: the 4th attempt at once gets 429 with Retry-After', async () => {
    const user = await stack.createUser();
    const v = new Visitor(stack);
    let page = await v.open(client);
    for (let i = 0; i < 3; i++) {
      page = await v.submitAndFollow(page, '/login', { email: user.email, password: `wrong-password-${i}` });
      expect(page.status).toBe(200);
    }
    page = await v.submitAndFollow(page, '/login', { email: user.email, password: user.password });
    expect(page.status).toBe(429);
    expect(Number(page.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(page.headers.get('cache-control')).toBe('no-store');
  });
});

describe('fail closed', () => {
  it('the rate-limit store unreachable (Redis down): sign-in refused with 503 and a clear message, the correct password included', async () => {
    const down = new RedisKv('redis://127.0.0.1:1', 'down:');
    const failing = await startSecurityStack({ wrapKv: (kv) => withRateLimitsOn(kv, down) });
    try {
      const c = await failing.createClient();
      const user = await failing.createUser();
      const v = new Visitor(failing);
      const login = await v.open(c);
      const page = await v.submitAndFollow(login, '/login', { email: user.email, password: user.password });
      expect(page.status).toBe(503);
      expect(page.text).toContain('Sign-in is temporarily unavailable. Please try again in a few minutes.');
      expect(page.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(page.url).toMatch(/\/interaction\//);
      expect(v.sessionCookie()).toBeUndefined();
    } finally {
      await failing.stop();
      await down.close();
    }
  });

  it('the whole cache going down mid sign-in: 503, no redirect, no session', async () => {
    const down = new RedisKv('redis://127.0.0.1:1', 'down:');
    const sw = { down: false };
    const failing = await startSecurityStack({ wrapKv: (kv) => switchableKv(kv, down, sw) });
    try {
      const c = await failing.createClient();
      const user = await failing.createUser();
      const v = new Visitor(failing);
      const login = await v.open(c);
      sw.down = true;
      const { response } = await v.submit(login, '/login', { email: user.email, password: user.password });
      expect(response.status).toBe(503);
      expect(response.headers.get('location')).toBeNull();
      expect(v.sessionCookie()).toBeUndefined();
    } finally {
      sw.down = false;
      await failing.stop();
      await down.close();
    }
  });
});

describe('password policy and hashing', () => {
  it('sign-up refuses a common password with a clear message, and accepts a 64-character one that then signs in', async () => {
    const v = new Visitor(stack);
    const login = await v.open(client);
    const signup = await v.get(new URL(login.forms[0]!.action.replace(/\/login$/, '/signup'), login.url).toString());
    expect(signup.status).toBe(200);
    const email = `new-${randomBytes(4).toString('hex')}@example.test`;
    const refused = await v.submitAndFollow(signup, '/signup', { name: 'Common Carol', email, password: 'password123' });
    expect(refused.status).toBe(400);
    expect(refused.text).toContain('This password is one of the most commonly used passwords. Choose another one.');

    const long = 'correct horse battery staple ' + 'x'.repeat(64 - 29);
    expect(long).toHaveLength(64);
    const sent = await v.submitAndFollow(refused, '/signup', { name: 'Long Larry', email, password: long });
    expect(sent.status).toBe(200);
    expect(sent.text).toContain('Check your email');
    const tokens = await new Visitor(stack).signIn(client, { email, password: long });
    expect(tokens.claims()?.sub).toEqual(expect.any(String));
  });

  it('passwords are NFKC-normalised (another Unicode form of the same password signs in) and never truncated', async () => {
    const composed = 'caf\u00e9-\uff21\uff22\uff23-lantern-river'; // é precomposed, fullwidth ＡＢＣ
    const decomposed = 'cafe\u0301-ABC-lantern-river'; // e + combining acute, ASCII ABC: the same after NFKC
    expect(composed).not.toBe(decomposed);
    expect(composed.normalize('NFKC')).toBe(decomposed.normalize('NFKC'));
    const user = await stack.createUser({ password: composed });
    expect((await new Visitor(stack).signIn(client, { email: user.email, password: decomposed })).claims()?.sub).toBe(user.id);

    const long = 'r'.repeat(100) + '-tail-that-matters';
    const other = await stack.createUser({ password: long });
    for (const prefix of [long.slice(0, 72), long.slice(0, 100), long.slice(0, -1)]) {
      const v = new Visitor(stack);
      const page = await v.submitAndFollow(await v.open(client), '/login', { email: other.email, password: prefix });
      expect(page.text).toContain('The email or password is incorrect.');
    }
  });

  it('a hash made with weaker argon2 parameters is rehashed at the next real sign-in', async () => {
    const stronger = await startSecurityStack({ env: { AUTH_ARGON2_TIME_COST: '3' } });
    try {
      const c = await stronger.createClient();
      const { PasswordHasher } = await import('@clouddocs/auth-server');
      const weak = await new PasswordHasher({ memoryCost: 19456, timeCost: 2, parallelism: 1 }).hash('quiet-lantern-river-88');
      const user = await stronger.createUser({ password: 'quiet-lantern-river-88' });
      await stronger.admin('auth.accounts').where({ id: user.id }).update({ password_hash: weak });
      await new Visitor(stronger).signIn(c, user);
      const row = await stronger.admin('auth.accounts').where({ id: user.id }).first('password_hash');
      expect(weak).toContain('t=2');
      expect(row.password_hash).not.toBe(weak);
      expect(row.password_hash).toMatch(/^\$argon2id\$v=19\$[^$]*\bt=3\b/);
      const events = await stronger.auditActions();
      expect(events.some((e) => e.action === 'auth.password_rehashed' && e.target_id === user.id)).toBe(true);
      // And the new hash still signs in.
      await new Visitor(stronger).signIn(c, user);
    } finally {
      await stronger.stop();
    }
  });
});

/** Opens n login pages, then submits a wrong password on all of them at once. */
async function parallelAttempts(email: string, n: number) {
  const opened = await Promise.all(
    Array.from({ length: n }, async () => {
      const v = new Visitor(stack);
      return { v, login: await v.open(client) };
    }),
  );
  return Promise.all(opened.map(({ v, login }) => v.submitAndFollow(login, '/login', { email, password: 'not-the-password-1' })));
}

/** The cache, with its rate limiters built on another (unreachable) store. */
function withRateLimitsOn(kv: Kv, limits: Kv): Kv {
  return new Proxy(kv, {
    get(target, prop, receiver) {
      if (prop === 'rateLimiter') return limits.rateLimiter.bind(limits);
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

