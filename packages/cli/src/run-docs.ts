import type { DocsConfig } from '@clouddocs/config';
import { createKnex, type Knex } from '@clouddocs/db';
import { createDocsApi } from '@clouddocs/docs-api';
import type { Kv } from '@clouddocs/kv';
import type { Logger } from '@clouddocs/observability';
import type { Server } from 'node:http';

export interface RunningDocs {
  knex: Knex;
  url: string;
  api: Awaited<ReturnType<typeof createDocsApi>>;
  stop(): Promise<void>;
}

export async function runDocsApi(options: { config: DocsConfig; databaseUrl: string; kv: Kv; logger: Logger; port?: number; host?: string }): Promise<RunningDocs> {
  const knex = await createKnex({ url: options.databaseUrl, serviceRole: true, poolMax: 8 });
  const api = await createDocsApi({ config: options.config, knex, kv: options.kv, logger: options.logger });
  const server: Server = await new Promise((resolve, reject) => {
    const s = api.app.listen(options.port ?? options.config.DOCS_API_PORT, options.host, () => resolve(s));
    s.once('error', reject);
  });
  server.keepAliveTimeout = 65_000;
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.config.DOCS_API_PORT;
  return {
    knex,
    api,
    url: `http://127.0.0.1:${port}`,
    async stop() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await api.close();
      await knex.destroy();
    },
  };
}
