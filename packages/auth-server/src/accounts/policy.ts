// Password policy (OWASP ASVS 5.0 §6.2): at least 8 characters (15 recommended), at least 64
// accepted (we take up to 256), no composition rules, no truncation, NFKC-normalised, and not one of
// the ~49,000 most common passwords shipped with @zxcvbn-ts/language-common.
import { createRequire } from 'node:module';
import { normalizePassword } from './passwords';

export const PASSWORD_MIN = 8;
export const PASSWORD_RECOMMENDED = 15;
export const PASSWORD_MAX = 256;

// The dictionary is unpacked when the module loads (~0.1 s), so it is loaded at the first password checked:
// most operator commands check none (the auth server loads it at start, server.ts).
const require = createRequire(import.meta.url);
let common: Set<string> | undefined;
function commonPasswords(): Set<string> {
  common ??= new Set(((require('@zxcvbn-ts/language-common') as typeof import('@zxcvbn-ts/language-common')).dictionary['passwords-common'] as string[]).map((p) => p.toLowerCase()));
  return common;
}

/** Returns a message for the user when the password is refused, undefined when it is acceptable. */
export function passwordProblem(password: string, context: { email?: string; name?: string } = {}): string | undefined {
  const normalized = normalizePassword(password);
  const length = [...normalized].length;
  if (length < PASSWORD_MIN) return `Use at least ${PASSWORD_MIN} characters (${PASSWORD_RECOMMENDED} or more is better).`;
  if (length > PASSWORD_MAX) return `Use at most ${PASSWORD_MAX} characters.`;
  const lower = normalized.toLowerCase();
  if (commonPasswords().has(lower)) return 'This password is one of the most commonly used passwords. Choose another one.';
  const local = context.email?.split('@')[0]?.toLowerCase();
  if ((local && local.length >= 4 && lower === local) || (context.email && lower === context.email.toLowerCase())) {
    return 'Do not use your email address as your password.';
  }
  return undefined;
}
