// Running the services: one function per service, used by `clouddocs start` and the end-to-end tests.
import { createAuthServer, OrgBindingError, type AuthServer, type OrgBinder } from '@clouddocs/auth-server';
import { bindClientToOrg, OrganizationNotFoundError, ProblemError } from '@clouddocs/docs-api';
import type { AuthConfig } from '@clouddocs/config';
import { createKnex, type Knex } from '@clouddocs/db';
import type { Kv } from '@clouddocs/kv';
import type { Logger } from '@clouddocs/observability';

export interface RunningAuth {
  server: AuthServer;
  knex: Knex;
  url: string;
  stop(): Promise<void>;
}

export async function runAuthServer(options: { config: AuthConfig; databaseUrl: string; kv: Kv; logger: Logger; port?: number; host?: string }): Promise<RunningAuth> {
  const knex = await createKnex({ url: options.databaseUrl, serviceRole: true, serviceUrl: options.config.DATABASE_SERVICE_URL, poolMax: 8 });
  // The admin API binds machine clients to organizations through the docs API's own library.
  const bindToOrg: OrgBinder = async (trx, audit, input) => {
    try {
      await bindClientToOrg(trx, audit, input, { kv: options.kv });
    } catch (err) {
      if (err instanceof OrganizationNotFoundError) throw new OrgBindingError(`no organization ${input.orgId}`);
      if (err instanceof ProblemError && err.status < 500) throw new OrgBindingError(err.detail);
      throw err;
    }
  };
  const server = await createAuthServer({ config: options.config, knex, kv: options.kv, logger: options.logger, bindClientToOrg: bindToOrg });
  const http = await server.listen(options.port ?? options.config.AUTH_PORT, options.host);
  const address = http.address();
  const port = typeof address === 'object' && address ? address.port : options.config.AUTH_PORT;
  return {
    server,
    knex,
    url: `http://127.0.0.1:${port}`,
    async stop() {
      await server.close();
      await knex.destroy();
    },
  };
}
