// Both services through PgBouncer in transaction mode (Debian's pgbouncer, started here on a free port
// in front of the test PostgreSQL), migrations run directly as the owner: nothing the services do needs
// session state (no SET ROLE, no session advisory lock, no named prepared statement, no LISTEN), so a
// sign-in, tokens, the docs API, a revocation and the scheduled-rotation lock all work through it.
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { argon2ParamsFrom, createAccountLibrary, createClientLibrary, createKeyStore, LONGEST_SIGNED_TOKEN, PasswordHasher, SecretBox } from '@clouddocs/auth-server';
import { migrateAll, runAuthServer, runDocsApi, type RunningAuth, type RunningDocs } from '@clouddocs/cli';
import { loadAuthConfig, loadDocsConfig, type AuthConfig } from '@clouddocs/config';
import { createKnex, createTestDatabase, serviceUrl, type Knex, type TestDatabase } from '@clouddocs/db';
import { createKv, type Kv } from '@clouddocs/kv';
import { clearKv } from '@clouddocs/kv/test-support';
import { createLogger } from '@clouddocs/observability';
import { codeFlow, discover, oidc } from '../support/rp';
import { pgbouncerBinary, startOwnPgBouncer, type OwnPgBouncer } from '../support/own-servers';
import { freePort } from '../support/ports';
import { REDIRECT_URI } from '../support/stack';

const required = Boolean(process.env.DATABASE_URL);
if (required && !pgbouncerBinary()) throw new Error('the PgBouncer suite needs /usr/sbin/pgbouncer');

