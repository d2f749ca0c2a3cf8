// `clouddocs audit prune --before YYYY-MM`, run as the real CLI process against a test database.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog, type AuditEvent } from '@clouddocs/audit';
import { createKnex, createTestDatabase, locateDatabase, serviceUrl, type Knex, type TestDatabase } from '@clouddocs/db';
import { migrateAll } from '../stack';
import { baseEnv, clouddocs as run, expectOneLineFailure, type Run } from '../test-support';

let db: TestDatabase;
let knex: Knex;
let chainId: string;
const dir = mkdtempSync(join(tmpdir(), 'cli-audit-prune-'));
const checkpointFile = join(dir, 'checkpoints.jsonl');
const pem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;

const clouddocs = (args: string[], env: Record<string, string> = { AUDIT_CHECKPOINT_KEY: pem, AUDIT_CHECKPOINT_FILE: checkpointFile }): Promise<Run> =>
  run(args, { env: { ...process.env, DATABASE_URL: db.url, LOG_LEVEL: 'silent', ...env } });

const event = (i: number, occurredAt?: Date): AuditEvent => ({
  action: 'document.updated',
  actor: { type: 'user', id: `user-${i}` },
  target: { type: 'document', id: `doc-${i}` },
  outcome: 'success',
  orgId: 'org-prune',
  detail: { i },
  ...(occurredAt ? { occurredAt } : {}),
});

const month = (offset: number) => {
  const now = new Date();
  const d = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + offset, 1));
  return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
};
const present = async (table: string) => (await knex.raw('SELECT to_regclass(?) IS NOT NULL AS ok', [table])).rows[0].ok as boolean;

beforeAll(async () => {
  db = await createTestDatabase();
  knex = await createKnex({ url: db.url, poolMax: 2 });
  await migrateAll(knex);
  const log = await AuditLog.open(knex, 'cli-prune-test');
  await log.record(event(1, new Date('2025-01-10T00:00:00Z')));
  await log.record(event(2, new Date('2025-01-20T00:00:00Z')));
  await log.record(event(3, new Date('2025-02-03T00:00:00Z')));
  await log.record(event(4));
  await log.close();
  chainId = log.chainId;
}, 120_000);
afterAll(async () => {
  await knex?.destroy();
  await db?.drop();
  rmSync(dir, { recursive: true, force: true });
});

describe('clouddocs audit prune refuses, with one line and a non-zero exit, and changes nothing', () => {
  it('no --before, a month that is not one, a future month', async () => {
    expectOneLineFailure(await clouddocs(['audit', 'prune']), /--before is required/);
    const bad = await clouddocs(['audit', 'prune', '--before', '2026-13']);
    expectOneLineFailure(bad, /--before "2026-13" is not a month: use YYYY-MM/);
    expect(bad.code).toBe(2);
    expectOneLineFailure(await clouddocs(['audit', 'prune', '--before', 'last-month']), /is not a month/);
    expectOneLineFailure(await clouddocs(['audit', 'prune', '--before', month(1)]), new RegExp(`--before ${month(1)} is in the future`));
  });

  it.skipIf(!process.env.DATABASE_URL)("with only the services' login: refused, it needs the owner", async () => {
    const serviceOnly = { ...baseEnv(), DATABASE_SERVICE_URL: serviceUrl(db.url), AUDIT_CHECKPOINT_KEY: pem };
    expectOneLineFailure(await run(['audit', 'prune', '--before', '2025-02'], { env: serviceOnly }), /audit prune runs as the schema owner: set DATABASE_URL/);
  });

  it('nothing to prune, and no checkpoint key to sign the cut with', async () => {
    expectOneLineFailure(await clouddocs(['audit', 'prune', '--before', '2024-06']), /nothing to prune before 2024-06/);
    expectOneLineFailure(await clouddocs(['audit', 'prune', '--before', '2025-02'], {}), /AUDIT_CHECKPOINT_KEY is not set/);
    expect(await knex('audit.events').where('chain_id', chainId).count({ n: '*' })).toEqual([{ n: expect.anything() }]);
    expect(Number((await knex('audit.events').where('chain_id', chainId).count({ n: '*' }))[0]!.n)).toBe(4);
  });
});

