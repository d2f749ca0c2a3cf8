// Accounts against the real database (PostgreSQL when DATABASE_URL is set, embedded PGlite otherwise).
import type { Knex } from '@clouddocs/db';
import { beforeAll, describe, expect, it } from 'vitest';
import { useAuthDatabase } from '../test-support';
import { AccountError, createAccountLibrary, normalizeEmail } from './accounts';
import { PasswordHasher } from './passwords';

const OWASP = { memoryCost: 19456, timeCost: 2, parallelism: 1 };
const database = useAuthDatabase();
let knex: Knex;
beforeAll(() => {
  knex = database.knex;
});

let n = 0;
const email = (label: string) => `${label}-${++n}-${Date.now()}@example.com`;
const storedHash = async (id: string): Promise<string> => (await knex('auth.accounts').where({ id }).first('password_hash')).password_hash;
/** The parameters of a PHC-format argon2 hash: `$argon2id$v=19$m=19456,t=2,p=1$salt$hash` (any order). */
function phcParams(hash: string) {
  const [, type, , params] = hash.split('$');
  const p = Object.fromEntries(params!.split(',').map((kv) => kv.split('='))) as Record<string, string>;
  return { type, memoryCost: Number(p.m), timeCost: Number(p.t), parallelism: Number(p.p) };
}
async function accountError(promise: Promise<unknown>): Promise<AccountError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AccountError);
  return err as AccountError;
}

describe('createAccountLibrary().create', () => {
  it('stores the email lower-cased and trimmed, and an argon2id hash (never the password)', async () => {
    const accounts = createAccountLibrary({ knex, hasher: new PasswordHasher(OWASP) });
    const address = email('Mixed.Case');
    const account = await accounts.create({ email: `  ${address.toUpperCase()} `, password: 'a long enough passphrase', name: ' Alice ' });
    expect(account).toEqual({ id: expect.any(String), email: address.toLowerCase(), name: 'Alice', emailVerified: false, disabled: false, platformAdmin: false, createdAt: expect.any(String), lastSignInAt: null });
    const row = await knex('auth.accounts').where({ id: account.id }).first();
    expect(row.email).toBe(address.toLowerCase());
    expect(row.password_hash).toMatch(/^\$argon2id\$/);
    expect(row.password_hash).not.toContain('a long enough passphrase');
    expect(await accounts.findByEmail(address.toUpperCase())).toEqual(account);
    expect(await accounts.findById(account.id)).toEqual(account);
  });

  it('the same email again, in any case -> AccountError email_taken', async () => {
    const accounts = createAccountLibrary({ knex, hasher: new PasswordHasher(OWASP) });
    const address = email('dup');
    await accounts.create({ email: address, password: 'first account password' });
    const err = await accountError(accounts.create({ email: address.toUpperCase(), password: 'second account password' }));
    expect(err.code).toBe('email_taken');
    expect(err.message).toMatch(/already exists/);
    expect(await knex('auth.accounts').where({ email: address }).count({ c: '*' })).toEqual([{ c: 1 }]);
  });

  it('two concurrent creates of one email -> exactly one account, the other email_taken', async () => {
    const accounts = createAccountLibrary({ knex, hasher: new PasswordHasher(OWASP) });
    const address = email('race');
    const settled = await Promise.allSettled([
      accounts.create({ email: address, password: 'racing password one' }),
      accounts.create({ email: address, password: 'racing password two' }),
    ]);
    expect(settled.filter((s) => s.status === 'fulfilled')).toHaveLength(1);
    const rejected = settled.find((s) => s.status === 'rejected') as PromiseRejectedResult;
    expect(rejected.reason).toMatchObject({ code: 'email_taken' });
  });

  it('a weak password, a bad email or a too-long name -> AccountError with its code, nothing stored', async () => {
    const accounts = createAccountLibrary({ knex, hasher: new PasswordHasher(OWASP) });
    const address = email('weak');
    expect((await accountError(accounts.create({ email: address, password: 'short' }))).code).toBe('weak_password');
    expect((await accountError(accounts.create({ email: address, password: 'password1' }))).code).toBe('weak_password');
    expect((await accountError(accounts.create({ email: 'not-an-email', password: 'a fine long password' }))).code).toBe('invalid_email');
    expect((await accountError(accounts.create({ email: address, password: 'a fine long password', name: 'n'.repeat(201) }))).code).toBe('invalid_name');
    expect(await accounts.findByEmail(address)).toBeUndefined();
  });

  it('normalizeEmail trims, NFKC-normalises and lower-cases', () => {
    expect(normalizeEmail('  Bob@Example.COM ')).toBe('bob@example.com');
    expect(normalizeEmail('ｂｏｂ@example.com')).toBe('bob@example.com'); // full-width letters
  });
});

