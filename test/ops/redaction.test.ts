// Logs never carry credentials: a full flow (password sign-in, consent, code, refresh, client
// credentials, docs API calls, failures) logged at the most verbose level contains none of the
// secrets, passwords, codes or tokens it used, and request ids flow in and out.
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '@clouddocs/audit';
import { argon2ParamsFrom, createAccountLibrary, createClientLibrary, PasswordHasher, SecretBox } from '@clouddocs/auth-server';
import { migrateAll, runAuthServer, runDocsApi, type RunningAuth, type RunningDocs } from '@clouddocs/cli';
import { loadAuthConfig, loadDocsConfig } from '@clouddocs/config';
import { createKnex, createTestDatabase, type Knex, type TestDatabase } from '@clouddocs/db';
import { bindClientToOrg, createOrganization } from '@clouddocs/docs-api';
import { createKv, type Kv } from '@clouddocs/kv';
import { createLogger } from '@clouddocs/observability';
import { Visitor } from '../account/flow';
import { freePort } from '../support/ports';
import { codeFlow, discover, oidc } from '../support/rp';

const PASSWORD = `redaction-${randomBytes(6).toString('hex')}`;

describe('log redaction and request ids', () => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  let db: TestDatabase;
  let admin: Knex;
  let kv: Kv;
  let auth: RunningAuth;
  let docs: RunningDocs;
  const secrets: string[] = [PASSWORD];
  let web: { client_id: string; client_secret?: string };
  let machine: { client_id: string; client_secret?: string };
  let email: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    admin = await createKnex({ url: db.url, poolMax: 2 });
    await migrateAll(admin);
    const port = await freePort();
    const env = {
      DATABASE_URL: db.url,
      REDIS_URL: process.env.REDIS_URL,
      REDIS_PREFIX: `redact-${randomBytes(3).toString('hex')}:`,
      AUTH_ISSUER: `http://127.0.0.1:${port}`,
      AUTH_PORT: String(port),
      LOG_LEVEL: 'trace',
    };
    const config = loadAuthConfig(env);
    kv = createKv(config);
    auth = await runAuthServer({ config, databaseUrl: db.url, kv, logger: createLogger({ level: 'trace', name: 'auth-server', destination: sink }), port, host: '127.0.0.1' });
    docs = await runDocsApi({ config: loadDocsConfig(env), databaseUrl: db.url, kv, logger: createLogger({ level: 'trace', name: 'docs-api', destination: sink }), port: 0, host: '127.0.0.1' });
    await docs.running.api.ready();
    const audit = await AuditLog.open(admin, 'test');
    email = `redact-${randomBytes(3).toString('hex')}@example.test`;
    const user = await createAccountLibrary({ knex: admin, hasher: new PasswordHasher(argon2ParamsFrom(config)) }).create({ email, password: PASSWORD });
    const org = await createOrganization(admin, audit, { name: 'Redaction', ownerId: user.id });
    const clients = createClientLibrary({ knex: admin, box: new SecretBox(config.AUTH_ENCRYPTION_KEY), issuer: config.AUTH_ISSUER });
    web = await clients.create({ name: 'redaction web', redirectUris: ['http://127.0.0.1:8080/callback'] });
    machine = await clients.create({ name: 'redaction machine', grants: ['client_credentials'] });
    await bindClientToOrg(admin, audit, { orgId: org.id, clientId: machine.client_id, role: 'editor' });
    await audit.close();
    secrets.push(web.client_secret!, machine.client_secret!);
  }, 120_000);

  afterAll(async () => {
    await Promise.allSettled([docs?.stop(), auth?.stop()]);
    await kv?.close();
    await admin?.destroy();
    await db?.drop();
  });

  it('a full flow logged at trace level contains no password, client secret, code or token', async () => {
    const config = await discover({ issuer: auth.server.provider().issuer }, web);
    const { tokens, callback } = await codeFlow(config, { email, password: PASSWORD }, { scope: 'openid email offline_access docs:read docs:write', prompt: 'consent' });
    secrets.push(callback.searchParams.get('code')!, tokens.access_token, tokens.refresh_token!, tokens.id_token!);
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
    secrets.push(refreshed.access_token, refreshed.refresh_token!);

    const machineConfig = await discover({ issuer: auth.server.provider().issuer }, machine);
    const cc = await oidc.clientCredentialsGrant(machineConfig, { scope: 'docs:read docs:write' });
    secrets.push(cc.access_token);
    for (const token of [refreshed.access_token, cc.access_token]) {
      const me = await fetch(`${docs.url}/me`, { headers: { authorization: `Bearer ${token}` } });
      expect(me.status).toBe(200);
    }
    // Failures are logged too, and must not echo what was sent.
    const wrong = await fetch(`${auth.url}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${machine.client_id}:${machine.client_secret}x`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    });
    expect(wrong.status).toBe(401);
    const forged = `${cc.access_token.slice(0, -4)}AAAA`;
    secrets.push(forged);
    expect((await fetch(`${docs.url}/documents`, { headers: { authorization: `Bearer ${forged}` } })).status).toBe(401);

    expect(lines.length).toBeGreaterThan(10); // trace level really logged the requests
    const log = lines.join('');
    for (const secret of secrets) {
      expect(secret.length).toBeGreaterThan(8);
      expect(log.includes(secret), `a log line contains a credential (${secret.slice(0, 6)}…)`).toBe(false);
    }
  });

  it('API keys: made in the console, used, changed by one character, revoked — no log line or audit event holds one', async () => {
    lines.length = 0;
    const v = new Visitor({ issuer: auth.server.provider().issuer });
    const login = await v.get('/account/login');
    const account = await v.submitAndFollow(login, '/login', { email, password: PASSWORD });
    const form = account.forms.find((f) => f.action.endsWith('/account/api-keys'))!;
    const created = await v.browser.postForm(new URL('/account/api-keys', auth.url), { csrf: form.fields.csrf!, name: 'redaction', expires_in_days: '7', 'scope:docs:read': 'on' });
    expect(created.status).toBe(200);
    const key = /data-key="(cd_pat_[0-9A-Za-z]+)"/.exec(await created.text())![1]!;
    const changed = `${key.slice(0, 20)}${key[20] === 'Z' ? 'Y' : 'Z'}${key.slice(21)}`;
    const me = async (credential: string, base = docs.url) => (await fetch(`${base}/me`, { headers: { authorization: `Bearer ${credential}` } })).status;
    expect(await me(key)).toBe(200);
    expect(await me(key)).toBe(200);
    expect(await me(changed)).toBe(401);
    expect(await me(key, auth.url)).toBe(401); // the auth server's userinfo never takes a key
    const keyId = (await admin('auth.api_keys').where({ name: 'redaction' }).first('id')).id as string;
    const page = await v.get('/account');
    const revoke = page.forms.find((f) => f.action.endsWith('/account/api-keys/revoke') && f.fields.key === keyId)!;
    expect((await v.browser.postForm(new URL('/account/api-keys/revoke', auth.url), revoke.fields)).status).toBe(303);
    expect(await me(key)).toBe(401);

    await auth.server.audit.flush();
    const events = await admin('audit.events').whereIn('action', ['api_key.created', 'api_key.used', 'api_key.revoked']).select('action', 'target_id', 'detail');
    expect(events.map((e: { action: string }) => e.action).sort()).toEqual(['api_key.created', 'api_key.revoked', 'api_key.used']);
    const everything = JSON.stringify(await admin('audit.events').select());
    expect(lines.length).toBeGreaterThan(5);
    const log = lines.join('');
    for (const text of [key, changed, key.slice(11), changed.slice(11)]) {
      expect(log.includes(text), 'a log line contains an API key').toBe(false);
      expect(everything.includes(text), 'an audit event contains an API key').toBe(false);
    }
  });

  it('/metrics names route templates, tokens by grant, sign-in outcomes, audit commits and JWKS fetches', async () => {
    const authMetrics = await (await fetch(`${auth.url}/metrics`)).text();
    expect(authMetrics).toMatch(/oauth_tokens_issued_total\{[^}]*grant_type="authorization_code"[^}]*\} [1-9]/);
    expect(authMetrics).toMatch(/oauth_tokens_issued_total\{[^}]*grant_type="client_credentials"[^}]*\} [1-9]/);
    expect(authMetrics).toMatch(/auth_login_total\{[^}]*outcome="success"[^}]*\} [1-9]/);
    expect(authMetrics).toMatch(/audit_commit_seconds_count\{[^}]*\} [1-9]/);
    expect(authMetrics).toMatch(/audit_queue_depth/);
    expect(authMetrics).toMatch(/http_request_duration_seconds_count\{[^}]*route="\/interaction\/:uid\/login"/);
    expect(authMetrics).not.toMatch(/route="\/interaction\/[A-Za-z0-9_-]{10,}/); // templates, not raw paths
    const docsMetrics = await (await fetch(`${docs.url}/metrics`)).text();
    expect(docsMetrics).toMatch(/docs_jwks_fetch_total\{[^}]*\} [1-9]/);
    expect(docsMetrics).toMatch(/http_request_duration_seconds_count\{[^}]*route="\/me"/);
  });

  it('x-request-id is taken in and echoed out by both services, and made up when absent or malformed', async () => {
    for (const base of [auth.url, docs.url]) {
      const given = await fetch(`${base}/healthz`, { headers: { 'x-request-id': 'req-12345' } });
      expect(given.headers.get('x-request-id')).toBe('req-12345');
      const made = await fetch(`${base}/healthz`);
      expect(made.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
      const bad = await fetch(`${base}/healthz`, { headers: { 'x-request-id': 'bad id\twith spaces' } });
      expect(bad.headers.get('x-request-id')).not.toBe('bad id\twith spaces');
    }
  });
});
