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

function toAccount(row: { id: string; email: string; name: string | null; email_verified: boolean }): Account {
  return { id: row.id, email: row.email, name: row.name, emailVerified: row.email_verified };
}

export function createAccountQueries(knex: Knex) {
  return {
    byId: (id: string) => knex('auth.accounts').where({ id }).first(),
    byEmail: (email: string) => knex('auth.accounts').where({ email }).first(),
    insert: (row: Record<string, unknown>) => knex('auth.accounts').insert(row),
    updateHash: (id: string, passwordHash: string) =>
      knex('auth.accounts').where({ id }).update({ password_hash: passwordHash, updated_at: knex.fn.now() }),
    markVerified: (id: string) => knex('auth.accounts').where({ id }).update({ email_verified: true, updated_at: knex.fn.now() }),
  };
}

export type AuthenticateResult =
  | { ok: true; account: Account; rehashed: boolean }
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
      const row = await queries.byEmail(normalizeEmail(email));
      if (!row) {
        await deps.hasher.verifyDummy(password);
        return { ok: false, accountId: null };
      }
      if (!(await deps.hasher.verify(row.password_hash, password))) return { ok: false, accountId: row.id };
      let rehashed = false;
      if (deps.hasher.needsRehash(row.password_hash)) {
        await queries.updateHash(row.id, await deps.hasher.hash(password));
        rehashed = true;
      }
      return { ok: true, account: toAccount(row), rehashed };
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
  };
}

export type AccountLibrary = ReturnType<typeof createAccountLibrary>;
