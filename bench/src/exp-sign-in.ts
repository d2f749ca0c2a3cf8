// `npx tsx bench/src/exp-sign-in.ts`: compares environment settings for the auth server under the sign-in load: sign-ins/s, server CPU per
// sign-in, RSS after the load and its peak. `BENCH_ENV_SETS='|MALLOC_ARENA_MAX=2'` (one set per `|`,
// space-separated NAME=value pairs), `BENCH_ROUNDS` rounds alternated, `BENCH_SECONDS` per run.
import { argon2ParamsFrom, createAccountLibrary, createClientLibrary, PasswordHasher } from '@clouddocs/auth-server';
import { benchStores } from './lib/stores';
import { startChild } from './lib/child';
import { signInBench } from './signin';

const sets = (process.env.BENCH_ENV_SETS ?? '|MALLOC_ARENA_MAX=2').split('|').map((s) =>
  Object.fromEntries(s.trim().split(/\s+/).filter(Boolean).map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)] as const)),
);
const rounds = Number(process.env.BENCH_ROUNDS ?? 2);
const seconds = Number(process.env.BENCH_SECONDS ?? 8);

const stores = await benchStores('exps', { env: { UV_THREADPOOL_SIZE: '4' } });
const { env, config, admin, box } = stores;
const web = await createClientLibrary({ knex: admin, box, issuer: config.AUTH_ISSUER }).create({ name: 'p', redirectUris: ['http://127.0.0.1:9/cb'] });
const accounts = createAccountLibrary({ knex: admin, hasher: new PasswordHasher(argon2ParamsFrom(config)) });
const users = await Promise.all(Array.from({ length: 8 }, (_, i) => accounts.create({ email: `x${i}@clouddocs.test`, password: `experiment-password-${i}` })));
for (let round = 0; round < rounds; round += 1) {
  for (const set of sets) {
    const auth = await startChild<{ url: string }>('service.ts', { ...env, SERVICE: 'auth', ...set });
    const cpu0 = await auth.cpuSeconds();
    const result = await signInBench({
      issuer: auth.info.url,
      clientId: web.client_id,
      clientSecret: web.client_secret!,
      redirectUri: 'http://127.0.0.1:9/cb',
      users: users.map((u, i) => ({ email: u.email, password: `experiment-password-${i}` })),
      seconds,
      concurrency: 8,
    });
    const cpu = (await auth.cpuSeconds()) - cpu0;
    const memory = await auth.memory();
    const n = result.completed;
    console.log(JSON.stringify({ set, perSecond: result.perSecond, completed: n, cpuMsPerSignIn: n ? Math.round((cpu / n) * 1e4) / 10 : null, ...memory }));
    await auth.stop();
  }
}
await stores.drop();
