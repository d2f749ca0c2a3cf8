// Signing keys in the database (PostgreSQL when DATABASE_URL is set, embedded PGlite otherwise).
import type { Knex } from '@clouddocs/db';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { useAuthDatabase } from '../test-support';
import { SecretBox } from '../secret-box';
import { createKeyStore, KEY_ALGS } from './keys';

const box = new SecretBox('a-test-encryption-key-of-at-least-32-characters');
const RETAIN = 600;

const database = useAuthDatabase();
let knex: Knex;
beforeAll(() => {
  knex = database.knex;
});
beforeEach(async () => {
  await knex('auth.signing_keys').del();
});

const store = () => createKeyStore({ knex, box, retainSeconds: RETAIN });
const rows = () => knex('auth.signing_keys').orderBy(['generation', 'alg']).select('*');

describe('createKeyStore().ensure', () => {
  it('creates one generation of RS256, ES256 and EdDSA keys, active at once; a second ensure creates nothing', async () => {
    expect(KEY_ALGS).toEqual(['RS256', 'ES256', 'EdDSA']);
    expect(await store().ensure()).toBe(true);
    expect(await store().ensure()).toBe(false);
    const keys = await rows();
    expect(keys.map((k) => [k.alg, k.generation]).sort()).toEqual([
      ['ES256', 1],
      ['EdDSA', 1],
      ['RS256', 1],
    ]);
    const state = await store().load();
    expect(Object.keys(state.active).sort()).toEqual(['ES256', 'EdDSA', 'RS256']);
    expect(state.jwks.map((k) => k.alg).sort()).toEqual(['ES256', 'EdDSA', 'RS256']);
  });

  it('two ensure calls racing create exactly one generation', async () => {
    const results = await Promise.all([store().ensure(), store().ensure(), store().ensure()]);
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await rows()).toHaveLength(3);
  });

  it('keys have the right types, a use of sig, and an RFC 7638 thumbprint as kid', async () => {
    await store().ensure();
    const { jwks } = await store().load();
    const byAlg = Object.fromEntries(jwks.map((k) => [k.alg, k]));
    expect(byAlg.RS256).toMatchObject({ kty: 'RSA', use: 'sig' });
    expect(Buffer.from(byAlg.RS256!.n as string, 'base64url').length).toBe(256); // 2048-bit modulus
    expect(byAlg.ES256).toMatchObject({ kty: 'EC', crv: 'P-256', use: 'sig' });
    expect(byAlg.EdDSA).toMatchObject({ kty: 'OKP', crv: 'Ed25519', use: 'sig' });
    for (const k of jwks) expect(k.kid).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });
});

describe('private keys at rest', () => {
  it('the private parts are sealed: no column holds "d", and the public JWK has none', async () => {
    await store().ensure();
    const { jwks } = await store().load();
    const stored = await rows();
    for (const jwk of jwks) {
      expect(typeof jwk.d).toBe('string'); // the provider gets the private key
      const row = stored.find((r) => r.kid === jwk.kid);
      expect(row).toBeDefined();
      expect(JSON.stringify(row)).not.toContain(jwk.d as string);
      expect(row.private_enc).toMatch(/^v1\./);
      const publicJwk = typeof row.public_jwk === 'string' ? JSON.parse(row.public_jwk) : row.public_jwk;
      expect(publicJwk).not.toHaveProperty('d');
      expect(publicJwk).toMatchObject({ kid: jwk.kid, alg: jwk.alg, use: 'sig' });
    }
  });

  it('a key store with a different encryption key cannot load the keys', async () => {
    await store().ensure();
    const other = createKeyStore({ knex, box: new SecretBox('another-encryption-key-of-at-least-32-chars'), retainSeconds: RETAIN });
    await expect(other.load()).rejects.toThrow();
  });
});

