// `clouddocs audit prune --before YYYY-MM`, run as the real CLI process: whole monthly partitions of
// audit.events are dropped after a signed checkpoint at each chain's cut, `audit verify` then starts
// those chains at the checkpoint (intact, signatures checked), and the prune is itself audited.
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog, type AuditEvent } from '@clouddocs/audit';
import { createKnex, createTestDatabase, type Knex, type TestDatabase } from '@clouddocs/db';
import { migrateAll } from '../stack';
import { clouddocs as run, type Run } from '../test-support';

const KEY = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
let db: TestDatabase;
let knex: Knex;

const clouddocs = (args: string[], key: string | null = KEY): Promise<Run> =>
  run(args, { env: { ...process.env, DATABASE_URL: db.url, LOG_LEVEL: 'silent', ...(key ? { AUDIT_CHECKPOINT_KEY: key } : { AUDIT_CHECKPOINT_KEY: '' }) } });
const monthsAgo = (n: number, day = 10) => {
  const now = new Date();
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - n, day, 12));
};
const label = (d: Date) => d.toISOString().slice(0, 7);
const partition = (d: Date) => `events_y${d.getUTCFullYear()}m${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
const event = (occurredAt: Date, i: number): AuditEvent => ({ action: 'document.updated', actor: { type: 'user', id: `u${i}` }, target: { type: 'document', id: `d${i}` }, outcome: 'success', occurredAt, detail: { i } });

beforeAll(async () => {
  db = await createTestDatabase();
  knex = await createKnex({ url: db.url, poolMax: 2 });
  await migrateAll(knex);
  await knex.raw(`SELECT audit.ensure_partitions(now() - interval '4 months', now())`);
  const a = await AuditLog.open(knex, 'prune-a');
  const b = await AuditLog.open(knex, 'prune-b');
  for (let i = 0; i < 3; i += 1) await a.record(event(monthsAgo(3), i));
  for (let i = 0; i < 2; i += 1) await a.record(event(monthsAgo(2), i));
  for (let i = 0; i < 2; i += 1) await a.record(event(new Date(), i));
  for (let i = 0; i < 2; i += 1) await b.record(event(monthsAgo(3), i));
  await a.close();
  await b.close();
});
afterAll(async () => {
  await knex?.destroy();
  await db?.drop();
});

describe('clouddocs audit prune', () => {
  it('bad input is refused with one line: a malformed month (2), a month to come (1), no checkpoint key (2)', async () => {
    const malformed = await clouddocs(['audit', 'prune', '--before', '2026-13']);
    expect(malformed.code).toBe(2);
    expect(malformed.stderr.trim()).toBe('clouddocs: --before must be a month as YYYY-MM (got "2026-13")');
    const future = await clouddocs(['audit', 'prune', '--before', label(monthsAgo(-2))]);
    expect(future.code).toBe(1);
    expect(future.stderr.trim()).toMatch(/is after the current month/);
    const keyless = await clouddocs(['audit', 'prune', '--before', label(monthsAgo(1))], null);
    expect(keyless.code).toBe(2);
    expect(keyless.stderr.trim()).toMatch(/set AUDIT_CHECKPOINT_KEY/);
    expect(Number((await knex('audit.events').count({ n: '*' }).first())!.n)).toBe(9);
  });

  it('drops the partitions of earlier months after a signed checkpoint per chain; verify starts there, intact, and the prune is audited', async () => {
    const pruned = await clouddocs(['audit', 'prune', '--before', label(monthsAgo(1)), '--json']);
    expect(pruned.code, pruned.stderr).toBe(0);
    const summary = JSON.parse(pruned.stdout) as { partitions: string[]; chains: number; events: number };
    expect(summary.partitions).toEqual(expect.arrayContaining([partition(monthsAgo(3)), partition(monthsAgo(2))]));
    expect(summary).toMatchObject({ chains: 2, events: 7 });
    const { rows } = await knex.raw(`SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'audit.events'::regclass`);
    const left = (rows as { name: string }[]).map((r) => r.name);
    expect(left).not.toContain(partition(monthsAgo(3)));
    expect(left).toContain(partition(new Date()));
    // Only this month's events remain, plus the prune's own record.
    const remaining = await knex('audit.events').select('action');
    expect(remaining.filter((r) => r.action === 'document.updated')).toHaveLength(2);
    const record = await knex('audit.events').where({ action: 'audit.pruned' }).first();
    expect(record.detail).toMatchObject({ before: label(monthsAgo(1)), chains: 2, events: 7 });

    const verify = await clouddocs(['audit', 'verify', '--json']);
    expect(verify.code, verify.stderr).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true, anchoredChains: 2, signaturesChecked: true });
    // Without the key that signed the cut, the anchors are not trusted.
    const otherKey = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const untrusted = await clouddocs(['audit', 'verify'], otherKey);
    expect(untrusted.code).not.toBe(0);
    expect(untrusted.stderr).toMatch(/not signed by a trusted key/);
  });

  it('the services\' login may not drop a partition or write one directly', async () => {
    const { rows } = await knex.raw(`SELECT has_table_privilege('clouddocs_service', 'audit.${partition(new Date())}', 'INSERT') AS ins, has_table_privilege('clouddocs_service', 'audit.${partition(new Date())}', 'DELETE') AS del`);
    expect(rows[0]).toEqual({ ins: false, del: false });
  });
});
