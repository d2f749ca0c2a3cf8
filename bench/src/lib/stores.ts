// What every benchmark starts from: a fresh, migrated database on DATABASE_URL's server, a Redis prefix
// of its own, free ports for the services, and the configuration they run with.
import { randomBytes } from 'node:crypto';
import { SecretBox } from '@clouddocs/auth-server';
import { migrateAll } from '@clouddocs/cli';
import { loadAuthConfig, type AuthConfig } from '@clouddocs/config';
import { createKnex, createTestDatabase, freePort, type Knex } from '@clouddocs/db';

export interface BenchStores {
  /** The services' environment (child processes get it as theirs). */
  env: Record<string, string>;
  config: AuthConfig;
  box: SecretBox;
  /** Owner connection to the fresh database. */
  admin: Knex;
  /** Destroys the connection and drops the database. */
  drop(): Promise<void>;
}

export async function benchStores(label: string, options: { poolMax?: number; env?: Record<string, string> } = {}): Promise<BenchStores> {
  const db = await createTestDatabase({ DATABASE_URL: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test' });
  const admin = await createKnex({ url: db.url, ...(options.poolMax ? { poolMax: options.poolMax } : {}) });
  await migrateAll(admin);
  const [authPort, docsPort] = [await freePort(), await freePort()];
  const env: Record<string, string> = {
    DATABASE_URL: db.url,
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    REDIS_PREFIX: `${label}:${randomBytes(4).toString('hex')}:`,
    AUTH_ISSUER: `http://127.0.0.1:${authPort}`,
    AUTH_PORT: String(authPort),
    DOCS_API_PORT: String(docsPort),
    ...options.env,
  };
  const config = loadAuthConfig(env);
  return {
    env,
    config,
    box: SecretBox.fromConfig(config),
    admin,
    async drop() {
      await admin.destroy();
      await db.drop();
    },
  };
}
