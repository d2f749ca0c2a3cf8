// Faults the tests stage: a cache that can be switched to an unreachable one mid-test, and waiting for
// a condition to come true (a service recovering) without a fixed sleep.
import type { Kv } from '@clouddocs/kv';

/**
 * The cache, until `sw.down` turns every operation (rate limiters and the subscription state included)
 * over to `down`, an unreachable Redis.
 */
export function switchableKv(kv: Kv, down: Kv, sw: { down: boolean }): Kv {
  return new Proxy(kv, {
    get(target, prop, receiver) {
      if (prop === 'rateLimiter') {
        return (options: Parameters<Kv['rateLimiter']>[0]) => {
          const up = target.rateLimiter(options);
          const broken = down.rateLimiter(options);
          return new Proxy(up, { get: (t, p) => (sw.down ? Reflect.get(broken, p) : Reflect.get(t, p)) });
        };
      }
      const live = Reflect.get(target, prop, receiver);
      const dead = Reflect.get(down, prop);
      if (typeof live !== 'function') return live;
      return (...args: unknown[]) => (sw.down ? (dead as (...a: unknown[]) => unknown).apply(down, args) : (live as (...a: unknown[]) => unknown).apply(target, args));
    },
  });
}

/** Polls `probe` until it gives a value (errors count as not yet), or throws after `ms`. */
export async function eventually<T>(probe: () => Promise<T | undefined>, ms = 20_000, everyMs = 200): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
