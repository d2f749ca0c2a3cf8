// Accounts: who a person is to CloudDocs. Email (lower-cased, unique) + argon2id password hash.
import { randomUUID } from 'node:crypto';
import type { Knex } from '@clouddocs/db';
import { PasswordHasher } from './passwords';
import { passwordProblem } from './policy';

export interface Account {
  id: string;
  email: string;
  name: string | null;
  emailVerified: boolean;
  /** A disabled account cannot sign in; its sessions, grants and tokens were ended when it was disabled. */
  disabled: boolean;
  platformAdmin: boolean;
  createdAt: string;
  lastSignInAt: string | null;
}

export class AccountError extends Error {
  override readonly name = 'AccountError';
  constructor(
    message: string,
    readonly code: 'invalid_email' | 'weak_password' | 'email_taken' | 'invalid_name',
  ) {
    super(message);
  }
}

const EMAIL = /^[^\s@]{1,64}@[^\s@]{1,255}$/;

export function normalizeEmail(email: string): string {
  return email.trim().normalize('NFKC').toLowerCase();
}

interface AccountRow {
  id: string;
  email: string;
  name: string | null;
  email_verified: boolean;
  disabled_at?: Date | string | null;
  platform_admin?: boolean;
  created_at?: Date | string;
  last_sign_in_at?: Date | string | null;
}

const iso = (v: Date | string | null | undefined) => (v ? new Date(v).toISOString() : null);

function toAccount(row: AccountRow): Account {
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    emailVerified: row.email_verified,
    disabled: Boolean(row.disabled_at),
    platformAdmin: row.platform_admin === true,
    createdAt: iso(row.created_at) ?? new Date().toISOString(),
    lastSignInAt: iso(row.last_sign_in_at),
  };
}

export function createAccountQueries(knex: Knex) {
  return {
    byId: (id: string) => knex('auth.accounts').where({ id }).first(),
    byEmail: (email: string) => knex('auth.accounts').where({ email }).first(),
    /**
     * The account with the second factors it has enrolled, in one statement for a sign-in: a TOTP
     * secret (a row in auth.mfa_totp, as MfaLibrary.enabled reads it) and passkeys (auth.passkeys).
     */
    byEmailWithFactors: (email: string) =>
      knex('auth.accounts as a')
        .where('a.email', email)
        .first(
          'a.*',
          knex.raw('EXISTS (SELECT 1 FROM auth.mfa_totp t WHERE t.account_id = a.id) AS has_totp'),
          knex.raw('EXISTS (SELECT 1 FROM auth.passkeys p WHERE p.account_id = a.id) AS has_passkey'),
        ) as Promise<(AccountRow & { password_hash: string; has_totp: boolean; has_passkey: boolean }) | undefined>,
    insert: (row: Record<string, unknown>) => knex('auth.accounts').insert(row),
    updateHash: (id: string, passwordHash: string) =>
      knex('auth.accounts').where({ id }).update({ password_hash: passwordHash, updated_at: knex.fn.now() }),
    markVerified: (id: string) => knex('auth.accounts').where({ id }).update({ email_verified: true, updated_at: knex.fn.now() }),
    update: (id: string, change: Record<string, unknown>) => knex('auth.accounts').where({ id }).update({ ...change, updated_at: knex.fn.now() }),
    remove: (id: string) => knex('auth.accounts').where({ id }).delete(),
    /** Accounts by email, after `after`; `email` matches exactly (normalized). */
    list: (page: { email?: string; after?: string; limit: number }) => {
      const q = knex('auth.accounts').orderBy('email').limit(page.limit);
      if (page.after) q.where('email', '>', page.after);
      if (page.email) q.where({ email: page.email });
      return q;
    },
    countAdmins: async () => Number((await knex('auth.accounts').where({ platform_admin: true }).whereNull('disabled_at').count({ n: '*' }).first())?.n ?? 0),
  };
}

export type AuthenticateResult =
  | { ok: true; account: Account; rehashed: boolean; enrolled: { totp: boolean; passkey: boolean } }
  | { ok: false; accountId: string | null };

