// TOTP and recovery codes against the real store (PostgreSQL when DATABASE_URL is set, PGlite otherwise).
import { generate } from 'otplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditGrants, auditMigrations } from '@clouddocs/audit';
import { createKnex, createTestDatabase, migrate, type Knex, type TestDatabase } from '@clouddocs/db';
import { MemoryKv } from '@clouddocs/kv';
import { createAccountLibrary } from '../accounts/accounts';
import { PasswordHasher } from '../accounts/passwords';
import { authGrants, authMigrations } from '../migrations';
import { SecretBox } from '../secret-box';
import { createMfaLibrary, normalizeRecoveryCode } from './totp';

const KEY = 'test-encryption-key-test-encryption-key-0123';
let db: TestDatabase;
let knex: Knex;
let mfa: ReturnType<typeof createMfaLibrary>;
let accounts: ReturnType<typeof createAccountLibrary>;

beforeAll(async () => {
  db = await createTestDatabase();
  knex = await createKnex({ url: db.url, poolMax: 2 });
  await migrate(knex, [...auditMigrations, ...authMigrations], [auditGrants, authGrants]);
  mfa = createMfaLibrary({ knex, kv: new MemoryKv(), box: new SecretBox(KEY), pepperKey: KEY });
  accounts = createAccountLibrary({ knex, hasher: new PasswordHasher({ memoryCost: 19456, timeCost: 2, parallelism: 1 }) });
});
afterAll(async () => {
  await knex?.destroy();
  await db?.drop();
});

const code = (secret: string, stepsAhead = 0) => generate({ secret, epoch: Math.floor(Date.now() / 1000) + 30 * stepsAhead });

async function enrolled() {
  const account = await accounts.create({ email: `mfa-${Math.random().toString(36).slice(2)}@example.test`, password: 'orange-sail-meadow-4' });
  const { secret, uri, qrDataUrl } = await mfa.startEnrolment(account.id, account.email);
  expect(uri).toMatch(/^otpauth:\/\/totp\/CloudDocs:.+\?.*secret=/);
  expect(qrDataUrl).toMatch(/^data:image\/png;base64,/);
  expect(await mfa.enabled(account.id)).toBe(false); // nothing changes before the first code
  const codes = await mfa.confirmEnrolment(account.id, await code(secret));
  expect(codes).toHaveLength(10);
  return { account, secret, codes: codes! };
}

describe('TOTP', () => {
  it('enrolment needs a correct first code; a wrong one leaves the account as it was', async () => {
    const account = await accounts.create({ email: `mfa-wrong-${Date.now()}@example.test`, password: 'orange-sail-meadow-4' });
    await mfa.startEnrolment(account.id, account.email);
    expect(await mfa.confirmEnrolment(account.id, '000000')).toBeUndefined();
    expect(await mfa.enabled(account.id)).toBe(false);
  });

  it('a code is accepted once: the same code again (or an older step) is a replay and refused', async () => {
    const { account, secret } = await enrolled();
    const next = await code(secret, 1);
    expect(await mfa.verify(account.id, next)).toBe('totp');
    expect(await mfa.verify(account.id, next)).toBeUndefined();
    expect(await mfa.verify(account.id, await code(secret))).toBeUndefined(); // the enrolment's step, already used
  });

  it('two concurrent uses of one code: exactly one wins', async () => {
    const { account, secret } = await enrolled();
    const next = await code(secret, 1);
    const results = await Promise.all(Array.from({ length: 8 }, () => mfa.verify(account.id, next)));
    expect(results.filter((r) => r === 'totp')).toHaveLength(1);
  });

  it('codes far from now, malformed input and other accounts are refused', async () => {
    const { account, secret } = await enrolled();
    expect(await mfa.verify(account.id, await code(secret, 5))).toBeUndefined();
    expect(await mfa.verify(account.id, '12345')).toBeUndefined();
    expect(await mfa.verify(account.id, 'abcdef')).toBeUndefined();
    const other = await enrolled();
    expect(await mfa.verify(other.account.id, await code(secret, 1))).toBeUndefined();
  });
});

describe('recovery codes', () => {
  it('each works once, ignoring case, spaces and the dash; they are stored only as keyed hashes', async () => {
    const { account, codes, secret } = await enrolled();
    const rc = codes[0]!;
    expect(await mfa.verify(account.id, ` ${rc.toUpperCase()} `)).toBe('recovery_code');
    expect(await mfa.verify(account.id, normalizeRecoveryCode(rc))).toBeUndefined();
    expect((await mfa.status(account.id)).recoveryCodesLeft).toBe(9);
    const stored = await knex('auth.mfa_recovery_codes').where({ account_id: account.id }).pluck('code_hash');
    for (const c of codes) expect(stored).not.toContain(c);
    const row = await knex('auth.mfa_totp').where({ account_id: account.id }).first('secret_enc');
    expect(row.secret_enc).toMatch(/^v1\./); // the TOTP secret is sealed at rest
    expect(row.secret_enc).not.toContain(secret);
  });

  it('disabling removes the secret and the codes', async () => {
    const { account, codes } = await enrolled();
    expect(await mfa.disable(account.id)).toBe(true);
    expect(await mfa.enabled(account.id)).toBe(false);
    expect(await mfa.verify(account.id, codes[1]!)).toBeUndefined();
  });
});
