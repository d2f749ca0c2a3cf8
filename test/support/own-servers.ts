// PostgreSQL and Redis servers of a test's own, on loopback ports, that the test may stop and start
// (outage and recovery tests must not take down the servers other suites share). They use the
// PostgreSQL and Redis binaries installed on the machine.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports';

export function postgresBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const version = readdirSync(root).sort().at(-1);
  const dir = version ? join(root, version, 'bin') : undefined;
  return dir && existsSync(join(dir, 'initdb')) ? dir : undefined;
}

export function redisBinary(): string | undefined {
  return ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].find((p) => existsSync(p));
}

/** Whether this machine can host the servers (both binaries, and a `postgres` user when run as root). */
export function ownServersAvailable(): boolean {
  if (!postgresBinDir() || !redisBinary()) return false;
  if (process.getuid?.() === 0) return spawnSync('id', ['postgres']).status === 0;
  return true;
}

/** SIGKILLs each process still running and waits for it to exit; then removes its data directory, if any. */
async function killAll(children: (ChildProcess | undefined)[], dir?: string) {
  await Promise.all(
    children.map((child) => {
      if (!child || child.exitCode !== null || child.signalCode !== null) return undefined;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      return exited;
    }),
  );
  if (dir) rmSync(dir, { recursive: true, force: true });
}

async function waitUntil(check: () => boolean | Promise<boolean>, what: string, ms = 20_000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} did not come up`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface OwnRedis {
  url: string;
  stop(): Promise<void>;
  start(): Promise<void>;
}

export async function startOwnRedis(): Promise<OwnRedis> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const ping = () => spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout?.trim() === 'PONG';
  const start = async () => {
    child = spawn(redisBinary()!, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    await waitUntil(ping, 'redis');
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    start,
    stop: () => killAll([child]),
  };
}

export interface OwnPostgres {
  url: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  destroy(): Promise<void>;
}

export async function startOwnPostgres(): Promise<OwnPostgres> {
  const bin = postgresBinDir()!;
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'clouddocs-pg-'));
  const data = join(dir, 'data');
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim());
    const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
    chownSync(dir, uid, gid);
    chmodSync(dir, 0o700);
  }
  const run = (args: string[]) => {
    const cmd = asRoot ? spawnSync('runuser', ['-u', 'postgres', '--', ...args], { encoding: 'utf8' }) : spawnSync(args[0]!, args.slice(1), { encoding: 'utf8' });
    if (cmd.status !== 0) throw new Error(`${args.join(' ')} failed: ${cmd.stderr}`);
  };
  run([join(bin, 'initdb'), '-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  const start = async () => {
    run([join(bin, 'pg_ctl'), '-D', data, '-l', join(dir, 'log'), '-w', '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`, 'start']);
  };
  await start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    start,
    async stop() {
      run([join(bin, 'pg_ctl'), '-D', data, '-w', '-m', 'immediate', 'stop']);
    },
    async destroy() {
      try {
        run([join(bin, 'pg_ctl'), '-D', data, '-w', '-m', 'immediate', 'stop']);
      } catch {
        // already stopped
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function sentinelBinary(): string | undefined {
  return ['/usr/bin/redis-sentinel', '/usr/local/bin/redis-sentinel'].find((p) => existsSync(p));
}

const redisCli = (port: number, ...args: string[]) => spawnSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' }).stdout?.trim() ?? '';

export interface OwnSentinelGroup {
  /** The Sentinels, as REDIS_SENTINELS wants them. */
  sentinels: string;
  name: string;
  /** The port of the current primary, as the Sentinels see it. */
  primaryPort(): number;
  /** `SENTINEL FAILOVER`, then waits until the Sentinels name the new primary and it has taken the role. */
  failover(): Promise<{ from: number; to: number }>;
  stop(): Promise<void>;
}

/**
 * A Redis primary, one replica and three Sentinels (quorum 2) on free loopback ports, from the
 * machine's redis-server and redis-sentinel; configuration and logs in a temporary directory.
 */
export async function startOwnSentinelGroup(name = 'clouddocs'): Promise<OwnSentinelGroup> {
  const dir = mkdtempSync(join(tmpdir(), 'clouddocs-sentinel-'));
  const [primary, replica, ...sentinelPorts] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  const children: ChildProcess[] = [];
  const server = (port: number, extra: string[]) => {
    children.push(spawn(redisBinary()!, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...extra], { stdio: 'ignore' }));
  };
  server(primary!, []);
  server(replica!, ['--replicaof', '127.0.0.1', String(primary)]);
  await waitUntil(() => redisCli(primary!, 'ping') === 'PONG' && redisCli(replica!, 'ping') === 'PONG', 'redis primary and replica');
  await waitUntil(() => /master_link_status:up/.test(redisCli(replica!, 'info', 'replication')), 'replication');
  for (const port of sentinelPorts) {
    const file = join(dir, `sentinel-${port}.conf`);
    writeFileSync(
      file,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${name} 127.0.0.1 ${primary} 2`,
        `sentinel down-after-milliseconds ${name} 1000`,
        `sentinel failover-timeout ${name} 10000`,
        `sentinel parallel-syncs ${name} 1`,
        '',
      ].join('\n'),
    );
    children.push(spawn(sentinelBinary()!, [file], { stdio: 'ignore' }));
  }
  const masterPort = (sentinel: number) => Number(redisCli(sentinel, 'sentinel', 'get-master-addr-by-name', name).split('\n')[1] ?? 0);
  // Every Sentinel knows the primary, its replica and the other Sentinels before anyone relies on them.
  await waitUntil(
    () =>
      sentinelPorts.every(
        (s) => masterPort(s) === primary && /slave/.test(redisCli(s, 'sentinel', 'replicas', name)) && Number(redisCli(s, 'sentinel', 'master', name).match(/num-other-sentinels\n(\d+)/)?.[1] ?? 0) === 2,
      ),
    'sentinels',
    30_000,
  );
  return {
    sentinels: sentinelPorts.map((p) => `127.0.0.1:${p}`).join(','),
    name,
    primaryPort: () => masterPort(sentinelPorts[0]!),
    async failover() {
      const from = masterPort(sentinelPorts[0]!);
      const to = from === primary ? replica! : primary!;
      // The replica must be in sync to be promoted.
      await waitUntil(() => /master_link_status:up/.test(redisCli(to, 'info', 'replication')), 'replica in sync');
      await waitUntil(() => redisCli(sentinelPorts[0]!, 'sentinel', 'failover', name) === 'OK', 'failover accepted', 15_000);
      await waitUntil(() => sentinelPorts.every((s) => masterPort(s) === to) && /role:master/.test(redisCli(to, 'info', 'replication')), 'new primary', 30_000);
      return { from, to };
    },
    stop: () => killAll(children, dir),
  };
}

export interface OwnRedisCluster {
  /** As REDIS_CLUSTER_NODES wants them. */
  nodes: string;
  stop(): Promise<void>;
}

/** A three-primary Redis Cluster (no replicas) on free loopback ports, from the machine's redis-server. */
export async function startOwnRedisCluster(): Promise<OwnRedisCluster> {
  // A free port can be taken by another suite's server before ours binds it (and each node also needs
  // port + 10000 for the cluster bus): then start again on other ports rather than talk to a stranger.
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await startClusterOnce();
    } catch (err) {
      if (attempt >= 3) throw err;
    }
  }
}

async function startClusterOnce(): Promise<OwnRedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'clouddocs-cluster-'));
  const ports = await Promise.all([freePort(), freePort(), freePort()]);
  const children = ports.map((port) =>
    spawn(
      redisBinary()!,
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`],
      { stdio: 'ignore' },
    ),
  );
  const kill = () => killAll(children, dir);
  try {
    const ours = (p: number) => redisCli(p, 'config', 'get', 'dir').split('\n')[1] === dir;
    await waitUntil(() => {
      if (children.some((c) => c.exitCode !== null)) throw new Error('a cluster node could not start (port taken)');
      return ports.every((p) => redisCli(p, 'ping') === 'PONG' && ours(p));
    }, 'redis cluster nodes');
    const created = spawnSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { encoding: 'utf8' });
    if (created.status !== 0) throw new Error(`redis-cli --cluster create failed: ${created.stdout}${created.stderr}`);
    // Every node agrees: all slots served, all three nodes known and connected.
    await waitUntil(
      () =>
        ports.every((p) => {
          const info = redisCli(p, 'cluster', 'info');
          const nodes = redisCli(p, 'cluster', 'nodes').split('\n').filter(Boolean);
          return /cluster_state:ok/.test(info) && /cluster_slots_ok:16384/.test(info) && nodes.length === 3 && nodes.every((n) => / connected/.test(n));
        }),
      'cluster state ok',
      30_000,
    );
  } catch (err) {
    await kill();
    throw err;
  }
  return {
    nodes: ports.map((p) => `127.0.0.1:${p}`).join(','),
    stop: kill,
  };
}

