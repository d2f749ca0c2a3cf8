import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKnex, createTestDatabase, migrate, type Knex, type TestDatabase } from '@clouddocs/db';
import { AuditLog } from './log';
import { writeCheckpoints } from './checkpoint';
import { checkpointKeyId, signerFromPrivateKey } from './checkpoint-key';
import { auditGrants, auditMigrations } from './migrations';
import { addMonths, ensureAuditPartitions, monthOf, monthPartitions, partitionName } from './partitions';
import { pruneAuditLog, PruneRefusedError } from './prune';
import { queryEvents } from './query';
import { verifyAuditLog } from './verify';
import { asServiceRole, asSuperuserBypassingTrigger, sampleEvent } from './test-support';

const { privateKey } = generateKeyPairSync('ed25519');
const signer = signerFromPrivateKey(privateKey);
const publicKey = createPublicKey(privateKey);
const checkpointKeys = { [checkpointKeyId(publicKey)]: publicKey };

let db: TestDatabase;
let admin: Knex;
const current = monthOf(new Date());
const currentPartition = partitionName(current);

const at = (iso: string) => new Date(iso);
const partitionOf = async (id: number) => (await admin.raw('SELECT tableoid::regclass::text AS p FROM audit.events WHERE id = ?', [id])).rows[0]?.p as string;
const allEvents = async () => (await admin.raw('SELECT * FROM audit.events ORDER BY id')).rows as Record<string, unknown>[];

// The database starts at audit_002 with a populated, unpartitioned audit.events.
let before: Record<string, unknown>[];
let lastIdBefore: number;
beforeAll(async () => {
  db = await createTestDatabase();
  admin = await createKnex({ url: db.url, poolMax: 4 });
  await migrate(admin, auditMigrations.slice(0, 2), [auditGrants]);
  // The writer appends through audit.group_append (audit_004, CREATE OR REPLACE: applied again below).
  await auditMigrations.find((m) => m.name === 'audit_004_group_append')!.up(admin);
  const log = await AuditLog.open(admin, 'before-partitions');
  await log.recordAll([
    sampleEvent({ occurredAt: at('2024-01-10T10:00:00Z'), orgId: 'org-p' }),
    sampleEvent({ occurredAt: at('2024-01-31T23:59:59.999Z'), orgId: 'org-p' }),
    sampleEvent({ occurredAt: at('2024-02-01T00:00:00Z'), orgId: 'org-p' }),
  ]);
  await log.record(sampleEvent({ orgId: 'org-p' }));
  await log.close();
  await writeCheckpoints(admin, { signer });
  before = await allEvents();
  lastIdBefore = Number((await admin.raw('SELECT last_value FROM audit.events_id_seq')).rows[0].last_value);
  await migrate(admin, auditMigrations, [auditGrants]);
}, 60_000);
afterAll(async () => {
  await admin?.destroy();
  await db?.drop();
});

describe('audit_003_partitions on a populated table', () => {
  it('keeps every event unchanged, the id sequence where it was, and the log verifies', async () => {
    expect(await allEvents()).toEqual(before);
    expect((await admin.raw(`SELECT relkind FROM pg_class WHERE oid = 'audit.events'::regclass`)).rows[0].relkind).toBe('p');
    const names = (await monthPartitions(admin)).map((p) => p.name);
    expect(names).toEqual(expect.arrayContaining(['events_2024_01', 'events_2024_02', currentPartition, partitionName(addMonths(current, 1))]));
    expect(await partitionOf(Number(before[0]!.id))).toBe('audit.events_2024_01');
    expect(await partitionOf(Number(before[1]!.id))).toBe('audit.events_2024_01');
    expect(await partitionOf(Number(before[2]!.id))).toBe('audit.events_2024_02');
    const log = await AuditLog.open(admin, 'after-partitions');
    await log.record(sampleEvent());
    await log.close();
    const [{ id }] = (await admin.raw(`SELECT max(id) AS id FROM audit.events`)).rows;
    expect(Number(id)).toBe(lastIdBefore + 1);
    expect(await verifyAuditLog(admin, { checkpointKeys })).toMatchObject({ ok: true, anchoredChains: 0 });
  });

  it('the org route, admin search and activity filters have an index on every partition', async () => {
    const { rows } = await admin.raw(`SELECT c.relname AS partition, array_agg(pg_get_indexdef(x.indexrelid)) AS defs
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_index x ON x.indrelid = c.oid
      WHERE i.inhparent = 'audit.events'::regclass GROUP BY c.relname`);
    expect(rows.length).toBeGreaterThanOrEqual(5);
    for (const { defs } of rows as { defs: string[] }[]) {
      const all = defs.join('\n');
      expect(all).toMatch(/\(org_id, id DESC\) WHERE \(org_id IS NOT NULL\)/);
      expect(all).toMatch(/\(action, id DESC\)/);
      expect(all).toMatch(/\(actor_id, id DESC\)/);
      expect(all).toMatch(/\(target_id, id DESC\)/);
      expect(all).toMatch(/UNIQUE INDEX \S+ ON \S+ USING btree \(chain_id, seq\)$/m);
    }
  });
});

