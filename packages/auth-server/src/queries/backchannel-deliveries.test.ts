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
  it('is undefined with nothing pending (the loop then idles), 0 for an overdue delivery, the wait for a later one', async () => {
    const queries = createDeliveryQueries(db.knex);
    await db.knex('auth.backchannel_deliveries').del();
    expect(await queries.nextDueInMs()).toBeUndefined();
    await queries.insert([{ id: 'due-later', client_id: 'c', sub: 's', sid: null, jti: 'jti-due-later', reason: 'test' }]);
    await db.knex('auth.backchannel_deliveries').where({ id: 'due-later' }).update({ next_attempt_at: db.knex.raw("now() + interval '1 hour'") });
    const later = await queries.nextDueInMs();
    expect(later).toBeGreaterThan(3_500_000);
    expect(later).toBeLessThanOrEqual(3_600_000);
    await db.knex('auth.backchannel_deliveries').where({ id: 'due-later' }).update({ next_attempt_at: db.knex.raw("now() - interval '1 minute'") });
    expect(await queries.nextDueInMs()).toBe(0);
    await db.knex('auth.backchannel_deliveries').where({ id: 'due-later' }).update({ status: 'delivered', finished_at: db.knex.fn.now() });
    expect(await queries.nextDueInMs()).toBeUndefined();
  });
});
