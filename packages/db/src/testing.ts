// Test databases: a fresh database on the real server when DATABASE_URL is set (one per suite, so
// suites run in parallel without seeing each other), an in-memory embedded store otherwise.
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import pg from 'pg';
import { startEmbeddedPostgres } from './embedded';

export interface TestDatabase {
  readonly url: string;
  readonly embedded: boolean;
  drop(): Promise<void>;
}

export async function createTestDatabase(env: NodeJS.ProcessEnv = process.env): Promise<TestDatabase> {
  const base = env.DATABASE_URL;
  if (!base) {
    const pgl = await startEmbeddedPostgres();
    return { url: pgl.url, embedded: true, drop: () => pgl.stop() };
  }
  const name = `clouddocs_t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    embedded: false,
    async drop() {
      const client = new pg.Client({ connectionString: base });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
      await client.end();
    },
  };
}

/** A free loopback port (for tests and benchmarks whose issuer URL must be known before the server starts). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