describe('createKeyStore().rotate', () => {
  it('rotate(60) publishes the new generation at once, but the old one still signs', async () => {
    await store().ensure();
    const before = await store().load();
    const rotated = await store().rotate(60);
    expect(rotated.generation).toBe(2);
    expect(rotated.keys.map((k) => k.alg).sort()).toEqual(['ES256', 'EdDSA', 'RS256']);
    expect(rotated.activatesAt.getTime()).toBeGreaterThan(Date.now() + 55_000);

    const after = await store().load();
    expect(after.active).toEqual(before.active);
    const published = after.jwks.map((k) => k.kid);
    for (const k of rotated.keys) expect(published).toContain(k.kid);
    for (const kid of Object.values(before.active)) expect(published).toContain(kid);
    expect(after.jwks).toHaveLength(6);
    // the signing generation comes first
    expect(after.jwks.slice(0, 3).map((k) => k.kid).sort()).toEqual(Object.values(before.active).sort());
    expect(after.fingerprint).not.toBe(before.fingerprint);
    // the state is current until the new generation activates
    expect(after.validUntil).toBe(rotated.activatesAt.getTime());
  });

  it('once the activation time passes, the new generation signs and the old stays published', async () => {
    await store().ensure();
    const before = await store().load();
    const rotated = await store().rotate(60);
    const later = await store().load(rotated.activatesAt.getTime() + 1);
    expect(Object.values(later.active).sort()).toEqual(rotated.keys.map((k) => k.kid).sort());
    for (const kid of Object.values(before.active)) expect(later.jwks.map((k) => k.kid)).toContain(kid);
  });

  it('rotate(0) then load -> the new generation is active and the old keys are still published', async () => {
    await store().ensure();
    const before = await store().load();
    const rotated = await store().rotate(0);
    const after = await store().load();
    expect(Object.values(after.active).sort()).toEqual(rotated.keys.map((k) => k.kid).sort());
    const published = after.jwks.map((k) => k.kid);
    for (const kid of Object.values(before.active)) expect(published).toContain(kid);
    expect(after.jwks.slice(0, 3).map((k) => k.kid).sort()).toEqual(rotated.keys.map((k) => k.kid).sort());
  });

  it('a retired generation is unpublished once the longest token it signed has expired (retainSeconds)', async () => {
    await store().ensure();
    const before = await store().load();
    const rotated = await store().rotate(0);
    const muchLater = await store().load(rotated.activatesAt.getTime() + RETAIN * 1000 + 1000);
    const published = muchLater.jwks.map((k) => k.kid);
    for (const kid of Object.values(before.active)) expect(published).not.toContain(kid);
    expect(published.sort()).toEqual(rotated.keys.map((k) => k.kid).sort());
  });

  it('generations count up across rotations; racing rotations get distinct generations', async () => {
    await store().ensure();
    const results = await Promise.all([store().rotate(60), store().rotate(60)]);
    expect(results.map((r) => r.generation).sort()).toEqual([2, 3]);
    expect((await store().rotate(60)).generation).toBe(4);
    expect(await rows()).toHaveLength(12);
  });

  it('load with no keys at all fails with a message saying what to do', async () => {
    await expect(store().load()).rejects.toThrow(/no signing key is active/);
  });
});

describe('createKeyStore().rotateIfDue and list (scheduled rotation)', () => {
  it('no rotation while the newest generation is younger than the period, or when the period is 0', async () => {
    await store().ensure();
    expect(await store().rotateIfDue(30, 60)).toBeUndefined();
    expect(await store().rotateIfDue(0, 60, Date.now() + 400 * 86_400_000)).toBeUndefined();
    expect(new Set((await rows()).map((k) => k.generation))).toEqual(new Set([1]));
  });

  it('once due, processes racing rotate exactly once; the new generation is pending, the old one active until it retires', async () => {
    await store().ensure();
    const later = Date.now() + 31 * 86_400_000;
    const results = await Promise.all([store().rotateIfDue(30, 60, later), store().rotateIfDue(30, 60, later), store().rotateIfDue(30, 60, later)]);
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(results.find(Boolean)!.generation).toBe(2);
    const listed = await store().list();
    expect(listed.filter((k) => k.generation === 2).map((k) => k.status)).toEqual(['pending', 'pending', 'pending']);
    expect(listed.filter((k) => k.generation === 1).map((k) => k.status)).toEqual(['active', 'active', 'active']);
    const afterActivation = await store().list(Date.parse(listed.find((k) => k.generation === 2)!.activates_at) + 1000);
    expect(afterActivation.filter((k) => k.generation === 1).map((k) => k.status)).toEqual(['retiring', 'retiring', 'retiring']);
    expect(afterActivation.filter((k) => k.generation === 2).map((k) => k.status)).toEqual(['active', 'active', 'active']);
  });
});
