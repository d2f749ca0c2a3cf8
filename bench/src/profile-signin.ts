// Profiles the sign-in path alone: `BENCH_PROFILE=/tmp/prof npx tsx bench/src/profile-signin.ts`.
import { randomBytes } from 'node:crypto';
import { createTestDatabase, createKnex } from '@clouddocs/db';
import { migrateAll } from '@clouddocs/cli';
import { argon2ParamsFrom, createAccountLibrary, createClientLibrary, PasswordHasher, SecretBox } from '@clouddocs/auth-server';
import { loadAuthConfig } from '@clouddocs/config';
import { startChild } from './lib/child';
import { freePort } from '@clouddocs/db';
import { signInBench } from './signin';

const db = await createTestDatabase({ DATABASE_URL: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test' });
const admin = await createKnex({ url: db.url });
await migrateAll(admin);
const port = await freePort();
const env = { DATABASE_URL: db.url, REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', REDIS_PREFIX: `prof:${randomBytes(3).toString('hex')}:`, AUTH_ISSUER: `http://127.0.0.1:${port}`, AUTH_PORT: String(port), UV_THREADPOOL_SIZE: '4' };
const config = loadAuthConfig(env);
const web = await createClientLibrary({ knex: admin, box: new SecretBox(config.AUTH_ENCRYPTION_KEY), issuer: config.AUTH_ISSUER }).create({ name: 'p', redirectUris: ['http://127.0.0.1:9/cb'] });
const accounts = createAccountLibrary({ knex: admin, hasher: new PasswordHasher(argon2ParamsFrom(config)) });
const users = await Promise.all(Array.from({ length: 8 }, (_, i) => accounts.create({ email: `p${i}@clouddocs.test`, password: `profile-password-${i}` })));
const auth = await startChild<{ url: string }>('service.ts', { ...env, SERVICE: 'auth' });
const result = await signInBench({
  issuer: auth.info.url,
  clientId: web.client_id,
  clientSecret: web.client_secret!,
  redirectUri: 'http://127.0.0.1:9/cb',
  users: users.map((u, i) => ({ email: u.email, password: `profile-password-${i}` })),
  seconds: Number(process.env.BENCH_SECONDS ?? 8),
  concurrency: 8,
});
console.log(result);
await auth.stop();
await admin.destroy();
await db.drop();