export function createAccountLibrary(deps: { knex: Knex; hasher: PasswordHasher }) {
  const queries = createAccountQueries(deps.knex);
  return {
    async create(input: { email: string; password: string; name?: string | null; emailVerified?: boolean }, trx?: Knex.Transaction): Promise<Account> {
      const email = normalizeEmail(input.email);
      if (!EMAIL.test(email)) throw new AccountError('email must be an email address', 'invalid_email');
      const name = input.name?.trim() || null;
      if (name !== null && name.length > 200) throw new AccountError('name must be at most 200 characters', 'invalid_name');
      const problem = passwordProblem(input.password, { email, name: name ?? undefined });
      if (problem) throw new AccountError(problem, 'weak_password');
      const row = {
        id: randomUUID(),
        email,
        name,
        email_verified: input.emailVerified ?? false,
        password_hash: await deps.hasher.hash(input.password),
        created_at: new Date(),
      };
      try {
        await (trx ?? deps.knex)('auth.accounts').insert(row);
      } catch (err) {
        if ((err as { code?: string }).code === '23505') throw new AccountError('an account with this email already exists', 'email_taken');
        throw err;
      }
      return toAccount(row);
    },

    async findById(id: string): Promise<Account | undefined> {
      const row = await queries.byId(id);
      return row ? toAccount(row) : undefined;
    },

    async findByEmail(email: string): Promise<Account | undefined> {
      const row = await queries.byEmail(normalizeEmail(email));
      return row ? toAccount(row) : undefined;
    },

    /** Verifies a password; unknown emails cost the same argon2 work as known ones. */
    async authenticate(email: string, password: string): Promise<AuthenticateResult> {
      const row = await queries.byEmailWithFactors(normalizeEmail(email));
      if (!row) {
        await deps.hasher.verifyDummy(password);
        return { ok: false, accountId: null };
      }
      // A disabled account fails like a wrong password (same work, same answer).
      if (!(await deps.hasher.verify(row.password_hash, password)) || row.disabled_at) return { ok: false, accountId: row.id };
      let rehashed = false;
      if (deps.hasher.needsRehash(row.password_hash)) {
        await queries.updateHash(row.id, await deps.hasher.hash(password));
        rehashed = true;
      }
      return { ok: true, account: toAccount(row), rehashed, enrolled: { totp: row.has_totp, passkey: row.has_passkey } };
    },

    /** Re-checks the password of a signed-in person before a sensitive change. */
    async verifyPassword(id: string, password: string): Promise<boolean> {
      const row = await queries.byId(id);
      if (!row) return deps.hasher.verifyDummy(password);
      return deps.hasher.verify(row.password_hash, password);
    },

    async setPassword(id: string, password: string, context: { email?: string } = {}): Promise<void> {
      const problem = passwordProblem(password, context);
      if (problem) throw new AccountError(problem, 'weak_password');
      await queries.updateHash(id, await deps.hasher.hash(password));
    },

    markVerified: (id: string) => queries.markVerified(id).then(() => undefined),

    noteSignIn: (id: string) => queries.update(id, { last_sign_in_at: deps.knex.fn.now() }).then(() => undefined),

    async list(page: { email?: string; after?: string; limit: number }): Promise<Account[]> {
      return ((await queries.list({ ...page, email: page.email === undefined ? undefined : normalizeEmail(page.email) })) as AccountRow[]).map(toAccount);
    },

    /** Name and email as an operator sets them; AccountError for an invalid or taken value. */
    async update(id: string, change: { name?: string | null; email?: string }): Promise<Account | undefined> {
      const patch: Record<string, unknown> = {};
      if (change.name !== undefined) {
        const name = change.name?.trim() || null;
        if (name !== null && name.length > 200) throw new AccountError('name must be at most 200 characters', 'invalid_name');
        patch.name = name;
      }
      if (change.email !== undefined) {
        const email = normalizeEmail(change.email);
        if (!EMAIL.test(email)) throw new AccountError('email must be an email address', 'invalid_email');
        patch.email = email;
        patch.email_verified = false;
      }
      try {
        if (Object.keys(patch).length) await queries.update(id, patch);
      } catch (err) {
        if ((err as { code?: string }).code === '23505') throw new AccountError('an account with this email already exists', 'email_taken');
        throw err;
      }
      const row = await queries.byId(id);
      return row ? toAccount(row) : undefined;
    },

    disabledAt: async (id: string): Promise<Date | null> => {
      const row = await queries.byId(id);
      return row?.disabled_at ? new Date(row.disabled_at) : null;
    },
    setDisabled: async (id: string, disabled: boolean) => (await queries.update(id, { disabled_at: disabled ? deps.knex.fn.now() : null })) > 0,
    setPlatformAdmin: async (id: string, admin: boolean) => (await queries.update(id, { platform_admin: admin })) > 0,
    countPlatformAdmins: () => queries.countAdmins(),
    /** Erases the account and what hangs off it (mailed tokens, second factors: ON DELETE CASCADE). */
    remove: async (id: string) => (await queries.remove(id)) > 0,
  };
}

export type AccountLibrary = ReturnType<typeof createAccountLibrary>;
