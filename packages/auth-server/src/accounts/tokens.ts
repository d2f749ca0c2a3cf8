// Tokens sent by mail: 256 random bits, shown once in the link, stored only as a SHA-256 hash
// (a database leak yields no usable link), short-lived, and consumed atomically (single use).
import { createHash, randomBytes } from 'node:crypto';
import type { Knex } from '@clouddocs/db';

export type AccountTokenPurpose = 'verify_email' | 'password_reset' | 'change_email';

export const TOKEN_TTL_SECONDS: Record<AccountTokenPurpose, number> = {
  verify_email: 24 * 3600,
  password_reset: 30 * 60,
  change_email: 24 * 3600,
};

export interface UsedToken {
  accountId: string;
  returnTo: string | null;
  /** The address a change_email link confirms. */
  newEmail: string | null;
}

const hashToken = (token: string) => createHash('sha256').update(token).digest('base64url');

export function createAccountTokenLibrary(deps: { knex: Knex }) {
  const { knex } = deps;
  return {
    /** A new token; earlier unused tokens of the same purpose stop working (only the newest link counts). */
    async issue(accountId: string, purpose: AccountTokenPurpose, returnTo?: string | null, newEmail?: string): Promise<string> {
      const token = randomBytes(32).toString('base64url');
      await knex.transaction(async (trx) => {
        await trx('auth.account_tokens').where({ account_id: accountId, purpose }).whereNull('used_at').update({ used_at: trx.fn.now() });
        await trx('auth.account_tokens').insert({
          token_hash: hashToken(token),
          account_id: accountId,
          purpose,
          return_to: returnTo ?? null,
          new_email: newEmail ?? null,
          expires_at: new Date(Date.now() + TOKEN_TTL_SECONDS[purpose] * 1000).toISOString(),
        });
      });
      return token;
    },

    /** Looks a token up without using it (to show the form it opens). */
    async peek(token: string, purpose: AccountTokenPurpose): Promise<UsedToken | undefined> {
      if (!/^[A-Za-z0-9_-]{43}$/.test(token)) return undefined;
      const row = await knex('auth.account_tokens')
        .where({ token_hash: hashToken(token), purpose })
        .whereNull('used_at')
        .andWhere('expires_at', '>', knex.fn.now())
        .first('account_id', 'return_to', 'new_email');
      return row ? { accountId: row.account_id, returnTo: row.return_to, newEmail: row.new_email } : undefined;
    },

    /** Uses a token exactly once: of two concurrent uses, one wins. */
    async consume(token: string, purpose: AccountTokenPurpose, trx?: Knex.Transaction): Promise<UsedToken | undefined> {
      if (!/^[A-Za-z0-9_-]{43}$/.test(token)) return undefined;
      const db = trx ?? knex;
      const rows = await db('auth.account_tokens')
        .where({ token_hash: hashToken(token), purpose })
        .whereNull('used_at')
        .andWhere('expires_at', '>', knex.fn.now())
        .update({ used_at: knex.fn.now() })
        .returning(['account_id', 'return_to', 'new_email']);
      const row = rows[0] as { account_id: string; return_to: string | null; new_email: string | null } | undefined;
      return row ? { accountId: row.account_id, returnTo: row.return_to, newEmail: row.new_email } : undefined;
    },
  };
}

export type AccountTokenLibrary = ReturnType<typeof createAccountTokenLibrary>;
