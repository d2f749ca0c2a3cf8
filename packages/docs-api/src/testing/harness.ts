// A real docs API for tests: a fresh database (PostgreSQL when DATABASE_URL is set, embedded
// otherwise) with the auth schema too (the users the API may name), the real cache (Redis when
// REDIS_URL is set), the real audit log, and test signing keys served either as a local key set or
// by a small HTTP auth server stand-in (discovery + JWKS).
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTVerifyGetKey } from 'jose';
import { AuditLog, auditGrants, auditMigrations } from '@clouddocs/audit';
import { loadDocsConfig, type DocsConfig } from '@clouddocs/config';
import { createKnex, createTestDatabase, migrate, type Knex, type TestDatabase } from '@clouddocs/db';
import { createKv, RevocationList, type Kv } from '@clouddocs/kv';
import { createLogger } from '@clouddocs/observability';
// The auth schema's migrations alone, not the auth server: this package does not depend on it.
import { authGrants, authMigrations } from '../../../auth-server/src/migrations';
import { createDocsApi, REVOCATION_RETAIN_SECONDS, type DocsApi } from '../app';
import { docsGrants, docsMigrations } from '../migrations';

export const AUDIENCE = 'http://localhost:4000';
export const ALL_SCOPES = 'openid docs:read docs:write orgs:read orgs:write audit:read';

export interface SigningKey {
  alg: 'ES256' | 'RS256' | 'EdDSA';
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

async function signingKey(alg: SigningKey['alg']): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}) });
  const kid = `${alg.toLowerCase()}-${randomBytes(4).toString('hex')}`;
  return { alg, kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

export interface TokenOptions {
  sub?: string;
  clientId?: string;
  scope?: string;
  key?: SigningKey;
  /** Header overrides: a kid that differs from the signing key's, another typ. */
  kid?: string;
  typ?: string;
  claims?: Record<string, unknown>;
  expiresIn?: number;
  issuer?: string;
  audience?: string | string[];
}

export interface Response<T = any> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

export interface Harness {
  url: string;
  issuer: string;
  config: DocsConfig;
  db: TestDatabase;
  knex: Knex;
  /** The owner connection (not the service role): for fixtures the API does not make, such as users. */
  owner: Knex;
  kv: Kv;
  audit: AuditLog;
  revocations: RevocationList;
  api: DocsApi;
  keys: { es256: SigningKey; rs256: SigningKey; eddsa: SigningKey };
  token(options?: TokenOptions): Promise<string>;
  /** A new user (an auth account) and a token for it with every docs scope. */
  user(scope?: string): Promise<{ id: string; token: string }>;
  /** Creates the auth account `id` (a user the API may name). */
  createAccount(id: string): Promise<void>;
  request<T = any>(method: string, path: string, options?: RequestOptions): Promise<Response<T>>;
  /** Sends these bytes as the whole request, as they are (no client library cleans them up). */
  raw(request: Buffer): Promise<Response>;
  /** The key set the API verifies with (local), for building a second API over the same stores. */
  jwks: JWTVerifyGetKey | undefined;
  /** Serves another API instance; its `request` goes to it. */
  serve(api: DocsApi): Promise<{ url: string; request: Harness['request']; close(): Promise<void> }>;
  close(): Promise<void>;
}

export interface RequestOptions {
  token?: string;
  body?: unknown;
  rawBody?: string | Uint8Array;
  headers?: Record<string, string>;
}

export function requester(base: string) {
  return async function request<T = any>(method: string, path: string, o: RequestOptions = {}): Promise<Response<T>> {
    const headers: Record<string, string> = { ...(o.headers ?? {}) };
    if (o.token !== undefined) headers.authorization = `Bearer ${o.token}`;
    let body: string | Uint8Array | undefined = o.rawBody;
    if (o.body !== undefined) {
      body = JSON.stringify(o.body);
      headers['content-type'] ??= 'application/json';
    }
    const res = await fetch(`${base}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON (metrics)
    }
    return { status: res.status, headers: res.headers, body: parsed as T, text };
  };
}

/** One request written byte for byte on a fresh connection; the answer parsed by hand. */
export function rawRequester(base: string) {
  const { hostname, port } = new URL(base);
  return (request: Buffer): Promise<Response> =>
    new Promise((resolve, reject) => {
      const socket = connect(Number(port), hostname);
      const chunks: Buffer[] = [];
      socket.on('data', (d) => chunks.push(d));
      socket.on('error', reject);
      socket.on('close', () => {
        const all = Buffer.concat(chunks).toString('utf8');
        const split = all.indexOf('\r\n\r\n');
        const [statusLine, ...lines] = all.slice(0, split).split('\r\n');
        const headers = new Headers();
        for (const line of lines) headers.append(line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1).trim());
        let text = all.slice(split + 4);
        if (headers.get('transfer-encoding') === 'chunked') text = text.replace(/^[0-9a-f]+\r\n/i, '').replace(/\r\n0\r\n\r\n$/, '');
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // not JSON
        }
        resolve({ status: Number(statusLine!.split(' ')[1]), headers, body, text });
      });
      socket.end(request);
    });
}

async function serve(api: DocsApi) {
  const server = api.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    request: requester(url),
    raw: rawRequester(url),
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

function serveAuthServer(keys: SigningKey[]): Promise<{ issuer: string; server: Server; hits: { discovery: number; jwks: number }; setUp: (up: boolean) => void }> {
  const hits = { discovery: 0, jwks: 0 };
  let up = true;
  const server = createServer((req, res) => {
    const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    if (!up) {
      res.writeHead(503).end();
      return;
    }
    if (req.url === '/.well-known/openid-configuration') {
      hits.discovery += 1;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks` }));
    } else if (req.url === '/jwks') {
      hits.jwks += 1;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: keys.map((k) => k.publicJwk) }));
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ issuer: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, hits, setUp: (v) => (up = v) }),
    ),
  );
}

