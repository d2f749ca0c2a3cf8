import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from './log';
import { describeBreak, verifyAuditLog } from './verify';
import { writeCheckpoints } from './checkpoint';
import { asSuperuserBypassingTrigger, openAuditFixture, sampleEvent, type AuditFixture } from './test-support';
import { GENESIS_HASH, eventHash } from './canonical';

let fx: AuditFixture;
beforeAll(async () => {
  fx = await openAuditFixture();
});
afterAll(async () => {
  await fx?.close();
});

/** A chain of `n` events on its own; returns its id and the rows in seq order. */
async function chainOf(n: number, service = 'test-verify') {
  const log = await AuditLog.open(fx.service, service);
  await log.recordAll(Array.from({ length: n }, (_, i) => sampleEvent({ detail: { i } })));
  await log.close();
  const rows = await fx.admin('audit.events').where('chain_id', log.chainId).orderBy('seq');
  return { chainId: log.chainId, rows, log };
}

const verifyChain = (chainId: string, options = {}) => verifyAuditLog(fx.admin, { chainIds: [chainId], ...options });

describe('verifyAuditLog', () => {
  it('passes on a clean log of several chains and counts every event', async () => {
    const a = await chainOf(5);
    const b = await chainOf(7);
    const empty = await AuditLog.open(fx.service, 'test-empty');
    const result = await verifyAuditLog(fx.admin, { chainIds: [a.chainId, b.chainId, empty.chainId] });
    expect(result).toEqual({ ok: true, chains: 3, events: 12, anchoredChains: 0, checkpoints: 0, signaturesChecked: false, firstBreak: null });
  });

  it('reads a page at a time and reports progress after each page: rising counts against the heads\' total, ending at the total', async () => {
    const a = await chainOf(2500, 'test-progress');
    const b = await chainOf(30, 'test-progress');
    const calls: [number, number][] = [];
    const result = await verifyAuditLog(fx.admin, { chainIds: [a.chainId, b.chainId], onProgress: (checked, total) => calls.push([checked, total]) });
    expect(result.ok).toBe(true);
    expect(calls.every(([, total]) => total === 2530)).toBe(true);
    const counts = calls.map(([checked]) => checked);
    expect(counts).toEqual([...counts].sort((x, y) => x - y));
    expect(counts).toEqual([2000, 2500, 2530, 2530]);
  });

  it('fails naming the event a superuser edited (chain id, seq, event id)', async () => {
    const { chainId, rows } = await chainOf(5);
    const victim = rows[2]!;
    await asSuperuserBypassingTrigger(fx.admin, `UPDATE audit.events SET outcome = 'failure' WHERE id = ?`, [victim.id]);
    const result = await verifyChain(chainId);
    expect(result.ok).toBe(false);
    expect(result.firstBreak).toEqual({ chainId, seq: 3, eventId: Number(victim.id), reason: 'content does not match its hash' });
    expect(result.events).toBe(2);
    expect(describeBreak(result.firstBreak!)).toBe(`chain ${chainId} seq 3 event ${victim.id}: content does not match its hash`);
  });

  it('an edit of detail (jsonb) is caught too', async () => {
    const { chainId, rows } = await chainOf(3);
    await asSuperuserBypassingTrigger(fx.admin, `UPDATE audit.events SET detail = '{"i": 99}' WHERE id = ?`, [rows[0]!.id]);
    expect((await verifyChain(chainId)).firstBreak).toMatchObject({ seq: 1, eventId: Number(rows[0]!.id) });
  });

  it('an edited event whose hash was recomputed breaks the link to the next event', async () => {
    const { chainId, rows } = await chainOf(4);
    const victim = rows[1]!;
    const forged = eventHash(victim.prev_hash, {
      chainId, seq: 2, occurredAt: victim.occurred_at.toISOString(), actorType: 'system', actorId: null, action: victim.action,
      targetType: victim.target_type, targetId: victim.target_id, outcome: victim.outcome, orgId: victim.org_id,
      requestId: victim.request_id, ip: victim.ip, userAgent: victim.user_agent, detail: victim.detail,
    });
    await asSuperuserBypassingTrigger(fx.admin, `UPDATE audit.events SET actor_type = 'system', actor_id = NULL, hash = ? WHERE id = ?`, [forged, victim.id]);
    expect((await verifyChain(chainId)).firstBreak).toMatchObject({ seq: 3, eventId: Number(rows[2]!.id), reason: 'prev_hash does not match the previous event' });
  });

  it('fails naming a deleted event in the middle of a chain', async () => {
    const { chainId, rows } = await chainOf(5);
    await asSuperuserBypassingTrigger(fx.admin, 'DELETE FROM audit.events WHERE id = ?', [rows[1]!.id]);
    const result = await verifyChain(chainId);
    expect(result.firstBreak).toMatchObject({ chainId, seq: 2, eventId: null });
    expect(result.firstBreak!.reason).toContain('event 2 is missing');
  });

  it('fails naming a deleted tail event, detected through the chain head', async () => {
    const { chainId, rows } = await chainOf(5);
    await asSuperuserBypassingTrigger(fx.admin, 'DELETE FROM audit.events WHERE id = ?', [rows[4]!.id]);
    const result = await verifyChain(chainId);
    expect(result.firstBreak).toMatchObject({ chainId, seq: 5, eventId: null });
    expect(result.firstBreak!.reason).toContain('event 5 is missing (the chain head is at seq 5');
  });

  it('fails when every event of a chain is gone', async () => {
    const { chainId } = await chainOf(2);
    await asSuperuserBypassingTrigger(fx.admin, 'DELETE FROM audit.events WHERE chain_id = ?', [chainId]);
    expect((await verifyChain(chainId)).firstBreak).toMatchObject({ seq: 1, eventId: null, reason: 'events 1..2 are missing' });
  });

  it('fails naming an event inserted beyond the chain head', async () => {
    const { chainId, rows } = await chainOf(2);
    const last = rows[1]!;
    const [{ id }] = await fx.admin('audit.events')
      .insert({ ...last, id: undefined, seq: 3, prev_hash: last.hash, hash: 'f'.repeat(64) })
      .returning('id');
    const result = await verifyChain(chainId);
    expect(result.firstBreak).toMatchObject({ chainId, seq: 3, eventId: Number(id) });
    expect(result.firstBreak!.reason).toContain('beyond the chain head');
  });

  it('fails when the head was moved back over the last event', async () => {
    const { chainId, rows } = await chainOf(3);
    await fx.admin('audit.chains').where({ id: chainId }).update({ head_seq: 2, head_hash: rows[1]!.hash });
    expect((await verifyChain(chainId)).firstBreak).toMatchObject({ seq: 3, eventId: Number(rows[2]!.id) });
  });

  it('reports the first break across chains and stops there', async () => {
    const a = await chainOf(2);
    const b = await chainOf(2);
    await asSuperuserBypassingTrigger(fx.admin, `UPDATE audit.events SET action = 'auth.logout' WHERE id = ?`, [b.rows[0]!.id]);
    const result = await verifyAuditLog(fx.admin, { chainIds: [a.chainId, b.chainId] });
    expect(result).toMatchObject({ ok: false, chains: 2, events: 2, firstBreak: { chainId: b.chainId, seq: 1 } });
  });

  it('does not raise a false alarm while writers keep appending', async () => {
    const log = await AuditLog.open(fx.service, 'test-live');
    let stop = false;
    const writer = (async () => {
      while (!stop) await Promise.all(Array.from({ length: 20 }, () => log.record(sampleEvent())));
    })();
    try {
      for (let i = 0; i < 5; i += 1) expect((await verifyChain(log.chainId)).ok).toBe(true);
    } finally {
      stop = true;
      await writer;
      await log.close();
    }
    expect((await verifyChain(log.chainId)).ok).toBe(true);
  });
});