describe.skipIf(!required)('the services through PgBouncer (transaction pooling)', () => {
  let db: TestDatabase;
  let admin: Knex;
  let bouncer: OwnPgBouncer;
  let config: AuthConfig;
  let kv: Kv;
  let auth: RunningAuth;
  let docs: RunningDocs;
  const logger = createLogger({ level: 'silent', name: 'pgbouncer' });

  /** Transactions PgBouncer has passed to the test database (its admin console, simple queries only). */
  const bouncedTransactions = async () => {
    const console = new pg.Client({ host: '127.0.0.1', port: bouncer.port, user: 'postgres', database: 'pgbouncer' });
    await console.connect();
    try {
      const { rows } = await console.query('SHOW STATS');
      const name = new URL(db.url).pathname.slice(1);
      return Number((rows as { database: string; total_xact_count: string }[]).find((r) => r.database === name)?.total_xact_count ?? 0);
    } finally {
      await console.end();
    }
  };

  beforeAll(async () => {
    db = await createTestDatabase(process.env);
    admin = await createKnex({ url: db.url, poolMax: 2 });
    await migrateAll(admin); // direct, as the owner
    const direct = new URL(db.url);
    bouncer = await startOwnPgBouncer({ host: direct.hostname, port: Number(direct.port || 5432) }, ['clouddocs_service']);
    const authPort = await freePort();
    const env = {
      DATABASE_URL: db.url,
      DATABASE_SERVICE_URL: bouncer.through(serviceUrl(db.url)),
      REDIS_URL: process.env.REDIS_URL,
      REDIS_PREFIX: `pgb-${randomBytes(4).toString('hex')}:`,
      AUTH_ISSUER: `http://127.0.0.1:${authPort}`,
      AUTH_PORT: String(authPort),
      DOCS_API_PORT: '0',
      DATA_DIR: mkdtempSync(join(tmpdir(), 'clouddocs-pgbouncer-')),
      LOG_LEVEL: 'silent',
    };
    config = loadAuthConfig(env);
    kv = createKv(config);
    auth = await runAuthServer({ config, databaseUrl: db.url, kv, logger, port: authPort, host: '127.0.0.1' });
    docs = await runDocsApi({ config: loadDocsConfig(env), databaseUrl: db.url, kv, logger, port: 0, host: '127.0.0.1' });
    await docs.running.api.ready();
  }, 120_000);

  afterAll(async () => {
    await Promise.allSettled([docs?.stop(), auth?.stop()]);
    await clearKv(kv).catch(() => {});
    await kv?.close();
    await admin?.destroy();
    await bouncer?.stop();
    await db?.drop();
  });

  it('the services connect through PgBouncer as their own login, never as the owner', async () => {
    expect(config.DATABASE_SERVICE_URL).toContain(`:${bouncer.port}/`);
    const before = await bouncedTransactions();
    expect((await fetch(`${auth.url}/readyz`)).status).toBe(200);
    expect((await fetch(`${docs.url}/readyz`)).status).toBe(200);
    expect(await bouncedTransactions()).toBeGreaterThan(before);
  });

  it('a sign-in (code flow), refresh, the docs API, revocation and introspection work through it, under concurrency', async () => {
    const box = new SecretBox(config.AUTH_ENCRYPTION_KEY);
    const user = await createAccountLibrary({ knex: admin, hasher: new PasswordHasher(argon2ParamsFrom(config)) }).create({
      email: `pgb-${randomBytes(3).toString('hex')}@example.test`,
      password: 'plum-orbit-cascade-71',
      emailVerified: true,
    });
    const clients = createClientLibrary({ knex: admin, box, issuer: config.AUTH_ISSUER });
    const app = await clients.create({ name: 'pgbouncer app', redirectUris: [REDIRECT_URI], grants: ['authorization_code', 'refresh_token'] });
    const rp = await discover({ issuer: config.AUTH_ISSUER }, { client_id: app.client_id, client_secret: app.client_secret! });
    const { tokens } = await codeFlow(rp, { email: user.email, password: 'plum-orbit-cascade-71' }, { scope: 'openid offline_access docs:read', prompt: 'consent' });
    expect((await fetch(`${docs.url}/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } })).status).toBe(200);
    const refreshed = await oidc.refreshTokenGrant(rp, tokens.refresh_token!);
    expect(refreshed.access_token).toEqual(expect.any(String));

    const worker = await clients.create({ name: 'pgbouncer worker', grants: ['client_credentials'] });
    const basic = `Basic ${Buffer.from(`${worker.client_id}:${worker.client_secret}`).toString('base64')}`;
    const form = { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' };
    // More concurrent requests than PgBouncer has server connections for the database.
    const answers = await Promise.all(
      Array.from({ length: 40 }, () => fetch(`${auth.url}/token`, { method: 'POST', headers: form, body: 'grant_type=client_credentials&scope=docs%3Aread' })),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(40).fill(200));
    const at = ((await answers[0]!.json()) as { access_token: string }).access_token;
    const reads = await Promise.all(Array.from({ length: 40 }, () => fetch(`${docs.url}/me`, { headers: { authorization: `Bearer ${at}` } })));
    expect(reads.map((r) => r.status)).toEqual(Array(40).fill(200));
    expect((await fetch(`${auth.url}/token/revocation`, { method: 'POST', headers: form, body: new URLSearchParams({ token: at }).toString() })).status).toBe(200);
    expect((await fetch(`${docs.url}/me`, { headers: { authorization: `Bearer ${at}` } })).status).toBe(401);
    const intro = await fetch(`${auth.url}/token/introspection`, { method: 'POST', headers: form, body: new URLSearchParams({ token: at }).toString() });
    expect(await intro.json()).toEqual({ active: false });
    // The revocation went in with its audit event (one transaction, through the pooler).
    const jti = JSON.parse(Buffer.from(at.split('.')[1]!, 'base64url').toString()).jti as string;
    expect(await admin('auth.revocations').where({ kind: 'jti', value: jti }).first()).toBeDefined();
    expect(await admin('audit.events').where({ action: 'token.revoked', target_id: jti }).first()).toBeDefined();
    const issued = Number((await admin('audit.events').where({ action: 'token.issued', actor_id: worker.client_id }).count('* as n').first())!.n);
    expect(issued).toBe(40);
  }, 60_000);

  it('the scheduled-rotation lock holds through PgBouncer: of four processes due at once, exactly one rotates', async () => {
    await admin.raw(`UPDATE auth.signing_keys SET created_at = now() - interval '40 days'`);
    const pools = await Promise.all(Array.from({ length: 4 }, () => createKnex({ url: db.url, serviceRole: true, serviceUrl: config.DATABASE_SERVICE_URL, poolMax: 2 })));
    try {
      const box = new SecretBox(config.AUTH_ENCRYPTION_KEY);
      const results = await Promise.all(pools.map((knex) => createKeyStore({ knex, box, retainSeconds: LONGEST_SIGNED_TOKEN + 60 }).rotateIfDue(30, 60)));
      expect(results.filter(Boolean)).toHaveLength(1);
      const generations = await admin('auth.signing_keys').distinct('generation');
      expect(generations.length).toBe(2);
    } finally {
      await Promise.all(pools.map((p) => p.destroy()));
    }
  });
});
