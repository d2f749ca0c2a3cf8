// Profiles the sign-in path alone: `BENCH_PROFILE=/tmp/prof npx tsx bench/src/profile-signin.ts`.
import { benchStores } from './lib/stores';
import { argon2ParamsFrom, createAccountLibrary, createClientLibrary, PasswordHasher } from '@clouddocs/auth-server';
import { startChild } from './lib/child';
import { signInBench } from './signin';

const stores = await benchStores('prof', { env: { UV_THREADPOOL_SIZE: '4' } });
const { env, config, admin, box } = stores;
const web = await createClientLibrary({ knex: admin, box: box, issuer: config.AUTH_ISSUER }).create({ name: 'p', redirectUris: ['http://127.0.0.1:9/cb'] });
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
await stores.drop();
