// Signed checkpoints made by the writers, exported outside the database, and what they let
// verification catch that the hash chain alone cannot: a superuser (the owner connection) who
// rewrites an event and recomputes every later hash, or deletes the tail and moves the head back.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Knex } from '@clouddocs/db';
import { AuditLog, type AuditLogOptions, type CheckpointOptions } from './log';
import { verifyAuditLog } from './verify';
import { checkpointFileSink, checkpointSignatureValid, readCheckpointFile, signCheckpoint, toCheckpoint, type Checkpoint } from './checkpoint';
import { checkpointKeyId, signerFromPrivateKey } from './checkpoint-key';
import { openAuditFixture, sampleEvent, type AuditFixture } from './test-support';
import { eventHash } from './canonical';

let fx: AuditFixture;
let dir: string;
beforeAll(async () => {
  fx = await openAuditFixture();
  dir = mkdtempSync(join(tmpdir(), 'audit-checkpoints-'));
});
afterAll(async () => {
  await fx?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const trusted = generateKeyPairSync('ed25519');
const signer = signerFromPrivateKey(trusted.privateKey);
const keys = { [checkpointKeyId(trusted.publicKey)]: trusted.publicKey };
let files = 0;

/** A writer with checkpoints every `everyEvents`, exported to a file of its own; the timer never fires during a test. */
async function checkpointedWriter(everyEvents: number, extra: Partial<CheckpointOptions> = {}, logOptions: AuditLogOptions = {}) {
  const file = join(dir, `checkpoints-${(files += 1)}.jsonl`);
  const sink = checkpointFileSink(file);
  const exported: Checkpoint[] = [];
  const log = await AuditLog.open(fx.service, 'test-checkpoints', {
    ...logOptions,
    checkpoints: {
      signer,
      everyEvents,
      everyMs: 3_600_000,
      async onCheckpoint(c) {
        exported.push(c);
        await sink(c);
      },
      ...extra,
    },
  });
  return { log, file, exported };
}

/** `n` events written 50 at a time (one group commit each), then the writer closed. */
async function writtenChain(n: number, everyEvents = 100) {
  const w = await checkpointedWriter(everyEvents);
  for (let done = 0; done < n; done += 50) {
    await w.log.recordAll(Array.from({ length: Math.min(50, n - done) }, (_, i) => sampleEvent({ detail: { i: done + i } })));
  }
  await w.log.close();
  const rows = await fx.admin('audit.events').where('chain_id', w.log.chainId).orderBy('seq');
  return { ...w, chainId: w.log.chainId, rows };
}

const storedCheckpoints = async (chainId: string) => (await fx.admin('audit.checkpoints').where('chain_id', chainId).orderBy('seq')).map(toCheckpoint);

/** As a superuser: the checkpoint table's append-only trigger lifted for `body`. */
async function onCheckpointsAsSuperuser(body: (trx: Knex.Transaction) => Promise<void>) {
  await fx.admin.transaction(async (trx) => {
    await trx.raw('ALTER TABLE audit.checkpoints DISABLE TRIGGER checkpoints_append_only');
    await body(trx);
    await trx.raw('ALTER TABLE audit.checkpoints ENABLE TRIGGER checkpoints_append_only');
  });
}

/**
 * The tampering of the report: as the owner, with the trigger lifted, event `seq` gets another actor and
 * every later hash is recomputed with the product's own function, the head moved to the new last hash.
 */
async function rewriteFrom(chainId: string, rows: Record<string, any>[], seq: number) {
  let prev = rows[seq - 2]?.hash as string;
  const updates: { id: number; actor_id: string; prev_hash: string; hash: string }[] = [];
  for (const row of rows.slice(seq - 1)) {
    const actorId = Number(row.seq) === seq ? 'someone-else' : row.actor_id;
    const hash = eventHash(prev, {
      chainId, seq: Number(row.seq), occurredAt: row.occurred_at.toISOString(), actorType: row.actor_type, actorId, action: row.action,
      targetType: row.target_type, targetId: row.target_id, outcome: row.outcome, orgId: row.org_id, requestId: row.request_id,
      ip: row.ip, userAgent: row.user_agent, detail: row.detail,
    });
    updates.push({ id: Number(row.id), actor_id: actorId, prev_hash: prev, hash });
    prev = hash;
  }
  await fx.admin.transaction(async (trx) => {
    await trx.raw('ALTER TABLE audit.events DISABLE TRIGGER events_append_only');
    await trx.raw(
      `UPDATE audit.events e SET actor_id = r.actor_id, prev_hash = r.prev_hash, hash = r.hash
       FROM json_to_recordset(?::json) AS r(id bigint, actor_id text, prev_hash text, hash text) WHERE e.id = r.id`,
      [JSON.stringify(updates)],
    );
    await trx('audit.chains').where({ id: chainId }).update({ head_hash: prev });
    await trx.raw('ALTER TABLE audit.events ENABLE TRIGGER events_append_only');
  });
}

/** The other tampering: the events after `keep` deleted and the head moved back onto `keep`. */
async function truncateAfter(chainId: string, rows: Record<string, any>[], keep: number) {
  await fx.admin.transaction(async (trx) => {
    await trx.raw('ALTER TABLE audit.events DISABLE TRIGGER events_append_only');
    await trx('audit.events').where('chain_id', chainId).andWhere('seq', '>', keep).delete();
    await trx('audit.chains').where({ id: chainId }).update({ head_seq: keep, head_hash: rows[keep - 1]!.hash });
    await trx.raw('ALTER TABLE audit.events ENABLE TRIGGER events_append_only');
  });
}

describe('checkpoints made by the writer', () => {
  it('signs its head every N events inside the group commit and once more at close, exported in order', async () => {
    const { chainId, file, exported, rows } = await writtenChain(260);
    expect(rows).toHaveLength(260);
    const stored = await storedCheckpoints(chainId);
    expect(stored.map((c) => c.seq)).toEqual([100, 200, 260]);
    for (const c of stored) {
      expect(c.keyId).toBe(signer.keyId);
      expect(checkpointSignatureValid(c, keys)).toBe(true);
      expect(c.hash).toBe(rows[c.seq - 1]!.hash);
    }
    expect(exported.map((c) => c.seq)).toEqual([100, 200, 260]);
    const fromFile = await readCheckpointFile(file);
    expect(fromFile.map(({ line, ...c }) => c)).toEqual(stored);
    expect(fromFile.map((c) => c.line)).toEqual([1, 2, 3]);
  });

  it('an intact log verifies against its signed and exported checkpoints', async () => {
    const { chainId, file } = await writtenChain(260);
    const result = await verifyAuditLog(fx.admin, { chainIds: [chainId], checkpointKeys: keys, exported: await readCheckpointFile(file) });
    expect(result).toEqual({ ok: true, chains: 1, events: 260, anchoredChains: 0, checkpoints: 6, signaturesChecked: true, firstBreak: null });
  });

  it('events appended in callers\' transactions are signed once those transactions commit', async () => {
    const { log, exported } = await checkpointedWriter(3);
    await fx.service.transaction(async (trx) => log.appendInTransaction(trx, [sampleEvent(), sampleEvent()]));
    await fx.service.transaction(async (trx) => log.appendInTransaction(trx, [sampleEvent(), sampleEvent()]));
    await vi.waitFor(async () => expect((await storedCheckpoints(log.chainId)).map((c) => c.seq)).toEqual([4]), { timeout: 10_000 });
    await log.close();
    expect(exported.map((c) => c.seq)).toEqual([4]); // nothing moved since: no second checkpoint at close
  });

  it('flush() resolves only once the committed checkpoints have been exported (a service flushing at shutdown keeps them)', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let exported = false;
    const log = await AuditLog.open(fx.service, 'test-checkpoints', {
      checkpoints: {
        signer,
        everyEvents: 2,
        everyMs: 3_600_000,
        async onCheckpoint() {
          await gate;
          exported = true;
        },
      },
    });
    await log.recordAll([sampleEvent(), sampleEvent()]);
    const flushed = log.flush().then(() => exported);
    release();
    expect(await flushed).toBe(true);
    await log.close();
  });

  it('an idle writer signs what it wrote when its timer fires', async () => {
    const { log } = await checkpointedWriter(1000, { everyMs: 20 });
    await log.record(sampleEvent());
    await vi.waitFor(async () => expect((await storedCheckpoints(log.chainId)).map((c) => c.seq)).toEqual([1]), { timeout: 10_000 });
    await log.close();
  });

  it('a writer without checkpoints writes none, as before', async () => {
    const log = await AuditLog.open(fx.service, 'test-no-checkpoints');
    await log.recordAll([sampleEvent(), sampleEvent()]);
    await log.close();
    expect(await storedCheckpoints(log.chainId)).toEqual([]);
  });

  it('keeps the group commit: concurrent requests still share statements, and all of them are covered', async () => {
    let batches = 0;
    const { log } = await checkpointedWriter(10, {}, { onCommit: () => (batches += 1) });
    await Promise.all(Array.from({ length: 200 }, (_, i) => log.record(sampleEvent({ detail: { i } }))));
    await log.close();
    expect(batches).toBeLessThan(200);
    const result = await verifyAuditLog(fx.admin, { chainIds: [log.chainId], checkpointKeys: keys });
    expect(result).toMatchObject({ ok: true, events: 200 });
    expect((await storedCheckpoints(log.chainId)).at(-1)!.seq).toBe(200);
  });
});

describe('a database superuser cannot rewrite the log unnoticed', () => {
  it('event 439 edited and the 947 later hashes recomputed: the signed checkpoint after it names the break', async () => {
    const { chainId, rows, file } = await writtenChain(1386);
    await rewriteFrom(chainId, rows, 439);
    // The chain alone is consistent again: only the checkpoints know.
    const byChainOnly = await verifyAuditLog(fx.admin, { chainIds: [chainId], checkpointKeys: keys });
    expect(byChainOnly.ok).toBe(false);
    expect(byChainOnly.firstBreak).toMatchObject({ chainId, seq: 500, eventId: Number(rows[499]!.id) });
    expect(byChainOnly.firstBreak!.reason).toMatch(/^hash does not match the signed checkpoint at seq 500 taken at .*: the chain was rewritten after seq 400 \(the last checkpoint it matches\), at or before this event$/);
    expect(byChainOnly.events).toBe(499);

    // The superuser also removes the checkpoints that give it away: the exported file still has them.
    await onCheckpointsAsSuperuser((trx) => trx('audit.checkpoints').where('chain_id', chainId).andWhere('seq', '>', 400).delete());
    expect((await verifyAuditLog(fx.admin, { chainIds: [chainId], checkpointKeys: keys })).ok).toBe(true);
    const withFile = await verifyAuditLog(fx.admin, { chainIds: [chainId], checkpointKeys: keys, exported: await readCheckpointFile(file) });
    expect(withFile.firstBreak).toMatchObject({ chainId, seq: 500, eventId: Number(rows[499]!.id) });
    expect(withFile.firstBreak!.reason).toContain('signed exported checkpoint at seq 500 (line 5)');
  });

  it('checkpoints forged with another key to match the rewritten chain are refused', async () => {
    const { chainId, rows } = await writtenChain(300);
    await rewriteFrom(chainId, rows, 150);
    const forger = signerFromPrivateKey(generateKeyPairSync('ed25519').privateKey);
    const forged = await fx.admin('audit.events').where('chain_id', chainId).whereIn('seq', [200, 300]).orderBy('seq');
    await onCheckpointsAsSuperuser(async (trx) => {
      await trx('audit.checkpoints').where('chain_id', chainId).andWhere('seq', '>', 100).delete();
      for (const row of forged) {
        const base = { chainId, seq: Number(row.seq), hash: row.hash, createdAt: new Date().toISOString() };
        await trx('audit.checkpoints').insert({ chain_id: chainId, seq: base.seq, hash: base.hash, created_at: base.createdAt, key_id: forger.keyId, signature: signCheckpoint(base, forger) });
      }
    });
    const result = await verifyAuditLog(fx.admin, { chainIds: [chainId], checkpointKeys: keys });
    expect(result.firstBreak).toEqual({ chainId, seq: 200, eventId: Number(rows[199]!.id), reason: 'the checkpoint at seq 200 is not signed by a trusted key' });
    // Even a forgery under the trusted key's id does not pass.
    await onCheckpointsAsSuperuser((trx) => trx('audit.checkpoints').where('chain_id', chainId).andWhere('seq', 200).update({ key_id: signer.keyId }));
    expect((await verifyAuditLog(fx.admin, { chainIds: [chainId], checkpointKeys: keys })).firstBreak).toMatchObject({ seq: 200, reason: 'the checkpoint at seq 200 is not signed by a trusted key' });
  });

  it('a log signed by another key than the one trusted is refused at its first checkpoint', async () => {
    const { chainId, rows } = await writtenChain(120);
    const other = generateKeyPairSync('ed25519').publicKey;
    const result = await verifyAuditLog(fx.admin, { chainIds: [chainId], checkpointKeys: { [checkpointKeyId(other)]: other } });
    expect(result.firstBreak).toEqual({ chainId, seq: 100, eventId: Number(rows[99]!.id), reason: 'the checkpoint at seq 100 is not signed by a trusted key' });
  });

  it('the tail deleted and the head moved back: the first missing event is named', async () => {
    const { chainId, rows, file } = await writtenChain(1386);
    await truncateAfter(chainId, rows, 1200);
    const result = await verifyAuditLog(fx.admin, { chainIds: [chainId], checkpointKeys: keys });
    expect(result.firstBreak).toMatchObject({ chainId, seq: 1201, eventId: null });
    expect(result.firstBreak!.reason).toMatch(/^events 1201\.\.1386 are gone: the chain head is at seq 1200 but signed checkpoint at seq 1386 taken at .* covers them$/);

    // The checkpoints past the new head removed too: the exported file is shorter than nothing.
    await onCheckpointsAsSuperuser((trx) => trx('audit.checkpoints').where('chain_id', chainId).andWhere('seq', '>', 1200).delete());
    expect((await verifyAuditLog(fx.admin, { chainIds: [chainId], checkpointKeys: keys })).ok).toBe(true);
    const withFile = await verifyAuditLog(fx.admin, { chainIds: [chainId], checkpointKeys: keys, exported: await readCheckpointFile(file) });
    expect(withFile.firstBreak).toMatchObject({ chainId, seq: 1201, eventId: null });
    expect(withFile.firstBreak!.reason).toContain('events 1201..1386 are gone: the chain head is at seq 1200 but signed exported checkpoint at seq 1386 (line 14)');
  });

  it('a whole chain removed (events, checkpoints, head) is reported from the exported file', async () => {
    const { chainId, file } = await writtenChain(120);
    await onCheckpointsAsSuperuser(async (trx) => {
      await trx.raw('ALTER TABLE audit.events DISABLE TRIGGER events_append_only');
      await trx('audit.events').where('chain_id', chainId).delete();
      await trx('audit.checkpoints').where('chain_id', chainId).delete();
      await trx('audit.chains').where('id', chainId).delete();
      await trx.raw('ALTER TABLE audit.events ENABLE TRIGGER events_append_only');
    });
    const exported = (await readCheckpointFile(file)).filter((c) => c.chainId === chainId);
    const result = await verifyAuditLog(fx.admin, { chainIds: [chainId], checkpointKeys: keys, exported });
    expect(result.firstBreak).toMatchObject({ chainId, seq: 1, eventId: null });
    expect(result.firstBreak!.reason).toMatch(/^the chain is gone: events 1\.\.120 are covered by exported checkpoint at seq 120 \(line 2\)/);
  });

  it('no false alarm while a writer keeps appending and exporting', async () => {
    const { log, file } = await checkpointedWriter(7);
    await log.record(sampleEvent());
    let stop = false;
    const writer = (async () => {
      while (!stop) await Promise.all(Array.from({ length: 5 }, () => log.record(sampleEvent())));
    })();
    try {
      for (let i = 0; i < 5; i += 1) {
        const exported = await readCheckpointFile(file).catch(() => []);
        const result = await verifyAuditLog(fx.admin, { chainIds: [log.chainId], checkpointKeys: keys, exported });
        expect(result.firstBreak).toBeNull();
      }
    } finally {
      stop = true;
      await writer;
      await log.close();
    }
    expect(await verifyAuditLog(fx.admin, { chainIds: [log.chainId], checkpointKeys: keys, exported: await readCheckpointFile(file) })).toMatchObject({ ok: true });
  });
});

describe('the exported file', () => {
  it('a malformed line is an error naming its line', async () => {
    const file = join(dir, 'bad.jsonl');
    const sink = checkpointFileSink(file);
    await sink({ chainId: 'c', seq: 1, hash: 'a'.repeat(64), createdAt: new Date().toISOString(), keyId: null, signature: null });
    const { appendFileSync } = await import('node:fs');
    appendFileSync(file, '{"chainId":"c","seq":"two"}\n');
    await expect(readCheckpointFile(file)).rejects.toThrow(`${file} line 2: not a checkpoint`);
  });
});
