// The audit writer's CPU cost per event, on both sides: this process's (preparing, chaining, hashing and
// serialising the events, the driver) and PostgreSQL's (the backends of the benchmark's database, from
// /proc), with batches of about the size the token endpoint makes. Several builds of the writer in one
// run, rounds alternated, so that a noisy host hits them alike:
//
//   AUDIT_VARIANTS=before=/tmp/base,after=. npx tsx bench/src/audit-batch-cost.ts
//
// Each variant is a source tree whose node_modules resolves @clouddocs/* to its own packages
// (`bench/src/lib/variant-tree.sh <commit> <dir>`); its AuditLog writes into one database migrated by
// this checkout (no checkpoints, as the token benchmark's auth server has no key). AUDIT_PRODUCERS (default 4,13,32): concurrent producers, each recording and awaiting one
// event at a time, so a batch holds about that many events; AUDIT_EVENTS per run (default 20,000);
// AUDIT_ROUNDS (default 3). The PostgreSQL cost is split into a fixed part per batch and a part per
// event by a least-squares line over the runs' batch sizes. DATABASE_URL names the server (default
// postgres://postgres@127.0.0.1:5432/test); the run uses a fresh database and drops it afterwards.
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { cpus, loadavg } from 'node:os';
import type { AuditEvent, AuditLog as AuditLogClass } from '@clouddocs/audit';
import { migrateAll } from '@clouddocs/cli';
import { createKnex, createTestDatabase, type Knex } from '@clouddocs/db';
import { processCpu } from './lib/proc';

const EVENTS = Number(process.env.AUDIT_EVENTS ?? 20_000);
const ROUNDS = Number(process.env.AUDIT_ROUNDS ?? 3);
const PRODUCERS = (process.env.AUDIT_PRODUCERS ?? '4,13,32').split(',').map(Number);
const variants = (process.env.AUDIT_VARIANTS ?? `current=${process.cwd()}`).split(',').map((spec) => {
  const [name, root] = spec.split('=') as [string, string];
  return { name, root: resolve(root) };
});

/** A token.issued event as the auth server raises it for a client_credentials grant. */
function tokenIssued(i: number): AuditEvent {
  return {
    action: 'token.issued',
    actor: { type: 'client', id: 'Vx3kq9T2mZp8LwR4cN7bYd' },
    target: { type: 'client', id: 'Vx3kq9T2mZp8LwR4cN7bYd' },
    outcome: 'success',
    requestId: `0c3f6a1e-7d2b-4e8a-9f10-${(i % 1e12).toString(16).padStart(12, '0')}`,
    ip: '127.0.0.1',
    userAgent: null,
    detail: { grantType: 'client_credentials', tokenKinds: ['AccessToken'], scope: 'docs:read', jti: `j${i.toString(36)}AbCdEfGhIjKlMnOp` },
  };
}

type AuditLogType = typeof AuditLogClass;

interface Reading {
  variant: string;
  producers: number;
  events: number;
  batches: number;
  nodeUs: number;
  pgUs: number;
}

const database = async (knex: Knex, name: string) => {
  const { rows } = await knex.raw<{ rows: { pid: number }[] }>('select pid from pg_stat_activity where datname = ?', [name]);
  return rows.map((r) => r.pid);
};
const pgCpu = async (pids: number[]) => (await Promise.all(pids.map(processCpu))).reduce((sum, c) => sum + c.total, 0);

async function run(AuditLog: AuditLogType, knex: Knex, admin: Knex, dbName: string, variant: string, producers: number): Promise<Reading> {
  let batches = 0;
  const log = await AuditLog.open(knex, `cost-${variant}`, { onCommit: () => (batches += 1) });
  // Warm-up: JIT, the pool's connections, PostgreSQL's caches.
  let next = 0;
  const work = async (total: number) =>
    Promise.all(
      Array.from({ length: producers }, async () => {
        while (next < total) await log.record(tokenIssued(next++));
      }),
    );
  await work(2_000);
  next = 0;
  batches = 0;
  const pids = await database(admin, dbName);
  const [pg0, node0] = [await pgCpu(pids), process.cpuUsage()];
  await work(EVENTS);
  const node1 = process.cpuUsage(node0);
  const pg1 = await pgCpu(pids);
  const counted = batches;
  await log.close();
  return { variant, producers, events: EVENTS, batches: counted, nodeUs: (node1.user + node1.system) / EVENTS, pgUs: ((pg1 - pg0) * 1e6) / EVENTS };
}

const db = await createTestDatabase({ DATABASE_URL: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test' });
const dbName = new URL(db.url).pathname.slice(1);
const admin = await createKnex({ url: db.url, poolMax: 2 });
await migrateAll(admin);
// The services' pool (auth server: 8 connections), as the services' login.
const knex = await createKnex({ url: db.url, poolMax: 8, serviceRole: true });
const loaded = new Map<string, AuditLogType>();
for (const v of variants) {
  const module = (await import(pathToFileURL(`${v.root}/packages/audit/src/index.ts`).href)) as { AuditLog: AuditLogType };
  loaded.set(v.name, module.AuditLog);
}
console.log(`load ${loadavg().map((l) => l.toFixed(1)).join(' ')}, ${cpus().length} CPUs; ${EVENTS} events per run, producers ${PRODUCERS.join(', ')}`);
const readings: Reading[] = [];
try {
  for (let round = 1; round <= ROUNDS; round++) {
    for (const producers of PRODUCERS) {
      for (const v of round % 2 ? variants : [...variants].reverse()) {
        await admin.raw('CHECKPOINT');
        const r = await run(loaded.get(v.name)!, knex, admin, dbName, v.name, producers);
        readings.push(r);
        console.log(
          `round ${round} ${v.name.padEnd(10)} ${String(producers).padStart(3)} producers: ${(r.events / r.batches).toFixed(1).padStart(5)} events/batch  node ${r.nodeUs.toFixed(1).padStart(6)} µs/event  postgres ${r.pgUs.toFixed(1).padStart(6)} µs/event`,
        );
      }
    }
  }
} finally {
  await knex.destroy();
  await admin.destroy();
  await db.drop();
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log('\nmedians (µs per event), and PostgreSQL split into per batch + per event (least squares over every run):');
for (const v of variants) {
  const mine = readings.filter((r) => r.variant === v.name);
  const cells = PRODUCERS.map((p) => {
    const at = mine.filter((r) => r.producers === p);
    return `${p}: node ${median(at.map((r) => r.nodeUs)).toFixed(1)}, postgres ${median(at.map((r) => r.pgUs)).toFixed(1)}`;
  });
  // pgUs = fixed / (events per batch) + perEvent
  const xs = mine.map((r) => r.batches / r.events);
  const ys = mine.map((r) => r.pgUs);
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
  const my = ys.reduce((a, b) => a + b, 0) / ys.length;
  const slope = xs.reduce((s, x, i) => s + (x - mx) * (ys[i]! - my), 0) / xs.reduce((s, x) => s + (x - mx) ** 2, 0);
  console.log(`  ${v.name.padEnd(10)} ${cells.join(' | ')}  ->  postgres ≈ ${slope.toFixed(0)} µs per batch + ${(my - slope * mx).toFixed(1)} µs per event`);
}
