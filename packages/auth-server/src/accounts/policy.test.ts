import { describe, expect, it } from 'vitest';
import { PASSWORD_MAX, PASSWORD_MIN, passwordProblem } from './policy';

describe('passwordProblem (ASVS: length, not composition)', () => {
  it('limits are 8 and 256 characters', () => {
    expect(PASSWORD_MIN).toBe(8);
    expect(PASSWORD_MAX).toBe(256);
  });

  it('7 characters -> refused with a message naming the minimum', () => {
    expect(passwordProblem('abcdefg')).toMatch(/at least 8 characters/);
  });

  it('8, 64 and 256 characters -> accepted', () => {
    expect(passwordProblem('zq8vmtwk')).toBeUndefined();
    expect(passwordProblem('zq8vmtwk'.repeat(8))).toBeUndefined();
    expect(passwordProblem('zq8vmtwk'.repeat(32))).toBeUndefined();
  });

  it('257 characters -> refused with a message naming the maximum', () => {
    expect(passwordProblem(`${'zq8vmtwk'.repeat(32)}x`)).toMatch(/at most 256 characters/);
  });

  it('length counts characters, not UTF-16 units or bytes: 8 emoji are 8 characters', () => {
    expect(passwordProblem('🔑🔒🔓🔐🗝🛡🧩🎲')).toBeUndefined();
    expect(passwordProblem('🔑🔒🔓🔐🗝🛡🧩')).toMatch(/at least 8/);
  });

  it('a common password -> refused with a clear message, whatever its case', () => {
    for (const p of ['password1', 'qwerty123', 'PASSWORD1', 'Qwerty123']) {
      expect(passwordProblem(p)).toBe('This password is one of the most commonly used passwords. Choose another one.');
    }
  });

  it('no composition rules: all-lowercase, all-digits-free, no symbols is fine when long and uncommon', () => {
    expect(passwordProblem('correcthorsebatterystaple')).toBeUndefined();
    expect(passwordProblem('aaaaaaaaaaaaaaaaaaaa')).toBeUndefined();
    expect(passwordProblem('mauve giraffe lamp')).toBeUndefined();
  });

  it('the email address (or its local part) as the password -> refused', () => {
    expect(passwordProblem('alice.smith', { email: 'alice.smith@example.com' })).toMatch(/email address/);
    expect(passwordProblem('Alice.Smith@Example.com', { email: 'alice.smith@example.com' })).toMatch(/email address/);
    expect(passwordProblem('alice.smith2', { email: 'alice.smith@example.com' })).toBeUndefined();
  });

  it('NFKC normalisation applies before the length check ("ﬁ" is two characters)', () => {
    expect(passwordProblem('ﬁﬁﬁﬁ')).toBeUndefined(); // 8 characters once normalised
  });
});
