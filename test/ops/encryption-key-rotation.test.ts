// Rotating AUTH_ENCRYPTION_KEY while serving (issue: operator plane, key lifecycle): the services run
// with the new key and the old one as AUTH_ENCRYPTION_KEY_PREVIOUS, `keys reseal` re-encrypts what is
// stored under the old one, and afterwards the old key can go: client secrets, signing keys, TOTP
// secrets and recovery codes all still work under the new key alone.
import { generate } from 'otplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMfaLibrary, resealAll, SEALED_COLUMNS, SecretBox, type RegisteredClient } from '@clouddocs/auth-server';
import { loadAuthConfig, type AuthConfig } from '@clouddocs/config';
import { runAuthServer, type RunningAuth } from '@clouddocs/cli';
import { createLogger } from '@clouddocs/observability';
import { startAuthStack, type AuthStack } from '../support/stack';
import { tokenRequest } from '../support/rp';

const OLD_KEY = 'the-encryption-key-being-rotated-out-000000';
const NEW_KEY = 'the-encryption-key-being-rotated-in-1111111';

let stack: AuthStack;
let machine: RegisteredClient;
let running: RunningAuth | undefined;
let accountId: string;
let totpSecret: string;
let recoveryCodes: string[];

/** The same server (issuer, port, stores) started again with other encryption keys. */
async function restartWith(keys: { current: string; previous?: string }): Promise<AuthConfig> {
  await (running ?? stack.auth).stop().catch(() => {});
  const config = loadAuthConfig({
    AUTH_ISSUER: stack.issuer,
    AUTH_PORT: String(stack.config.AUTH_PORT),
    DOCS_API_AUDIENCE: stack.config.DOCS_API_AUDIENCE,
    DATABASE_URL: stack.config.DATABASE_URL,
    REDIS_URL: stack.config.REDIS_URL,
    REDIS_PREFIX: stack.config.REDIS_PREFIX,
    LOG_LEVEL: 'warn',
    AUTH_ENCRYPTION_KEY: keys.current,
    ...(keys.previous ? { AUTH_ENCRYPTION_KEY_PREVIOUS: keys.previous } : {}),
  });
  running = await runAuthServer({ config, databaseUrl: stack.config.DATABASE_URL!, kv: stack.kv, logger: createLogger({ level: 'warn', name: 'reseal' }), port: config.AUTH_PORT, host: '127.0.0.1' });
  return config;
}

function mfaUnder(config: AuthConfig) {
  return createMfaLibrary({ knex: stack.admin, kv: stack.kv, box: SecretBox.fromConfig(config), pepperKey: config.AUTH_ENCRYPTION_KEY_PREVIOUS ?? config.AUTH_ENCRYPTION_KEY });
}

async function clientCredentialsStatus(): Promise<number> {
  return (await tokenRequest(stack, machine, { grant_type: 'client_credentials', scope: 'docs:read' })).status;
}

beforeAll(async () => {
  stack = await startAuthStack(process.env, { env: { AUTH_ENCRYPTION_KEY: OLD_KEY } });
  machine = await stack.createClient({ name: 'Nightly export', grants: ['client_credentials'], redirectUris: [], scope: 'docs:read' });
  accountId = (await stack.createUser()).id;
  const mfa = mfaUnder(stack.config);
  totpSecret = (await mfa.startEnrolment(accountId, 'reseal@example.test')).secret;
  recoveryCodes = (await mfa.confirmEnrolment(accountId, await generate({ secret: totpSecret })))!;
  expect(recoveryCodes).toHaveLength(10);
});
afterAll(async () => {
  await running?.stop().catch(() => {});
  await stack?.stop();
});

