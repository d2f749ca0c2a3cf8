import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog, AuditUnavailableError, InvalidAuditEventError } from './log';
import { verifyAuditLog } from './verify';
import { openAuditFixture, sampleEvent, type AuditFixture } from './test-support';
import type { AuditEvent } from './events';

let fx: AuditFixture;
beforeAll(async () => {
  fx = await openAuditFixture();
});
afterAll(async () => {
  await fx?.close();
});

const count = async (log: AuditLog) => Number((await fx.admin('audit.events').whereIn('chain_id', [log.chainId]).count({ n: '*' }))[0]!.n);

describe('group commit', () => {
  it('200 concurrent records share far fewer than 200 INSERT statements, and the chain verifies', async () => {
    const log = await AuditLog.open(fx.service, 'test-batching');
    let inserts = 0;
    const onQuery = (q: { sql: string }) => {
      // A batch goes in through audit.group_append (one INSERT of all its rows).
      if (/insert into audit\.events|audit\.group_append\(/i.test(q.sql)) inserts += 1;
    };
    fx.service.on('query', onQuery);
    try {
      await Promise.all(Array.from({ length: 200 }, (_, i) => log.record(sampleEvent({ detail: { i } }))));
    } finally {
      fx.service.off('query', onQuery);
    }
    expect(await count(log)).toBe(200);
    expect(inserts).toBeGreaterThan(0);
    expect(inserts).toBeLessThanOrEqual(10);
    const result = await verifyAuditLog(fx.admin, { chainIds: [log.chainId] });
    expect(result).toMatchObject({ ok: true, events: 200 });
    await log.close();
  });

  it('with maxBatch 20, 300 records go out in batches of at most 20, all on the writer\'s one chain', async () => {
    const batches: number[] = [];
    const writer = await AuditLog.open(fx.service, 'test-max-batch', { maxBatch: 20, onCommit: (rows) => batches.push(rows) });
    await Promise.all(Array.from({ length: 300 }, (_, i) => writer.record(sampleEvent({ detail: { i } }))));
    expect(batches.reduce((a, b) => a + b, 0)).toBe(300);
    expect(Math.max(...batches)).toBeLessThanOrEqual(20);
    const perChain = await fx.admin('audit.events').where('chain_id', 'like', 'test-max-batch%').select('chain_id').count({ n: '*' }).groupBy('chain_id');
    expect(perChain).toEqual([{ chain_id: writer.chainId, n: 300 }]);
    expect(await verifyAuditLog(fx.admin, { chainIds: [writer.chainId] })).toMatchObject({ ok: true, chains: 1, events: 300 });
    await writer.close();
  });

  it('record() resolves only after the event is committed and readable', async () => {
    const log = await AuditLog.open(fx.service, 'test-visible');
    await log.record(sampleEvent({ requestId: 'req-visible' }));
    const rows = await fx.admin('audit.events').whereIn('chain_id', [log.chainId]).where({ request_id: 'req-visible' });
    expect(rows).toHaveLength(1);
    await log.close();
  });

  it('a failed batch rejects every one of its waiters with AuditUnavailableError; the batches before and after it commit', async () => {
    const log = await AuditLog.open(fx.service, 'test-failure', { maxBatch: 10 });
    await fx.admin.raw(`CREATE FUNCTION audit.test_poison() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'poisoned row'; END $$`);
    await fx.admin.raw(`CREATE TRIGGER test_poison BEFORE INSERT ON audit.events FOR EACH ROW
      WHEN (NEW.detail \\? 'poison') EXECUTE FUNCTION audit.test_poison()`);
    try {
      // 30 events queued at once: batches 1-10, 11-20 (holding the poisoned row), 21-30.
      const settled = await Promise.allSettled(
        Array.from({ length: 30 }, (_, i) => log.record(sampleEvent({ detail: i === 14 ? { i, poison: true } : { i } }))),
      );
      const rejected = settled.map((s, i) => (s.status === 'rejected' ? i : -1)).filter((i) => i >= 0);
      expect(rejected).toEqual(Array.from({ length: 10 }, (_, i) => i + 10));
      for (const i of rejected) expect((settled[i] as PromiseRejectedResult).reason).toBeInstanceOf(AuditUnavailableError);
      expect(await count(log)).toBe(20);
    } finally {
      await fx.admin.raw('DROP TRIGGER test_poison ON audit.events');
      await fx.admin.raw('DROP FUNCTION audit.test_poison()');
    }
    await log.record(sampleEvent({ detail: { after: true } }));
    expect(await count(log)).toBe(21);
    expect(await verifyAuditLog(fx.admin, { chainIds: [log.chainId] })).toMatchObject({ ok: true, events: 21 });
    await log.close();
  });

  it('when the database refuses every write, each record fails with AuditUnavailableError and nothing is half-written', async () => {
    const log = await AuditLog.open(fx.service, 'test-down');
    await fx.admin.raw(`CREATE FUNCTION audit.test_down() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'database refuses'; END $$`);
    await fx.admin.raw('CREATE TRIGGER test_down BEFORE INSERT ON audit.events FOR EACH STATEMENT EXECUTE FUNCTION audit.test_down()');
    try {
      const settled = await Promise.allSettled(Array.from({ length: 50 }, () => log.record(sampleEvent())));
      expect(settled.every((s) => s.status === 'rejected' && s.reason instanceof AuditUnavailableError)).toBe(true);
    } finally {
      await fx.admin.raw('DROP TRIGGER test_down ON audit.events');
      await fx.admin.raw('DROP FUNCTION audit.test_down()');
    }
    const heads = await fx.admin('audit.chains').whereIn('id', [log.chainId]).pluck('head_seq');
    expect(heads.length).toBeGreaterThan(0);
    expect(heads.every((h) => Number(h) === 0)).toBe(true);
    await log.record(sampleEvent());
    expect(await verifyAuditLog(fx.admin, { chainIds: [log.chainId] })).toMatchObject({ ok: true, events: 1 });
    await log.close();
  });

  it('a writer whose pool is gone rejects with AuditUnavailableError instead of hanging', async () => {
    const { createKnex } = await import('@clouddocs/db');
    const pool = await createKnex({ url: fx.db.url, poolMax: 1 });
    const log = await AuditLog.open(pool, 'test-gone');
    await pool.destroy();
    await expect(log.record(sampleEvent())).rejects.toBeInstanceOf(AuditUnavailableError);
  });

  it('flush and close write everything queued; a record after close is refused', async () => {
    const log = await AuditLog.open(fx.service, 'test-close');
    const pending = Array.from({ length: 150 }, (_, i) => log.record(sampleEvent({ detail: { i } })));
    expect(log.queueDepth).toBe(150);
    await log.flush();
    expect(log.queueDepth).toBe(0);
    await expect(Promise.all(pending)).resolves.toBeDefined();
    const more = Array.from({ length: 50 }, () => log.record(sampleEvent()));
    await log.close();
    await Promise.all(more);
    expect(await count(log)).toBe(200);
    await expect(log.record(sampleEvent())).rejects.toBeInstanceOf(AuditUnavailableError);
  });

  it('a full queue refuses new events at once instead of growing without bound', async () => {
    const log = await AuditLog.open(fx.service, 'test-full', { maxQueue: 5 });
    const accepted = Array.from({ length: 5 }, () => log.record(sampleEvent()));
    await expect(log.record(sampleEvent())).rejects.toThrow(/audit queue is full/);
    await Promise.all(accepted);
    await log.record(sampleEvent());
    expect(await count(log)).toBe(6);
    await log.close();
  });

  it('recordAll commits its events together, in order', async () => {
    const log = await AuditLog.open(fx.service, 'test-all', { maxBatch: 4 });
    const events: AuditEvent[] = Array.from({ length: 6 }, (_, i) => sampleEvent({ detail: { i } }));
    await Promise.all([log.record(sampleEvent()), log.recordAll(events), log.record(sampleEvent())]);
    const rows = await fx.admin('audit.events').where('chain_id', log.chainId).orderBy('seq');
    expect(rows.map((r) => r.detail.i ?? null)).toEqual([null, 0, 1, 2, 3, 4, 5, null]);
    await log.close();
  });

  it('a malformed event is refused on its own, before it can spoil a batch', async () => {
    const log = await AuditLog.open(fx.service, 'test-invalid');
    const bad = log.record({ ...sampleEvent(), outcome: 'maybe' as never });
    const good = Array.from({ length: 5 }, () => log.record(sampleEvent()));
    await expect(bad).rejects.toBeInstanceOf(InvalidAuditEventError);
    await expect(log.record({ ...sampleEvent(), action: 'DROP TABLE' as never })).rejects.toBeInstanceOf(InvalidAuditEventError);
    await expect(log.record({ ...sampleEvent(), occurredAt: new Date('nope') })).rejects.toBeInstanceOf(InvalidAuditEventError);
    await Promise.all(good);
    expect(await count(log)).toBe(5);
    await log.close();
  });
});

describe('appendInTransaction', () => {
  it('commits with the state change and vanishes with its rollback; group commits around it keep the chain intact', async () => {
    const log = await AuditLog.open(fx.service, 'test-trx');
    await log.record(sampleEvent({ detail: { step: 1 } }));
    await fx.service
      .transaction(async (trx) => {
        await log.appendInTransaction(trx, [sampleEvent({ detail: { step: 'rolled-back' } })]);
        throw new Error('state change failed');
      })
      .catch(() => {});
    await log.record(sampleEvent({ detail: { step: 2 } }));
    await fx.service.transaction((trx) => log.appendInTransaction(trx, [sampleEvent({ detail: { step: 3 } }), sampleEvent({ detail: { step: 4 } })]));
    await log.record(sampleEvent({ detail: { step: 5 } }));
    const rows = await fx.admin('audit.events').where('chain_id', log.chainId).orderBy('seq');
    expect(rows.map((r) => r.detail.step)).toEqual([1, 2, 3, 4, 5]);
    expect(await verifyAuditLog(fx.admin, { chainIds: [log.chainId] })).toMatchObject({ ok: true, events: 5 });
    await log.close();
  });

  it('concurrent transactions and group commits on one chain serialise on the head', async () => {
    const log = await AuditLog.open(fx.service, 'test-trx-concurrent');
    await Promise.all([
      ...Array.from({ length: 20 }, (_, i) => log.record(sampleEvent({ detail: { i } }))),
      ...Array.from({ length: 3 }, (_, i) => fx.service.transaction((trx) => log.appendInTransaction(trx, [sampleEvent({ detail: { trx: i } })]))),
      ...Array.from({ length: 20 }, (_, i) => log.record(sampleEvent({ detail: { j: i } }))),
    ]);
    expect(await verifyAuditLog(fx.admin, { chainIds: [log.chainId] })).toMatchObject({ ok: true, events: 43 });
    await log.close();
  });
});

describe('writes alongside a batch', () => {
  it('recordAll with alongside writes commit with the events, many at once without contending for the head; a failing one writes neither', async () => {
    await fx.admin.raw('CREATE TABLE IF NOT EXISTS public.alongside_rows (id text PRIMARY KEY)');
    await fx.admin.raw('GRANT SELECT, INSERT ON public.alongside_rows TO clouddocs_service').catch(() => undefined);
    const log = await AuditLog.open(fx.admin, 'test-alongside');
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        log.recordAll([sampleEvent({ detail: { i } })], { alongside: (trx) => trx('public.alongside_rows').insert({ id: `row-${i}` }).then(() => undefined) }),
      ),
    );
    expect(await count(log)).toBe(20);
    expect(Number((await fx.admin('public.alongside_rows').count({ n: '*' }))[0]!.n)).toBe(20);
    // A duplicate row fails its batch: no event of that batch, no row.
    await expect(
      log.recordAll([sampleEvent({ detail: { failing: true } })], { alongside: (trx) => trx('public.alongside_rows').insert({ id: 'row-0' }).then(() => undefined) }),
    ).rejects.toBeInstanceOf(AuditUnavailableError);
    expect(await count(log)).toBe(20);
    await log.record(sampleEvent({ detail: { after: true } }));
    expect((await verifyAuditLog(fx.admin, { chainIds: [log.chainId] })).ok).toBe(true);
    await log.close();
  });
});
