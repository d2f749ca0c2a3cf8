// One real auth server per test file: a fresh database (real PostgreSQL when DATABASE_URL is set,
// embedded PGlite otherwise), the cache (Redis under a per-suite prefix when REDIS_URL is set, the
// in-process store otherwise), migrations, and the server listening on a free loopback port.
import { randomBytes } from 'node:crypto';
import { auditGrants, auditMigrations } from '@clouddocs/audit';
import {
  argon2ParamsFrom,
  authGrants,
  authMigrations,
  createAccountLibrary,
  createClientLibrary,
  createKeyStore,
  LONGEST_SIGNED_TOKEN,
  PasswordHasher,
  SecretBox,
  type Account,
  type ClientInput,
  type KeyStore,
  type RegisteredClient,
} from '@clouddocs/auth-server';
import { loadAuthConfig, type AuthConfig } from '@clouddocs/config';
import { createKnex, createTestDatabase, migrate, type Knex, type TestDatabase } from '@clouddocs/db';
import { createKv, type Kv } from '@clouddocs/kv';
import { clearKv } from '@clouddocs/kv/test-support';
import { createLogger } from '@clouddocs/observability';
import { runAuthServer, type RunningAuth } from '@clouddocs/cli';
import { freePort } from './ports';

export const DOCS_AUDIENCE = 'http://localhost:4000';
/** A loopback redirect URI: registrable by any client, and nothing needs to listen there. */
export const REDIRECT_URI = 'http://127.0.0.1:8080/callback';
export const PASSWORD = 'plum-orbit-cascade-71';

export interface AuthStack {
  issuer: string;
  config: AuthConfig;
  auth: RunningAuth;
  /** Owner connection (not the service role): for reading audit rows and the key store. */
  admin: Knex;
  kv: Kv;
  keyStore: KeyStore;
  createUser(input?: { email?: string; password?: string; name?: string; emailVerified?: boolean }): Promise<Account & { password: string }>;
  createClient(input?: Partial<ClientInput>): Promise<RegisteredClient>;
  /**
   * Another copy of the auth server on the same database and cache (same issuer, its own port), as
   * when several processes run side by side behind one address.
   */
  startPeer(): Promise<{ url: string; auth: RunningAuth; stop(): Promise<void> }>;
  stop(): Promise<void>;
}

export interface AuthStackOptions {
  /** Extra configuration (wins over the defaults here). */
  env?: Record<string, string>;
  /** What the server gets instead of the cache (e.g. one that can be switched off mid-test). */
  wrapKv?: (kv: Kv) => Kv;
  /** An https issuer behind a TLS-terminating proxy that sends X-Forwarded-Proto. */
  https?: boolean;
  /** DATA_DIR of the server (its dev mail outbox lives there). */
  dataDir?: string;
  /** Where the server's log lines go (e.g. to check that no credential reaches them). */
  logDestination?: NodeJS.WritableStream;
  /** The issuer's host name (default 127.0.0.1); `localhost` where WebAuthn needs a host name, not an IP address. */
  hostname?: string;
}

