// What the `apikey` commands share: the API key library on the command's database, with the
// revocation list over the services' cache (REDIS_URL), and the CLI's audit chain.
import { AuditLog, type AuditEvent } from '@clouddocs/audit';
import { createApiKeyLibrary, heldRevocations, LONGEST_ACCESS_TOKEN, type ApiKeyLibrary } from '@clouddocs/auth-server/toolkit';
import { createKv, RevocationList } from '@clouddocs/kv';
import { withContext, type CliContext } from '../context';
import { CliError } from '../output';

export const CLI_ACTOR = { type: 'system', id: 'cli' } as const;

export interface ApiKeyContext extends CliContext {
  apiKeys: ApiKeyLibrary;
  record(event: Omit<AuditEvent, 'detail'> & { detail?: AuditEvent['detail'] }): Promise<void>;
}

/**
 * Runs `body` with the library. A revocation published here reaches every docs API process at once
 * when the services share REDIS_URL with the CLI; without it, the docs API sees the revoked key gone
 * from the auth server's view when its short cache entry ends.
 */
export async function withApiKeys<T>(body: (ctx: ApiKeyContext) => Promise<T>): Promise<T> {
  return withContext(async (ctx) => {
    const kv = createKv(ctx.config);
    const audit = await AuditLog.open(ctx.knex, 'cli');
    const held = heldRevocations(ctx.knex);
    try {
      // Held until the event that describes them is recorded, then written in its transaction.
      const revocations = new RevocationList(kv, LONGEST_ACCESS_TOKEN + 60, held.durable);
      const apiKeys = createApiKeyLibrary({ knex: ctx.knex, revocations });
      return await body({
        ...ctx,
        apiKeys,
        record: (event) => {
          const alongside = held.take();
          return audit.recordAll([{ ...event, detail: { ...event.detail, via: 'cli' } }], alongside ? { alongside } : {});
        },
      });
    } finally {
      await held.flush();
      await audit.close();
      await kv.close();
    }
  });
}

/** The id of the user with this email, else a one-line failure. */
export async function userIdByEmail(ctx: CliContext, email: string): Promise<string> {
  const account = (await ctx.knex('auth.accounts').where({ email: email.trim().toLowerCase() }).first('id')) as { id: string } | undefined;
  if (!account) throw new CliError(`no user has the email ${email} (create one with 'clouddocs user create')`);
  return account.id;
}
