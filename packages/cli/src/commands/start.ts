// `clouddocs start [--service all|auth|docs]` (what `npm start` runs): migrate, seed the demo on the
// first embedded run, then serve. On the embedded stores both services share this one process (the
// in-process cache cannot be shared); on real PostgreSQL + Redis each service runs as its own process.
// Migrations run as the owner (DATABASE_URL); the services connect as their own login (see @clouddocs/db
// roles.ts). A service given only DATABASE_SERVICE_URL does not migrate: it checks the schema is current.
import { spawn, type ChildProcess } from 'node:child_process';
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { loadAuthConfig, loadDocsConfig, usesEmbeddedStores, workerCount } from '@clouddocs/config';
import { createKnex, locateDatabase } from '@clouddocs/db';
import { createKv } from '@clouddocs/kv';
import { createLogger, createShutdown } from '@clouddocs/observability';
import { parseOptions } from '../args';
import { CliError } from '../output';
import { assertMigrated, migrateAll } from '../stack';

export async function run(args: string[]): Promise<void> {
  const opts = parseOptions(args, { service: { type: 'string', default: 'all' } });
  const service = opts.service as string;
  if (!['all', 'auth', 'docs'].includes(service)) throw new CliError('--service must be all, auth or docs', 2);
  const config = loadAuthConfig();
  loadDocsConfig(); // fail fast on a bad docs API variable too
  const logger = createLogger({ level: config.LOG_LEVEL, name: 'clouddocs' });
  const workers = workerCount(config, availableParallelism());
  const embedded = usesEmbeddedStores(config);
  if (workers > 1 && (embedded.database || embedded.cache)) {
    throw new CliError(`WORKERS=${config.WORKERS} needs the shared stores: set DATABASE_URL (or DATABASE_SERVICE_URL) and REDIS_URL (or REDIS_SENTINELS / REDIS_CLUSTER_NODES) (the embedded stores belong to one process)`);
  }
  if (cluster.isWorker) return serve(service as 'auth' | 'docs', logger);
  for (const name of config.devDefaults) logger.warn(`${name} is the development default: set a secret value before exposing this server`);

  const location = await locateDatabase(config, { host: true });
  const setup = await createKnex({ url: location.url, poolMax: 2 });
  try {
    if (!location.owner) await assertMigrated(setup);
    const applied = location.owner ? await migrateAll(setup, { serviceUrl: config.DATABASE_SERVICE_URL }) : [];
    if (applied.length) logger.info({ applied }, 'migrations applied');
    if (location.embedded && service === 'all') {
      const { seedDemoOnce } = await import('../seed');
      const demo = await seedDemoOnce(setup, config);
      if (demo) process.stdout.write(demo);
    }
  } finally {
    await setup.destroy();
  }

  if (service !== 'all' && workers > 1) return runWorkers(workers, logger);

  const shutdown = createShutdown(logger);
  shutdown.installSignalHandlers();

  if (service === 'all' && !embedded.cache) {
    // Real shared stores: one process per service, any number of copies can run beside them.
    const bin = fileURLToPath(new URL('../../bin/clouddocs.js', import.meta.url));
    const children: ChildProcess[] = ['auth', 'docs'].map((s) => spawn(process.execPath, [bin, 'start', '--service', s], { stdio: 'inherit', env: process.env }));
    for (const child of children) {
      child.once('exit', (code) => {
        if (code !== 0) logger.error({ code }, 'a service exited; stopping');
        void shutdown.shutdown('child exited').then(() => process.exit(code ?? 1));
      });
    }
    shutdown.add('services', () =>
      Promise.all(children.map((c) => new Promise<void>((resolve) => (c.exitCode !== null ? resolve() : (c.once('exit', () => resolve()), c.kill('SIGTERM')))))),
    );
    shutdown.add('database', () => location.release());
    return new Promise(() => {});
  }

  await startServices(service === 'all' ? ['auth', 'docs'] : [service as 'auth' | 'docs'], location.url, shutdown);
  shutdown.add('database', () => location.release());
  return new Promise(() => {});
}

/** Runs the services in this process; each gets its own logger, both share one cache client. */
async function startServices(services: ('auth' | 'docs')[], databaseUrl: string, shutdown: ReturnType<typeof createShutdown>) {
  const config = loadAuthConfig();
  const docsConfig = loadDocsConfig();
  const kv = createKv(config);
  const drains: (() => void)[] = [];
  const stops: (() => Promise<void>)[] = [];
  // Each service's modules are loaded only in a process that runs it (oidc-provider and the rest of the auth
  // server are ~30 MB resident that a docs API process has no use for).
  if (services.includes('auth')) {
    const { runAuthServer } = await import('../run-auth');
    const authLogger = createLogger({ level: config.LOG_LEVEL, name: 'auth-server' });
    const auth = await runAuthServer({ config, databaseUrl, kv, logger: authLogger });
    authLogger.info({ issuer: config.AUTH_ISSUER, port: config.AUTH_PORT }, 'auth server listening');
    drains.push(() => auth.server.setReady(false));
    stops.push(() => auth.stop());
  }
  if (services.includes('docs')) {
    const { runDocsApi } = await import('../run-docs');
    const docs = await runDocsApi({ config: docsConfig, databaseUrl, kv, logger: createLogger({ level: config.LOG_LEVEL, name: 'docs-api' }) });
    drains.push(() => docs.running.api.drain());
    stops.push(() => docs.stop());
  }
  // SIGTERM: readiness off first, keep serving for SHUTDOWN_DRAIN_SECONDS while load balancers notice,
  // then stop accepting, finish in-flight requests, flush the audit queue and close the pools.
  shutdown.add('readiness off', async () => {
    for (const drain of drains) drain();
    if (config.SHUTDOWN_DRAIN_SECONDS > 0) await new Promise((r) => setTimeout(r, config.SHUTDOWN_DRAIN_SECONDS * 1000));
  });
  shutdown.add('services', () => Promise.all(stops.map((stop) => stop())));
  shutdown.add('cache', () => kv.close());
}

/** A cluster worker: serves one service on the shared port until told to stop. */
async function serve(service: 'auth' | 'docs', logger: ReturnType<typeof createLogger>): Promise<void> {
  const config = loadAuthConfig();
  const shutdown = createShutdown(logger);
  shutdown.installSignalHandlers();
  await startServices([service], (config.DATABASE_URL ?? config.DATABASE_SERVICE_URL)!, shutdown);
  return new Promise(() => {});
}

/** WORKERS>1: a primary that forks one worker per core and replaces any that dies. */
async function runWorkers(count: number, logger: ReturnType<typeof createLogger>): Promise<void> {
  let stopping = false;
  for (let i = 0; i < count; i += 1) cluster.fork();
  cluster.on('exit', (worker, code) => {
    if (stopping) return;
    logger.error({ pid: worker.process.pid, code }, 'worker exited; starting another');
    cluster.fork();
  });
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      stopping = true;
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
      const timer = setTimeout(() => process.exit(1), 15_000);
      timer.unref();
      cluster.on('exit', () => {
        if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      });
    });
  }
  logger.info({ workers: count }, 'started workers');
  return new Promise(() => {});
}
