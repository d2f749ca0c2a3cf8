import { describe, expect, it } from 'vitest';
import { useAuthDatabase } from '../test-support';
import { createDeliveryQueries } from './backchannel-deliveries';

const db = useAuthDatabase();

describe('back-channel logout queue: pruning finished deliveries', () => {
  it('deletes delivered and given-up rows finished longer ago than the retention, and keeps pending and recent ones', async () => {
    const queries = createDeliveryQueries(db.knex);
    const row = (id: string) => ({ id, client_id: 'c', sub: 's', sid: null, jti: `jti-${id}`, reason: 'test' });
    await queries.insert(['old-delivered', 'old-failed', 'new-delivered', 'pending-old'].map(row));
    await db.knex('auth.backchannel_deliveries').whereIn('id', ['old-delivered', 'new-delivered']).update({ status: 'delivered', finished_at: db.knex.fn.now() });
    await db.knex('auth.backchannel_deliveries').where({ id: 'old-failed' }).update({ status: 'failed', finished_at: db.knex.fn.now() });
    await db.knex('auth.backchannel_deliveries').whereIn('id', ['old-delivered', 'old-failed']).update({ finished_at: db.knex.raw("now() - interval '8 days'") });
    await db.knex('auth.backchannel_deliveries').where({ id: 'pending-old' }).update({ created_at: db.knex.raw("now() - interval '30 days'") });

    expect(await queries.pruneFinished(7)).toBe(2);
    const left = (await db.knex('auth.backchannel_deliveries').orderBy('id').pluck('id')) as string[];
    expect(left).toEqual(['new-delivered', 'pending-old']);
    expect(await queries.pruneFinished(7)).toBe(0);
  });
});

describe('back-channel logout queue: when the next delivery is due', () => {
  it('an empty queue has nothing due (the delivery loop then sleeps its idle interval, not 10 ms)', async () => {
    const queries = createDeliveryQueries(db.knex);
    await db.knex('auth.backchannel_deliveries').del();
    expect(await queries.nextDueInMs()).toBeUndefined();
  });

  it('a pending delivery is due in the time left until its next attempt, and an overdue one now', async () => {
    const queries = createDeliveryQueries(db.knex);
    await db.knex('auth.backchannel_deliveries').del();
    await queries.insert([{ id: 'later', client_id: 'c', sub: 's', sid: null, jti: 'jti-later', reason: 'test' }]);
    await db.knex('auth.backchannel_deliveries').where({ id: 'later' }).update({ next_attempt_at: db.knex.raw("now() + interval '60 seconds'") });
    const ms = await queries.nextDueInMs();
    expect(ms).toBeGreaterThan(50_000);
    expect(ms).toBeLessThanOrEqual(60_000);
    await db.knex('auth.backchannel_deliveries').where({ id: 'later' }).update({ next_attempt_at: db.knex.raw("now() - interval '60 seconds'") });
    expect(await queries.nextDueInMs()).toBe(0);
  });
});
