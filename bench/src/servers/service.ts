// One CloudDocs service (SERVICE=auth|docs) on the shared stores, exactly as `clouddocs start --service`
// runs it, with the port and issuer chosen by the benchmark. BENCH_NO_AUDIT=1 gives the auth server an
// audit writer that drops events (benchmark only: the cost of auditing is the difference).
// Each branch loads only its own service's modules, as `clouddocs start --service` does.
import type { AuditLog } from '@clouddocs/audit';
import { loadAuthConfig, loadDocsConfig } from '@clouddocs/config';
import { createKnex } from '@clouddocs/db';
import { createKv } from '@clouddocs/kv';
import { createLogger } from '@clouddocs/observability';

const service = process.env.SERVICE;
const databaseUrl = process.env.DATABASE_URL!;
const logger = createLogger({ level: 'error', name: `bench-${service}` });
const ready = (url: string) => process.stdout.write(`READY ${JSON.stringify({ url })}\n`);
// The benchmark asks for the V8 heap over IPC (lib/child.ts memory()); the channel must not keep the process alive.
process.on('message', (m) => m === 'memory' && process.send?.(process.memoryUsage()));
process.channel?.unref();

if (service === 'auth' && process.env.BENCH_NO_AUDIT === '1') {
  const { createAuthServer } = await import('@clouddocs/auth-server');
  const config = loadAuthConfig();
  const kv = createKv(config);
  const knex = await createKnex({ url: databaseUrl, serviceRole: true, poolMax: 8 });
  const dropped = { record: async () => {}, recordAll: async () => {}, flush: async () => {}, close: async () => {}, queueDepth: 0 } as unknown as AuditLog;
  const server = await createAuthServer({ config, knex, kv, logger, audit: dropped });
  await server.listen(config.AUTH_PORT, '127.0.0.1');
  ready(`http://127.0.0.1:${config.AUTH_PORT}`);
  process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
} else if (service === 'auth') {
  const { runAuthServer } = await import('@clouddocs/cli/run-auth');
  const config = loadAuthConfig();
  const kv = createKv(config);
  const auth = await runAuthServer({ config, databaseUrl, kv, logger, port: config.AUTH_PORT, host: '127.0.0.1' });
  ready(auth.url);
  process.on('SIGTERM', () => void auth.stop().then(() => kv.close()).then(() => process.exit(0)));
} else {
  const { runDocsApi } = await import('@clouddocs/cli/run-docs');
  const config = loadDocsConfig();
  const kv = createKv(config);
  const docs = await runDocsApi({ config, databaseUrl, kv, logger, port: config.DOCS_API_PORT, host: '127.0.0.1' });
  await docs.running.api.ready();
  ready(docs.url);
  process.on('SIGTERM', () => void docs.stop().then(() => kv.close()).then(() => process.exit(0)));
}
