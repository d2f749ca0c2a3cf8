// `clouddocs audit verify` and `clouddocs audit tail`, run as the real CLI process against a test database.
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AuditLog,
  auditGrants,
  auditMigrations,
  auditCheckpointOptions,
  checkpointFileSink,
  DEV_CHECKPOINT_KEY_FILE,
  eventHash,
  parseCheckpointPrivateKey,
  signerFromPrivateKey,
  type AuditEvent,
} from '@clouddocs/audit';
import { createKnex, createTestDatabase, locateDatabase, migrate, type Knex, type TestDatabase } from '@clouddocs/db';
import { loadAuthConfig } from '@clouddocs/config';
import { createKv } from '@clouddocs/kv';
import { createLogger } from '@clouddocs/observability';
import { runAuthServer } from '../run-auth';
import { migrateAll } from '../stack';
import { BIN, baseEnv, clouddocs as run, type Run } from '../test-support';

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
    expect(JSON.parse(run.stdout)).toEqual({ ok: true, chains: 1, events: 7, anchoredChains: 0, checkpoints: 0, signaturesChecked: false });
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

describe('clouddocs audit verify against signed checkpoints', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-audit-checkpoints-'));
  const trusted = generateKeyPairSync('ed25519');
  const pem = trusted.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const publicKeyFile = join(dir, 'trusted.pub.pem');
  const otherKeyFile = join(dir, 'other.pub.pem');
  writeFileSync(publicKeyFile, trusted.publicKey.export({ type: 'spki', format: 'pem' }));
  writeFileSync(otherKeyFile, generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }));
  const opened: { db: TestDatabase; knex: Knex }[] = [];
  afterAll(async () => {
    for (const o of opened) {
      await o.knex.destroy();
      await o.db.drop();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  /** A database of its own with one writer's chain of `n` events, checkpointed every 100 and exported to a file. */
  async function checkpointedLog(n: number) {
    const db = await createTestDatabase();
    const knex = await createKnex({ url: db.url, poolMax: 2 });
    opened.push({ db, knex });
    await migrate(knex, auditMigrations, [auditGrants]);
    const file = join(dir, `checkpoints-${opened.length}.jsonl`);
    const log = await AuditLog.open(knex, 'cli-checkpoints', {
      checkpoints: { signer: signerFromPrivateKey(parseCheckpointPrivateKey(pem)), everyEvents: 100, everyMs: 3_600_000, onCheckpoint: checkpointFileSink(file) },
    });
    for (let done = 0; done < n; done += 50) await log.recordAll(Array.from({ length: 50 }, (_, i) => event('document.updated', done + i)));
    await log.close();
    const rows = await knex('audit.events').where('chain_id', log.chainId).orderBy('seq');
    const verify = (args: string[], env: Record<string, string> = {}) =>
      run(['audit', 'verify', ...args], { env: { ...process.env, DATABASE_URL: db.url, LOG_LEVEL: 'silent', ...env } });
    return { knex, file, chainId: log.chainId, rows, verify };
  }

  /** As the owner with the triggers lifted: `body`. */
  const asSuperuser = (knex: Knex, body: (trx: Knex.Transaction) => Promise<unknown>) =>
    knex.transaction(async (trx) => {
      await trx.raw('ALTER TABLE audit.events DISABLE TRIGGER events_append_only');
      await trx.raw('ALTER TABLE audit.checkpoints DISABLE TRIGGER checkpoints_append_only');
      await body(trx);
      await trx.raw('ALTER TABLE audit.events ENABLE TRIGGER events_append_only');
      await trx.raw('ALTER TABLE audit.checkpoints ENABLE TRIGGER checkpoints_append_only');
    });

  it('an intact log verifies with the key of AUDIT_CHECKPOINT_KEY or --public-key, and the exported file', async () => {
    const { file, verify } = await checkpointedLog(300);
    const json = await verify(['--json', '--checkpoints', file], { AUDIT_CHECKPOINT_KEY: pem });
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({ ok: true, chains: 1, events: 300, anchoredChains: 0, checkpoints: 6, signaturesChecked: true });
    const text = await verify(['--public-key', publicKeyFile]);
    expect(text.code).toBe(0);
    expect(text.stdout.trim()).toBe('audit log intact: 300 event(s) in 1 chain(s); 3 checkpoint(s) matched, signatures valid');
    const unchecked = await verify([]);
    expect(unchecked.stdout.trim()).toBe('audit log intact: 300 event(s) in 1 chain(s); 3 checkpoint(s) matched, signatures not checked (no public key)');
  });

  it('checkpoints signed by another key are refused, naming the first one', async () => {
    const { rows, chainId, verify } = await checkpointedLog(100);
    const other = await verify(['--public-key', otherKeyFile]);
    expect(other.code).toBe(1);
    expect(other.stderr.trim()).toBe(`clouddocs: audit log broken at chain ${chainId} seq 100 event ${rows[99]!.id}: the checkpoint at seq 100 is not signed by a trusted key`);
  });

  it('an event edited and every later hash recomputed by a superuser: non-zero, naming the event at the checkpoint it no longer matches', async () => {
    const { knex, file, chainId, rows, verify } = await checkpointedLog(300);
    let prev = rows[137]!.hash as string;
    await asSuperuser(knex, async (trx) => {
      for (const row of rows.slice(138)) {
        const actorId = Number(row.seq) === 139 ? 'someone-else' : row.actor_id;
        const hash = eventHash(prev, {
          chainId, seq: Number(row.seq), occurredAt: row.occurred_at.toISOString(), actorType: row.actor_type, actorId, action: row.action,
          targetType: row.target_type, targetId: row.target_id, outcome: row.outcome, orgId: row.org_id, requestId: row.request_id,
          ip: row.ip, userAgent: row.user_agent, detail: row.detail,
        });
        await trx('audit.events').where({ id: row.id }).update({ actor_id: actorId, prev_hash: prev, hash });
        prev = hash;
      }
      await trx('audit.chains').where({ id: chainId }).update({ head_hash: prev });
    });
    const stored = await verify([], { AUDIT_CHECKPOINT_KEY: pem });
    expect(stored.code).toBe(1);
    expect(stored.stderr.trim()).toMatch(
      new RegExp(`^clouddocs: audit log broken at chain ${chainId} seq 200 event ${rows[199]!.id}: hash does not match the signed checkpoint at seq 200 taken at \\S+: the chain was rewritten after seq 100 \\(the last checkpoint it matches\\), at or before this event$`),
    );
    // The checkpoints that give it away removed from the database: the exported file still names the event.
    await asSuperuser(knex, (trx) => trx('audit.checkpoints').where('chain_id', chainId).andWhere('seq', '>', 100).delete());
    const exported = await verify(['--json', '--checkpoints', file], { AUDIT_CHECKPOINT_KEY: pem });
    expect(exported.code).toBe(1);
    expect(JSON.parse(exported.stdout)).toMatchObject({ ok: false, firstBreak: { chainId, seq: 200, eventId: Number(rows[199]!.id) } });
    expect(JSON.parse(exported.stdout).firstBreak.reason).toContain('signed exported checkpoint at seq 200 (line 2)');
  });

  it('the tail deleted and the head moved back by a superuser: non-zero, naming the first missing event', async () => {
    const { knex, file, chainId, rows, verify } = await checkpointedLog(300);
    await asSuperuser(knex, async (trx) => {
      await trx('audit.events').where('chain_id', chainId).andWhere('seq', '>', 250).delete();
      await trx('audit.checkpoints').where('chain_id', chainId).andWhere('seq', '>', 250).delete();
      await trx('audit.chains').where({ id: chainId }).update({ head_seq: 250, head_hash: rows[249]!.hash });
    });
    const run = await verify(['--checkpoints', file, '--public-key', publicKeyFile]);
    expect(run.code).toBe(1);
    expect(run.stderr.trim()).toMatch(
      new RegExp(`^clouddocs: audit log broken at chain ${chainId} seq 251: events 251\\.\\.300 are gone: the chain head is at seq 250 but signed exported checkpoint at seq 300 \\(line 3\\) taken at \\S+ covers them$`),
    );
  });

  it('a missing or malformed file is a one-line error', async () => {
    const { verify } = await checkpointedLog(50);
    const missing = await verify(['--checkpoints', join(dir, 'nope.jsonl')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr.trim()).toBe(`clouddocs: --checkpoints ${join(dir, 'nope.jsonl')}: ENOENT`);
    const badKey = join(dir, 'bad.pem');
    writeFileSync(badKey, 'not a key');
    const key = await verify(['--public-key', badKey]);
    expect(key.code).toBe(2);
    expect(key.stderr.trim().split('\n')).toHaveLength(1);
    expect(key.stderr).toContain(`--public-key ${badKey} holds no usable Ed25519 public key`);
  });
});

describe('the services sign their audit chains as configured', () => {
  it('the auth server signs its chain, logs each checkpoint and appends it to AUDIT_CHECKPOINT_FILE; verify trusts it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cli-audit-service-'));
    const db = await createTestDatabase();
    const owner = await createKnex({ url: db.url, poolMax: 2 });
    const key = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const file = join(dir, 'checkpoints.jsonl');
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _encoding, done) {
        lines.push(...String(chunk).split('\n').filter(Boolean));
        done();
      },
    });
    try {
      await migrateAll(owner);
      const config = loadAuthConfig({
        DATABASE_URL: db.url,
        DATA_DIR: dir,
        LOG_LEVEL: 'info',
        AUDIT_CHECKPOINT_KEY: key,
        AUDIT_CHECKPOINT_FILE: file,
        AUDIT_CHECKPOINT_EVERY_EVENTS: '2',
        AUDIT_CHECKPOINT_EVERY_SECONDS: '3600',
      });
      const kv = createKv(config);
      const auth = await runAuthServer({ config, databaseUrl: db.url, kv, logger: createLogger({ level: 'info', name: 'auth-server', destination }), port: 0, host: '127.0.0.1' });
      try {
        const audit = auth.server.audit;
        for (let i = 0; i < 4; i += 1) await audit.record(event('document.created', i));
        await audit.flush();
      } finally {
        await auth.stop();
        await kv.close();
      }
      const exported = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      const chainId = exported[0].chainId as string;
      expect(chainId).toMatch(/^auth-server:/);
      expect(exported.map((c) => c.seq).slice(0, 2)).toEqual([2, 4]);
      expect(exported[0]).toMatchObject({ keyId: expect.stringMatching(/^ed25519:/), signature: expect.any(String) });
      const logged = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'audit checkpoint');
      expect(logged.map((l) => l.auditCheckpoint)).toEqual(exported);
      const verify = await run(['audit', 'verify', '--json', '--checkpoints', file], {
        env: { ...process.env, DATABASE_URL: db.url, LOG_LEVEL: 'silent', AUDIT_CHECKPOINT_KEY: key },
      });
      expect(verify.code).toBe(0);
      expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true, signaturesChecked: true, checkpoints: exported.length * 2 });
    } finally {
      await owner.destroy();
      await db.drop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('on the embedded store, the development key under DATA_DIR', () => {
  it('a writer configured without AUDIT_CHECKPOINT_KEY signs with a key generated under DATA_DIR, which audit verify then trusts', { timeout: 240_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cli-audit-devkey-'));
    const host = await locateDatabase({ DATA_DIR: dir }, { host: true });
    const knex = await createKnex({ url: host.url, poolMax: 2 });
    try {
      const env = { ...baseEnv(), DATA_DIR: dir };
      const migrated = await run(['migrate', '--json'], { env });
      expect(migrated.code).toBe(0);
      // No key yet: verify does not make one.
      expect(JSON.parse((await run(['audit', 'verify', '--json'], { env })).stdout)).toMatchObject({ ok: true, signaturesChecked: false });
      expect(() => readFileSync(join(dir, DEV_CHECKPOINT_KEY_FILE))).toThrow(/ENOENT/);

      const config = loadAuthConfig({ DATA_DIR: dir });
      const checkpoints = await auditCheckpointOptions(config, createLogger({ level: 'silent', name: 'test' }));
      const log = await AuditLog.open(knex, 'docs-api', { checkpoints: { ...checkpoints!, everyEvents: 2 } });
      for (let i = 0; i < 3; i += 1) await log.record(event('document.created', i));
      await log.close();
      expect(readFileSync(join(dir, DEV_CHECKPOINT_KEY_FILE), 'utf8')).toContain('-----BEGIN PRIVATE KEY-----');

      const verify = await run(['audit', 'verify', '--json'], { env });
      expect(verify.code).toBe(0);
      expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true, events: 3, checkpoints: 2, signaturesChecked: true });
    } finally {
      await knex.destroy();
      await host.release();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
