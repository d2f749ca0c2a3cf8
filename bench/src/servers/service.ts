// One CloudDocs service (SERVICE=auth|docs) on the shared stores, exactly as `clouddocs start --service`
// runs it, with the port and issuer chosen by the benchmark.
import { loadAuthConfig, loadDocsConfig } from '@clouddocs/config';
import { createKv } from '@clouddocs/kv';
import { createLogger } from '@clouddocs/observability';
import { runAuthServer, runDocsApi } from '@clouddocs/cli';

const service = process.env.SERVICE;
const databaseUrl = process.env.DATABASE_URL!;
const logger = createLogger({ level: 'error', name: `bench-${service}` });
if (service === 'auth') {
  const config = loadAuthConfig();
  const kv = createKv(config);
  const auth = await runAuthServer({ config, databaseUrl, kv, logger, port: config.AUTH_PORT, host: '127.0.0.1' });
  process.stdout.write(`READY ${JSON.stringify({ url: auth.url })}\n`);
  process.on('SIGTERM', () => void auth.stop().then(() => kv.close()).then(() => process.exit(0)));
} else {
  const config = loadDocsConfig();
  const kv = createKv(config);
  const docs = await runDocsApi({ config, databaseUrl, kv, logger, port: config.DOCS_API_PORT, host: '127.0.0.1' });
  await docs.running.api.ready();
  process.stdout.write(`READY ${JSON.stringify({ url: docs.url })}\n`);
  process.on('SIGTERM', () => void docs.stop().then(() => kv.close()).then(() => process.exit(0)));
}
