import type { DocsConfig } from '@clouddocs/config';
import { createKnex, type Knex } from '@clouddocs/db';
import { startDocsApi, type RunningDocsApi } from '@clouddocs/docs-api';
import type { Kv } from '@clouddocs/kv';
import type { Logger } from '@clouddocs/observability';

export interface RunningDocs {
  knex: Knex;
  url: string;
  running: RunningDocsApi;
  stop(): Promise<void>;
}

/** The docs API on its own pool (connected as the services' login), sharing the caller's cache. */
export async function runDocsApi(options: { config: DocsConfig; databaseUrl: string; kv: Kv; logger: Logger; port?: number; host?: string }): Promise<RunningDocs> {
  const knex = await createKnex({ url: options.databaseUrl, serviceRole: true, serviceUrl: options.config.DATABASE_SERVICE_URL, poolMax: 8 });
  const running = await startDocsApi({ config: options.config, knex, kv: options.kv, logger: options.logger, port: options.port, host: options.host });
  return {
    knex,
    url: running.url,
    running,
    async stop() {
      await running.close();
      await knex.destroy();
    },
  };
}