describe('checkpoints and archived events', () => {
  const keys = generateKeyPairSync('ed25519');
  const signer = { keyId: 'archive-2026', privateKey: keys.privateKey };

  it('a chain whose early events were archived after a checkpoint verifies from the checkpoint', async () => {
    const { chainId } = await chainOf(4);
    const [checkpoint] = await writeCheckpoints(fx.admin, { chainIds: [chainId], signer });
    expect(checkpoint).toMatchObject({ chainId, seq: 4, keyId: 'archive-2026' });
    await asSuperuserBypassingTrigger(fx.admin, 'DELETE FROM audit.events WHERE chain_id = ? AND seq <= 4', [chainId]);
    const result = await verifyChain(chainId, { checkpointKeys: { 'archive-2026': keys.publicKey } });
    expect(result).toMatchObject({ ok: true, events: 0, anchoredChains: 1 });
  });

  it('events after the cut are verified from the checkpoint hash', async () => {
    const log = await AuditLog.open(fx.service, 'test-archive');
    await log.recordAll(Array.from({ length: 3 }, () => sampleEvent()));
    await writeCheckpoints(fx.admin, { chainIds: [log.chainId], signer });
    await log.recordAll(Array.from({ length: 2 }, () => sampleEvent()));
    await log.close();
    expect(await verifyChain(log.chainId)).toMatchObject({ ok: true, events: 5, anchoredChains: 0 });
    await asSuperuserBypassingTrigger(fx.admin, 'DELETE FROM audit.events WHERE chain_id = ? AND seq <= 3', [log.chainId]);
    expect(await verifyChain(log.chainId, { checkpointKeys: { 'archive-2026': keys.publicKey } })).toMatchObject({ ok: true, events: 2, anchoredChains: 1 });
    const other = generateKeyPairSync('ed25519');
    expect((await verifyChain(log.chainId, { checkpointKeys: { 'archive-2026': other.publicKey } })).firstBreak).toMatchObject({
      seq: 3,
      reason: 'the checkpoint at seq 3 is not signed by a trusted key',
    });
  });

  it('deleted early events without a checkpoint at the cut are reported missing', async () => {
    const { chainId } = await chainOf(4);
    await writeCheckpoints(fx.admin, { chainIds: [chainId] });
    await asSuperuserBypassingTrigger(fx.admin, 'DELETE FROM audit.events WHERE chain_id = ? AND seq <= 2', [chainId]);
    expect((await verifyChain(chainId)).firstBreak).toMatchObject({ seq: 1, eventId: null, reason: 'events 1..2 are missing and no checkpoint covers them' });
  });

  it('a rewritten chain that no longer matches its checkpoint is caught at the checkpoint', async () => {
    const { chainId, rows } = await chainOf(3);
    await writeCheckpoints(fx.admin, { chainIds: [chainId] });
    // Rewrite the whole chain consistently (new content, every hash recomputed, head moved): only the checkpoint knows.
    let prev = GENESIS_HASH;
    await fx.admin.transaction(async (trx) => {
      await trx.raw('ALTER TABLE audit.events DISABLE TRIGGER events_append_only');
      for (const row of rows) {
        const hash = eventHash(prev, {
          chainId, seq: Number(row.seq), occurredAt: row.occurred_at.toISOString(), actorType: row.actor_type, actorId: 'someone-else',
          action: row.action, targetType: row.target_type, targetId: row.target_id, outcome: row.outcome, orgId: row.org_id,
          requestId: row.request_id, ip: row.ip, userAgent: row.user_agent, detail: row.detail,
        });
        await trx('audit.events').where({ id: row.id }).update({ actor_id: 'someone-else', prev_hash: prev, hash });
        prev = hash;
      }
      await trx('audit.chains').where({ id: chainId }).update({ head_hash: prev });
      await trx.raw('ALTER TABLE audit.events ENABLE TRIGGER events_append_only');
    });
    expect((await verifyChain(chainId)).firstBreak).toMatchObject({ seq: 3, eventId: Number(rows[2]!.id) });
    expect((await verifyChain(chainId)).firstBreak!.reason).toContain('does not match the checkpoint');
  });

  it('writeCheckpoints skips chains that have not moved since their last checkpoint', async () => {
    const { chainId } = await chainOf(2);
    expect(await writeCheckpoints(fx.admin, { chainIds: [chainId] })).toHaveLength(1);
    expect(await writeCheckpoints(fx.admin, { chainIds: [chainId] })).toHaveLength(0);
  });
});
