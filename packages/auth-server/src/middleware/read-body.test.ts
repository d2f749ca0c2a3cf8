import { describe, expect, it } from 'vitest';
import { hasBadCharacters, MAX_PARAMETER_CHARS, urlencodedProblem } from './read-body';

/** The rule spelled out without shortcuts: decode every key and value, then judge them. */
function problemByFullDecoding(encoded: string, unique: boolean): string | undefined {
  if (!encoded) return undefined;
  const seen = new Set<string>();
  for (const piece of encoded.split('&')) {
    const eq = piece.indexOf('=');
    let key: string;
    let value: string;
    try {
      key = decodeURIComponent((eq === -1 ? piece : piece.slice(0, eq)).replace(/\+/g, ' '));
      value = eq === -1 ? '' : decodeURIComponent(piece.slice(eq + 1).replace(/\+/g, ' '));
    } catch {
      return 'bytes';
    }
    if (hasBadCharacters(key) || hasBadCharacters(value)) return 'bytes';
    if (key.length > MAX_PARAMETER_CHARS || value.length > MAX_PARAMETER_CHARS) return 'length';
    if (unique && key !== 'resource') {
      if (seen.has(key)) return 'repeat';
      seen.add(key);
    }
  }
  return undefined;
}

describe('urlencoded bad input', () => {
  it('a token request is clean; a NUL, invalid UTF-8, a lone surrogate, an overlong value or a repeat is not', () => {
    expect(urlencodedProblem('grant_type=client_credentials&scope=docs%3Aread+docs%3Awrite', true)).toBeUndefined();
    expect(urlencodedProblem('resource=https%3A%2F%2Fa&resource=https%3A%2F%2Fb', true)).toBeUndefined();
    expect(urlencodedProblem('scope=a%00b', true)).toBe('bytes');
    expect(urlencodedProblem('scope=%FF', true)).toBe('bytes');
    expect(urlencodedProblem('scope=%ED%A0%80', true)).toBe('bytes');
    expect(urlencodedProblem('scope=%', true)).toBe('bytes');
    expect(urlencodedProblem(`scope=${'a'.repeat(MAX_PARAMETER_CHARS + 1)}`, true)).toBe('length');
    expect(urlencodedProblem(`scope=${'%41'.repeat(MAX_PARAMETER_CHARS)}`, true)).toBeUndefined();
    expect(urlencodedProblem('scope=a&sc%6Fpe=b', true)).toBe('repeat');
    expect(urlencodedProblem('a+b=1&a%20b=2', true)).toBe('repeat');
    expect(urlencodedProblem('scope=a&scope=b', false)).toBeUndefined();
  });

  it('judges every input as decoding each parameter in full does', () => {
    const atoms = ['a', 'scope', '=', '&', '+', '%', '%3A', '%20', '%00', '%7F', '%80', '%C3%A9', '%ED%A0%80', '%F0%9F%98%80', '%G1', '\u00e9', '\t', '\u0000', '\uFFFD', '\uD800', 'resource'];
    let seed = 42;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let i = 0; i < 5000; i++) {
      const text = Array.from({ length: 1 + Math.floor(random() * 12) }, () => atoms[Math.floor(random() * atoms.length)]).join('');
      for (const unique of [true, false]) expect([text, urlencodedProblem(text, unique)]).toEqual([text, problemByFullDecoding(text, unique)]);
    }
    for (const length of [MAX_PARAMETER_CHARS - 1, MAX_PARAMETER_CHARS, MAX_PARAMETER_CHARS + 1]) {
      for (const text of [`k=${'x'.repeat(length)}`, `${'x'.repeat(length)}=v`, `k=${'%41'.repeat(length)}`, `k=${'x'.repeat(length - 2)}%C3%A9`]) {
        expect(urlencodedProblem(text, true)).toBe(problemByFullDecoding(text, true));
      }
    }
  });
});
