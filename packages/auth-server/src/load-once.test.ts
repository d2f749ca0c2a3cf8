import { describe, expect, it, vi } from 'vitest';
import { loadOnce } from './load-once';

describe('loadOnce', () => {
  it('loads at the first call only, and every call shares that load', async () => {
    const load = vi.fn(async () => ({ value: 1 }));
    const get = loadOnce(load);
    expect(load).not.toHaveBeenCalled();
    const [a, b] = await Promise.all([get(), get()]);
    expect(a).toBe(b);
    expect(await get()).toBe(a);
    expect(load).toHaveBeenCalledTimes(1);
  });

  it('forgets a failed load: the callers waiting on it see the failure, the next call tries again', async () => {
    const load = vi.fn().mockRejectedValueOnce(new Error('not there')).mockResolvedValue('loaded');
    const get = loadOnce(load as () => Promise<string>);
    await expect(Promise.all([get(), get()])).rejects.toThrow('not there');
    expect(await get()).toBe('loaded');
    expect(load).toHaveBeenCalledTimes(2);
  });
});
