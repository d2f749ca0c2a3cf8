// Test fixture (the `@clouddocs/kv/test-support` entry, never the index: it registers vitest hooks).
// Each test file writes Redis keys under a prefix of its own; `trackKvs()` deletes them and closes every
// store it was handed once the file's tests are done, so the shared Redis keeps nothing between runs.
import { afterAll } from 'vitest';
import { RedisKv, type Kv } from './kv';

/** Deletes every key of a Redis store (under its prefix); the in-process store needs nothing. */
export async function clearKv(kv: Kv): Promise<void> {
  if (!(kv instanceof RedisKv)) return;
  const keys = await kv.keys('');
  if (keys.length) await kv.del(...keys);
}

/** A `track(kv)` that returns its store, cleared and closed after all tests of the file. */
export function trackKvs(): <T extends Kv>(kv: T) => T {
  const opened: Kv[] = [];
  afterAll(async () => {
    for (const kv of opened) {
      await clearKv(kv);
      await kv.close();
    }
  });
  return (kv) => {
    opened.push(kv);
    return kv;
  };
}
