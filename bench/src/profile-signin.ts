// Profiles the sign-in path alone: `BENCH_PROFILE=/tmp/prof npx tsx bench/src/profile-signin.ts`.
import { benchStores } from './lib/stores';
import { startChild } from './lib/child';
import { seedSignIn, signInBench } from './signin';

const stores = await benchStores('prof', { env: { UV_THREADPOOL_SIZE: '4' } });
const { env } = stores;
const { client, users } = await seedSignIn(stores, 'prof', 8);
const auth = await startChild<{ url: string }>('service.ts', { ...env, SERVICE: 'auth' });
const result = await signInBench({
  issuer: auth.info.url,
  ...client,
  users,
  seconds: Number(process.env.BENCH_SECONDS ?? 8),
  concurrency: 8,
});
console.log(result);
await auth.stop();
await stores.drop();
