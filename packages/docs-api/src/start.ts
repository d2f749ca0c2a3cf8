// Runs the docs API as a service: finds the database and the cache, opens its audit chain, serves
// on DOCS_API_PORT, and shuts down in order (readiness off, stop accepting, flush audit, close pools).
import type { Server } from 'node:http';
import { AuditLog, auditCheckpointOptions } from '@clouddocs/audit';
import { loadDocsConfig, type DocsConfig } from '@clouddocs/config';
import { createKnex, locateDatabase, type Knex } from '@clouddocs/db';
import { createKv, type Kv, type RevocationList } from '@clouddocs/kv';
import { createLogger, type Logger } from '@clouddocs/observability';
import { createDocsApi, type DocsApi } from './app';

export interface StartDocsApiOptions {
  config?: DocsConfig;
  /** Share the caller's database, cache and revocation list (e.g. `clouddocs start` in one process). */
  knex?: Knex;
  kv?: Kv;
  revocations?: RevocationList;
  logger?: Logger;
  /** Overrides DOCS_API_PORT (0: an ephemeral port). */
  port?: number;
  host?: string;
}

export interface RunningDocsApi {
  api: DocsApi;
  server: Server;
  url: string;
  close(): Promise<void>;
}

export async function startDocsApi(options: StartDocsApiOptions = {}): Promise<RunningDocsApi> {
  const config = options.config ?? loadDocsConfig();
  const logger = options.logger ?? createLogger({ level: config.LOG_LEVEL, name: 'docs-api' });
  const location = options.knex ? undefined : await locateDatabase(config);
  const knex = options.knex ?? (await createKnex({ url: location!.url, serviceRole: true, serviceUrl: config.DATABASE_SERVICE_URL }));
  const kv = options.kv ?? createKv(config);
  const audit = await AuditLog.open(knex, 'docs-api', { checkpoints: await auditCheckpointOptions(config, logger) });
  const api = createDocsApi({ config, knex, audit, kv, logger, ...(options.revocations ? { revocations: options.revocations } : {}) });
  const server = api.listen(options.port ?? config.DOCS_API_PORT, options.host ?? '0.0.0.0');
  await new Promise<void>((resolve, reject) => server.once('listening', resolve).once('error', reject));
  server.keepAliveTimeout = 65_000; // longer than common load balancer idle timeouts
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.DOCS_API_PORT;
  const url = `http://127.0.0.1:${port}`;
  logger.info({ url }, 'docs API listening');
  return {
    api,
    server,
    url,
    async close() {
      api.drain();
      await api.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await audit.close();
      if (!options.kv) await kv.close();
      if (!options.knex) {
        await knex.destroy();
        await location?.release();
      }
    },
  };
}
