// Password hashing: argon2id with parameters from config (OWASP minimum m=19 MiB, t=2, p=1). The
// parameters are stored in each hash, so raising them later rehashes on the next sign-in.
import argon2 from 'argon2';
import { ServiceUnavailableError } from '../errors';

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

/**
 * At most `slots` tasks at once, at most `waiting` more in line; beyond that a task is refused at once
 * (503 with Retry-After) rather than queued without bound. A freed slot goes straight to the next in line.
 */
export class BoundedGate {
  private running = 0;
  private readonly line: (() => void)[] = [];

  constructor(
    readonly slots: number,
    readonly waiting: number,
  ) {}

  get queued(): number {
    return this.line.length;
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running < this.slots) this.running += 1;
    else if (this.line.length < this.waiting) await new Promise<void>((resolve) => this.line.push(resolve));
    else throw new ServiceUnavailableError('too many sign-ins at once: try again in a moment', 1);
    try {
      return await task();
    } finally {
      const next = this.line.shift();
      if (next) next();
      else this.running -= 1;
    }
  }
}

/** libuv's thread pool, where argon2 runs: as many hashes at once as it has threads. */
const THREAD_POOL_SIZE = Math.max(1, Number(process.env.UV_THREADPOOL_SIZE) || 4);

export class PasswordHasher {
  private dummy: Promise<string> | undefined;
  // Each running hash holds m (19 MiB by default) and a thread; more at once than the pool has
  // threads only queue inside libuv, where nothing bounds them. Here they wait in a bounded line.
  private readonly gate: BoundedGate;

  constructor(
    readonly params: Argon2Params,
    limits: { concurrent?: number; waiting?: number } = {},
  ) {
    const concurrent = limits.concurrent ?? THREAD_POOL_SIZE;
    this.gate = new BoundedGate(concurrent, limits.waiting ?? concurrent * 16);
  }

  hash(password: string): Promise<string> {
    return this.gate.run(() => argon2.hash(normalizePassword(password), { type: argon2.argon2id, ...this.params }));
  }

  verify(hash: string, password: string): Promise<boolean> {
    return this.gate.run(() => argon2.verify(hash, normalizePassword(password)).catch(() => false));
  }

  /** Same work as a real verification, for accounts that do not exist (no timing oracle). */
  async verifyDummy(password: string): Promise<false> {
    this.dummy ??= this.hash('clouddocs-dummy-password-for-timing').catch((err: unknown) => {
      this.dummy = undefined; // refused while busy: made on a later call
      throw err;
    });
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
