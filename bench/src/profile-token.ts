// Profiles the token endpoint alone: `BENCH_PROFILE=/tmp/prof npx tsx bench/src/profile-token.ts`.
import { benchStores } from './lib/stores';
import { createClientLibrary } from '@clouddocs/auth-server';
import { startChild } from './lib/child';
import { load } from './lib/load';

const stores = await benchStores('prof');
const { env, config, admin, box } = stores;
const machine = await createClientLibrary({ knex: admin, box: box, issuer: config.AUTH_ISSUER }).create({ name: 'p', grants: ['client_credentials'] });
const auth = await startChild<{ url: string }>('service.ts', { ...env, SERVICE: 'auth' });
const result = await load({
  url: `${auth.info.url}/token`,
  method: 'POST',
  headers: { authorization: `Basic ${Buffer.from(`${machine.client_id}:${machine.client_secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
  body: 'grant_type=client_credentials&scope=docs%3Aread',
  seconds: Number(process.env.BENCH_SECONDS ?? 8),
});
console.log(result);
await auth.stop();
await stores.drop();
