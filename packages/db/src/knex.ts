import knexFactory, { type Knex } from 'knex';
import pg from 'pg';

export type { Knex };

// bigint counts (COUNT(*), bigserial ids) come back as JS numbers; they stay far below 2^53 here.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

/** The restricted role the services act as: it may not UPDATE, DELETE or TRUNCATE audit events. */
export const SERVICE_ROLE = 'clouddocs_service';

export interface DatabaseOptions {
  url: string;
  poolMax?: number;
  /** Act as the restricted service role on every connection (when the role exists). */
  serviceRole?: boolean;
}

async function roleUsable(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    // The embedded PGlite is one database session shared by every socket connection: a SET ROLE on
    // one would change them all (the CLI's and the migrations' included). There the trigger alone guards.
    const { rows: version } = await client.query('SELECT version() AS v');
    if (String(version[0]?.v).includes('PGlite')) return false;
    const { rows } = await client.query(`SELECT pg_has_role(current_user, $1, 'MEMBER') AS ok FROM pg_roles WHERE rolname = $1`, [SERVICE_ROLE]);
    return rows[0]?.ok === true;
  } catch {
    return false;
  } finally {
    await client.end();
  }
}

export async function createKnex(options: DatabaseOptions): Promise<Knex> {
  const setRole = options.serviceRole === true && (await roleUsable(options.url));
  return knexFactory({
    client: 'pg',
    connection: { connectionString: options.url, application_name: 'clouddocs' },
    pool: {
      min: 0,
      max: options.poolMax ?? 8,
      afterCreate(conn: pg.Client, done: (err: Error | null, conn: pg.Client) => void) {
        conn.on('error', () => {}); // a dropped connection is evicted by the pool; do not crash the process
        if (!setRole) return done(null, conn);
        conn.query(`SET ROLE ${SERVICE_ROLE}`).then(
          () => done(null, conn),
          (err: Error) => done(err, conn),
        );
      },
    },
    acquireConnectionTimeout: 5_000,
    // Connection failures surface as errors of the queries that meet them (and in /readyz), not as
    // console lines of knex's own.
    log: { warn() {}, error() {}, deprecate() {}, debug() {} },
  });
}
