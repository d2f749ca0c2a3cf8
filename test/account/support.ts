// An auth server for the account-security suites: like test/support/stack.ts, plus a data directory
// whose dev outbox the tests read, extra environment (argon2 parameters), and a way to put the cache
// behind a switch (to take it down mid-test).
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { auditGrants, auditMigrations } from '@clouddocs/audit';
import {
  argon2ParamsFrom,
  authGrants,
  authMigrations,
  createAccountLibrary,
  createClientLibrary,
  PasswordHasher,
  SecretBox,
  type Account,
  type ClientInput,
  type RegisteredClient,
} from '@clouddocs/auth-server';
import { loadAuthConfig, type AuthConfig } from '@clouddocs/config';
import { createKnex, createTestDatabase, migrate, type Knex } from '@clouddocs/db';
import { createKv, type Kv } from '@clouddocs/kv';
import { createLogger } from '@clouddocs/observability';
import { runAuthServer, type RunningAuth } from '../../packages/cli/src/run-auth';
import { freePort } from '../support/ports';

export const STRONG_PASSWORD = 'plum-orbit-cascade-71';

export interface SecurityStack {
  issuer: string;
  config: AuthConfig;
  auth: RunningAuth;
  admin: Knex;
  kv: Kv;
  dataDir: string;
  createUser(input?: { email?: string; password?: string; name?: string; emailVerified?: boolean }): Promise<Account & { password: string }>;
  createClient(input?: Partial<ClientInput>): Promise<RegisteredClient>;
  /** The newest mail to this address in the dev outbox (waits for it: mail leaves in the background). */
  mailTo(email: string, options?: { subject?: RegExp; after?: number }): Promise<{ subject: string; text: string; link: string | undefined }>;
  auditActions(): Promise<{ action: string; outcome: string; target_id: string | null; detail: Record<string, unknown> }[]>;
  stop(): Promise<void>;
}

/** `https`: the issuer is https (behind a TLS-terminating proxy that sends X-Forwarded-Proto). */
export async function startSecurityStack(options: { env?: Record<string, string>; wrapKv?: (kv: Kv) => Kv; https?: boolean } = {}): Promise<SecurityStack> {
  const db = await createTestDatabase(process.env);
  const admin = await createKnex({ url: db.url, poolMax: 2 });
  await migrate(admin, [...auditMigrations, ...authMigrations], [auditGrants, authGrants]);
  const dataDir = await mkdtemp(join(tmpdir(), 'cd-account-'));
  const port = await freePort();
  const config = loadAuthConfig({
    AUTH_ISSUER: `${options.https ? 'https' : 'http'}://127.0.0.1:${port}`,
    ...(options.https ? { AUTH_TRUST_PROXY: 'true' } : {}),
    AUTH_PORT: String(port),
    DOCS_API_AUDIENCE: 'http://localhost:4000',
    DATABASE_URL: db.url,
    REDIS_URL: process.env.REDIS_URL,
    REDIS_PREFIX: `t:${randomBytes(6).toString('hex')}:`,
    DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
    ...options.env,
  });
  const kv = createKv(config);
  const logger = createLogger({ level: config.LOG_LEVEL, name: 'e2e-account' });
  const auth = await runAuthServer({ config, databaseUrl: db.url, kv: options.wrapKv ? options.wrapKv(kv) : kv, logger, port, host: '127.0.0.1' });
  const accounts = createAccountLibrary({ knex: admin, hasher: new PasswordHasher(argon2ParamsFrom(config)) });
  const clients = createClientLibrary({ knex: admin, box: new SecretBox(config.AUTH_ENCRYPTION_KEY), issuer: config.AUTH_ISSUER });

  return {
    issuer: config.AUTH_ISSUER,
    config,
    auth,
    admin,
    kv,
    dataDir,
    async createUser(input = {}) {
      const password = input.password ?? STRONG_PASSWORD;
      const email = input.email ?? `user-${randomBytes(5).toString('hex')}@example.test`;
      const account = await accounts.create({ email, password, name: input.name ?? 'Grace Tester', emailVerified: input.emailVerified ?? true });
      return { ...account, password };
    },
    createClient(input = {}) {
      return clients.create({
        name: input.name ?? 'Notes app',
        redirectUris: input.redirectUris ?? ['http://127.0.0.1:8080/callback'],
        grants: input.grants ?? ['authorization_code', 'refresh_token'],
        ...(input.scope !== undefined ? { scope: input.scope } : {}),
        ...(input.public !== undefined ? { public: input.public } : {}),
      });
    },
    async mailTo(email, opts = {}) {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const mails = await readOutbox(dataDir);
        const match = mails.filter((m) => m.to === email && (!opts.subject || opts.subject.test(m.subject)) && (!opts.after || Date.parse(m.date) >= opts.after)).at(-1);
        if (match) return { subject: match.subject, text: match.text, link: /https?:\/\/\S+/.exec(match.text)?.[0] };
        if (Date.now() > deadline) throw new Error(`no mail to ${email} in ${dataDir}/outbox`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async auditActions() {
      await auth.server.audit.flush();
      return admin('audit.events').orderBy('id').select('action', 'outcome', 'target_id', 'detail');
    },
    async stop() {
      await auth.stop().catch(() => {});
      await kv.close().catch(() => {});
      await admin.destroy().catch(() => {});
      await db.drop().catch(() => {});
      await rm(dataDir, { recursive: true, force: true }).catch(() => {});
    },
  };
}

export async function readOutbox(dataDir: string): Promise<{ to: string; subject: string; text: string; date: string }[]> {
  const dir = join(dataDir, 'outbox');
  const files = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.json')).sort();
  return Promise.all(files.map(async (f) => JSON.parse(await readFile(join(dir, f), 'utf8')) as { to: string; subject: string; text: string; date: string }));
}