describe('where inserts land', () => {
  it('in their month, or in the DEFAULT partition when that month has none; the owner then moves them unchanged', async () => {
    const log = await AuditLog.open(admin, 'landing');
    await log.record(sampleEvent({ occurredAt: at('2023-06-15T12:00:00Z'), orgId: 'org-land' }));
    await log.record(sampleEvent({ orgId: 'org-land' }));
    await log.record(sampleEvent({ occurredAt: at('2099-03-01T00:00:00Z'), orgId: 'org-land' }));
    await log.close();
    const rows = await admin('audit.events').where('chain_id', log.chainId).orderBy('seq');
    expect(await partitionOf(Number(rows[0].id))).toBe('audit.events_default');
    expect(await partitionOf(Number(rows[1].id))).toBe(`audit.${currentPartition}`);
    expect(await partitionOf(Number(rows[2].id))).toBe('audit.events_default');

    // Two maintenance calls at once: one creates, the other finds them made.
    const [a, b] = await Promise.all([ensureAuditPartitions(admin), ensureAuditPartitions(admin)]);
    expect([...a.created, ...b.created].sort()).toEqual(['events_2023_06', 'events_2099_03']);
    expect(a.moved + b.moved).toBe(2);
    expect(await partitionOf(Number(rows[0].id))).toBe('audit.events_2023_06');
    expect(await partitionOf(Number(rows[2].id))).toBe('audit.events_2099_03');
    expect(await admin('audit.events').where('chain_id', log.chainId).orderBy('seq')).toEqual(rows);
    expect((await ensureAuditPartitions(admin)).created).toEqual([]);
    expect((await verifyAuditLog(admin)).ok).toBe(true);
  });
});

