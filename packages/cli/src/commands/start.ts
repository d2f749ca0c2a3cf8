// `clouddocs start [--service all|auth|docs]` (what `npm start` runs): migrate, seed the demo on the
// first embedded run, then serve. On the embedded stores both services share this one process (the
// in-process cache cannot be shared); on real PostgreSQL + Redis each service runs as its own process.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { loadAuthConfig, loadDocsConfig } from '@clouddocs/config';
import { createKnex, locateDatabase } from '@clouddocs/db';
import { createKv } from '@clouddocs/kv';
import { createLogger, createShutdown } from '@clouddocs/observability';
import { parseOptions } from '../args';
import { CliError } from '../output';
import { runAuthServer } from '../run-auth';
import { runDocsApi } from '../run-docs';
import { seedDemoOnce } from '../seed';
import { migrateAll } from '../stack';

export async function run(args: string[]): Promise<void> {
  const opts = parseOptions(args, { service: { type: 'string', default: 'all' } });
  const service = opts.service as string;
  if (!['all', 'auth', 'docs'].includes(service)) throw new CliError('--service must be all, auth or docs', 2);
  const config = loadAuthConfig();
  const docsConfig = loadDocsConfig();
  const logger = createLogger({ level: config.LOG_LEVEL, name: 'clouddocs' });
  for (const name of config.devDefaults) logger.warn(`${name} is the development default: set a secret value before exposing this server`);

  const location = await locateDatabase(config, { host: true });
  const admin = await createKnex({ url: location.url, poolMax: 2 });
  try {
    const applied = await migrateAll(admin);
    if (applied.length) logger.info({ applied }, 'migrations applied');
    if (location.embedded && service === 'all') {
      const demo = await seedDemoOnce(admin, config);
      if (demo) process.stdout.write(demo);
    }
  } finally {
    await admin.destroy();
  }

  const shutdown = createShutdown(logger);
  shutdown.installSignalHandlers();

  if (service === 'all' && config.REDIS_URL) {
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

  const kv = createKv(config);
  if (service === 'all' || service === 'auth') {
    const auth = await runAuthServer({ config, databaseUrl: location.url, kv, logger: logger.child({ service: 'auth-server' }) });
    shutdown.add('auth server', () => auth.stop());
    logger.info(`auth server listening on ${config.AUTH_ISSUER} (port ${config.AUTH_PORT})`);
  }
  if (service === 'all' || service === 'docs') {
    const docs = await runDocsApi({ config: docsConfig, databaseUrl: location.url, kv, logger: logger.child({ service: 'docs-api' }) });
    shutdown.add('docs api', () => docs.stop());
    logger.info(`docs API listening on port ${docsConfig.DOCS_API_PORT}`);
  }
  shutdown.add('cache', () => kv.close());
  shutdown.add('database', () => location.release());
  return new Promise(() => {});
}
