// Revocations shared between the auth server (writer) and the docs API (reader), over every available backend.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MemoryKv, RedisKv, type Kv } from './kv';
import { trackKvs } from './test-support';
import { grantClaim, RevocationList } from './revocations';

const REDIS_URL = process.env.REDIS_URL || undefined;
const PREFIX = `cdtest:revocations:${randomBytes(4).toString('hex')}:`;

const track = trackKvs();

interface Backend {
  name: string;
  /** Opens a store; a second call for the same `scope` reaches the same data (another process's view). */
  open(scope: string): Kv;
}
const memoryStores = new Map<string, MemoryKv>();
const backends: Backend[] = [
  {
    name: 'memory',
    open(scope) {
      // The in-process store is shared by everything in one process: the same instance is the same store.
      let kv = memoryStores.get(scope);
      if (!kv) {
        kv = track(new MemoryKv());
        memoryStores.set(scope, kv);
      }
      return kv;
    },
  },
];
if (REDIS_URL) {
  backends.push({
    name: 'redis',
    open(scope) {
      return track(new RedisKv(REDIS_URL, `${PREFIX}${scope}:`));
    },
  });
}

const unique = (label: string) => `${label}-${randomBytes(6).toString('hex')}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function waitFor(check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(10);
  }
}

it('the backends under test include Redis exactly when REDIS_URL is set', () => {
  expect(backends.map((b) => b.name)).toEqual(REDIS_URL ? ['memory', 'redis'] : ['memory']);
});

describe.each(backends)('RevocationList over $name', (backend) => {
  it('revoke resolves only after every following process holds the entry (no window for the next request)', async () => {
    const scope = unique('ack');
    const writer = new RevocationList(backend.open(scope), 3600);
    const readers = [new RevocationList(backend.open(scope), 3600), new RevocationList(backend.open(scope), 3600)];
    await Promise.all(readers.map((r) => r.follow()));
    for (let i = 0; i < 100; i += 1) {
      await writer.revoke('jti', `ack-${i}`);
      // Checked synchronously, right after revoke resolves: no await in between.
      expect(readers.map((r) => r.isRevoked({ jti: `ack-${i}` }))).toEqual([true, true]);
    }
  });

  it('a user or client revocation refuses the tokens issued up to it, in every follower and in a late starter, and not those issued after', async () => {
    const scope = unique('since');
    const writer = new RevocationList(backend.open(scope), 3600);
    const reader = new RevocationList(backend.open(scope), 3600);
    await reader.follow();
    const before = Math.floor(Date.now() / 1000) - 1;
    await writer.revoke('sub', 'user-1');
    await writer.revoke('client', 'client-1');
    const after = Math.floor(Date.now() / 1000) + 2;
    const late = new RevocationList(backend.open(scope), 3600);
    await late.follow();
    for (const list of [writer, reader, late]) {
      expect(list.isRevoked({ sub: 'user-1', iat: before })).toBe(true);
      expect(list.isRevoked({ sub: 'user-1' })).toBe(true); // no iat: counts as old
      expect(list.isRevoked({ client_id: 'client-1', sub: 'someone', iat: before })).toBe(true);
      expect(list.isRevoked({ sub: 'user-1', iat: after })).toBe(false);
      expect(list.isRevoked({ sub: 'user-2', iat: before })).toBe(false);
      expect(await list.isRevokedInStore({ sub: 'user-1', iat: before })).toBe(true);
      expect(await list.isRevokedInStore({ client_id: 'client-1', iat: after })).toBe(false);
    }
  });

  it('revoke -> isRevoked is true at once in the revoking process', async () => {
    const writer = new RevocationList(backend.open(unique('same')), 3600);
    await writer.revoke('jti', 'token-1');
    await writer.revoke('grant', 'grant-1');
    expect(writer.isRevoked({ jti: 'token-1' })).toBe(true);
    expect(writer.isRevoked({ gid: 'grant-1' })).toBe(true);
    expect(writer.isRevoked({ jti: 'token-2', gid: 'grant-2' })).toBe(false);
    // kinds do not mix: a revoked jti is not a revoked grant of the same value
    expect(writer.isRevoked({ gid: 'token-1' })).toBe(false);
    expect(writer.isRevoked({})).toBe(false);
    expect(writer.isRevoked({ jti: 42 })).toBe(false);
  });

  it('a second RevocationList following the same store learns a revocation over pub/sub', async () => {
    const scope = unique('follow');
    const writer = new RevocationList(backend.open(scope), 3600);
    const reader = new RevocationList(backend.open(scope), 3600);
    await reader.follow();
    expect(reader.isRevoked({ jti: 'later' })).toBe(false);
    await writer.revoke('jti', 'later');
    await writer.revoke('grant', 'later-grant');
    await waitFor(() => reader.isRevoked({ jti: 'later' }) && reader.isRevoked({ gid: 'later-grant' }));
    expect(reader.isRevoked({ jti: 'unrelated' })).toBe(false);
  });

  it('a cold-started follower loads the revocations already in the store', async () => {
    const scope = unique('cold');
    const writer = new RevocationList(backend.open(scope), 3600);
    await writer.revoke('jti', 'before-start');
    await writer.revoke('grant', 'grant-before-start');
    const late = new RevocationList(backend.open(scope), 3600);
    expect(late.isRevoked({ jti: 'before-start' })).toBe(false); // not loaded yet
    await late.follow();
    expect(late.isRevoked({ jti: 'before-start' })).toBe(true);
    expect(late.isRevoked({ gid: 'grant-before-start' })).toBe(true);
    await late.follow(); // idempotent
    expect(late.isRevoked({ jti: 'before-start' })).toBe(true);
  });

  it('a process that does not follow can ask the store directly', async () => {
    const scope = unique('direct');
    const writer = new RevocationList(backend.open(scope), 3600);
    await writer.revoke('grant', 'g-direct');
    const asker = new RevocationList(backend.open(scope), 3600);
    expect(asker.isRevoked({ gid: 'g-direct' })).toBe(false);
    expect(await asker.isRevokedInStore({ gid: 'g-direct' })).toBe(true);
    expect(await asker.isRevokedInStore({ jti: 'nope', gid: 'nope' })).toBe(false);
  });

  it('a revocation is kept in the store only for its ttl', async () => {
    const scope = unique('ttl');
    const writer = new RevocationList(backend.open(scope), 3600);
    await writer.revoke('jti', 'short-lived', 1);
    await sleep(1300);
    const late = new RevocationList(backend.open(scope), 3600);
    expect(await late.isRevokedInStore({ jti: 'short-lived' })).toBe(false);
    await late.follow();
    expect(late.isRevoked({ jti: 'short-lived' })).toBe(false);
  });

  it('malformed messages on the channel are ignored', async () => {
    const scope = unique('malformed');
    const kv = backend.open(scope);
    const reader = new RevocationList(kv, 3600);
    await reader.follow();
    await kv.publish('revocations', 'not json');
    await kv.publish('revocations', JSON.stringify({ key: 42, expiresAt: 'soon' }));
    await new RevocationList(kv, 3600).revoke('jti', 'after-junk');
    await waitFor(() => reader.isRevoked({ jti: 'after-junk' }));
  });
});

describe('grantClaim', () => {
  it('is stable for a grant id and differs between grant ids', () => {
    expect(grantClaim('grant-abc')).toBe(grantClaim('grant-abc'));
    expect(grantClaim('grant-abc')).not.toBe(grantClaim('grant-abd'));
  });

  it('does not contain the grant id and is a 32-character base64url string', () => {
    const id = 'VeryRecognisableGrantIdentifier_123';
    const claim = grantClaim(id);
    expect(claim).not.toContain(id);
    expect(claim).not.toContain(id.slice(0, 8));
    expect(claim).toMatch(/^[A-Za-z0-9_-]{32}$/);
  });
});

describe('RevocationList with a durable copy', () => {
  const durable = (rows: { kind: 'jti'; value: string; at: number; expiresAt: number }[], recorded: unknown[] = []) => ({
    record: (r: unknown) => void recorded.push(r),
    live: async () => rows.filter((r) => r.expiresAt > Date.now()),
  });

  it('revoke() hands the revocation to the durable store before the cache; a follower on an empty cache loads it, puts it back, and sets the marker', async () => {
    const kv = track(new MemoryKv());
    const recorded: unknown[] = [];
    await new RevocationList(kv, 600, durable([], recorded)).revoke('jti', 'written');
    expect(recorded).toEqual([expect.objectContaining({ kind: 'jti', value: 'written' })]);
    const empty = track(new MemoryKv());
    const row = { kind: 'jti' as const, value: 'kept', at: Date.now() - 1000, expiresAt: Date.now() + 60_000 };
    const gone = { kind: 'jti' as const, value: 'expired', at: Date.now() - 10_000, expiresAt: Date.now() - 1 };
    const follower = new RevocationList(empty, 600, durable([row, gone]));
    await follower.follow();
    expect(follower.isCurrent()).toBe(true);
    expect(follower.isRevoked({ jti: 'kept' })).toBe(true);
    expect(follower.isRevoked({ jti: 'expired' })).toBe(false);
    expect(await empty.get('revoked:jti:kept')).not.toBeNull();
    expect(await empty.get('revocations:loaded')).not.toBeNull();
    follower.stop();
  });

  it('when the marker vanishes (the cache restarted or was flushed) the follower is not current until it has reloaded, then refills the cache', async () => {
    const kv = track(new MemoryKv());
    const row = { kind: 'jti' as const, value: 'durable', at: Date.now(), expiresAt: Date.now() + 60_000 };
    const follower = new RevocationList(kv, 600, durable([row]));
    await follower.follow();
    await kv.del('revocations:loaded', 'revoked:jti:durable');
    await expect.poll(async () => (await kv.get('revoked:jti:durable')) !== null, { timeout: 5_000 }).toBe(true);
    expect(await follower.whenCurrent(1_000)).toBe(true);
    expect(follower.isRevoked({ jti: 'durable' })).toBe(true);
    follower.stop();
  });
});
