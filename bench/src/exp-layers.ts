import { randomBytes } from 'node:crypto';
import { createTestDatabase, createKnex, freePort } from '@clouddocs/db';
import { migrateAll } from '@clouddocs/cli';
import { createClientLibrary, SecretBox } from '@clouddocs/auth-server';
import { loadAuthConfig } from '@clouddocs/config';
import { startChild } from './lib/child';
import { load } from './lib/load';
const db = await createTestDatabase({ DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/test' });
const admin = await createKnex({ url: db.url });
await migrateAll(admin);
const port = await freePort();
const env = { DATABASE_URL: db.url, REDIS_URL: 'redis://127.0.0.1:6379', REDIS_PREFIX: `exp:${randomBytes(3).toString('hex')}:`, AUTH_ISSUER: `http://127.0.0.1:${port}`, AUTH_PORT: String(port) };
const config = loadAuthConfig(env);
const m = await createClientLibrary({ knex: admin, box: new SecretBox(config.AUTH_ENCRYPTION_KEY), issuer: config.AUTH_ISSUER }).create({ name: 'p', grants: ['client_credentials'] });
const req = (url: string) => ({ url: `${url}/token`, method: 'POST' as const, headers: { authorization: `Basic ${Buffer.from(`${m.client_id}:${m.client_secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials&scope=docs%3Aread', seconds: 8 });
for (const script of (process.env.EXP_SCRIPTS ?? 'provider-only.ts,service.ts,bare-oidc.ts').split(',')) {
  const c = await startChild<{ url: string; clientId?: string; clientSecret?: string }>(script, { ...env, SERVICE: 'auth' });
  const r = c.info.clientId ? await load({ ...req(c.info.url), headers: { ...req(c.info.url).headers, authorization: `Basic ${Buffer.from(`${c.info.clientId}:${c.info.clientSecret}`).toString('base64')}` } }) : await load(req(c.info.url));
  console.log(script, r.rps, r.p50, r.non2xx);
  await c.stop();
}
await admin.destroy(); await db.drop();