describe('AUTH_ENCRYPTION_KEY rotation', () => {
  it('every column of the auth schema that holds a sealed value (`*_enc`) is one that keys reseal re-encrypts', async () => {
    const rows = (await stack.admin('information_schema.columns').where({ table_schema: 'auth' }).andWhere('column_name', 'like', '%\\_enc').select('table_name', 'column_name')) as { table_name: string; column_name: string }[];
    const sealed = rows.map((r) => `auth.${r.table_name}.${r.column_name}`).sort();
    expect(sealed.length).toBeGreaterThanOrEqual(5);
    expect(SEALED_COLUMNS.map((c) => `${c.table}.${c.column}`).sort()).toEqual(sealed);
  });

  it('under the new key alone, before a reseal, nothing stored opens: reseal reports every value as unreadable and changes none', async () => {
    const report = await resealAll(stack.admin, new SecretBox(NEW_KEY));
    expect(Object.values(report.resealed).every((n) => n === 0)).toBe(true);
    expect(report.current).toBe(0);
    expect(report.unreadable).toEqual(expect.arrayContaining([`auth.clients.secret_enc ${machine.client_id}`, `auth.mfa_totp.secret_enc ${accountId}`, 'auth.sealed_settings.value_enc recovery_code_pepper']));
  });

  it('with the new key and the old one as AUTH_ENCRYPTION_KEY_PREVIOUS the server serves as before, and keys reseal moves every stored secret to the new key once', async () => {
    expect(await clientCredentialsStatus()).toBe(200);
    const config = await restartWith({ current: NEW_KEY, previous: OLD_KEY });
    expect(await clientCredentialsStatus()).toBe(200);
    expect(await mfaUnder(config).verify(accountId, recoveryCodes[0]!)).toBe('recovery_code');

    const box = SecretBox.fromConfig(config);
    const first = await resealAll(stack.admin, box);
    expect(first.unreadable).toEqual([]);
    expect(first.resealed['auth.clients.secret_enc']).toBe(1);
    expect(first.resealed['auth.mfa_totp.secret_enc']).toBe(1);
    expect(first.resealed['auth.sealed_settings.value_enc']).toBe(1);
    expect(first.resealed['auth.signing_keys.private_enc']).toBeGreaterThanOrEqual(3);
    const second = await resealAll(stack.admin, box);
    expect(Object.values(second.resealed).every((n) => n === 0)).toBe(true);
    expect(second.current).toBe(Object.values(first.resealed).reduce((a, b) => a + b, 0) + first.current);
    // The server kept serving through the reseal.
    expect(await clientCredentialsStatus()).toBe(200);
  });

  it('afterwards the old key can go: client secret, signing keys, TOTP and the remaining recovery codes work under the new key alone', async () => {
    const config = await restartWith({ current: NEW_KEY });
    expect(await clientCredentialsStatus()).toBe(200);
    const jwks = (await (await fetch(`${stack.issuer}/jwks`)).json()) as { keys: unknown[] };
    expect(jwks.keys.length).toBeGreaterThanOrEqual(3);
    const mfa = mfaUnder(config);
    expect(await mfa.verify(accountId, recoveryCodes[1]!)).toBe('recovery_code');
    expect(await mfa.verify(accountId, recoveryCodes[0]!)).toBeUndefined(); // used before the rotation
    const status = await mfa.status(accountId);
    expect(status).toMatchObject({ enabled: true, recoveryCodesLeft: 8 });
    // A TOTP code of a later step than the one used at enrolment.
    const later = await generate({ secret: totpSecret, epoch: Math.floor(Date.now() / 1000) + 30 });
    expect(await mfa.verify(accountId, later)).toBe('totp');
    const report = await resealAll(stack.admin, SecretBox.fromConfig(config));
    expect(report.unreadable).toEqual([]);
    expect(Object.values(report.resealed).every((n) => n === 0)).toBe(true);
  });

  it('AUTH_ENCRYPTION_KEY_PREVIOUS equal to AUTH_ENCRYPTION_KEY, or shorter than 32 characters, is a configuration error naming it', () => {
    expect(() => loadAuthConfig({ AUTH_ENCRYPTION_KEY: NEW_KEY, AUTH_ENCRYPTION_KEY_PREVIOUS: NEW_KEY })).toThrow(/AUTH_ENCRYPTION_KEY_PREVIOUS: must differ/);
    expect(() => loadAuthConfig({ AUTH_ENCRYPTION_KEY: NEW_KEY, AUTH_ENCRYPTION_KEY_PREVIOUS: 'short' })).toThrow(/AUTH_ENCRYPTION_KEY_PREVIOUS: must be at least 32 characters/);
  });
});
