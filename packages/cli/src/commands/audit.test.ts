// `clouddocs audit verify` and `clouddocs audit tail`, run as the real CLI process against a test database.
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog, auditGrants, auditMigrations, type AuditEvent } from '@clouddocs/audit';
import { createKnex, createTestDatabase, migrate, type Knex, type TestDatabase } from '@clouddocs/db';
import { BIN, clouddocs as run, type Run } from '../test-support';

let db: TestDatabase;
let knex: Knex;
let log: AuditLog;

const clouddocs = (args: string[]): Promise<Run> => run(args, { env: { ...process.env, DATABASE_URL: db.url, LOG_LEVEL: 'silent' } });

const event = (action: AuditEvent['action'], i: number): AuditEvent => ({
  action,
  actor: { type: 'user', id: `user-${i}` },
  target: { type: 'document', id: `doc-${i}` },
  outcome: 'success',
  orgId: 'org-1',
  detail: { i },
});

beforeAll(async () => {
  db = await createTestDatabase();
  knex = await createKnex({ url: db.url, poolMax: 2 });
  await migrate(knex, auditMigrations, [auditGrants]);
  log = await AuditLog.open(knex, 'cli-test');
  for (let i = 0; i < 5; i += 1) await log.record(event(i % 2 ? 'document.updated' : 'document.created', i));
});
afterAll(async () => {
  await log?.close();
  await knex?.destroy();
  await db?.drop();
});

describe('clouddocs audit tail', () => {
  it('prints the newest N events oldest-first, one line each', async () => {
    const run = await clouddocs(['audit', 'tail', '--limit', '3']);
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/ document\.created success actor=user:user-2 target=document:doc-2 org=org-1 detail=\{"i":2\}$/);
    expect(lines[2]).toContain('actor=user:user-4');
  });

  it('--json prints one object { items } and --action filters', async () => {
    const run = await clouddocs(['audit', 'tail', '--json', '--action', 'document.updated']);
    expect(run.code).toBe(0);
    const body = JSON.parse(run.stdout);
    expect(body.items.map((e: { detail: { i: number } }) => e.detail.i)).toEqual([1, 3]);
    expect(body.items[0]).toMatchObject({ action: 'document.updated', actor: { type: 'user', id: 'user-1' }, outcome: 'success', orgId: 'org-1' });
  });

  it('an unknown action or a bad limit is a one-line error with a non-zero exit', async () => {
    const bad = await clouddocs(['audit', 'tail', '--action', 'document.exploded']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr.trim()).toBe("clouddocs: unknown audit action 'document.exploded'");
    const limit = await clouddocs(['audit', 'tail', '--limit', 'many']);
    expect(limit.code).not.toBe(0);
    expect(limit.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('--follow --json prints each new event as a JSON line until interrupted', async () => {
    const child = spawn(process.execPath, [BIN, 'audit', 'tail', '--follow', '--json', '--limit', '1'], {
      env: { ...process.env, DATABASE_URL: db.url, LOG_LEVEL: 'silent' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines: string[] = [];
    let buffer = '';
    const waitForLines = (n: number) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${n} lines, got ${lines.length}`)), 20_000);
        const check = () => {
          if (lines.length >= n) {
            clearTimeout(timer);
            child.stdout.off('data', check);
            resolve();
          }
        };
        child.stdout.on('data', check);
        check();
      });
    child.stdout.on('data', (d) => {
      buffer += d;
      const parts = buffer.split('\n');
      buffer = parts.pop()!;
      lines.push(...parts.filter(Boolean));
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await waitForLines(1);
    await log.recordAll([event('document.shared', 10), event('access.denied', 11)]);
    await waitForLines(3);
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    const parsed = lines.map((l) => JSON.parse(l));
    expect(parsed.map((e) => e.detail.i)).toEqual([4, 10, 11]);
    expect(parsed[2]).toMatchObject({ action: 'access.denied' });
  }, 40_000);
});

describe('clouddocs audit verify', () => {
  it('exits 0 with a summary when the log is intact', async () => {
    const run = await clouddocs(['audit', 'verify', '--json']);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ ok: true, chains: 1, events: 7, anchoredChains: 0 });
    const text = await clouddocs(['audit', 'verify']);
    expect(text.stdout.trim()).toBe('audit log intact: 7 event(s) in 1 chain(s)');
  });

  it('exits non-zero naming the first broken event after a superuser edits a row', async () => {
    const victim = await knex('audit.events').where({ chain_id: log.chainId, seq: 3 }).first();
    await knex.transaction(async (trx) => {
      await trx.raw('ALTER TABLE audit.events DISABLE TRIGGER events_append_only');
      await trx('audit.events').where({ id: victim.id }).update({ outcome: 'failure' });
      await trx.raw('ALTER TABLE audit.events ENABLE TRIGGER events_append_only');
    });
    const run = await clouddocs(['audit', 'verify']);
    expect(run.code).not.toBe(0);
    expect(run.stderr.trim()).toBe(`clouddocs: audit log broken at chain ${log.chainId} seq 3 event ${victim.id}: content does not match its hash`);
    const json = await clouddocs(['audit', 'verify', '--json']);
    expect(json.code).not.toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({
      ok: false,
      events: 2,
      firstBreak: { chainId: log.chainId, seq: 3, eventId: Number(victim.id), reason: 'content does not match its hash' },
    });
  });
});
