// Dependency outages: with Redis or PostgreSQL gone, both services say so (/readyz 503, problem+json
// or an OAuth error with 503), nothing is issued unaudited, and both recover by themselves when the
// dependency returns. The servers stopped here are the test's own, never the shared ones.
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '@clouddocs/audit';
import { argon2ParamsFrom, createAccountLibrary, createClientLibrary, PasswordHasher, SecretBox } from '@clouddocs/auth-server';
import { migrateAll, runAuthServer, runDocsApi, type RunningAuth, type RunningDocs } from '@clouddocs/cli';
import { loadAuthConfig, loadDocsConfig } from '@clouddocs/config';
import { createKnex, type Knex } from '@clouddocs/db';
import { bindClientToOrg, createOrganization } from '@clouddocs/docs-api';
import { createKv, type Kv } from '@clouddocs/kv';
import { createLogger } from '@clouddocs/observability';
import { ownServersAvailable, startOwnPostgres, startOwnRedis, type OwnPostgres, type OwnRedis } from '../support/own-servers';
import { eventually } from '../support/faults';
import { freePort } from '../support/ports';

// CI (real servers) must run this suite; a bare machine without PostgreSQL/Redis binaries may not.
const required = Boolean(process.env.DATABASE_URL);
const available = ownServersAvailable();
if (required && !available) throw new Error('the outage suite needs the PostgreSQL and Redis binaries');


