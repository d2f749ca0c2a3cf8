// Experiment: peak RSS of the auth server under token-endpoint load with different V8 flags
// (BENCH_NODE_FLAGS, space-separated). Prints one line per flag set.
import { randomBytes } from 'node:crypto';
import { createClientLibrary, SecretBox } from '@clouddocs/auth-server';
import { migrateAll } from '@clouddocs/cli';
import { loadAuthConfig } from '@clouddocs/config';
import { createKnex, createTestDatabase, freePort } from '@clouddocs/db';
import { startChild } from './lib/child';
import { load } from './lib/load';

const db = await createTestDatabase({ DATABASE_URL: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test' });
const admin = await createKnex({ url: db.url });
await migrateAll(admin);
const port = await freePort();
const env = { DATABASE_URL: db.url, REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', REDIS_PREFIX: `rss:${randomBytes(3).toString('hex')}:`, AUTH_ISSUER: `http://127.0.0.1:${port}`, AUTH_PORT: String(port) };
const config = loadAuthConfig(env);
const machine = await createClientLibrary({ knex: admin, box: SecretBox.fromConfig(config), issuer: config.AUTH_ISSUER }).create({ name: 'rss', grants: ['client_credentials'], scope: 'docs:read' });
for (const flags of (process.env.BENCH_FLAG_SETS ?? '|--max-semi-space-size=4|--max-semi-space-size=2 --max-old-space-size=128').split('|')) {
  const auth = await startChild<{ url: string }>('service.ts', { ...env, SERVICE: 'auth', NODE_OPTIONS: flags });
  const r = await load({ url: `${auth.info.url}/token`, method: 'POST', headers: { authorization: `Basic ${Buffer.from(`${machine.client_id}:${machine.client_secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials&scope=docs%3Aread', seconds: Number(process.env.BENCH_SECONDS ?? 8) });
  console.log(`${flags || '(defaults)'}: ${r.rps} req/s p99 ${r.p99} ms, peak RSS ${await auth.peakRssMb()} MB`);
  await auth.stop();
}
await admin.destroy();
await db.drop();