describe('creating a month while writers write into it', () => {
  it('no insert fails and no event is lost or changed while its month moves out of the DEFAULT partition', async () => {
    const writers = await Promise.all([AuditLog.open(admin, 'busy-1'), AuditLog.open(admin, 'busy-2')]);
    const month = at('2160-04-01T00:00:00Z');
    const write = async (log: AuditLog) => {
      for (let i = 0; i < 20; i += 1) await log.recordAll([0, 1, 2, 3, 4].map((j) => sampleEvent({ occurredAt: new Date(month.getTime() + (i * 5 + j) * 60_000) })));
    };
    const writing = Promise.all(writers.map(write));
    let created: string[] = [];
    while (!created.includes('events_2160_04')) {
      created = (await ensureAuditPartitions(admin)).created;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await writing;
    for (const log of writers) await log.close();
    const chains = writers.map((w) => w.chainId);
    const { rows } = await admin.raw(`SELECT tableoid::regclass::text AS p, count(*)::int AS n FROM audit.events WHERE chain_id = ANY(?) GROUP BY 1`, [chains]);
    expect(rows).toEqual([{ p: 'audit.events_2160_04', n: 200 }]);
    expect(await verifyAuditLog(admin, { chainIds: chains })).toMatchObject({ ok: true, events: 200 });
  });
});

describe('the append-only wall on the partitioned table', () => {
  const tables = () => ['audit.events', `audit.${currentPartition}`, 'audit.events_default'];

  it('UPDATE, DELETE and TRUNCATE are refused on the parent and on every partition, for the owner and the service role', async () => {
    const log = await AuditLog.open(admin, 'wall');
    await log.record(sampleEvent({ occurredAt: at('2150-01-01T00:00:00Z') }));
    await log.close();
    expect((await admin.raw('SELECT count(*)::int AS n FROM audit.events_default')).rows[0].n).toBe(1);
    const count = (await allEvents()).length;
    for (const table of tables()) {
      for (const sql of [`UPDATE ${table} SET outcome = 'failure'`, `DELETE FROM ${table}`, `TRUNCATE ${table}`]) {
        await expect(admin.raw(sql), `${sql} as the owner`).rejects.toThrow(/audit\.events is append-only/);
        await expect(asServiceRole(admin, sql), `${sql} as the service role`).rejects.toThrow(/permission denied|append-only/);
      }
    }
    expect(await allEvents()).toHaveLength(count);
  });

  it('the service role holds SELECT and INSERT only, on the parent and on every partition, and cannot DROP or DETACH one', async () => {
    const { rows } = await admin.raw(`SELECT c.relname AS t, string_agg(g.privilege_type, ',' ORDER BY g.privilege_type) AS privileges
      FROM pg_partition_tree('audit.events') p JOIN pg_class c ON c.oid = p.relid
      LEFT JOIN information_schema.role_table_grants g ON g.table_schema = 'audit' AND g.table_name = c.relname AND g.grantee = 'clouddocs_service'
      GROUP BY c.relname`);
    expect(rows.length).toBeGreaterThanOrEqual(6);
    for (const row of rows as { t: string; privileges: string | null }[]) {
      // Partitions made after the grants carry their own SELECT, INSERT; the parent is what the services use.
      expect([row.t, row.privileges]).toEqual([row.t, 'INSERT,SELECT']);
    }
    await expect(asServiceRole(admin, `DROP TABLE audit.${currentPartition}`)).rejects.toThrow(/must be owner/);
    await expect(asServiceRole(admin, `ALTER TABLE audit.events DETACH PARTITION audit.${currentPartition}`)).rejects.toThrow(/must be owner/);
    await expect(asServiceRole(admin, 'DROP TABLE audit.events_default')).rejects.toThrow(/must be owner/);
    await expect(asServiceRole(admin, `CREATE TABLE audit.events_2098_01 PARTITION OF audit.events FOR VALUES FROM ('2098-01-01') TO ('2098-02-01')`)).rejects.toThrow(
      /permission denied|must be owner/,
    );
  });
});

describe('chain integrity across months', () => {
  it('a duplicate seq is refused within a month by the partition, and found across months by verify', async () => {
    const log = await AuditLog.open(admin, 'duplicates');
    await log.record(sampleEvent());
    await log.close();
    const row = await admin('audit.events').where('chain_id', log.chainId).first();
    const copy = { ...row, id: undefined };
    delete copy.id;
    await expect(admin('audit.events').insert(copy)).rejects.toThrow(/duplicate key/);
    await admin('audit.events').insert({ ...copy, occurred_at: new Date('2150-06-01T00:00:00Z') });
    const result = await verifyAuditLog(admin, { chainIds: [log.chainId] });
    expect(result.ok).toBe(false);
    expect(result.firstBreak).toMatchObject({ chainId: log.chainId, seq: 2 });
    await asSuperuserBypassingTrigger(admin, 'DELETE FROM audit.events WHERE chain_id = ? AND occurred_at > ?', [log.chainId, '2150-01-01']);
    expect((await verifyAuditLog(admin, { chainIds: [log.chainId] })).ok).toBe(true);
  });
});

describe('pruning whole months', () => {
  it('refuses a bad month, a future month, nothing to prune, and changes nothing', async () => {
    await expect(pruneAuditLog(admin, { before: '2026-13', signer })).rejects.toThrow(/"2026-13" is not a month/);
    await expect(pruneAuditLog(admin, { before: '26-01', signer })).rejects.toThrow(PruneRefusedError);
    const next = addMonths(current, 1);
    const label = `${next.getUTCFullYear()}-${String(next.getUTCMonth() + 1).padStart(2, '0')}`;
    await expect(pruneAuditLog(admin, { before: label, signer })).rejects.toThrow(/is in the future/);
    await expect(pruneAuditLog(admin, { before: '2020-01', signer })).rejects.toThrow(/nothing to prune before 2020-01/);
  });

  it('refuses a chain whose events before the cut do not all lie in the dropped months', async () => {
    const log = await AuditLog.open(admin, 'out-of-order');
    await log.record(sampleEvent({ occurredAt: at('2023-09-05T00:00:00Z') }));
    await log.record(sampleEvent({ occurredAt: at('2023-07-05T00:00:00Z') }));
    await log.close();
    const partitions = (await monthPartitions(admin)).map((p) => p.name);
    await expect(pruneAuditLog(admin, { before: '2023-08', signer })).rejects.toThrow(
      new RegExp(`chain ${log.chainId} cannot be cut at 2023-08: its event seq 1 \\(occurred 2023-09-05T00:00:00.000Z\\) is kept but precedes seq 2`),
    );
    // The month it created for the DEFAULT partition's events before the cut stays; nothing was dropped.
    expect((await monthPartitions(admin)).map((p) => p.name)).toEqual(expect.arrayContaining([...partitions, 'events_2023_07']));
    expect((await verifyAuditLog(admin)).ok).toBe(true);
  });

  it('refuses while the log does not verify', async () => {
    const log = await AuditLog.open(admin, 'broken');
    await log.record(sampleEvent({ occurredAt: at('2022-01-05T00:00:00Z') }));
    await log.record(sampleEvent({ occurredAt: at('2022-01-06T00:00:00Z') }));
    await log.close();
    await ensureAuditPartitions(admin);
    await asSuperuserBypassingTrigger(admin, `UPDATE audit.events SET outcome = 'failure' WHERE chain_id = ? AND seq = 2`, [log.chainId]);
    await expect(pruneAuditLog(admin, { before: '2022-02', signer })).rejects.toThrow(/the audit log does not verify, nothing pruned: .*seq 2/);
    await asSuperuserBypassingTrigger(admin, `UPDATE audit.events SET outcome = 'success' WHERE chain_id = ? AND seq = 2`, [log.chainId]);
  });

  it('drops the old months after a signed checkpoint at each cut; verify is intact and anchored there; the org listing still pages; later tampering is found', async () => {
    const months = (await monthPartitions(admin)).filter((p) => p.month < at('2024-02-01T00:00:00Z')).map((p) => p.name);
    const result = await pruneAuditLog(admin, { before: '2024-02', signer, checkpointKeys });
    expect(result.months).toEqual(['2022-01', '2023-06', '2023-07', '2023-09', '2024-01']);
    expect(months).toEqual(['events_2022_01', 'events_2023_06', 'events_2023_07', 'events_2023_09', 'events_2024_01']);
    const names = (await monthPartitions(admin)).map((p) => p.name);
    for (const gone of months) expect(names).not.toContain(gone);
    expect(names).toContain('events_2024_02');
    expect(result.events).toBe(2 + 1 + 2 + 2);

    const first = before[0]!.chain_id as string;
    const cut = result.cuts.find((c) => c.chainId === first)!;
    expect(cut).toMatchObject({ seq: 2, hash: before[1]!.hash, events: 2 });
    const stored = await admin('audit.checkpoints').where({ chain_id: first, seq: 2 }).first();
    expect(stored).toMatchObject({ hash: before[1]!.hash, key_id: signer.keyId });
    expect(stored.signature).toEqual(expect.any(String));

    const verified = await verifyAuditLog(admin, { checkpointKeys });
    expect(verified).toMatchObject({ ok: true });
    // The two chains that kept later events start from their cut; the two with nothing left end at it.
    expect(verified.anchoredChains).toBe(4);

    // The org listing pages newest-first across the remaining months.
    const page1 = await queryEvents(admin, { orgId: 'org-p', limit: 1 });
    const page2 = await queryEvents(admin, { orgId: 'org-p', limit: 1, beforeId: page1[0]!.id });
    const page3 = await queryEvents(admin, { orgId: 'org-p', limit: 1, beforeId: page2[0]!.id });
    expect([...page1, ...page2, ...page3].map((e) => e.seq)).toEqual([4, 3]);

    await asSuperuserBypassingTrigger(admin, `UPDATE audit.events SET actor_id = 'someone-else' WHERE chain_id = ? AND seq = 3`, [first]);
    const tampered = await verifyAuditLog(admin, { checkpointKeys });
    expect(tampered.ok).toBe(false);
    expect(tampered.firstBreak).toMatchObject({ chainId: first, seq: 3, reason: 'content does not match its hash' });
  });
});

describe('the edges of time', () => {
  it('an event in December 9999 stays in the DEFAULT partition and the maintenance still runs', async () => {
    const log = await AuditLog.open(admin, 'far-future');
    await log.record(sampleEvent({ occurredAt: at('9999-12-31T23:59:59Z') }));
    await log.close();
    const [{ id }] = await admin('audit.events').where('chain_id', log.chainId).select('id');
    await expect(ensureAuditPartitions(admin)).resolves.toMatchObject({ created: [] });
    expect(await partitionOf(Number(id))).toBe('audit.events_default');
    expect((await verifyAuditLog(admin, { chainIds: [log.chainId] })).ok).toBe(true);
  });
});
