import { describe, expect, it } from 'vitest';
import { argon2ParamsFrom, normalizePassword, PasswordHasher } from './passwords';
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