describe('createAccountLibrary().authenticate', () => {
  it('the right password -> ok with the account, not rehashed when parameters are current', async () => {
    const accounts = createAccountLibrary({ knex, hasher: new PasswordHasher(OWASP) });
    const address = email('login');
    const created = await accounts.create({ email: address, password: 'open sesame please' });
    const before = await storedHash(created.id);
    const result = await accounts.authenticate(address.toUpperCase(), 'open sesame please');
    expect(result).toEqual({ ok: true, account: created, rehashed: false, enrolled: { totp: false, passkey: false } });
    expect(await storedHash(created.id)).toBe(before);
  });

  it('the right password -> ok with the second factors the account has enrolled (TOTP, passkeys)', async () => {
    const accounts = createAccountLibrary({ knex, hasher: new PasswordHasher(OWASP) });
    const address = email('factors');
    const created = await accounts.create({ email: address, password: 'two factors are better' });
    await knex('auth.mfa_totp').insert({ account_id: created.id, secret_enc: 'sealed' });
    expect(await accounts.authenticate(address, 'two factors are better')).toMatchObject({ ok: true, enrolled: { totp: true, passkey: false } });
    await knex('auth.passkeys').insert({ id: `pk-${created.id}`, account_id: created.id, credential_id: `cred-${created.id}`, public_key: Buffer.from('key'), device_type: 'multiDevice', name: 'laptop' });
    expect(await accounts.authenticate(address, 'two factors are better')).toMatchObject({ ok: true, enrolled: { totp: true, passkey: true } });
    await knex('auth.mfa_totp').where({ account_id: created.id }).delete();
    expect(await accounts.authenticate(address, 'two factors are better')).toMatchObject({ ok: true, enrolled: { totp: false, passkey: true } });
  });

  it('a wrong password -> not ok, with the accountId (for throttling and audit)', async () => {
    const accounts = createAccountLibrary({ knex, hasher: new PasswordHasher(OWASP) });
    const address = email('wrong');
    const created = await accounts.create({ email: address, password: 'the correct password' });
    expect(await accounts.authenticate(address, 'the incorrect password')).toEqual({ ok: false, accountId: created.id });
  });

  it('an unknown email -> not ok, accountId null, after the same argon2 work as a real check', async () => {
    const hasher = new PasswordHasher(OWASP);
    let dummyCalls = 0;
    const original = hasher.verifyDummy.bind(hasher);
    hasher.verifyDummy = async (password: string) => {
      dummyCalls += 1;
      return original(password);
    };
    const accounts = createAccountLibrary({ knex, hasher });
    const started = performance.now();
    expect(await accounts.authenticate(email('nobody'), 'whatever password')).toEqual({ ok: false, accountId: null });
    expect(dummyCalls).toBe(1);
    // a real argon2id verification at m=19456 takes milliseconds, not microseconds
    expect(performance.now() - started).toBeGreaterThan(5);
  });

  it('the ligature "ﬁ" and "fi" sign in as the same password (NFKC)', async () => {
    const accounts = createAccountLibrary({ knex, hasher: new PasswordHasher(OWASP) });
    const address = email('nfkc');
    await accounts.create({ email: address, password: 'ﬁnancial freedom 2030' });
    expect(await accounts.authenticate(address, 'financial freedom 2030')).toMatchObject({ ok: true });
  });

  it('a hash weaker than the configured parameters is rehashed on sign-in (t=2 -> t=3), once', async () => {
    const address = email('rehash');
    const created = await createAccountLibrary({ knex, hasher: new PasswordHasher(OWASP) }).create({ email: address, password: 'upgrade my hash please' });
    expect(phcParams(await storedHash(created.id))).toMatchObject({ type: 'argon2id', memoryCost: 19456, timeCost: 2, parallelism: 1 });

    const stronger = createAccountLibrary({ knex, hasher: new PasswordHasher({ ...OWASP, timeCost: 3 }) });
    expect(await stronger.authenticate(address, 'upgrade my hash please')).toMatchObject({ ok: true, rehashed: true });
    const after = await storedHash(created.id);
    expect(phcParams(after)).toMatchObject({ type: 'argon2id', memoryCost: 19456, timeCost: 3, parallelism: 1 });
    expect(await stronger.authenticate(address, 'upgrade my hash please')).toMatchObject({ ok: true, rehashed: false });
    // a wrong password never rehashes
    expect(await stronger.authenticate(address, 'not the password')).toEqual({ ok: false, accountId: created.id });
    expect(await storedHash(created.id)).toBe(after);
  });

  it('setPassword applies the policy and replaces the hash', async () => {
    const accounts = createAccountLibrary({ knex, hasher: new PasswordHasher(OWASP) });
    const address = email('setpw');
    const created = await accounts.create({ email: address, password: 'my first password' });
    expect((await accountError(accounts.setPassword(created.id, 'qwerty123'))).code).toBe('weak_password');
    await accounts.setPassword(created.id, 'my second password');
    expect(await accounts.authenticate(address, 'my first password')).toEqual({ ok: false, accountId: created.id });
    expect(await accounts.authenticate(address, 'my second password')).toMatchObject({ ok: true });
  });
});
