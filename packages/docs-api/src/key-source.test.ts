// Keys through a real discovery document and JWKS endpoint served over HTTP, as from the auth server.
import { afterAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './testing/harness';
import { expectProblem } from './testing/fixtures';

const started: Harness[] = [];
afterAll(() => Promise.all(started.map((h) => h.close())));

describe('discovery and JWKS over HTTP', () => {
  it('finds jwks_uri from discovery, verifies tokens with the fetched keys, and refuses others', async () => {
    const h = await startHarness({ keySource: 'http' });
    started.push(h);
    const authServer = (h as Harness & { authServer: { hits: { discovery: number; jwks: number } } }).authServer;
    expect(authServer.hits.discovery).toBe(1);
    expect((await h.request('GET', '/me', { token: await h.token({ key: h.keys.rs256 }) })).status).toBe(200);
    expect((await h.request('GET', '/me', { token: await h.token({ key: h.keys.eddsa }) })).status).toBe(200);
    expect((await h.request('GET', '/me', { token: await h.token({ issuer: 'http://localhost:3000' }) })).status).toBe(401);
    expect(authServer.hits.jwks).toBe(1); // cached: one fetch for all of the above
    expect((await h.request('GET', '/readyz')).status).toBe(200);
  });

  it('/readyz is 503 until discovery answers; requests with tokens get 503 meanwhile; then it becomes ready', async () => {
    const h = await startHarness({ keySource: 'http', authServerDown: true });
    started.push(h);
    const authServer = (h as Harness & { authServer: { setUp(up: boolean): void } }).authServer;
    const notReady = await h.request('GET', '/readyz');
    expectProblem(notReady, 503, /keys/);
    expect(notReady.body.checks.keys).toBe(false);
    expect(h.api.isReady()).toBe(false);
    expectProblem(await h.request('GET', '/me', { token: await h.token() }), 503);
    authServer.setUp(true);
    await h.api.ready();
    expect((await h.request('GET', '/readyz')).status).toBe(200);
    expect((await h.request('GET', '/me', { token: await h.token() })).status).toBe(200);
  });
});
