// What the operator commands (client, user, admin, keys) work with: the auth server's own libraries,
// built from the CLI context as the auth server builds them (server.ts), on the same stores: the
// database, and the cache (REDIS_URL, or the in-process store when there is none). Every rule and
// effect (revoking grants, the revocation list, dropping cached clients in every process) is the
// libraries'; a command only records the audit event they return, with the CLI as actor.
//
// The CLI runs no oidc-provider: a user's sessions are ended straight in the cache, where the
// provider keeps them (endAccountSessionsInCache), instead of through its Session model.
import { AuditLog, type Actor } from '@clouddocs/audit';
import {
  argon2ParamsFrom,
  ConflictError,
  createBackchannelLogout,
  createAccountLibrary,
  createAccountTokenLibrary,
  createClientLibrary,
  createClientLifecycle,
  createGrantLibrary,
  createKeyStore,
  createMailer,
  createMfaLibrary,
  createPasskeyLibrary,
  createPayloadQueries,
  createSessionDirectory,
  createUserLifecycle,
  endAccountSessionsInCache,
  LONGEST_ACCESS_TOKEN,
  LONGEST_SIGNED_TOKEN,
  heldRevocations,
  PasswordHasher,
  SecretBox,
  type SessionDirectory,
} from '@clouddocs/auth-server/toolkit';
import { createKv, RevocationList } from '@clouddocs/kv';
import { createLogger } from '@clouddocs/observability/logger';
import { withContext, type CliContext } from './context';
import { CliError } from './output';

/** Who the CLI is in the audit log. */
export const CLI_ACTOR: Actor = { type: 'system', id: 'cli' };

type EventFields = Parameters<AuditLog['record']>[0];

function build(ctx: CliContext) {
  const { config, knex } = ctx;
  const kv = createKv(config);
  const box = SecretBox.fromConfig(config);
  const payloads = createPayloadQueries(knex);
  const accounts = createAccountLibrary({ knex, hasher: new PasswordHasher(argon2ParamsFrom(config)) });
  const clients = createClientLibrary({ knex, box, issuer: config.AUTH_ISSUER });
  const keys = createKeyStore({ knex, box, retainSeconds: LONGEST_SIGNED_TOKEN + 60 });
  // Held until the event that describes them is recorded, then written in its transaction.
  const held = heldRevocations(knex);
  const revocations = new RevocationList(kv, LONGEST_ACCESS_TOKEN + 60, held.durable);
  const grants = createGrantLibrary({ payloads, kv, revocations, clientName: async (id) => id });
  const mfa = createMfaLibrary({ knex, kv, box, pepperKey: config.AUTH_ENCRYPTION_KEY_PREVIOUS ?? config.AUTH_ENCRYPTION_KEY });
  const noProvider = () => {
    throw new Error('the CLI runs no OIDC provider');
  };
  // Back-channel logout tokens are queued here and delivered by a running auth server.
  const backchannel = createBackchannelLogout({ knex, clients });
  const sessions: SessionDirectory = { ...createSessionDirectory({ provider: noProvider, kv }), revokeAll: (accountId) => endAccountSessionsInCache(kv, accountId, backchannel.sessionEnded) };
  const mailer = createMailer({ config, logger: createLogger({ level: config.LOG_LEVEL, name: 'clouddocs' }) });
  return {
    kv,
    mailer,
    knex,
    held,
    accounts,
    clients,
    keys,
    clientLifecycle: createClientLifecycle({ clients, payloads, grants, revocations, kv }),
    users: createUserLifecycle({ accounts, sessions, grants, payloads, revocations, mfa, passkeys: createPasskeyLibrary({ knex, kv, issuer: config.AUTH_ISSUER }), tokens: createAccountTokenLibrary({ knex }), mailer, issuer: config.AUTH_ISSUER }),
  };
}

export type Operator = Omit<ReturnType<typeof build>, 'kv' | 'mailer' | 'held'> & {
  /** Records one audit event on the CLI's chain (written before this resolves). */
  record(event: EventFields): Promise<void>;
};

/** Runs `body` with the libraries and always closes what they opened. */
export async function withOperator<T>(body: (op: Operator) => Promise<T>): Promise<T> {
  return withContext(async (ctx) => {
    const { kv, mailer, held, ...libraries } = build(ctx);
    let audit: AuditLog | undefined;
    try {
      return await body({
        ...libraries,
        async record(event) {
          audit ??= await AuditLog.open(ctx.knex, 'cli');
          const alongside = held.take();
          await audit.recordAll([event], alongside ? { alongside } : {});
        },
      });
    } catch (err) {
      if (err instanceof ConflictError) throw new CliError(err.message);
      throw err;
    } finally {
      await held.flush();
      await audit?.close();
      await mailer.close();
      await kv.close();
    }
  });
}

/** Records a lifecycle outcome's event, or fails with `missing` when the object is unknown. */
export async function recorded<T>(op: Operator, outcome: { result: T; event: EventFields } | undefined, missing: string): Promise<T> {
  if (!outcome) throw new CliError(missing);
  await op.record(outcome.event);
  return outcome.result;
}

/** Every page of a cursor-paged list. */
export async function allPages<T>(page: (after: string | undefined, limit: number) => Promise<T[]>, cursorOf: (item: T) => string): Promise<T[]> {
  const items: T[] = [];
  for (let after: string | undefined; ; ) {
    const batch = await page(after, 200);
    items.push(...batch);
    if (batch.length < 200) return items;
    after = cursorOf(batch[batch.length - 1]!);
  }
}

/** `client show ID` and the like: the id comes first, the options after it. */
export function idAndRest(args: string[], what: string): { id: string; rest: string[] } {
  const id = args[0];
  if (id === undefined || id.startsWith('-') || id === '') throw new CliError(`the ${what} id is required (first, before any option)`, 2);
  return { id, rest: args.slice(1) };
}
