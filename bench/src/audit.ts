// Audit write throughput: events/s through AuditLog.record (hash chain + group commit) with N
// concurrent producers, against a raw multi-row INSERT of the very same rows into a plain table of
// the same shape, in the same run on the same PostgreSQL.
//
//   npx tsx bench/src/audit.ts [--events 50000] [--producers 16,64,256] [--rates 2000,8000] [--rounds 3] [--batch 500]
//
// Closed loop (`--producers`): each producer records, awaits, records again: throughput at a given
// concurrency. Open loop (`--rates`): events arrive at a fixed rate for 5 s, as requests would: the
// latency that audit adds to each request at that load.
//
// DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test) names the server; the run uses a
// fresh database on it and drops it afterwards.
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { AuditLog, auditGrants, auditMigrations, verifyAuditLog, type AuditEvent } from '@clouddocs/audit';
import { createKnex, createTestDatabase, migrate, type Knex } from '@clouddocs/db';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '50000' },
    producers: { type: 'string', default: '16,64,256' },
    batch: { type: 'string', default: '500' },
    'max-batch': { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '3' },
    rates: { type: 'string', default: '2000,8000' },
  },
});
const EVENTS = Number(values.events);
const PRODUCERS = values.producers!.split(',').map(Number);
const RAW_BATCH = Number(values.batch);
const MAX_BATCH = Number(values['max-batch']);
const ROUNDS = Number(values.rounds);
const RATES = values.rates ? values.rates.split(',').map(Number) : [];
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const ACTIONS: AuditEvent['action'][] = ['token.issued', 'auth.login.succeeded', 'document.updated', 'access.denied'];
function sampleEvent(i: number): AuditEvent {
  return {
    action: ACTIONS[i % ACTIONS.length]!,
    actor: { type: 'user', id: `0f1e2d3c-${(i % 5000).toString(16).padStart(4, '0')}-4b5a-9c8d-7e6f5a4b3c2d` },
    target: { type: 'client', id: 'bench-client' },
    outcome: i % 10 === 0 ? 'failure' : 'success',
    orgId: `org-${i % 50}`,
    requestId: `req-${i.toString(36)}`,
    ip: '10.0.0.1',
    userAgent: 'Mozilla/5.0 (X11; Linux x86_64) bench',
    detail: { grantId: `g${i}`, scope: 'openid docs:read', ttl: 600 },
  };
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
const rssMb = () => Math.round(process.resourceUsage().maxRSS / 1024);

interface Row {
  label: string;
  events: number;
  seconds: number;
  p50?: number;
  p99?: number;
  batches?: number;
  rss: number;
  /** This process's CPU time (user + system) per event, in µs. */
  cpuUs?: number;
}

const cpuSince = (start: NodeJS.CpuUsage, events: number) => {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / events;
};

async function auditRun(knex: Knex, producers: number, total: number): Promise<Row> {
  let batches = 0;
  const log = await AuditLog.open(knex, `bench-${producers}`, { maxBatch: MAX_BATCH, onCommit: () => (batches += 1) });
  const latencies: number[] = [];
  let next = 0;
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: producers }, async () => {
      while (next < total) {
        const i = next++;
        const t0 = process.hrtime.bigint();
        await log.record(sampleEvent(i));
        latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await log.close();
  latencies.sort((a, b) => a - b);
  return { label: `AuditLog.record, ${producers} producers`, events: total, seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99), batches, rss: rssMb(), cpuUs: cpuSince(cpu, total) };
}

/** Open loop: events arrive at `rate` per second whatever the latency (like requests), for `seconds`. */
async function auditAtRate(knex: Knex, rate: number, seconds: number): Promise<Row> {
  let batches = 0;
  const log = await AuditLog.open(knex, `bench-rate-${rate}`, { maxBatch: MAX_BATCH, onCommit: () => (batches += 1) });
  const latencies: number[] = [];
  const pending: Promise<void>[] = [];
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  let sent = 0;
  for (;;) {
    const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
    if (elapsed >= seconds) break;
    const due = Math.floor(elapsed * rate);
    while (sent < due) {
      const t0 = process.hrtime.bigint();
      pending.push(log.record(sampleEvent(sent)).then(() => void latencies.push(Number(process.hrtime.bigint() - t0) / 1e6)));
      sent += 1;
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(pending);
  const total = Number(process.hrtime.bigint() - started) / 1e9;
  await log.close();
  latencies.sort((a, b) => a - b);
  return { label: `AuditLog.record, open loop at ${fmtInt(rate)}/s`, events: sent, seconds: total, p50: percentile(latencies, 50), p99: percentile(latencies, 99), batches, rss: rssMb(), cpuUs: cpuSince(cpu, sent) };
}

const fmtInt = (n: number) => Math.round(n).toLocaleString('en-US');

/** The same stored rows (hashes included) inserted as plain multi-row INSERTs, `connections` at a time. */
async function rawRun(knex: Knex, rows: Record<string, unknown>[], connections: number): Promise<Row> {
  const batches: Record<string, unknown>[][] = [];
  for (let i = 0; i < rows.length; i += RAW_BATCH) batches.push(rows.slice(i, i + RAW_BATCH));
  let next = 0;
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (next < batches.length) await knex('bench_raw.events').insert(batches[next++]!);
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { label: `raw multi-row INSERT, ${connections} connection(s)`, events: rows.length, seconds, rss: rssMb(), cpuUs: cpuSince(cpu, rows.length) };
}

async function main() {
  const loadAtStart = loadavg().map((l) => l.toFixed(1)).join(' ');
  const db = await createTestDatabase({ DATABASE_URL });
  const admin = await createKnex({ url: db.url, poolMax: 8 });
  try {
    await migrate(admin, auditMigrations, [auditGrants]);
    await admin.raw('CREATE SCHEMA bench_raw');
    // Same columns, keys and indexes as audit.events; no trigger, no chain.
    await admin.raw(`CREATE TABLE bench_raw.events (
      id bigserial PRIMARY KEY, chain_id text NOT NULL, seq bigint NOT NULL, occurred_at timestamptz NOT NULL,
      actor_type text NOT NULL, actor_id text, action text NOT NULL, target_type text, target_id text,
      outcome text NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')), org_id text, request_id text, ip text,
      user_agent text, detail jsonb NOT NULL DEFAULT '{}'::jsonb, prev_hash text NOT NULL, hash text NOT NULL, UNIQUE (chain_id, seq))`);
    await admin.raw('CREATE INDEX ON bench_raw.events (org_id, id DESC) WHERE org_id IS NOT NULL');
    await admin.raw('CREATE INDEX ON bench_raw.events (action, id DESC)');
    const service = await createKnex({ url: db.url, poolMax: 8, serviceRole: true });

    // Warm-up (connections, JIT), and the rows the raw INSERTs will write: exactly what one chain stored.
    const warm = await auditRun(service, 64, EVENTS);
    const warmChain = await admin('audit.chains').where('service', 'bench-64').first('id');
    if (!warm.events || !warmChain) throw new Error('warm-up wrote nothing');
    const stored = (await admin('audit.events').where('chain_id', warmChain.id).orderBy('seq')).map(({ id: _id, ...row }) => ({ ...row, detail: JSON.stringify(row.detail) }));

    // Rounds alternate every configuration, so that a noisy neighbour hits them alike; medians are reported.
    const samples = new Map<string, Row[]>();
    const add = (r: Row) => samples.set(r.label, [...(samples.get(r.label) ?? []), r]);
    let rawRuns = 0;
    for (let round = 0; round < ROUNDS; round += 1) {
      for (const connections of [1, 4]) {
        rawRuns += 1;
        const rows = stored.map((r) => ({ ...r, chain_id: `raw-${rawRuns}` }));
        await admin.raw('CHECKPOINT');
        add(await rawRun(admin, rows, connections));
      }
      for (const producers of PRODUCERS) {
        await admin.raw('CHECKPOINT');
        add(await auditRun(service, producers, EVENTS));
      }
      for (const rate of RATES) {
        await admin.raw('CHECKPOINT');
        add(await auditAtRate(service, rate, 5));
      }
    }
    await service.destroy();

    // Verification speed over everything the runs wrote.
    const verifyStarted = process.hrtime.bigint();
    const verified = await verifyAuditLog(admin);
    const verifySeconds = Number(process.hrtime.bigint() - verifyStarted) / 1e9;
    if (!verified.ok) throw new Error(`verify failed: ${JSON.stringify(verified.firstBreak)}`);

    const rate = (r: Row) => r.events / r.seconds;
    const median = (rows: Row[]) => [...rows].sort((a, b) => rate(a) - rate(b))[Math.floor(rows.length / 2)]!;
    const medians = [...samples.values()].map(median);
    const rawSerial = medians.find((r) => r.label.includes('1 connection'))!;
    const rawParallel = medians.find((r) => r.label.includes('4 connection'))!;
    const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
    const spread = (label: string) => samples.get(label)!.map((r) => fmt(rate(r))).join(' / ');
    const lines = [
      `| run | events/s (median) | rounds | × raw (1 conn) | × raw (4 conns) | record() p50 ms | p99 ms | batches | client CPU µs/event | peak RSS MB |`,
      `| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |`,
      ...[...medians.filter((r) => r.label.startsWith('AuditLog')), rawSerial, rawParallel].map(
        (r) =>
          `| ${r.label} | ${fmt(rate(r))} | ${spread(r.label)} | ${(rate(r) / rate(rawSerial)).toFixed(2)} | ${(rate(r) / rate(rawParallel)).toFixed(2)} | ${r.p50?.toFixed(1) ?? '-'} | ${r.p99?.toFixed(1) ?? '-'} | ${r.batches ?? '-'} | ${r.cpuUs?.toFixed(0) ?? '-'} | ${r.rss} |`,
      ),
    ];
    const [{ version }] = (await admin.raw('SHOW server_version')).rows.map((r: { server_version: string }) => ({ version: r.server_version }));
    const load = loadavg().map((l) => l.toFixed(1)).join(' ');
    process.stdout.write(
      `audit write benchmark: PostgreSQL ${version}, Node ${process.version}, ${cpus().length} CPUs, load average at start ${loadAtStart}, at end ${load}; ` +
        `${fmt(EVENTS)} events per run, ${ROUNDS} rounds, group commit maxBatch ${MAX_BATCH}, raw batches of ${RAW_BATCH}\n${lines.join('\n')}\n` +
        `verifyAuditLog: ${fmt(verified.events)} events in ${verified.chains} chains verified in ${verifySeconds.toFixed(1)} s (${fmt(verified.events / verifySeconds)} events/s)\n`,
    );
  } finally {
    await admin.destroy();
    await db.drop();
  }
}

await main();