describe.skipIf(!available)('dependency outages and recovery', () => {
  let pg: OwnPostgres;
  let redis: OwnRedis;
  let admin: Knex;
  let kv: Kv;
  let auth: RunningAuth;
  let docs: RunningDocs;
  let client: { id: string; secret: string };
  let documentId: string;

  const token = () =>
    fetch(`${auth.url}/token`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: 'grant_type=client_credentials&scope=docs%3Aread%20docs%3Awrite',
    });

  beforeAll(async () => {
    [pg, redis] = await Promise.all([startOwnPostgres(), startOwnRedis()]);
    admin = await createKnex({ url: pg.url, poolMax: 2 });
    await migrateAll(admin);
    const authPort = await freePort();
    const env = {
      DATABASE_URL: pg.url,
      REDIS_URL: redis.url,
      REDIS_PREFIX: `outage-${randomBytes(3).toString('hex')}:`,
      AUTH_ISSUER: `http://127.0.0.1:${authPort}`,
      AUTH_PORT: String(authPort),
      DOCS_API_PORT: '0',
      DATA_DIR: mkdtempSync(join(tmpdir(), 'clouddocs-outage-')),
      LOG_LEVEL: 'silent',
    };
    const config = loadAuthConfig(env);
    kv = createKv(config);
    const logger = createLogger({ level: 'silent', name: 'outage' });
    auth = await runAuthServer({ config, databaseUrl: pg.url, kv, logger, port: authPort, host: '127.0.0.1' });
    docs = await runDocsApi({ config: loadDocsConfig(env), databaseUrl: pg.url, kv, logger, port: 0, host: '127.0.0.1' });
    await docs.running.api.ready();

    const audit = await AuditLog.open(admin, 'test');
    const owner = await createAccountLibrary({ knex: admin, hasher: new PasswordHasher(argon2ParamsFrom(config)) }).create({
      email: 'owner@outage.test',
      password: 'outage-owner-password',
    });
    const org = await createOrganization(admin, audit, { name: 'Outage', ownerId: owner.id });
    const registered = await createClientLibrary({ knex: admin, box: new SecretBox(config.AUTH_ENCRYPTION_KEY), issuer: config.AUTH_ISSUER }).create({
      name: 'outage worker',
      grants: ['client_credentials'],
    });
    await bindClientToOrg(admin, audit, { orgId: org.id, clientId: registered.client_id, role: 'editor' });
    await audit.close();
    client = { id: registered.client_id, secret: registered.client_secret! };
    const { access_token: at } = (await (await token()).json()) as { access_token: string };
    const created = await fetch(`${docs.url}/documents`, {
      method: 'POST',
      headers: { authorization: `Bearer ${at}`, 'content-type': 'application/json' },
      body: JSON.stringify({ title: 'outage', content: 'still here', orgId: org.id }),
    });
    expect(created.status).toBe(201);
    documentId = ((await created.json()) as { id: string }).id;
  }, 120_000);

  afterAll(async () => {
    await Promise.allSettled([docs?.stop(), auth?.stop()]);
    await kv?.close();
    await admin?.destroy();
    await Promise.allSettled([pg?.destroy(), redis?.stop()]);
  });

  it('Redis down -> /readyz 503 on both services and sign-in fails closed with 503; Redis back -> both ready again', async () => {
    await redis.stop();
    const authReady = await eventually(async () => {
      const r = await fetch(`${auth.url}/readyz`);
      return r.status === 503 ? r : undefined;
    });
    expect(await authReady.json()).toMatchObject({ cache: false });
    const docsReady = await eventually(async () => {
      const r = await fetch(`${docs.url}/readyz`);
      return r.status === 503 ? r : undefined;
    });
    expect(docsReady.headers.get('content-type')).toMatch(/application\/problem\+json/);

    // Starting a sign-in needs the interaction store: a clean 503 page, never a 500 or a redirect.
    const start = await fetch(
      `${auth.url}/auth?client_id=${client.id}&response_type=code&scope=openid&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb&code_challenge=${'a'.repeat(43)}&code_challenge_method=S256`,
      { redirect: 'manual' },
    );
    expect(start.status).toBeGreaterThanOrEqual(400);
    expect(start.status).not.toBe(500);
    expect(start.headers.get('location')).toBeNull();

    await redis.start();
    await eventually(async () => ((await fetch(`${auth.url}/readyz`)).status === 200 ? true : undefined));
    await eventually(async () => ((await fetch(`${docs.url}/readyz`)).status === 200 ? true : undefined));
    const again = await token();
    expect(again.status).toBe(200);
  });

  it('PostgreSQL down -> the token endpoint answers 503 and issues nothing, the docs API 503 problem+json; back -> both recover', async () => {
    const issuedBefore = Number((await admin('audit.events').where({ action: 'token.issued', outcome: 'success' }).count('* as n').first())!.n);
    const { access_token: at } = (await (await token()).json()) as { access_token: string };
    await pg.stop();

    const refused = await token();
    expect(refused.status).toBe(503);
    expect(refused.headers.get('cache-control')).toBe('no-store');
    const body = (await refused.json()) as Record<string, unknown>;
    expect(body.error).toBe('temporarily_unavailable');
    expect(body.access_token).toBeUndefined();

    const read = await fetch(`${docs.url}/documents/${documentId}`, { headers: { authorization: `Bearer ${at}` } });
    expect(read.status).toBe(503);
    expect(read.headers.get('content-type')).toMatch(/application\/problem\+json/);
    const problem = (await read.json()) as Record<string, unknown>;
    expect(problem.status).toBe(503);
    expect(JSON.stringify(problem)).not.toMatch(/at .*\.ts:\d+/);

    expect((await fetch(`${auth.url}/readyz`)).status).toBe(503);

    await pg.start();
    const recovered = await eventually(async () => {
      const r = await token();
      return r.status === 200 ? r : undefined;
    });
    const { access_token: fresh } = (await recovered.json()) as { access_token: string };
    const readAgain = await eventually(async () => {
      const r = await fetch(`${docs.url}/documents/${documentId}`, { headers: { authorization: `Bearer ${fresh}` } });
      return r.status === 200 ? r : undefined;
    });
    expect(((await readAgain.json()) as { content: string }).content).toBe('still here');
    // Every token that was handed out has its event; the refused one has none.
    const issuedAfter = Number((await admin('audit.events').where({ action: 'token.issued', outcome: 'success' }).count('* as n').first())!.n);
    expect(issuedAfter - issuedBefore).toBeGreaterThanOrEqual(2);
  });
});