export interface HarnessOptions {
  /** 'http': keys come through a real discovery document and JWKS endpoint. */
  keySource?: 'local' | 'http';
  /** Start with the stand-in auth server answering 503 (for readiness tests). */
  authServerDown?: boolean;
  /** Extra configuration of the API (e.g. DOCS_API_TRUST_PROXY). */
  env?: Record<string, string>;
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness & { authServer?: Awaited<ReturnType<typeof serveAuthServer>> }> {
  const db = await createTestDatabase();
  const owner = await createKnex({ url: db.url, poolMax: 2 });
  // As `clouddocs migrate` does: every schema, in dependency order.
  await migrate(owner, [...auditMigrations, ...authMigrations, ...docsMigrations], [auditGrants, authGrants, docsGrants]);
  const knex = await createKnex({ url: db.url, serviceRole: true, poolMax: 6 });

  const keys = { es256: await signingKey('ES256'), rs256: await signingKey('RS256'), eddsa: await signingKey('EdDSA') };
  const published = [keys.es256, keys.rs256, keys.eddsa];
  const authServer = options.keySource === 'http' ? await serveAuthServer(published) : undefined;
  if (authServer && options.authServerDown) authServer.setUp(false);
  const issuer = authServer?.issuer ?? 'http://127.0.0.1:3999';

  const config = loadDocsConfig({
    AUTH_ISSUER: issuer,
    DOCS_API_AUDIENCE: AUDIENCE,
    DATABASE_URL: db.url,
    REDIS_URL: process.env.REDIS_URL,
    REDIS_PREFIX: `clouddocs-test-${randomBytes(4).toString('hex')}:`,
    LOG_LEVEL: 'silent',
    ...options.env,
  });
  const kv = createKv(config);
  const revocations = new RevocationList(kv, REVOCATION_RETAIN_SECONDS);
  const audit = await AuditLog.open(knex, 'docs-api');
  const jwks = authServer ? undefined : createLocalJWKSet({ keys: published.map((k) => k.publicJwk) });
  const api = createDocsApi({ config, knex, audit, kv, revocations, logger: createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent', name: 'docs-api' }), ...(jwks ? { jwks } : {}) });
  if (!options.authServerDown) await api.ready();
  const served = await serve(api);

  const token: Harness['token'] = async (o = {}) => {
    const key = o.key ?? keys.es256;
    const sub = o.sub ?? randomUUID();
    return new SignJWT({ client_id: o.clientId ?? 'test-app', scope: o.scope ?? ALL_SCOPES, ...(o.claims ?? {}) })
      .setProtectedHeader({ alg: key.alg, kid: o.kid ?? key.kid, typ: o.typ ?? 'at+jwt' })
      .setIssuer(o.issuer ?? issuer)
      .setAudience(o.audience ?? AUDIENCE)
      .setSubject(sub)
      .setJti(randomUUID())
      .setIssuedAt(typeof o.claims?.iat === 'number' ? o.claims.iat : undefined)
      .setExpirationTime(Math.floor(Date.now() / 1000) + (o.expiresIn ?? 300))
      .sign(key.privateKey);
  };

  const createAccount = async (id: string) => {
    await owner('auth.accounts').insert({ id, email: `${id}@users.test`, password_hash: 'not-a-hash' });
  };

  return {
    url: served.url,
    issuer,
    config,
    db,
    knex,
    owner,
    kv,
    audit,
    revocations,
    api,
    keys,
    token,
    createAccount,
    ...(authServer ? { authServer } : {}),
    async user(scope = ALL_SCOPES) {
      const id = randomUUID();
      await createAccount(id);
      return { id, token: await token({ sub: id, scope }) };
    },
    request: served.request,
    raw: served.raw,
    jwks,
    serve,
    async close() {
      await api.close();
      await served.close();
      authServer?.server.closeAllConnections();
      await new Promise((r) => (authServer ? authServer.server.close(r) : r(undefined)));
      await audit.close();
      await kv.close();
      await knex.destroy();
      await owner.destroy();
      await db.drop();
    },
  };
}
