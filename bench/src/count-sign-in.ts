// `npx tsx bench/src/count-sign-in.ts`: what one warm password sign-in (authorize → login page → login
// post → resume → code → token) asks of the shared stores: each Redis command on the benchmark's keys
// (MONITOR; the commands a Lua script runs are listed after its EVALSHA). `COUNT_SQL=1` also prints
// every SQL statement the auth server sends (knex's debug output), after the line that marks the
// measured sign-in.
import { Redis } from 'ioredis';
import { benchStores } from './lib/stores';
import { startChild } from './lib/child';
import { seedSignIn, signIn } from './signin';

const stores = await benchStores('count');
const { env } = stores;
const { client, users } = await seedSignIn(stores, 'count', 1);
const auth = await startChild<{ url: string }>('service.ts', { ...env, SERVICE: 'auth', ...(process.env.COUNT_SQL ? { DEBUG: 'knex:query,knex:tx' } : {}) });
const once = () => signIn({ issuer: auth.info.url, ...client, ...users[0]! });
await once();
await once(); // warm: the remembered consent, caches, pools
process.stderr.write('--- the measured sign-in ---\n');

const connection = new Redis(env.REDIS_URL!);
const monitor = await connection.monitor();
const commands: string[] = [];
monitor.on('monitor', (_time: string, args: string[]) => {
  if (args.some((a) => a.includes(env.REDIS_PREFIX!))) commands.push(args.map((a) => (a.length > 60 ? `${a.slice(0, 57)}...` : a)).join(' '));
});
await once();
await new Promise((r) => setTimeout(r, 300)); // MONITOR lines and deferred writes arrive
monitor.disconnect();
connection.disconnect();
console.log(`Redis commands on the benchmark's keys: ${commands.length}`);
for (const line of commands) console.log(`  ${line}`);
await auth.stop();
await stores.drop();
