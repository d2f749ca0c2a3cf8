import { describe, expect, it } from 'vitest';
import { argon2ParamsFrom, BoundedGate, normalizePassword, PasswordHasher } from './passwords';
import { ServiceUnavailableError } from '../errors';
import { loadAuthConfig } from '@clouddocs/config';

const OWASP = { memoryCost: 19456, timeCost: 2, parallelism: 1 };

/** Parses `$argon2id$v=19$m=…,t=…,p=…$salt$hash` into its parts. */
function phc(hash: string) {
  const [, id, version, params, salt, digest] = hash.split('$');
  const p = Object.fromEntries(params!.split(',').map((kv) => kv.split('=') as [string, string]));
  return { id, version, m: Number(p.m), t: Number(p.t), p: Number(p.p), salt, digest };
}

describe('PasswordHasher', () => {
  it('the default config gives argon2id with m=19456 KiB, t=2, p=1 (OWASP minimum)', async () => {
    const params = argon2ParamsFrom(loadAuthConfig({}));
    expect(params).toEqual(OWASP);
    const parsed = phc(await new PasswordHasher(params).hash('correct horse battery'));
    expect(parsed).toMatchObject({ id: 'argon2id', version: 'v=19', m: 19456, t: 2, p: 1 });
    expect(Buffer.from(parsed.salt!, 'base64').length).toBeGreaterThanOrEqual(16);
  });

  it('hashes are salted: the same password hashes differently each time, and both verify', async () => {
    const hasher = new PasswordHasher(OWASP);
    const a = await hasher.hash('same password here');
    const b = await hasher.hash('same password here');
    expect(a).not.toBe(b);
    expect(await hasher.verify(a, 'same password here')).toBe(true);
    expect(await hasher.verify(b, 'same password here')).toBe(true);
  });

  it('verify is false for a wrong password and for a malformed hash (never throws)', async () => {
    const hasher = new PasswordHasher(OWASP);
    const hash = await hasher.hash('the right one');
    expect(await hasher.verify(hash, 'the wrong one')).toBe(false);
    expect(await hasher.verify(hash, 'the right one ')).toBe(false); // never trimmed
    expect(await hasher.verify('not-a-hash', 'the right one')).toBe(false);
  });

  it('passwords are NFKC-normalised: the ligature "ﬁ" and "fi" are the same password', async () => {
    expect(normalizePassword('ﬁnancial')).toBe('financial');
    const hasher = new PasswordHasher(OWASP);
    const hash = await hasher.hash('ﬁnancial-secret-2024');
    expect(await hasher.verify(hash, 'financial-secret-2024')).toBe(true);
    const composed = await hasher.hash('caf\u00e9 au lait!');
    expect(await hasher.verify(composed, 'cafe\u0301 au lait!')).toBe(true); // decomposed é
  });

  it('passwords are never truncated: a 256-character password differs from its 255-character prefix', async () => {
    const hasher = new PasswordHasher(OWASP);
    const long = 'p'.repeat(255) + 'q';
    const hash = await hasher.hash(long);
    expect(await hasher.verify(hash, long)).toBe(true);
    expect(await hasher.verify(hash, long.slice(0, 255))).toBe(false);
  });

  it('needsRehash is false for current parameters and true once they are raised', async () => {
    const hash = await new PasswordHasher(OWASP).hash('rehash me please');
    expect(new PasswordHasher(OWASP).needsRehash(hash)).toBe(false);
    expect(new PasswordHasher({ ...OWASP, timeCost: 3 }).needsRehash(hash)).toBe(true);
    expect(new PasswordHasher({ ...OWASP, memoryCost: 32768 }).needsRehash(hash)).toBe(true);
  });

  it('needsRehash never weakens: a hash stronger than the configured parameters is kept', async () => {
    const strong = await new PasswordHasher({ ...OWASP, timeCost: 3 }).hash('stronger than needed');
    expect(new PasswordHasher(OWASP).needsRehash(strong)).toBe(false);
  });

  it('needsRehash is true for a hash that is not argon2id', () => {
    expect(new PasswordHasher(OWASP).needsRehash('$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaA')).toBe(true);
    expect(new PasswordHasher(OWASP).needsRehash('$2b$12$abcdefghijklmnopqrstuv')).toBe(true);
  });

  it('verifyDummy does the work of a verification and is always false', async () => {
    const hasher = new PasswordHasher(OWASP);
    expect(await hasher.verifyDummy('anything')).toBe(false);
    expect(await hasher.verifyDummy('clouddocs-dummy-password-for-timing')).toBe(false);
  });
});

describe('BoundedGate (how many hashes run and wait at once)', () => {
  it('runs at most `slots` tasks at once, hands a freed slot to the next in line, and refuses beyond `waiting` with a 503 and Retry-After', async () => {
    const gate = new BoundedGate(2, 1);
    let running = 0;
    let peak = 0;
    const releases: (() => void)[] = [];
    const task = () =>
      gate.run(async () => {
        running += 1;
        peak = Math.max(peak, running);
        await new Promise<void>((resolve) => releases.push(resolve));
        running -= 1;
        return 'done';
      });
    const first = task();
    const second = task();
    const third = task(); // waits
    await Promise.resolve();
    expect(running).toBe(2);
    expect(gate.queued).toBe(1);
    const refused = await task().catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(ServiceUnavailableError);
    expect(refused).toMatchObject({ status: 503, options: { headers: { 'Retry-After': '1' } } });
    releases.shift()!();
    expect(await first).toBe('done');
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(running).toBe(2); // the waiting task took the freed slot
    expect(gate.queued).toBe(0);
    releases.shift()!();
    releases.shift()!();
    expect(await Promise.all([second, third])).toEqual(['done', 'done']);
    expect(peak).toBe(2);
    // Everything released: the gate is empty again and runs the next task at once.
    expect(await gate.run(async () => 'again')).toBe('again');
  });

  it('a task that throws frees its slot', async () => {
    const gate = new BoundedGate(1, 0);
    await expect(gate.run(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await gate.run(async () => 'next')).toBe('next');
  });

  it('PasswordHasher: hashes beyond its concurrency and line are refused with 503 (none queued without bound); the refused dummy hash is made later', async () => {
    const hasher = new PasswordHasher(OWASP, { concurrent: 1, waiting: 1 });
    const results = await Promise.allSettled([hasher.hash('one'), hasher.hash('two'), hasher.hash('three'), hasher.verifyDummy('x')]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'rejected']);
    expect((results[2] as PromiseRejectedResult).reason).toBeInstanceOf(ServiceUnavailableError);
    expect(await hasher.verifyDummy('x')).toBe(false);
  });
});
