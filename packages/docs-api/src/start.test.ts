// startDocsApi: the service as `clouddocs start` runs it, over shared stores, keys from discovery.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDocsApi, type RunningDocsApi } from './start';
import { requester, startHarness, type Harness } from './testing/harness';

let h: Harness;
let running: RunningDocsApi;
beforeAll(async () => {
  h = await startHarness({ keySource: 'http' });
  running = await startDocsApi({ config: h.config, knex: h.knex, kv: h.kv, port: 0, host: '127.0.0.1' });
});
afterAll(async () => {
  await running?.close();
  await h?.close();
});

describe('startDocsApi', () => {
  it('serves the API on its port, verifying tokens with the keys found through discovery', async () => {
    await running.api.ready();
    const request = requester(running.url);
    expect((await request('GET', '/healthz')).status).toBe(200);
    expect((await request('GET', '/readyz')).status).toBe(200);
    const user = await h.user();
    const created = await request('POST', '/orgs', { token: user.token, body: { name: 'Served' } });
    expect(created.status).toBe(201);
    // Its own audit chain, registered for this process.
    const [event] = await h.knex('audit.events').where({ action: 'org.created', org_id: created.body.id });
    expect(event.chain_id).toMatch(/^docs-api:/);
    expect(event.chain_id).not.toBe(h.audit.chainId);
  });
});
