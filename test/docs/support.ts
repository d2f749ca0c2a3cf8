// Both services, for real, on the same stores: one database (a real PostgreSQL database of its own when
// DATABASE_URL is set, the embedded one otherwise), one cache (Redis under a per-suite prefix when
// REDIS_URL is set, else one in-process store that both services share), the auth server on a free
// loopback port (its issuer) and the docs API next to it. Users sign in through the real login and
// consent pages; the operator CLI runs as a real process against the same database.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { argon2ParamsFrom, createAccountLibrary, createClientLibrary, PasswordHasher, SecretBox, type RegisteredClient } from '@clouddocs/auth-server';
import { migrateAll, runAuthServer, runDocsApi, type RunningAuth, type RunningDocs } from '@clouddocs/cli';
import { loadAuthConfig, loadDocsConfig, type AuthConfig } from '@clouddocs/config';
import { createKnex, createTestDatabase, runNode, type Knex, type TestDatabase } from '@clouddocs/db';
import { createKv, type Kv } from '@clouddocs/kv';
import { clearKv } from '@clouddocs/kv/test-support';
import { createLogger } from '@clouddocs/observability';
import { Browser, formsOf } from '../support/browser';
import { freePort } from '../support/ports';
import { discover, oidc, startAuthorization } from '../support/rp';
import { REDIRECT_URI } from '../support/stack';

export { REDIRECT_URI };
export const PASSWORD = 'quartz-meadow-lantern-58';
export const ALL_API = 'openid docs:read docs:write orgs:read orgs:write audit:read';

const BIN = fileURLToPath(new URL('../../packages/cli/bin/clouddocs.js', import.meta.url));
const REPO = fileURLToPath(new URL('../..', import.meta.url));

export interface User {
  id: string;
  email: string;
  password: string;
}

export interface ApiResponse {
  status: number;
  headers: Headers;
  body: any;
  text: string;
  requestId: string | null;
}

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  json: any;
}

export interface SignIn {
  tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
  /** x-request-id of the login POST and of the code redemption. */
  loginRequestId: string | null;
  tokenRequestId: string | null;
}

export interface DocsStack {
  issuer: string;
  authUrl: string;
  docsUrl: string;
  config: AuthConfig;
  db: TestDatabase;
  /** Owner connection (not the service role): for reading audit rows. */
  admin: Knex;
  kv: Kv;
  auth: RunningAuth;
  docs: RunningDocs;
  /** When the docs API had loaded the JWKS (its refetch on an unknown kid waits out a 5 s cooldown from there). */
  readyAt: number;
  /** A user made through the account library (fast); see `cli` for the real command. */
  createUser(label?: string): Promise<User>;
  /** A confidential web client (code + refresh) through the client library. */
  createWebClient(): Promise<RegisteredClient>;
  /** The real `clouddocs` CLI as a child process on this stack's database. */
  cli(args: string[], stdin?: string): Promise<CliRun>;
  /** The browser part of the code flow through the real pages, then the code redeemed at /token. */
  signIn(client: { client_id: string; client_secret?: string }, user: { email: string; password: string }, params?: Record<string, string>): Promise<SignIn>;
  api(method: string, path: string, options?: { token?: string; body?: unknown; headers?: Record<string, string> }): Promise<ApiResponse>;
  /** RFC 7009 revocation as the client (client_secret_basic). */
  revoke(client: { client_id: string; client_secret?: string }, token: string, hint?: string): Promise<Response>;
  /**
   * Another docs API process on the same database and cache, behind the same public URL (on a port of
   * its own), as behind a load balancer: with REDIS_URL a separate `clouddocs start --service docs`
   * process; on the embedded stores a second instance in this process (the in-process cache belongs to
   * one process).
   */
  startDocsPeer(): Promise<{ url: string; stop(): Promise<void> }>;
  stop(): Promise<void>;
}

export function basic(client: { client_id: string; client_secret?: string }): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(client.client_id)}:${encodeURIComponent(client.client_secret ?? '')}`).toString('base64')}`;
}

export interface DocsStackOptions {
  /** Extra configuration of both services (wins over the defaults here). */
  env?: Record<string, string>;
  /**
   * DOCS_API_AUDIENCE is the docs API's own URL (a free port chosen up front) rather than the default
   * http://localhost:4000: as in production, where it is the public URL clients call, which DPoP proofs
   * name in `htu`.
   */
  audienceIsDocsUrl?: boolean;
  /** The services' ports, chosen by the caller (e.g. a TLS terminator in front is configured first). */
  ports?: { auth: number; docs: number };
}

