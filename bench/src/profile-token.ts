// Profiles the token endpoint alone: `BENCH_PROFILE=/tmp/prof npx tsx bench/src/profile-token.ts`.
import { randomBytes } from 'node:crypto';
import { createTestDatabase, createKnex } from '@clouddocs/db';
import { migrateAll } from '@clouddocs/cli';
import { createClientLibrary, SecretBox } from '@clouddocs/auth-server';
import { loadAuthConfig } from '@clouddocs/config';
import { startChild } from './lib/child';
import { load } from './lib/load';
import { freePort } from '@clouddocs/db';

const db = await createTestDatabase({ DATABASE_URL: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test' });
const admin = await createKnex({ url: db.url });
await migrateAll(admin);
const port = await freePort();
const env = { DATABASE_URL: db.url, REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', REDIS_PREFIX: `prof:${randomBytes(3).toString('hex')}:`, AUTH_ISSUER: `http://127.0.0.1:${port}`, AUTH_PORT: String(port) };
const config = loadAuthConfig(env);
const machine = await createClientLibrary({ knex: admin, box: new SecretBox(config.AUTH_ENCRYPTION_KEY), issuer: config.AUTH_ISSUER }).create({ name: 'p', grants: ['client_credentials'] });
const auth = await startChild<{ url: string }>('service.ts', { ...env, SERVICE: 'auth' });
const result = await load({
  url: `${auth.info.url}/token`,
  method: 'POST',
  headers: { authorization: `Basic ${Buffer.from(`${machine.client_id}:${machine.client_secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
  body: 'grant_type=client_credentials&scope=docs%3Aread',
  seconds: Number(process.env.BENCH_SECONDS ?? 8),
});
console.log(result);
await auth.stop();
await admin.destroy();
await db.drop();
