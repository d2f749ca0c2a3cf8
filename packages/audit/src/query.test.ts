import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from './log';
import { queryEvents } from './query';
import { EventFollower, formatEventLine, latestEvents } from './tail';
import { openAuditFixture, sampleEvent, type AuditFixture } from './test-support';

let fx: AuditFixture;
let log: AuditLog;
beforeAll(async () => {
  fx = await openAuditFixture();
  log = await AuditLog.open(fx.service, 'test-query');
  const base = Date.parse('2026-05-01T00:00:00Z');
  // One event per minute: org-a gets documents, org-b sign-ins, and one event without an org.
  for (let i = 0; i < 10; i += 1) {
    await log.record(
      sampleEvent({
        action: i % 2 === 0 ? 'document.created' : 'auth.login.failed',
        orgId: i % 2 === 0 ? 'org-a' : 'org-b',
        outcome: i % 2 === 0 ? 'success' : 'failure',
        occurredAt: new Date(base + i * 60_000),
        detail: { i },
      }),
    );
  }
  await log.record(sampleEvent({ action: 'key.rotated', orgId: null, actor: { type: 'system', id: null }, occurredAt: new Date(base + 10 * 60_000), detail: { i: 10 } }));
});
afterAll(async () => {
  await log?.close();
  await fx?.close();
});

const is = (events: { detail: Record<string, unknown> }[]) => events.map((e) => e.detail.i);

describe('queryEvents', () => {
  it('newest first by default; oldest first on request', async () => {
    expect(is(await queryEvents(fx.service, { limit: 3 }))).toEqual([10, 9, 8]);
    expect(is(await queryEvents(fx.service, { limit: 3, order: 'oldest' }))).toEqual([0, 1, 2]);
  });

  it('filters by org, by action and by time range [since, until)', async () => {
    expect(is(await queryEvents(fx.service, { limit: 50, orgId: 'org-a' }))).toEqual([8, 6, 4, 2, 0]);
    expect(is(await queryEvents(fx.service, { limit: 50, actions: ['auth.login.failed', 'key.rotated'] }))).toEqual([10, 9, 7, 5, 3, 1]);
    const since = new Date('2026-05-01T00:02:00Z');
    const until = new Date('2026-05-01T00:05:00Z');
    expect(is(await queryEvents(fx.service, { limit: 50, since, until }))).toEqual([4, 3, 2]);
    expect(is(await queryEvents(fx.service, { limit: 50, orgId: 'org-b', since, until }))).toEqual([3]);
  });

  it('pages with beforeId (newest first) and afterId (following)', async () => {
    const first = await queryEvents(fx.service, { limit: 4, orgId: 'org-a' });
    const next = await queryEvents(fx.service, { limit: 4, orgId: 'org-a', beforeId: first[first.length - 1]!.id });
    expect(is(first)).toEqual([8, 6, 4, 2]);
    expect(is(next)).toEqual([0]);
    expect(is(await queryEvents(fx.service, { limit: 50, afterId: first[0]!.id, order: 'oldest' }))).toEqual([9, 10]);
  });

  it('returns the stored shape: actor, target, outcome, request id, hash link', async () => {
    const [event] = await queryEvents(fx.service, { limit: 1, orgId: 'org-a' });
    expect(event).toMatchObject({
      chainId: log.chainId,
      action: 'document.created',
      actor: { type: 'user', id: 'user-1' },
      target: { type: 'document', id: 'doc-1' },
      outcome: 'success',
      orgId: 'org-a',
      requestId: 'req-1',
      occurredAt: '2026-05-01T00:08:00.000Z',
    });
    expect(event!.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(event!.prevHash).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('tail', () => {
  it('latestEvents gives the newest N oldest-first, filtered by action', async () => {
    const { items, cursor } = await latestEvents(fx.service, { limit: 3 });
    expect(is(items)).toEqual([8, 9, 10]);
    expect(cursor).toBe(items[2]!.id);
    expect(is((await latestEvents(fx.service, { limit: 2, actions: ['document.created'] })).items)).toEqual([6, 8]);
  });

  it('formatEventLine prints one escaped line per event', async () => {
    const [event] = await queryEvents(fx.service, { limit: 1 });
    const line = formatEventLine({ ...event!, userAgent: 'x', detail: { note: 'two\nlines' } });
    expect(line).toBe(`${event!.occurredAt} #${event!.id} key.rotated success actor=system:- target=document:doc-1 req=req-1 ip=127.0.0.1 detail={"note":"two\\nlines"}`);
    expect(line).not.toContain('\n');
  });

  it('the follower returns new events once, in id order, filtered by action', async () => {
    const { cursor } = await latestEvents(fx.service, { limit: 0 });
    const follower = new EventFollower(fx.service, { afterId: cursor, actions: ['token.issued'] });
    expect(await follower.poll()).toEqual([]);
    await log.recordAll([sampleEvent({ action: 'token.issued', detail: { i: 100 } }), sampleEvent({ action: 'auth.logout', detail: { i: 101 } })]);
    await log.record(sampleEvent({ action: 'token.issued', detail: { i: 102 } }));
    expect(is(await follower.poll())).toEqual([100, 102]);
    expect(await follower.poll()).toEqual([]);
  });

  it('the follower stops looking for an id that never commits after holeMs', async () => {
    const { cursor } = await latestEvents(fx.service, { limit: 0 });
    let now = 0;
    const follower = new EventFollower(fx.service, { afterId: cursor, holeMs: 1000, now: () => now });
    // A rolled-back transaction burns an id forever.
    await fx.service.transaction(async (trx) => {
      await log.appendInTransaction(trx, [sampleEvent({ detail: { i: 'never' } })]);
      await trx.rollback();
    }).catch(() => {});
    await log.record(sampleEvent({ detail: { i: 200 } }));
    expect(is(await follower.poll())).toEqual([200]);
    expect((follower as unknown as { holes: Map<number, number> }).holes.size).toBe(1);
    now = 5000;
    expect(await follower.poll()).toEqual([]);
    expect((follower as unknown as { holes: Map<number, number> }).holes.size).toBe(0);
  });

  // The embedded store runs one transaction at a time, so ids cannot commit out of order there.
  it.skipIf(!process.env.DATABASE_URL)('an event that commits after a later id was already followed is still delivered', async () => {
    const other = await AuditLog.open(fx.service, 'test-query-other');
    const { cursor } = await latestEvents(fx.service, { limit: 0 });
    const follower = new EventFollower(fx.service, { afterId: cursor });
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let appended!: () => void;
    const inserted = new Promise<void>((r) => (appended = r));
    const slow = fx.service.transaction(async (trx) => {
      await log.appendInTransaction(trx, [sampleEvent({ detail: { i: 'slow' } })]);
      appended();
      await held;
    });
    await inserted;
    await other.record(sampleEvent({ detail: { i: 'fast' } }));
    expect(is(await follower.poll())).toEqual(['fast']);
    release();
    await slow;
    expect(is(await follower.poll())).toEqual(['slow']);
    await other.close();
  });
});