export async function startDocsStack(options: DocsStackOptions = {}): Promise<DocsStack> {
  const db = await createTestDatabase(process.env);
  const admin = await createKnex({ url: db.url, poolMax: 2 });
  await migrateAll(admin);
  const port = options.ports?.auth ?? (await freePort());
  const docsPort = options.ports?.docs ?? (options.audienceIsDocsUrl ? await freePort() : 0);
  const env: NodeJS.ProcessEnv = {
    DATABASE_URL: db.url,
    REDIS_URL: process.env.REDIS_URL,
    REDIS_PREFIX: `e2e-docs-${randomBytes(4).toString('hex')}:`,
    AUTH_ISSUER: `http://127.0.0.1:${port}`,
    AUTH_PORT: String(port),
    DOCS_API_PORT: String(docsPort),
    ...(options.audienceIsDocsUrl ? { DOCS_API_AUDIENCE: `http://127.0.0.1:${docsPort}` } : {}),
    LOG_LEVEL: 'silent',
    AUTH_KEY_ACTIVATION_DELAY_SECONDS: '1',
    AUTH_KEY_REFRESH_SECONDS: '1',
    ...options.env,
  };
  const config = loadAuthConfig(env);
  const kv = createKv(config); // one store for both services (the in-process one cannot be shared otherwise)
  const logger = createLogger({ level: 'silent', name: 'e2e-docs' });
  const auth = await runAuthServer({ config, databaseUrl: db.url, kv, logger, port, host: '127.0.0.1' });
  const docs = await runDocsApi({ config: loadDocsConfig(env), databaseUrl: db.url, kv, logger, port: docsPort, host: '127.0.0.1' });
  await docs.running.api.ready();
  const readyAt = Date.now();

  const accounts = createAccountLibrary({ knex: admin, hasher: new PasswordHasher(argon2ParamsFrom(config)) });
  const clients = createClientLibrary({ knex: admin, box: new SecretBox(config.AUTH_ENCRYPTION_KEY), issuer: config.AUTH_ISSUER });
  const cliEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  delete cliEnv.DATA_DIR; // the CLI runs with the services' environment: same DATABASE_URL, same REDIS_URL and prefix
  if (!process.env.REDIS_URL) delete cliEnv.REDIS_URL;
  const peers: (() => Promise<void>)[] = [];

  const stack: DocsStack = {
    issuer: config.AUTH_ISSUER,
    authUrl: auth.url,
    docsUrl: docs.url,
    config,
    db,
    admin,
    kv,
    auth,
    docs,
    readyAt,
    async createUser(label = 'user') {
      const email = `${label}-${randomBytes(4).toString('hex')}@example.test`;
      const account = await accounts.create({ email, password: PASSWORD, name: label });
      return { id: account.id, email: account.email, password: PASSWORD };
    },
    createWebClient() {
      return clients.create({ name: 'e2e web', redirectUris: [REDIRECT_URI], grants: ['authorization_code', 'refresh_token'] });
    },
    async cli(args, stdin) {
      const run = await runNode([BIN, ...args], { cwd: REPO, env: cliEnv, ...(stdin !== undefined ? { stdin } : {}) });
      let json: unknown;
      try {
        json = JSON.parse(run.stdout);
      } catch {
        json = undefined;
      }
      return { ...run, json };
    },
    async signIn(client, user, params = {}) {
      const config = await discover({ issuer: stack.issuer }, client);
      const start = await startAuthorization(config, { scope: ALL_API, ...params });
      const browser = new Browser();
      const atCallback = (url: string) => url.startsWith(`${REDIRECT_URI}?`);
      let step = await browser.navigate(start.url, atCallback);
      let loginRequestId: string | null = null;
      for (let i = 0; i < 4 && !atCallback(step.url); i++) {
        expect(step.response.status, `page at ${step.url}`).toBe(200);
        const forms = formsOf(await step.response.text());
        const login = forms.find((f) => f.action.endsWith('/login'));
        const allow = forms.find((f) => f.action.endsWith('/confirm'));
        const form = login ?? allow;
        if (!form) throw new Error(`no login or consent form at ${step.url}`);
        const action = new URL(form.action, step.url);
        const response = await browser.postForm(action, login ? { ...form.fields, email: user.email, password: user.password } : form.fields);
        if (login) loginRequestId = response.headers.get('x-request-id');
        expect(response.status, `POST ${action.pathname}`).toBe(303);
        step = await browser.follow(response, action, atCallback);
      }
      if (!atCallback(step.url)) throw new Error('the sign-in did not reach the redirect_uri');
      let tokenRequestId: string | null = null;
      // openid-client's own token request, observed on the way back for its x-request-id
      config[oidc.customFetch] = async (url, init) => {
        const res = await fetch(url, init as RequestInit);
        if (url === config.serverMetadata().token_endpoint) tokenRequestId = res.headers.get('x-request-id');
        return res;
      };
      const tokens = await oidc.authorizationCodeGrant(config, new URL(step.url), {
        pkceCodeVerifier: start.verifier,
        expectedState: start.state,
        expectedNonce: start.nonce,
        idTokenExpected: true,
      });
      return { tokens, loginRequestId, tokenRequestId };
    },
    async api(method, path, options = {}) {
      const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
      if (options.token) headers.authorization = `Bearer ${options.token}`;
      let body: string | undefined;
      if (options.body !== undefined) {
        headers['content-type'] = 'application/json';
        body = JSON.stringify(options.body);
      }
      const res = await fetch(`${docs.url}${path}`, { method, headers, body });
      const text = await res.text();
      let parsed: unknown;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        parsed = undefined;
      }
      return { status: res.status, headers: res.headers, body: parsed, text, requestId: res.headers.get('x-request-id') };
    },
    async revoke(client, token, hint) {
      const form = new URLSearchParams({ token });
      if (hint) form.set('token_type_hint', hint);
      const endpoint = (await discover({ issuer: stack.issuer }, client)).serverMetadata().revocation_endpoint!;
      return fetch(endpoint, {
        method: 'POST',
        headers: { authorization: basic(client), 'content-type': 'application/x-www-form-urlencoded' },
        body: form.toString(),
      });
    },
    async startDocsPeer() {
      const peerPort = await freePort();
      const url = `http://127.0.0.1:${peerPort}`;
      if (!process.env.REDIS_URL) {
        const peer = await runDocsApi({ config: loadDocsConfig(env), databaseUrl: db.url, kv, logger, port: peerPort, host: '127.0.0.1' });
        await peer.running.api.ready();
        let stopped: Promise<void> | undefined;
        const stop = () => (stopped ??= peer.stop());
        peers.push(stop);
        return { url, stop };
      }
      const child = spawn(process.execPath, [BIN, 'start', '--service', 'docs'], { cwd: REPO, env: { ...cliEnv, DOCS_API_PORT: String(peerPort) }, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      const stop = async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(timer);
      };
      peers.push(stop);
      for (const deadline = Date.now() + 90_000; !(await fetch(`${url}/readyz`).then((r) => r.ok, () => false)); ) {
        if (child.exitCode !== null || Date.now() > deadline) {
          await stop();
          throw new Error(`the second docs API process did not become ready: ${stderr.slice(0, 500)}`);
        }
        await sleep(200);
      }
      return { url, stop };
    },
    async stop() {
      for (const stopPeer of peers) await stopPeer().catch(() => {});
      await Promise.allSettled([docs.stop(), auth.stop()]);
      await clearKv(kv).catch(() => {}); // this suite's keys, under its own REDIS_PREFIX
      await kv.close().catch(() => {});
      await admin.destroy().catch(() => {});
      await db.drop().catch(() => {});
    },
  };
  return stack;
}

/** A problem+json error answer (RFC 9457) without a stack trace. */
export function expectProblem(res: ApiResponse, status: number) {
  expect(res.status, res.text).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ status, title: expect.any(String) });
  expect(res.text).not.toMatch(/\n\s+at /);
}

export function decodeJwt(jwt: string): { header: Record<string, any>; payload: Record<string, any> } {
  const [h, p] = jwt.split('.');
  return { header: JSON.parse(Buffer.from(h ?? '', 'base64url').toString()), payload: JSON.parse(Buffer.from(p ?? '', 'base64url').toString()) };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
