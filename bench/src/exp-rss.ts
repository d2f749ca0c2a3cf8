// Experiment: peak RSS of the auth server under token-endpoint load with different V8 flags
// (BENCH_NODE_FLAGS, space-separated). Prints one line per flag set.
import { benchStores } from './lib/stores';
import { createClientLibrary } from '@clouddocs/auth-server';
import { startChild } from './lib/child';
import { load } from './lib/load';

const stores = await benchStores('rss');
const { env, config, admin, box } = stores;
const machine = await createClientLibrary({ knex: admin, box: box, issuer: config.AUTH_ISSUER }).create({ name: 'rss', grants: ['client_credentials'], scope: 'docs:read' });
for (const flags of (process.env.BENCH_FLAG_SETS ?? '|--max-semi-space-size=4|--max-semi-space-size=2 --max-old-space-size=128').split('|')) {
  const auth = await startChild<{ url: string }>('service.ts', { ...env, SERVICE: 'auth', NODE_OPTIONS: flags });
  const r = await load({ url: `${auth.info.url}/token`, method: 'POST', headers: { authorization: `Basic ${Buffer.from(`${machine.client_id}:${machine.client_secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials&scope=docs%3Aread', seconds: Number(process.env.BENCH_SECONDS ?? 8) });
  console.log(`${flags || '(defaults)'}: ${r.rps} req/s p99 ${r.p99} ms, peak RSS ${await auth.peakRssMb()} MB`);
  await auth.stop();
}
await stores.drop();
