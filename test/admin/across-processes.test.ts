// "At once" across a fleet: two auth server processes and two docs API processes (`clouddocs start
// --service …`, real child processes) on one PostgreSQL database and one Redis. An operator's change
// made through one auth server process is in force on the very next request at every other process:
// a disabled client, a disabled or signed-out user (the token endpoint and both docs API processes), a
// rotated secret and its overlap, a changed redirect URI (the other auth server's client cache). Needs a shared cache, so it runs with REDIS_URL
// (as CI does); the in-process store cannot be shared between processes.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClientLibrary, SecretBox, type RegisteredClient } from '@clouddocs/auth-server';
import { loadAuthConfig } from '@clouddocs/config';
import { createKnex, createTestDatabase, type Knex, type TestDatabase } from '@clouddocs/db';
import { freePort } from '../support/ports';
import { codeFlow, discover } from '../support/rp';
import { REDIRECT_URI } from '../support/stack';

const BIN = join(import.meta.dirname, '..', '..', 'packages', 'cli', 'bin', 'clouddocs.js');
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const basic = (c: { client_id: string; client_secret?: string }) => `Basic ${Buffer.from(`${encodeURIComponent(c.client_id)}:${encodeURIComponent(c.client_secret ?? '')}`).toString('base64')}`;

