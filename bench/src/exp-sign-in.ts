// `npx tsx bench/src/exp-sign-in.ts`: compares environment settings for the auth server under the sign-in load: sign-ins/s, server CPU per
// sign-in, RSS after the load and its peak. `BENCH_ENV_SETS='|MALLOC_ARENA_MAX=2'` (one set per `|`,
// space-separated NAME=value pairs), `BENCH_ROUNDS` rounds alternated, `BENCH_SECONDS` per run.
import { benchStores } from './lib/stores';
import { startChild } from './lib/child';
import { seedSignIn, signInBench } from './signin';

const sets = (process.env.BENCH_ENV_SETS ?? '|MALLOC_ARENA_MAX=2').split('|').map((s) =>
  Object.fromEntries(s.trim().split(/\s+/).filter(Boolean).map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)] as const)),
);
const rounds = Number(process.env.BENCH_ROUNDS ?? 2);
const seconds = Number(process.env.BENCH_SECONDS ?? 8);

const stores = await benchStores('exps', { env: { UV_THREADPOOL_SIZE: '4' } });
const { env } = stores;
const { client, users } = await seedSignIn(stores, 'exps', 8);
for (let round = 0; round < rounds; round += 1) {
  for (const set of sets) {
    const auth = await startChild<{ url: string }>('service.ts', { ...env, SERVICE: 'auth', ...set });
    const cpu0 = await auth.cpuSeconds();
    const result = await signInBench({
      issuer: auth.info.url,
      ...client,
      users,
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
