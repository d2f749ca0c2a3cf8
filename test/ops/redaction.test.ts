// Logs never carry credentials: a full flow (password sign-in, consent, code, refresh, client
// credentials, docs API calls, failures) logged at the most verbose level contains none of the
// secrets, passwords, codes or tokens it used, and request ids flow in and out. The credentials of
// dynamic registration, key and certificate client authentication and back-channel logout (initial and
// registration access tokens, client assertions, certificates, logout tokens) reach neither the logs nor
// the audit log, whether they are used, refused or malformed.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
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
import { eventually } from '../support/faults';
import { certificateAuthority } from '../support/nginx';
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
  let authConfig: ReturnType<typeof loadAuthConfig>;

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
      // The certificate headers of a TLS terminator are read (the mTLS case below).
      AUTH_TRUST_PROXY: 'true',
    };
    const config = loadAuthConfig(env);
    authConfig = config;
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

  it('registration, assertion, certificate and logout credentials: used, refused or malformed, none reaches a log line or an audit event', async () => {
    lines.length = 0;
    const issuer = auth.server.provider().issuer;
    const credentials: string[] = [];
    const clients = createClientLibrary({ knex: admin, box: new SecretBox(authConfig.AUTH_ENCRYPTION_KEY), issuer });
    const operator = await clients.create({ name: 'redaction operator', grants: ['client_credentials'], scope: 'admin:read admin:write' });
    const operatorConfig = await discover({ issuer }, operator);
    const adminToken = (await oidc.clientCredentialsGrant(operatorConfig, { scope: 'admin:read admin:write' })).access_token;
    credentials.push(operator.client_secret!, adminToken);
    const adminCall = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${auth.url}/admin/v1${path}`, { method, headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
      const text = await res.text();
      return { status: res.status, body: text ? (JSON.parse(text) as Record<string, any>) : {} };
    };
    const form = (url: string, fields: Record<string, string>, headers: Record<string, string> = {}) =>
      fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(fields) });

    // Dynamic registration: the initial access token (used, changed by one character, revoked), the
    // registration access token (read, update, a wrong one, delete) and the registered client's secret.
    const initial = await adminCall('POST', '/registration-tokens', { max_uses: 3 });
    expect(initial.status).toBe(201);
    const iat = initial.body.token as string;
    const register = (token: string) => fetch(`${auth.url}/reg`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ client_name: 'redaction registered', redirect_uris: ['http://127.0.0.1:8080/callback'] }) });
    const registered = (await (await register(iat)).json()) as { client_id: string; client_secret: string; registration_access_token: string; registration_client_uri: string };
    const wrongIat = `${iat.slice(0, -1)}${iat.endsWith('A') ? 'B' : 'A'}`;
    expect((await register(wrongIat)).status).toBe(401);
    const rat = registered.registration_access_token;
    const wrongRat = `${rat.slice(0, -1)}${rat.endsWith('A') ? 'B' : 'A'}`;
    credentials.push(iat, wrongIat, rat, wrongRat, registered.client_secret);
    const manage = (method: string, token: string, body?: unknown) =>
      fetch(registered.registration_client_uri, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    expect((await manage('GET', rat)).status).toBe(200);
    expect((await manage('GET', wrongRat)).status).toBe(401);
    // RFC 7592 §2.2: an update answers with a new registration access token (the old one then stops working).
    const updated = await manage('PUT', rat, { client_id: registered.client_id, client_secret: registered.client_secret, client_name: 'redaction renamed', redirect_uris: ['http://127.0.0.1:8080/callback'] });
    expect(updated.status).toBe(200);
    const rotated = ((await updated.json()) as { registration_access_token: string }).registration_access_token;
    credentials.push(rotated);
    const wrongSecret = await manage('PUT', rotated, { client_id: registered.client_id, client_secret: `${registered.client_secret}x`, client_name: 'x', redirect_uris: ['http://127.0.0.1:8080/callback'] });
    expect(wrongSecret.status).toBeGreaterThanOrEqual(400);
    expect(wrongSecret.status).toBeLessThan(500);
    // A redirect URI or jwks_uri with a password in it is refused without repeating it anywhere.
    const withPassword = await fetch(`${auth.url}/reg`, { method: 'POST', headers: { authorization: `Bearer ${iat}`, 'content-type': 'application/json' }, body: JSON.stringify({ client_name: 'x', redirect_uris: ['https://robot:uri-password-4471@app.example/cb'] }) });
    expect(withPassword.status).toBe(400);
    expect(await withPassword.text()).not.toContain('uri-password-4471');
    const keyUriWithPassword = await adminCall('POST', '/clients', { client_name: 'x', grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt', jwks_uri: 'https://robot:uri-password-4471@keys.example/jwks' });
    expect(keyUriWithPassword.status).toBe(400);
    credentials.push('uri-password-4471');
    const revokedIat = await adminCall('POST', '/registration-tokens', {});
    expect((await adminCall('DELETE', `/registration-tokens/${revokedIat.body.id as string}`)).status).toBe(204);
    expect((await register(revokedIat.body.token as string)).status).toBe(401);
    credentials.push(revokedIat.body.token as string);
    expect((await manage('DELETE', rat)).status).toBe(401);
    expect((await manage('DELETE', rotated)).status).toBe(204);

    // private_key_jwt: a good assertion at the token endpoint and the JWT front, the same one again,
    // a forged one and a malformed one.
    const keys = await generateKeyPair('ES256', { extractable: true });
    const keyClient = await adminCall('POST', '/clients', { client_name: 'redaction key client', grant_types: ['client_credentials'], scope: 'docs:read', token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [{ ...(await exportJWK(keys.publicKey)), kid: 'k1' }] } });
    expect(keyClient.status).toBe(201);
    const keyClientId = keyClient.body.client_id as string;
    const assertion = (aud: string, exp = Math.floor(Date.now() / 1000) + 60) =>
      new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(keyClientId).setSubject(keyClientId).setAudience(aud).setJti(randomUUID()).setIssuedAt().setExpirationTime(exp).sign(keys.privateKey);
    const assertionFields = (client_assertion: string) => ({ client_id: keyClientId, client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion });
    const good = await assertion(`${issuer}/token`);
    const issued = await form(`${auth.url}/token`, { grant_type: 'client_credentials', scope: 'docs:read', ...assertionFields(good) });
    expect(issued.status).toBe(200);
    const keyClientToken = ((await issued.json()) as { access_token: string }).access_token;
    expect((await form(`${auth.url}/token`, { grant_type: 'client_credentials', ...assertionFields(good) })).status).toBe(401);
    const atFront = await assertion(`${issuer}/token/introspection`);
    expect((await form(`${auth.url}/token/introspection`, { token: keyClientToken, ...assertionFields(atFront) })).status).toBe(200);
    const forged = `${(await assertion(`${issuer}/token`)).slice(0, -6)}AAAAAA`;
    const farFuture = await assertion(`${issuer}/token`, 1e12);
    for (const bad of [forged, farFuture, 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.']) expect((await form(`${auth.url}/token`, { grant_type: 'client_credentials', ...assertionFields(bad) })).status).toBeGreaterThanOrEqual(400);
    credentials.push(keyClientToken, good, atFront, forged, farFuture, good.split('.')[2]!, JSON.stringify(await exportJWK(keys.privateKey)).slice(0, 40));

    // tls_client_auth behind the trusted terminator: the certificate, a garbage header, a bad encoding.
    const dir = mkdtempSync(join(tmpdir(), 'cd-redaction-'));
    try {
      const ca = certificateAuthority(dir);
      const certificate = ca.issue('redaction-robot', '/CN=redaction-robot/O=Example');
      const tlsClient = await adminCall('POST', '/clients', { client_name: 'redaction tls client', grant_types: ['client_credentials'], scope: 'docs:read', token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_subject_dn: 'CN=redaction-robot,O=Example' });
      expect(tlsClient.status).toBe(201);
      const body = certificate.pem.replace(/-----[A-Z ]+-----|\s/g, '');
      const withCertificate = (value: string, path = '/token') =>
        form(`${auth.url}${path}`, { grant_type: 'client_credentials', scope: 'docs:read', client_id: tlsClient.body.client_id as string, token: keyClientToken }, { 'x-ssl-client-cert': value, 'x-ssl-client-verify': 'SUCCESS' });
      const bound = await withCertificate(encodeURIComponent(certificate.pem));
      expect(bound.status).toBe(200);
      credentials.push(((await bound.json()) as { access_token: string }).access_token);
      expect((await withCertificate(encodeURIComponent(certificate.pem), '/token/introspection')).status).toBe(200);
      expect((await withCertificate(`${encodeURIComponent(certificate.pem)}%E0%A4%A`)).status).toBe(400);
      expect((await withCertificate(encodeURIComponent(certificate.pem.replace(/[A-Za-z]{8}\n/, 'AAAAAAAA\n')))).status).toBeGreaterThanOrEqual(400);
      credentials.push(body.slice(0, 64), body.slice(-64), encodeURIComponent(certificate.pem).slice(40, 120), certificate.key.replace(/-----[A-Z ]+-----|\s/g, '').slice(0, 48));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }

    // Back-channel logout: an operator's sign-out sends a logout token to two clients, one of which
    // answers 500 (its failure is logged and audited).
    const received: string[] = [];
    const receiver: Server = createServer((req, res) => {
      let data = '';
      req.on('data', (c: Buffer) => (data += c.toString()));
      req.on('end', () => {
        received.push(new URLSearchParams(data).get('logout_token') ?? '');
        res.statusCode = req.url === '/fail' ? 500 : 200;
        res.end(req.url === '/fail' ? data : '');
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    try {
      const port = (receiver.address() as { port: number }).port;
      const signedIn: string[] = [];
      for (const path of ['/ok', '/fail']) {
        const rp = await clients.create({ name: `redaction rp ${path}`, redirectUris: ['http://127.0.0.1:8080/callback'], backchannelLogoutUri: `http://127.0.0.1:${port}${path}`, backchannelLogoutSessionRequired: true });
        const { tokens } = await codeFlow(await discover({ issuer }, rp), { email, password: PASSWORD }, { scope: 'openid email', prompt: 'consent' });
        signedIn.push(tokens.id_token!, tokens.access_token, rp.client_secret!);
      }
      credentials.push(...signedIn);
      const userId = (await admin('auth.accounts').where({ email }).first('id')).id as string;
      expect((await adminCall('POST', `/users/${userId}/sign-out`)).status).toBe(200);
      await eventually(async () => (received.filter(Boolean).length >= 2 ? true : undefined));
      credentials.push(...received.filter(Boolean));
      await eventually(async () => ((await admin('audit.events').where({ action: 'auth.backchannel_logout.failed' }).first()) ? true : undefined));
    } finally {
      await new Promise<void>((resolve) => receiver.close(() => resolve()));
    }

    await auth.server.audit.flush();
    const everything = JSON.stringify(await admin('audit.events').select());
    const log = lines.join('');
    expect(lines.length).toBeGreaterThan(10);
    expect(everything).toContain('client.registered');
    for (const credential of credentials) {
      expect(credential.length).toBeGreaterThan(8);
      expect(log.includes(credential), `a log line contains a credential (${credential.slice(0, 6)}…)`).toBe(false);
      expect(everything.includes(credential), `an audit event contains a credential (${credential.slice(0, 6)}…)`).toBe(false);
    }
  }, 60_000);

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