describe.skipIf(!process.env.REDIS_URL)('operator changes across two auth server and two docs API processes (REDIS_URL)', () => {
  let db: TestDatabase;
  let admin: Knex;
  const children: ChildProcess[] = [];
  let auth: [string, string];
  let docs: [string, string];
  let operator: RegisteredClient;
  let adminToken: string;

  async function start(service: 'auth' | 'docs', env: NodeJS.ProcessEnv, url: string): Promise<void> {
    const child = spawn(process.execPath, [BIN, 'start', '--service', service], { env, stdio: ['ignore', 'ignore', 'inherit'] });
    children.push(child);
    const deadline = Date.now() + 90_000;
    while (!(await fetch(`${url}/readyz`).then((r) => r.ok, () => false))) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the ${service} process did not start`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  async function clientToken(client: { client_id: string; client_secret?: string }, scope: string, at: string) {
    return fetch(`${at}/token`, { method: 'POST', headers: { ...FORM, authorization: basic(client) }, body: new URLSearchParams({ grant_type: 'client_credentials', scope }).toString() });
  }

  const me = (at: string, token: string) => fetch(`${at}/me`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.status);
  const adminCall = (at: string, method: string, path: string, body?: unknown) =>
    fetch(`${at}/admin/v1${path}`, { method, headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });

  beforeAll(async () => {
    db = await createTestDatabase();
    admin = await createKnex({ url: db.url, poolMax: 2 });
    const [a, b, c, d] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    auth = [`http://127.0.0.1:${a}`, `http://127.0.0.1:${b}`];
    docs = [`http://127.0.0.1:${c}`, `http://127.0.0.1:${d}`];
    const common: NodeJS.ProcessEnv = {
      ...process.env,
      DATABASE_URL: db.url,
      REDIS_PREFIX: `fleet-${randomBytes(3).toString('hex')}:`,
      DATA_DIR: mkdtempSync(join(tmpdir(), 'clouddocs-fleet-')),
      AUTH_ISSUER: auth[0],
      LOG_LEVEL: 'warn',
      AUTH_KEY_ACTIVATION_DELAY_SECONDS: '1',
    };
    // One after the other: the first start migrates and makes the keys.
    await start('auth', { ...common, AUTH_PORT: String(a) }, auth[0]);
    await start('auth', { ...common, AUTH_PORT: String(b) }, auth[1]);
    await Promise.all([start('docs', { ...common, DOCS_API_PORT: String(c) }, docs[0]), start('docs', { ...common, DOCS_API_PORT: String(d) }, docs[1])]);
    const config = loadAuthConfig({ AUTH_ISSUER: auth[0] });
    operator = await createClientLibrary({ knex: admin, box: new SecretBox(config.AUTH_ENCRYPTION_KEY), issuer: auth[0] }).create({ name: 'operator', grants: ['client_credentials'], scope: 'admin:read admin:write' });
    const res = await clientToken(operator, 'admin:read admin:write', auth[1]);
    adminToken = ((await res.json()) as { access_token: string }).access_token;
  }, 240_000);

  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await admin?.destroy();
    await db?.drop();
  });

  it('a client disabled through one auth process: the other refuses its credentials and both docs API processes its token, on the next request', async () => {
    const created = (await (await adminCall(auth[1], 'POST', '/clients', { client_name: 'robot', grant_types: ['client_credentials'], scope: 'docs:read' })).json()) as RegisteredClient;
    const issued = await clientToken(created, 'docs:read', auth[0]); // auth[0] now holds the client in its cache
    expect(issued.status).toBe(200);
    const token = ((await issued.json()) as { access_token: string }).access_token;
    expect([await me(docs[0], token), await me(docs[1], token)]).toEqual([200, 200]);

    expect((await adminCall(auth[1], 'POST', `/clients/${created.client_id}/disable`)).status).toBe(200);
    expect([await me(docs[0], token), await me(docs[1], token)]).toEqual([401, 401]);
    const refused = await clientToken(created, 'docs:read', auth[0]);
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { error: string }).error).toBe('invalid_client');

    expect((await adminCall(auth[0], 'POST', `/clients/${created.client_id}/enable`)).status).toBe(200);
    const again = await clientToken(created, 'docs:read', auth[1]);
    expect(again.status).toBe(200);
    const fresh = ((await again.json()) as { access_token: string }).access_token;
    expect([await me(docs[0], fresh), await me(docs[1], fresh)]).toEqual([200, 200]);
  });

  it('a redirect URI changed through one auth process applies at the other on the next authorization request', async () => {
    const created = (await (await adminCall(auth[0], 'POST', '/clients', { client_name: 'web', redirect_uris: ['https://app.example/old'] })).json()) as RegisteredClient;
    const authorize = (at: string, uri: string) =>
      fetch(`${at}/auth?${new URLSearchParams({ client_id: created.client_id, response_type: 'code', scope: 'openid', redirect_uri: uri, code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' })}`, { redirect: 'manual' }).then(async (r) => {
        await r.body?.cancel();
        return r.status;
      });
    expect(await authorize(auth[1], 'https://app.example/old')).toBe(303); // cached at auth[1]
    expect((await adminCall(auth[0], 'PATCH', `/clients/${created.client_id}`, { redirect_uris: ['https://app.example/new'] })).status).toBe(200);
    expect(await authorize(auth[1], 'https://app.example/old')).toBe(400);
    expect(await authorize(auth[1], 'https://app.example/new')).toBe(303);
  });

  it('a secret rotated through one auth process: the other accepts the new one at once, the old one until its overlap ends, and none of the old ones after a rotation without overlap', async () => {
    const created = (await (await adminCall(auth[0], 'POST', '/clients', { client_name: 'rotating robot', grant_types: ['client_credentials'], scope: 'docs:read' })).json()) as RegisteredClient;
    expect((await clientToken(created, 'docs:read', auth[1])).status).toBe(200); // auth[1] now holds the client in its cache
    const rotated = (await (await adminCall(auth[0], 'POST', `/clients/${created.client_id}/secret`, { previous_secret_expires_in: 3600 })).json()) as { client_secret: string };
    expect((await clientToken({ client_id: created.client_id, client_secret: rotated.client_secret }, 'docs:read', auth[1])).status).toBe(200);
    expect((await clientToken(created, 'docs:read', auth[1])).status).toBe(200);
    const again = (await (await adminCall(auth[1], 'POST', `/clients/${created.client_id}/secret`, { previous_secret_expires_in: 0 })).json()) as { client_secret: string };
    expect((await clientToken(created, 'docs:read', auth[0])).status).toBe(401);
    expect((await clientToken({ client_id: created.client_id, client_secret: rotated.client_secret }, 'docs:read', auth[0])).status).toBe(401);
    expect((await clientToken({ client_id: created.client_id, client_secret: again.client_secret }, 'docs:read', auth[0])).status).toBe(200);
  });

  it('a user signed out through one auth process: their tokens are refused by both docs API processes on the next request', async () => {
    const email = `signout-${randomBytes(3).toString('hex')}@example.test`;
    const password = 'harbor-velvet-comet-58';
    const user = (await (await adminCall(auth[1], 'POST', '/users', { email, password })).json()) as { id: string };
    const web = (await (await adminCall(auth[1], 'POST', '/clients', { client_name: 'fleet web 2', redirect_uris: [REDIRECT_URI], scope: 'openid docs:read' })).json()) as RegisteredClient;
    const { tokens } = await codeFlow(await discover({ issuer: auth[0] }, web), { email, password }, { scope: 'openid docs:read' });
    expect([await me(docs[0], tokens.access_token), await me(docs[1], tokens.access_token)]).toEqual([200, 200]);
    expect((await adminCall(auth[0], 'POST', `/users/${user.id}/sign-out`)).status).toBe(200);
    expect([await me(docs[0], tokens.access_token), await me(docs[1], tokens.access_token)]).toEqual([401, 401]);
  });

  it('a user disabled through one auth process: their token is refused by both docs API processes, and the other auth process refuses their sign-in', async () => {
    const email = `fleet-${randomBytes(3).toString('hex')}@example.test`;
    const password = 'cobalt-river-anchor-42';
    const user = (await (await adminCall(auth[0], 'POST', '/users', { email, password })).json()) as { id: string };
    const web = (await (await adminCall(auth[0], 'POST', '/clients', { client_name: 'fleet web', redirect_uris: [REDIRECT_URI], scope: 'openid docs:read' })).json()) as RegisteredClient;
    const config = await discover({ issuer: auth[0] }, web);
    const { tokens } = await codeFlow(config, { email, password }, { scope: 'openid docs:read' });
    expect([await me(docs[0], tokens.access_token), await me(docs[1], tokens.access_token)]).toEqual([200, 200]);

    expect((await adminCall(auth[1], 'POST', `/users/${user.id}/disable`)).status).toBe(200);
    expect([await me(docs[0], tokens.access_token), await me(docs[1], tokens.access_token)]).toEqual([401, 401]);
    await expect(codeFlow(config, { email, password }, { scope: 'openid docs:read' })).rejects.toThrow();
    const events = await admin('audit.events').where({ action: 'user.disabled', target_id: user.id }).select('actor_id');
    expect(events).toEqual([{ actor_id: operator.client_id }]);
  });
});