describe('clouddocs audit prune --before YYYY-MM', () => {
  it('drops the older months after a signed, exported checkpoint at the cut; verify is intact from there; audited', async () => {
    // The CLI's start moved the DEFAULT partition's old events into their months.
    const pruned = await clouddocs(['audit', 'prune', '--before', '2025-02', '--json']);
    expect(pruned.stderr).toBe('');
    expect(pruned.code).toBe(0);
    const rows = await knex('audit.events').where('chain_id', chainId).orderBy('seq');
    expect(rows.map((r) => Number(r.seq))).toEqual([3, 4]);
    const out = JSON.parse(pruned.stdout);
    expect(out).toMatchObject({ before: '2025-02', months: ['2025-01'], events: 2, checkpoints_written: 1 });
    expect(out.cuts).toEqual([{ chain_id: chainId, seq: 2, hash: rows[0]!.prev_hash, events: 2 }]);
    expect(await present('audit.events_2025_01')).toBe(false);
    expect(await present('audit.events_2025_02')).toBe(true);
    const exported = readFileSync(checkpointFile, 'utf8').trim().split('\n').map((line) => JSON.parse(line));
    expect(exported).toEqual([expect.objectContaining({ chainId, seq: 2, hash: rows[0]!.prev_hash, signature: expect.any(String) })]);

    const verify = await clouddocs(['audit', 'verify', '--json', '--checkpoints', checkpointFile]);
    expect(verify.code).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true, anchoredChains: 1, signaturesChecked: true });

    const [audited] = await knex('audit.events').where('action', 'audit.pruned');
    expect(audited).toMatchObject({ actor_type: 'system', actor_id: 'cli', outcome: 'success' });
    expect(audited.detail).toEqual({ before: '2025-02', months: ['2025-01'], events: 2, cuts: [{ chainId, seq: 2 }] });

    expectOneLineFailure(await clouddocs(['audit', 'prune', '--before', '2025-02']), /nothing to prune before 2025-02/);
  });

  it('a tampering after the cut is still found', async () => {
    const victim = await knex('audit.events').where({ chain_id: chainId, seq: 3 }).first();
    await knex.transaction(async (trx) => {
      await trx.raw('ALTER TABLE audit.events DISABLE TRIGGER events_append_only');
      await trx('audit.events').where({ id: victim.id }).update({ actor_id: 'someone-else' });
      await trx.raw('ALTER TABLE audit.events ENABLE TRIGGER events_append_only');
    });
    const verify = await clouddocs(['audit', 'verify']);
    expectOneLineFailure(verify, new RegExp(`chain ${chainId}.*seq 3`));
  });
});

describe('on the embedded store (no DATABASE_URL)', () => {
  it('prune signs the cut with the development key under DATA_DIR, and verify trusts it', { timeout: 240_000 }, async () => {
    const home = mkdtempSync(join(tmpdir(), 'cli-audit-prune-embedded-'));
    const host = await locateDatabase({ DATA_DIR: home }, { host: true });
    const store = await createKnex({ url: host.url, poolMax: 2 });
    try {
      const env = { ...baseEnv(), DATA_DIR: home };
      expect((await run(['migrate'], { env })).code).toBe(0);
      const log = await AuditLog.open(store, 'docs-api');
      await log.record(event(1, new Date('2025-01-10T00:00:00Z')));
      await log.record(event(2));
      await log.close();
      const pruned = await run(['audit', 'prune', '--before', '2025-02', '--json'], { env });
      expect(pruned.stderr).toBe('');
      expect(JSON.parse(pruned.stdout)).toMatchObject({ before: '2025-02', months: ['2025-01'], events: 1, cuts: [{ chain_id: log.chainId, seq: 1 }] });
      const verify = await run(['audit', 'verify', '--json'], { env });
      expect(verify.code).toBe(0);
      expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true, anchoredChains: 1, signaturesChecked: true });
    } finally {
      await store.destroy();
      await host.release();
      rmSync(home, { recursive: true, force: true });
    }
  });
});
