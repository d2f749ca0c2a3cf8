// A store failing in the middle of a request is a 503 problem+json, never a 500: told apart in
// errors.ts by error class, SQLSTATE and errno, never by message text. The failures are real: the
// API's database connections go through a TCP proxy that the test cuts, refuses or stalls.
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKnex, type Knex } from '@clouddocs/db';
import { createLogger } from '@clouddocs/observability';
import { createDocsApi, type DocsApi } from './app';
import { isStoreFailure, watchStoreFailures } from '@clouddocs/db';
import { startHarness, type Harness, type Response } from './testing/harness';
import { expectProblem, orgWith, type TestUser } from './testing/fixtures';

/** Between the API and its database: forwards, or cuts both sides when the client sends `cutOn`, or accepts and never answers. */
class DatabaseProxy {
  mode: { kind: 'forward' } | { kind: 'cut'; on: RegExp } | { kind: 'stall' } = { kind: 'forward' };
  cuts = 0;
  private readonly sockets = new Set<Socket>();
  private readonly stalled = new Set<Socket>();
  private server!: Server;
  url!: string;

  constructor(private readonly target: URL) {}

  async start(): Promise<this> {
    this.server = createServer((client) => {
      this.sockets.add(client);
      client.on('close', () => this.sockets.delete(client));
      client.on('error', () => {});
      if (this.mode.kind === 'stall') {
        this.stalled.add(client);
        return;
      }
      const upstream = connect(Number(this.target.port), this.target.hostname);
      this.sockets.add(upstream);
      upstream.on('error', () => {});
      upstream.on('close', () => client.destroy());
      client.on('close', () => upstream.destroy());
      upstream.on('data', (d) => client.write(d));
      client.on('data', (d) => {
        if (this.mode.kind === 'cut' && this.mode.on.test(d.toString('latin1'))) {
          this.cuts += 1;
          client.destroy();
          upstream.destroy();
          return;
        }
        upstream.write(d);
      });
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    const url = new URL(this.target);
    url.host = `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    this.url = url.toString();
    return this;
  }

  /** Hangs up the connections it never answered. */
  dropStalled(): void {
    for (const s of this.stalled) s.destroy();
    this.stalled.clear();
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((r) => this.server.close(r));
  }
}

let h: Harness;
let owner: TestUser, newcomer: TestUser;
let orgId: string;
let proxy: DatabaseProxy;
let proxied: Knex;
let api: DocsApi;
let served: Awaited<ReturnType<Harness['serve']>>;

beforeAll(async () => {
  h = await startHarness();
  [owner, newcomer] = await Promise.all([h.user(), h.user()]);
  orgId = await orgWith(h, owner);
  proxy = await new DatabaseProxy(new URL(h.db.url)).start();
  proxied = await createKnex({ url: proxy.url, serviceRole: true, poolMax: 2 });
  api = createDocsApi({ config: h.config, knex: proxied, audit: h.audit, kv: h.kv, revocations: h.revocations, jwks: h.jwks!, logger: createLogger({ level: 'silent', name: 'docs-api' }) });
  await api.ready();
  served = await h.serve(api);
});
afterAll(async () => {
  await served?.close();
  await api?.close();
  await proxied?.destroy();
  await proxy?.stop();
  await h?.close();
});

function expectUnavailable(res: Response) {
  expectProblem(res, 503, /temporarily unavailable/);
  expect(res.body.type).toBe('urn:clouddocs:problem:unavailable');
  expect(res.headers.get('retry-after')).toBe('1');
  expect(res.text).not.toMatch(/Connection terminated|ECONNREFUSED|select|docs\./i);
}

describe('a store failing under a request -> 503', () => {
  it('the connection lost in the middle of a transaction -> 503, and nothing was changed', async () => {
    proxy.mode = { kind: 'cut', on: /for update/i }; // the member change's transaction locks the org first
    const cutsBefore = proxy.cuts;
    try {
      expectUnavailable(await served.request('PUT', `/orgs/${orgId}/members/${newcomer.id}`, { token: owner.token, body: { role: 'editor' } }));
    } finally {
      proxy.mode = { kind: 'forward' };
    }
    expect(proxy.cuts).toBe(cutsBefore + 1);
    expect(await h.knex('docs.memberships').where({ org_id: orgId, principal_id: newcomer.id })).toEqual([]);
    // The pool replaces the lost connection: the next request through the same API works.
    expect((await served.request('GET', `/orgs/${orgId}`, { token: owner.token })).status).toBe(200);
  });

  it('the connection lost in the middle of a read -> 503', async () => {
    proxy.mode = { kind: 'cut', on: /docs"\."memberships/ };
    try {
      expectUnavailable(await served.request('GET', '/orgs', { token: owner.token }));
    } finally {
      proxy.mode = { kind: 'forward' };
    }
  });

  it('the database refusing connections -> 503', async () => {
    const closed = await new DatabaseProxy(new URL(h.db.url)).start();
    await closed.stop(); // nothing listens there any more
    const knex = await createKnex({ url: closed.url, poolMax: 1 });
    const refused = createDocsApi({ config: h.config, knex, audit: h.audit, kv: h.kv, revocations: h.revocations, jwks: h.jwks!, logger: createLogger({ level: 'silent', name: 'docs-api' }) });
    const server = await h.serve(refused);
    try {
      await refused.ready();
      expectUnavailable(await server.request('GET', '/orgs', { token: owner.token }));
    } finally {
      await server.close();
      await refused.close();
      await knex.destroy();
    }
  });

  it('no connection to be had within the pool timeout -> 503', async () => {
    proxy.mode = { kind: 'stall' }; // accepts, never answers: a new connection never becomes ready
    const knex = await createKnex({ url: proxy.url, poolMax: 1 });
    const stalled = createDocsApi({ config: h.config, knex, audit: h.audit, kv: h.kv, revocations: h.revocations, jwks: h.jwks!, logger: createLogger({ level: 'silent', name: 'docs-api' }) });
    const server = await h.serve(stalled);
    try {
      await stalled.ready();
      expectUnavailable(await server.request('GET', '/orgs', { token: owner.token }));
    } finally {
      proxy.mode = { kind: 'forward' };
      proxy.dropStalled();
      await server.close();
      await stalled.close();
      await knex.destroy();
    }
  });
});

describe('what counts as a store failure (errors.ts)', () => {
  const sqlError = (code: string) => Object.assign(new Error('server said so'), { code, severity: 'FATAL' });

  it('PostgreSQL connection, resource and shutdown SQLSTATEs, socket errnos and the pool timeout are outages', () => {
    for (const code of ['08006', '08001', '53300', '57P01', '57P03', '58030']) expect(isStoreFailure(sqlError(code)), code).toBe(true);
    for (const code of ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT']) expect(isStoreFailure(Object.assign(new Error('x'), { code })), code).toBe(true);
    expect(isStoreFailure(Object.assign(new Error('x'), { name: 'KnexTimeoutError' }))).toBe(true);
  });

  it('a refused statement (constraint, syntax, bad value) is not an outage', () => {
    for (const code of ['23505', '42601', '22021', '22P02', '40001']) expect(isStoreFailure(sqlError(code)), code).toBe(false);
  });

  it('message text decides nothing: an error that only reads like a lost connection is a fault of ours (500)', () => {
    expect(isStoreFailure(new Error('Connection terminated unexpectedly'))).toBe(false);
    expect(isStoreFailure(new Error('connect ECONNREFUSED 127.0.0.1:5432'))).toBe(false);
  });

  it('a plain error raised by the driver under a query is an outage; a TypeError there is not', async () => {
    const knex = await createKnex({ url: proxy.url, poolMax: 1 });
    watchStoreFailures(knex);
    try {
      proxy.mode = { kind: 'cut', on: /pg_sleep/ };
      const lost = await knex.raw('select pg_sleep(0)').catch((err: unknown) => err);
      expect(lost).toBeInstanceOf(Error);
      expect(isStoreFailure(lost)).toBe(true);
      proxy.mode = { kind: 'forward' };
      const unsendable = await knex.raw('select ?::jsonb as v', [{ toJSON: () => { throw new TypeError('cannot serialise'); } }]).catch((err: unknown) => err);
      expect(unsendable).toBeInstanceOf(TypeError);
      expect(isStoreFailure(unsendable)).toBe(false);
    } finally {
      proxy.mode = { kind: 'forward' };
      await knex.destroy();
    }
  });
});
