// CPU cost of one `POST /token` (client_credentials), measured so that a noisy shared host does not
// distort it: each server runs in its own process, is warmed up, then serves a fixed number of
// requests; the figures are the CPU time (utime+stime from /proc) that process and the PostgreSQL
// backends of the benchmark's database spent, divided by the requests served, plus the database
// transactions and the Redis commands on the benchmark's key prefix per request.
//
//   npx tsx bench/src/cpu-per-request.ts
//   CPU_SERVERS=service.ts,bare-oidc.ts CPU_REQUESTS=40000 CPU_ROUNDS=3 npx tsx bench/src/cpu-per-request.ts
//   CPU_SERVERS=service.ts,service.ts+MALLOC_ARENA_MAX=1 npx tsx bench/src/cpu-per-request.ts
//   CPU_SERVERS=service.ts@/tmp/before,service.ts npx tsx bench/src/cpu-per-request.ts
//
// Servers: service.ts (the auth server as deployed), service.ts:noaudit (BENCH_NO_AUDIT=1),
// provider-only.ts (our provider without the outer koa app), bare-oidc.ts (the baseline). `@dir` after a
// server's name runs that server of another source tree (a build of an earlier commit made by
// `bench/src/lib/variant-tree.sh <commit> <dir>`), on the stores this checkout migrated.
// Rounds alternate the servers so that a burst of load from elsewhere hits all of them alike.
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import { createClientLibrary } from '@clouddocs/auth-server';
import { startChild } from './lib/child';
import { benchStores } from './lib/stores';
import { processCpu } from './lib/proc';
import { basic } from './lib/org-machine';

const cpuTicks = async (pid: number) => (await processCpu(pid)).total * 100; // in clock ticks, as the figures below count
const TICK_US = 1e6 / 100;

const stores = await benchStores('cpu');
const { env, config, admin, box } = stores;
const database = new URL(env.DATABASE_URL!).pathname.slice(1);
const machine = await createClientLibrary({ knex: admin, box, issuer: config.AUTH_ISSUER }).create({ name: 'cpu', grants: ['client_credentials'] });

/** The database's backends' CPU ticks (this script's own connection included; it is idle) and its commits. */
async function databaseWork(): Promise<{ ticks: number; commits: number }> {
  const backends = await admin.raw<{ rows: { pid: number }[] }>('select pid from pg_stat_activity where datname = ?', [database]);
  const ticks = (await Promise.all(backends.rows.map((r) => cpuTicks(r.pid)))).reduce((a, b) => a + b, 0);
  await admin.raw('select pg_stat_clear_snapshot()');
  const commits = await admin.raw<{ rows: { xact_commit: string }[] }>('select xact_commit from pg_stat_database where datname = ?', [database]);
  return { ticks, commits: Number(commits.rows[0]!.xact_commit) };
}

/** Counts the Redis commands that touch the benchmark's keys (MONITOR sees every client; the prefix is ours). */
async function watchRedis(prefix: string): Promise<{ count(): number; stop(): void }> {
  const connection = new Redis(env.REDIS_URL!);
  const monitor = await connection.monitor();
  let count = 0;
  monitor.on('monitor', (_time: string, args: string[]) => {
    if (args.some((a) => a.includes(prefix))) count++;
  });
  monitor.on('error', () => undefined); // replies still in flight when it is disconnected at the end
  return {
    count: () => count,
    stop: () => {
      monitor.disconnect();
      connection.disconnect();
    },
  };
}
const redis = await watchRedis(env.REDIS_PREFIX!);

const servers = (process.env.CPU_SERVERS ?? 'service.ts,service.ts:noaudit,provider-only.ts,bare-oidc.ts').split(',');
const requests = Number(process.env.CPU_REQUESTS ?? 20_000);
const rounds = Number(process.env.CPU_ROUNDS ?? 2);
const results = new Map<string, { server: number; db: number; commits: number; redis: number; rps: number }[]>();

for (let round = 0; round < rounds; round++) {
  for (const name of servers) {
    // `script:noaudit`, `@dir` for another tree's server, and `+NAME=value` pairs for the server's environment
    // (e.g. `service.ts+MALLOC_ARENA_MAX=1`).
    const [base, ...pairs] = name.split('+');
    const [named, root] = base!.split('@');
    const [script, variant] = named!.split(':');
    const extra = Object.fromEntries(pairs.map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]));
    const childEnv = { ...env, SERVICE: 'auth', ...(variant === 'noaudit' ? { BENCH_NO_AUDIT: '1' } : {}), ...extra };
    const child = await startChild<{ url: string; clientId?: string; clientSecret?: string }>(script!, childEnv, root);
    const [id, secret] = child.info.clientId ? [child.info.clientId, child.info.clientSecret!] : [machine.client_id, machine.client_secret!];
    const request = {
      url: `${child.info.url}/token`,
      method: 'POST' as const,
      headers: { authorization: basic(id, secret), 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials&scope=docs%3Aread',
      connections: 32,
    };
    const warmUp = await autocannon({ ...request, duration: 3 }); // warm-up: JIT, pools, caches
    const pid = child.process.pid!;
    const [cpu0, db0, redis0] = [await cpuTicks(pid), await databaseWork(), redis.count()];
    const run = await autocannon({ ...request, amount: requests });
    const [cpu1, db1] = [await cpuTicks(pid), await databaseWork()];
    const served = run.requests.total;
    if (run.non2xx || run.errors) throw new Error(`${name}: ${run.non2xx} non-2xx, ${run.errors} errors`);
    const figures = {
      server: ((cpu1 - cpu0) * TICK_US) / served,
      db: ((db1.ticks - db0.ticks) * TICK_US) / served,
      commits: (db1.commits - db0.commits) / served,
      redis: (redis.count() - redis0) / served,
      rps: Math.round(run.requests.average),
    };
    results.set(name, [...(results.get(name) ?? []), figures]);
    console.log(`round ${round + 1} ${name.padEnd(22)} server ${figures.server.toFixed(0).padStart(4)} µs/req  postgres ${figures.db.toFixed(0).padStart(4)} µs/req  commits ${figures.commits.toFixed(3)}  redis ${figures.redis.toFixed(2)}  ${figures.rps} req/s  (${warmUp.requests.total + served} served in all, for a profile)`);
    await child.stop();
  }
}

console.log('\nmedian server CPU µs per request:');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
for (const [name, runs] of results) console.log(`  ${name.padEnd(22)} ${median(runs.map((r) => r.server)).toFixed(0)} (+ postgres ${median(runs.map((r) => r.db)).toFixed(0)})`);
redis.stop();
await stores.drop();
