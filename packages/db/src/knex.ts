import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import { serviceConnection } from './roles';

export type { Knex };

// bigint counts (COUNT(*), bigserial ids) come back as JS numbers; they stay far below 2^53 here.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

export interface DatabaseOptions {
  /** The database, as its owner (DATABASE_URL) or, where only that is given, as the services' login. */
  url: string;
  poolMax?: number;
  /**
   * Connect as the services' login (`DATABASE_SERVICE_URL`, else `url` with the user `clouddocs_service`),
   * never as the owner or a superuser; on the embedded store, the store itself (one shared session).
   */
  serviceRole?: boolean;
  /** DATABASE_SERVICE_URL, when the operator gives the services' login explicitly. */
  serviceUrl?: string | undefined;
}

export async function createKnex(options: DatabaseOptions): Promise<Knex> {
  const url = options.serviceRole === true ? await serviceConnection(options.url, options.serviceUrl) : options.url;
  return knexFactory({
    client: 'pg',
    connection: { connectionString: url, application_name: 'clouddocs' },
    pool: {
      min: 0,
      max: options.poolMax ?? 8,
      afterCreate(conn: pg.Client, done: (err: Error | null, conn: pg.Client) => void) {
        conn.on('error', () => {}); // a dropped connection is evicted by the pool; do not crash the process
        done(null, conn);
      },
    },
    acquireConnectionTimeout: 5_000,
    // Connection failures surface as errors of the queries that meet them (and in /readyz), not as
    // console lines of knex's own.
    log: { warn() {}, error() {}, deprecate() {}, debug() {} },
  });
}
