// Experiment: peak RSS and CPU per request of the auth server under token-endpoint load with different V8 flags
// (BENCH_FLAG_SETS, one set per `|`, each given as NODE_OPTIONS; an empty set is the heap limit `clouddocs start`
// gives a service, `--max-old-space-size=4096` is in effect none). Prints one line per flag set.
import { benchStores } from './lib/stores';
import { createClientLibrary } from '@clouddocs/auth-server';
import { startChild } from './lib/child';
import { load } from './lib/load';
import { basic } from './lib/org-machine';

const stores = await benchStores('rss');
const { env, config, admin, box } = stores;
const machine = await createClientLibrary({ knex: admin, box: box, issuer: config.AUTH_ISSUER }).create({ name: 'rss', grants: ['client_credentials'], scope: 'docs:read' });
const rounds = Number(process.env.BENCH_ROUNDS ?? 1);
for (let round = 0; round < rounds; round += 1) {
  for (const flags of (process.env.BENCH_FLAG_SETS ?? '|--max-old-space-size=4096').split('|')) {
    const auth = await startChild<{ url: string }>('service.ts', { ...env, SERVICE: 'auth', NODE_OPTIONS: flags });
    const cpuBefore = await auth.cpuSeconds();
    const r = await load({ url: `${auth.info.url}/token`, method: 'POST', headers: { authorization: basic(machine.client_id, machine.client_secret!), 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials&scope=docs%3Aread', seconds: Number(process.env.BENCH_SECONDS ?? 8) });
    const cpu = (await auth.cpuSeconds()) - cpuBefore; // over the warm-up and the measured run
    console.log(`${flags || '(as clouddocs start)'}: ${r.rps} req/s p99 ${r.p99} ms, ${Math.round((cpu / (r.requests + r.warmupRequests)) * 1e6)} CPU-µs/request, peak RSS ${await auth.peakRssMb()} MB`);
    await auth.stop();
  }
}
await stores.drop();
