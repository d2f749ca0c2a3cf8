import { describe, expect, it } from 'vitest';
import { SecretBox } from './secret-box';

const KEY = 'a-test-encryption-key-of-at-least-32-characters';

describe('SecretBox', () => {
  it('seal then open returns the plaintext (unicode and empty strings included)', () => {
    const box = new SecretBox(KEY);
    for (const plaintext of ['client-secret-123', '', 'ünïcødé ✓ 🔑', 'x'.repeat(10_000)]) {
      expect(box.open(box.seal(plaintext))).toBe(plaintext);
    }
  });

  it('a sealed value is versioned, does not contain the plaintext, and differs on every seal (random IV)', () => {
    const box = new SecretBox(KEY);
    const a = box.seal('my-client-secret');
    const b = box.seal('my-client-secret');
    expect(a).toMatch(/^v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+$/);
    expect(a).not.toContain('my-client-secret');
    expect(a).not.toBe(b);
    expect(box.open(b)).toBe('my-client-secret');
  });

  it('a box made from the same key opens what another sealed (stable key derivation)', () => {
    expect(new SecretBox(KEY).open(new SecretBox(KEY).seal('shared'))).toBe('shared');
  });

  it('a tampered ciphertext, tag or IV -> open throws', () => {
    const box = new SecretBox(KEY);
    const sealed = box.seal('do not change me');
    const [v, iv, ct, tag] = sealed.split('.') as [string, string, string, string];
    const flip = (part: string) => {
      const bytes = Buffer.from(part, 'base64url');
      bytes[0] = bytes[0]! ^ 0x01;
      return bytes.toString('base64url');
    };
    expect(() => box.open([v, iv, flip(ct), tag].join('.'))).toThrow();
    expect(() => box.open([v, iv, ct, flip(tag)].join('.'))).toThrow();
    expect(() => box.open([v, flip(iv), ct, tag].join('.'))).toThrow();
  });

  it('a different key -> open throws', () => {
    const sealed = new SecretBox(KEY).seal('for the right key only');
    expect(() => new SecretBox(`${KEY}-other`).open(sealed)).toThrow();
  });

  it('an unknown format or version -> open throws a clear error', () => {
    const box = new SecretBox(KEY);
    const [, iv, ct, tag] = box.seal('x').split('.');
    expect(() => box.open('plaintext-secret')).toThrow(/unrecognised sealed secret/);
    expect(() => box.open(['v2', iv, ct, tag].join('.'))).toThrow(/unrecognised sealed secret/);
    expect(() => box.open('v1..')).toThrow(/unrecognised sealed secret/);
  });

  it('during a key rotation: seals under the new key, opens under either, and says which key sealed a value', () => {
    const OLD = `${KEY}-old`;
    const oldSealed = new SecretBox(OLD).seal('sealed before the rotation');
    const rotating = new SecretBox(KEY, OLD);
    expect(rotating.open(oldSealed)).toBe('sealed before the rotation');
    expect(rotating.sealedUnder(oldSealed)).toBe('previous');
    const fresh = rotating.seal('sealed during the rotation');
    expect(rotating.sealedUnder(fresh)).toBe('current');
    expect(new SecretBox(KEY).open(fresh)).toBe('sealed during the rotation');
    expect(() => new SecretBox(OLD).open(fresh)).toThrow(/does not open under AUTH_ENCRYPTION_KEY/);
    expect(new SecretBox(KEY).sealedUnder(oldSealed)).toBe('unknown');
    expect(rotating.sealedUnder('not-sealed')).toBe('unknown');
    expect(SecretBox.fromConfig({ AUTH_ENCRYPTION_KEY: KEY, AUTH_ENCRYPTION_KEY_PREVIOUS: OLD }).open(oldSealed)).toBe('sealed before the rotation');
  });
});
