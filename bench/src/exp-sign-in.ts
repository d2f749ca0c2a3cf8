// `npx tsx bench/src/exp-sign-in.ts`: compares environment settings for the auth server under the sign-in load: sign-ins/s, server CPU per
// sign-in (and its split: main thread, libuv pool, V8's other threads; user and system), RSS after the load and its peak. `BENCH_ENV_SETS='|MALLOC_ARENA_MAX=2'` (one set per `|`,
// space-separated NAME=value pairs), `BENCH_ROUNDS` rounds alternated, `BENCH_SECONDS` per run.
import { benchStores } from './lib/stores';
import { startChild } from './lib/child';
import { threadCpu } from './lib/proc';
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
    const threads0 = await threadCpu(auth.process.pid!);
    const result = await signInBench({
      issuer: auth.info.url,
      ...client,
      users,
      seconds,
      concurrency: 8,
    });
    const cpu = (await auth.cpuSeconds()) - cpu0;
    const threads1 = await threadCpu(auth.process.pid!);
    const memory = await auth.memory();
    const n = result.completed;
    const ms = (seconds: number) => (n ? Math.round((seconds / n) * 1e4) / 10 : null);
    const split = Object.fromEntries(
      (['main', 'pool', 'other'] as const).map((kind) => [kind, { user: ms(threads1[kind].user - threads0[kind].user), system: ms(threads1[kind].system - threads0[kind].system) }]),
    );
    console.log(JSON.stringify({ set, perSecond: result.perSecond, completed: n, cpuMsPerSignIn: ms(cpu), threadsMsPerSignIn: split, ...memory }));
    await auth.stop();
  }
}
await stores.drop();
