import { MemoryKv } from '@clouddocs/kv';
import { describe, expect, it, vi } from 'vitest';
import type { ClientLibrary } from '../libraries/clients';
import type { PayloadQueries } from '../queries/payloads';
import { CLIENT_CACHE_ENTRIES, createAdapterClass } from './adapter';

function clientAdapter() {
  const lookups: string[] = [];
  const clients = { findForProvider: async (id: string) => (lookups.push(id), { client_id: id }) } as unknown as ClientLibrary;
  const Adapter = createAdapterClass({ payloads: {} as PayloadQueries, kv: new MemoryKv(), clients, onReuse: async () => {} });
  return { adapter: new Adapter('Client'), lookups };
}

describe('the client adapter cache', () => {
  it('answers a client again from memory, and holds at most CLIENT_CACHE_ENTRIES clients (the oldest makes room)', async () => {
    const { adapter, lookups } = clientAdapter();
    for (let i = 0; i <= CLIENT_CACHE_ENTRIES; i++) await adapter.find(`client-${i}`);
    expect(lookups).toHaveLength(CLIENT_CACHE_ENTRIES + 1);
    await adapter.find(`client-${CLIENT_CACHE_ENTRIES}`); // newest: still cached
    expect(lookups).toHaveLength(CLIENT_CACHE_ENTRIES + 1);
    await adapter.find('client-0'); // oldest: was evicted
    expect(lookups).toHaveLength(CLIENT_CACHE_ENTRIES + 2);
    expect(lookups.at(-1)).toBe('client-0');
  });

  it('an entry older than 30 s is read again from the store', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      const { adapter, lookups } = clientAdapter();
      await adapter.find('client-a');
      await adapter.find('client-a');
      expect(lookups).toEqual(['client-a']);
      vi.setSystemTime(Date.now() + 31_000);
      await adapter.find('client-a');
      expect(lookups).toEqual(['client-a', 'client-a']);
    } finally {
      vi.useRealTimers();
    }
  });
});
