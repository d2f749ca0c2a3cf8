import { describe, expect, it } from 'vitest';
import { serviceAllocatorEnv, serviceContextFlags, serviceHeapFlags, serviceNodeFlags, startsOneService, SERVICE_OLD_SPACE_MB } from '../bin/heap.js';

describe('a service process heap limit', () => {
  it('is added for one service, not for the other commands or for both services in one process', () => {
    expect(startsOneService(['start', '--service', 'auth'])).toBe(true);
    expect(startsOneService(['start', '--service=docs'])).toBe(true);
    expect(startsOneService(['--json', 'start', '--service', 'docs'])).toBe(true);
    expect(startsOneService(['start'])).toBe(false); // both services (embedded stores) or a parent of two
    expect(startsOneService(['start', '--service', 'all'])).toBe(false);
    expect(startsOneService(['audit', 'verify'])).toBe(false);
    expect(startsOneService(['client', 'create', '--name', '--service auth'])).toBe(false);
  });

  it('is the default limit unless the operator gave one on the command line or in NODE_OPTIONS', () => {
    expect(serviceHeapFlags([], {})).toEqual([`--max-old-space-size=${SERVICE_OLD_SPACE_MB}`]);
    expect(serviceHeapFlags(['--max-old-space-size=512'], {})).toEqual([]);
    expect(serviceHeapFlags([], { NODE_OPTIONS: '--enable-source-maps --max-old-space-size=1024' })).toEqual([]);
  });

  it('runs malloc in one arena, on huge pages, each unless the operator chose it', () => {
    expect(serviceAllocatorEnv({})).toEqual({ MALLOC_ARENA_MAX: '1', GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1' });
    expect(serviceAllocatorEnv({ MALLOC_ARENA_MAX: '4' })).toEqual({ GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1' });
    expect(serviceAllocatorEnv({ MALLOC_ARENA_MAX: '' })).toEqual({ GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1' });
    expect(serviceAllocatorEnv({ GLIBC_TUNABLES: 'glibc.malloc.trim_threshold=1048576' })).toEqual({ MALLOC_ARENA_MAX: '1' });
    expect(serviceAllocatorEnv({ MALLOC_ARENA_MAX: '2', GLIBC_TUNABLES: '' })).toEqual({});
  });

  it('keeps async context in continuation frames unless the operator chose either way', () => {
    const flag = '--experimental-async-context-frame';
    expect(process.allowedNodeEnvironmentFlags.has(flag)).toBe(true); // Node.js 22.7 and later
    expect(serviceContextFlags([], {})).toEqual([flag]);
    expect(serviceContextFlags([flag], {})).toEqual([]);
    expect(serviceContextFlags([], { NODE_OPTIONS: '--no-experimental-async-context-frame' })).toEqual([]);
    expect(serviceNodeFlags([], {})).toEqual([`--max-old-space-size=${SERVICE_OLD_SPACE_MB}`, flag]);
  });
});