export function pgbouncerBinary(): string | undefined {
  return ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer'].find((p) => existsSync(p));
}

export interface OwnPgBouncer {
  port: number;
  /** `url` (a postgres:// URL) with its host and port replaced by this PgBouncer's. */
  through(url: string): string;
  stop(): Promise<void>;
}

/**
 * PgBouncer in transaction mode on a free loopback port, in front of the PostgreSQL at `target`
 * (every database by name; trust, as the servers it fronts here), with its own ini and userlist in a
 * temporary directory. `postgres` is its admin user (the `pgbouncer` console database).
 */
export async function startOwnPgBouncer(target: { host: string; port: number }, users: string[]): Promise<OwnPgBouncer> {
  const dir = mkdtempSync(join(tmpdir(), 'clouddocs-pgbouncer-'));
  const port = await freePort();
  writeFileSync(join(dir, 'userlist.txt'), [...new Set(['postgres', ...users])].map((u) => `"${u}" ""`).join('\n') + '\n');
  writeFileSync(
    join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      `* = host=${target.host} port=${target.port}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${join(dir, 'userlist.txt')}`,
      'admin_users = postgres',
      'pool_mode = transaction',
      'max_client_conn = 500',
      'default_pool_size = 10',
      'server_reset_query =',
      'ignore_startup_parameters = extra_float_digits',
      `logfile = ${join(dir, 'pgbouncer.log')}`,
      '',
    ].join('\n'),
  );
  const asRoot = process.getuid?.() === 0;
  if (asRoot) spawnSync('chown', ['-R', 'postgres', dir]);
  const child = spawn(pgbouncerBinary()!, [...(asRoot ? ['-u', 'postgres'] : []), join(dir, 'pgbouncer.ini')], { stdio: 'ignore' });
  await waitUntil(() => spawnSync('pg_isready', ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'pgbouncer']).status === 0, 'pgbouncer');
  return {
    port,
    through(url) {
      const u = new URL(url);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    },
    stop: () => killAll([child], dir),
  };
}