export async function startAuthStack(env: NodeJS.ProcessEnv = process.env, options: AuthStackOptions = {}): Promise<AuthStack> {
  const db: TestDatabase = await createTestDatabase(env);
  const admin = await createKnex({ url: db.url, poolMax: 2 });
  // The docs API's migrations are not needed by the auth server; keep this suite independent of them.
  await migrate(admin, [...auditMigrations, ...authMigrations], [auditGrants, authGrants]);

  const port = await freePort();
  const config = loadAuthConfig({
    AUTH_ISSUER: `${options.https ? 'https' : 'http'}://${options.hostname ?? '127.0.0.1'}:${port}`,
    ...(options.https ? { AUTH_TRUST_PROXY: 'true' } : {}),
    ...(options.dataDir ? { DATA_DIR: options.dataDir } : {}),
    AUTH_PORT: String(port),
    DOCS_API_AUDIENCE: DOCS_AUDIENCE,
    DATABASE_URL: db.url,
    REDIS_URL: env.REDIS_URL,
    REDIS_PREFIX: `t:${randomBytes(6).toString('hex')}:`,
    LOG_LEVEL: 'warn',
    AUTH_KEY_ACTIVATION_DELAY_SECONDS: '1',
    AUTH_KEY_REFRESH_SECONDS: '1',
    ...options.env,
  });
  const kv = createKv(config);
  const logger = createLogger({ level: config.LOG_LEVEL, name: 'e2e-auth', ...(options.logDestination ? { destination: options.logDestination } : {}) });
  const auth = await runAuthServer({ config, databaseUrl: db.url, kv: options.wrapKv ? options.wrapKv(kv) : kv, logger, port, host: '127.0.0.1' });

  const box = new SecretBox(config.AUTH_ENCRYPTION_KEY);
  const accounts = createAccountLibrary({ knex: admin, hasher: new PasswordHasher(argon2ParamsFrom(config)) });
  const clients = createClientLibrary({ knex: admin, box, issuer: config.AUTH_ISSUER });
  const keyStore = createKeyStore({ knex: admin, box, retainSeconds: LONGEST_SIGNED_TOKEN + 60 });
  const peers: (() => Promise<void>)[] = [];

  return {
    issuer: config.AUTH_ISSUER,
    config,
    auth,
    admin,
    kv,
    keyStore,
    async createUser(input = {}) {
      const password = input.password ?? PASSWORD;
      const email = input.email ?? `user-${randomBytes(5).toString('hex')}@example.test`;
      const account = await accounts.create({ email, password, name: input.name ?? 'Ada Tester', emailVerified: input.emailVerified ?? false });
      return { ...account, password };
    },
    createClient(input = {}) {
      return clients.create({
        name: input.name ?? 'E2E app',
        redirectUris: input.redirectUris ?? [REDIRECT_URI],
        grants: input.grants ?? ['authorization_code', 'refresh_token'],
        ...(input.scope !== undefined ? { scope: input.scope } : {}),
        ...(input.public !== undefined ? { public: input.public } : {}),
        ...(input.applicationType !== undefined ? { applicationType: input.applicationType } : {}),
        ...(input.postLogoutRedirectUris !== undefined ? { postLogoutRedirectUris: input.postLogoutRedirectUris } : {}),
        ...(input.dpopBoundAccessTokens !== undefined ? { dpopBoundAccessTokens: input.dpopBoundAccessTokens } : {}),
        ...(input.authMethod !== undefined ? { authMethod: input.authMethod } : {}),
        ...(input.jwks !== undefined ? { jwks: input.jwks } : {}),
        ...(input.jwksUri !== undefined ? { jwksUri: input.jwksUri } : {}),
        ...(input.tlsSubjectDn !== undefined ? { tlsSubjectDn: input.tlsSubjectDn } : {}),
        ...(input.mtlsBound !== undefined ? { mtlsBound: input.mtlsBound } : {}),
      });
    },
    async startPeer() {
      // The in-process store cannot be shared between processes; two servers in this process share it.
      const peerKv = config.REDIS_URL ? createKv(config) : kv;
      const peerPort = await freePort();
      const peer = await runAuthServer({ config, databaseUrl: db.url, kv: peerKv, logger, port: peerPort, host: '127.0.0.1' });
      const stopPeer = async () => {
        await peer.stop().catch(() => {});
        if (peerKv !== kv) await peerKv.close().catch(() => {});
      };
      peers.push(stopPeer);
      return { url: peer.url, auth: peer, stop: stopPeer };
    },
    async stop() {
      for (const stopPeer of peers) await stopPeer();
      await auth.stop().catch(() => {});
      await clearKv(kv).catch(() => {}); // this suite's keys, under its own REDIS_PREFIX
      await kv.close().catch(() => {});
      await admin.destroy().catch(() => {});
      await db.drop().catch(() => {});
    },
  };
}
