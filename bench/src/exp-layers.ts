import { benchStores } from './lib/stores';
import { createClientLibrary } from '@clouddocs/auth-server';
import { startChild } from './lib/child';
import { load } from './lib/load';
const stores = await benchStores('exp');
const { env, config, admin, box } = stores;
const m = await createClientLibrary({ knex: admin, box: box, issuer: config.AUTH_ISSUER }).create({ name: 'p', grants: ['client_credentials'] });
const req = (url: string) => ({ url: `${url}/token`, method: 'POST' as const, headers: { authorization: `Basic ${Buffer.from(`${m.client_id}:${m.client_secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials&scope=docs%3Aread', seconds: 8 });
for (const script of (process.env.EXP_SCRIPTS ?? 'provider-only.ts,service.ts,bare-oidc.ts').split(',')) {
  const c = await startChild<{ url: string; clientId?: string; clientSecret?: string }>(script, { ...env, SERVICE: 'auth' });
  const r = c.info.clientId ? await load({ ...req(c.info.url), headers: { ...req(c.info.url).headers, authorization: `Basic ${Buffer.from(`${c.info.clientId}:${c.info.clientSecret}`).toString('base64')}` } }) : await load(req(c.info.url));
  console.log(script, r.rps, r.p50, r.non2xx);
  await c.stop();
}
await stores.drop();
