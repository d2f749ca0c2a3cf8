// An auth server and a docs API on stores a test started itself (its own PostgreSQL, its own Redis or
// Sentinel group): migrated, running in this process on free ports, with one machine client. Suites
// that stop, restart or fail the stores over use it; `stop` ends what it started (not the stores).
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClientLibrary, SecretBox } from '@clouddocs/auth-server';
import { migrateAll, runAuthServer, runDocsApi, type RunningAuth, type RunningDocs } from '@clouddocs/cli';
import { loadAuthConfig, loadDocsConfig } from '@clouddocs/config';
import { createKnex, type Knex } from '@clouddocs/db';
import { createKv, type Kv } from '@clouddocs/kv';
import { createLogger, type Logger } from '@clouddocs/observability';
import { freePort } from './ports';

export interface ServicePair {
  env: Record<string, string>;
  /** Owner connection, for reading rows the services wrote. */
  admin: Knex;
  logger: Logger;
  auth: RunningAuth;
  docs: RunningDocs;
  /** A client_credentials client. */
  client: { id: string; secret: string };
  /** A cache client on the same stores and prefix (closed by `stop`). */
  newKv(): Kv;
  /** The auth server again, on its port (after the test stopped the first one). */
  startAuth(): Promise<RunningAuth>;
  /** Another docs API process on the same stores, ready (stopped by `stop`). */
  startDocs(): Promise<RunningDocs>;
  stop(): Promise<void>;
}

export async function startServicePair(options: { databaseUrl: string; redis: Record<string, string>; label: string }): Promise<ServicePair> {
  const admin = await createKnex({ url: options.databaseUrl, poolMax: 2 });
  await migrateAll(admin);
  const authPort = await freePort();
  const env: Record<string, string> = {
    DATABASE_URL: options.databaseUrl,
    ...options.redis,
    REDIS_PREFIX: `${options.label}-${randomBytes(3).toString('hex')}:`,
    AUTH_ISSUER: `http://127.0.0.1:${authPort}`,
    AUTH_PORT: String(authPort),
    DOCS_API_PORT: '0',
    DATA_DIR: mkdtempSync(join(tmpdir(), `clouddocs-${options.label}-`)),
    LOG_LEVEL: 'silent',
  };
  const logger = createLogger({ level: 'silent', name: options.label });
  const kvs: Kv[] = [];
  const running: { stop(): Promise<void> }[] = [];
  const newKv = () => {
    const kv = createKv(loadAuthConfig(env));
    kvs.push(kv);
    return kv;
  };
  const startAuth = async () => {
    const auth = await runAuthServer({ config: loadAuthConfig(env), databaseUrl: options.databaseUrl, kv: newKv(), logger, port: authPort, host: '127.0.0.1' });
    running.push(auth);
    return auth;
  };
  const startDocs = async () => {
    const docs = await runDocsApi({ config: loadDocsConfig(env), databaseUrl: options.databaseUrl, kv: newKv(), logger, port: 0, host: '127.0.0.1' });
    running.push(docs);
    await docs.running.api.ready();
    return docs;
  };
  const auth = await startAuth();
  const docs = await startDocs();
  const config = loadAuthConfig(env);
  const registered = await createClientLibrary({ knex: admin, box: SecretBox.fromConfig(config), issuer: config.AUTH_ISSUER }).create({
    name: `${options.label} worker`,
    grants: ['client_credentials'],
  });
  return {
    env,
    admin,
    logger,
    auth,
    docs,
    client: { id: registered.client_id, secret: registered.client_secret! },
    newKv,
    startAuth,
    startDocs,
    async stop() {
      await Promise.allSettled(running.map((r) => r.stop()));
      for (const kv of kvs) await kv.close().catch(() => {});
      await admin.destroy();
    },
  };
}
