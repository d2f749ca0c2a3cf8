// Password hashing: argon2id with parameters from config (OWASP minimum m=19 MiB, t=2, p=1). The
// parameters are stored in each hash, so raising them later rehashes on the next sign-in.
import argon2 from 'argon2';

export interface Argon2Params {
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}

export function argon2ParamsFrom(config: { AUTH_ARGON2_MEMORY_KIB: number; AUTH_ARGON2_TIME_COST: number; AUTH_ARGON2_PARALLELISM: number }): Argon2Params {
  return { memoryCost: config.AUTH_ARGON2_MEMORY_KIB, timeCost: config.AUTH_ARGON2_TIME_COST, parallelism: config.AUTH_ARGON2_PARALLELISM };
}

/** Unicode-normalised (NFKC) as ASVS asks; never truncated. */
export function normalizePassword(password: string): string {
  return password.normalize('NFKC');
}

export class PasswordHasher {
  private dummy: Promise<string> | undefined;

  constructor(readonly params: Argon2Params) {}

  hash(password: string): Promise<string> {
    return argon2.hash(normalizePassword(password), { type: argon2.argon2id, ...this.params });
  }

  verify(hash: string, password: string): Promise<boolean> {
    return argon2.verify(hash, normalizePassword(password)).catch(() => false);
  }

  /** Same work as a real verification, for accounts that do not exist (no timing oracle). */
  async verifyDummy(password: string): Promise<false> {
    this.dummy ??= this.hash('clouddocs-dummy-password-for-timing');
    await this.verify(await this.dummy, password);
    return false;
  }

  /** True when the stored hash is weaker than the configured parameters (never to weaken one). */
  needsRehash(hash: string): boolean {
    const stored = parseArgon2Hash(hash);
    if (!stored) return true;
    return stored.type !== 'argon2id' || stored.version < 0x13 || stored.memoryCost < this.params.memoryCost || stored.timeCost < this.params.timeCost;
  }
}

/** The parameters stored in a PHC-format argon2 hash (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`, any order). */
export function parseArgon2Hash(hash: string): { type: string; version: number; memoryCost: number; timeCost: number; parallelism: number } | undefined {
  const m = /^\$(argon2(?:id|i|d))\$v=(\d+)\$([a-z]=\d+(?:,[a-z]=\d+)*)\$/.exec(hash);
  if (!m) return undefined;
  const params = Object.fromEntries(m[3]!.split(',').map((kv) => kv.split('='))) as Record<string, string>;
  if (!params.m || !params.t || !params.p) return undefined;
  return { type: m[1]!, version: Number(m[2]), memoryCost: Number(params.m), timeCost: Number(params.t), parallelism: Number(params.p) };
}
