// What an operator does to a person's account, with its effects at once everywhere. Signing a user
// out ends every browser session, revokes every grant (refresh tokens deleted, access tokens
// refused) and every token issued to them so far (a user revocation, refused by the docs API on the
// next request). Disabling does that and refuses sign-in; deleting does that and erases the account
// (mailed tokens and second factors with it; audit events keep only the id). A platform
// administrator cannot disable or delete themselves, and the last one cannot be deleted (409).
// Each operation returns the audit event it makes, for the caller to record with its own actor.
import { randomBytes } from 'node:crypto';
import type { Actor } from '@clouddocs/audit';
import type { RevocationList } from '@clouddocs/kv';
import type { Account, AccountLibrary } from '../accounts/accounts';
import { TOKEN_TTL_SECONDS, type AccountTokenLibrary } from '../accounts/tokens';
import { ConflictError } from '../errors';
import type { Mailer } from '../mail/mailer';
import { invitationMessage } from '../mail/messages';
import type { MfaLibrary } from '../mfa/totp';
import type { PasskeyLibrary } from './passkeys';
import type { PayloadQueries } from '../queries/payloads';
import { pastRevocationSecond, type EventFields } from './client-lifecycle';
import type { GrantLibrary } from './grants';
import type { SessionDirectory } from './sessions';

type Outcome<T> = { result: T; event: EventFields } | undefined;

export interface UserView {
  id: string;
  email: string;
  name: string | null;
  email_verified: boolean;
  disabled: boolean;
  platform_admin: boolean;
  second_factors: { totp: boolean; recovery_codes_left: number; passkeys: number };
  created_at: string;
  last_sign_in_at: string | null;
}

export function createUserLifecycle(deps: {
  accounts: AccountLibrary;
  sessions: SessionDirectory;
  grants: GrantLibrary;
  payloads: PayloadQueries;
  revocations: RevocationList;
  mfa: MfaLibrary;
  /** Passkeys are second factors too: counted in the view, removed by a reset. */
  passkeys: PasskeyLibrary;
  tokens: AccountTokenLibrary;
  mailer: Mailer;
  issuer: string;
}) {
  const event = (actor: Actor, action: EventFields['action'], userId: string, detail?: EventFields['detail']): EventFields => ({ action, actor, target: { type: 'account', id: userId }, outcome: 'success', ...(detail ? { detail } : {}) });

  async function view(account: Account): Promise<UserView> {
    const [mfa, passkeys] = await Promise.all([deps.mfa.status(account.id), deps.passkeys.list(account.id)]);
    return {
      id: account.id,
      email: account.email,
      name: account.name,
      email_verified: account.emailVerified,
      disabled: account.disabled,
      platform_admin: account.platformAdmin,
      second_factors: { totp: mfa.enabled, recovery_codes_left: mfa.recoveryCodesLeft, passkeys: passkeys.length },
      created_at: account.createdAt,
      last_sign_in_at: account.lastSignInAt,
    };
  }

  /** Every session, grant and token of the user ends; returns how many sessions and grants. */
  async function endEverything(userId: string): Promise<{ sessionsEnded: number; grantsRevoked: number }> {
    const sessionsEnded = await deps.sessions.revokeAll(userId);
    const grantIds = await deps.payloads.grantIds({ account_id: userId });
    for (const id of grantIds) await deps.grants.revokeGrant(id);
    await deps.revocations.revoke('sub', userId);
    return { sessionsEnded, grantsRevoked: grantIds.length };
  }

  const selfProtected = (actor: Actor, userId: string, what: string) => {
    if (actor.type === 'user' && actor.id === userId) throw new ConflictError(`an administrator cannot ${what} themselves`);
  };

  return {
    async get(userId: string): Promise<UserView | undefined> {
      const account = await deps.accounts.findById(userId);
      return account ? view(account) : undefined;
    },

    async list(page: { email?: string; after?: string; limit: number }): Promise<UserView[]> {
      return Promise.all((await deps.accounts.list(page)).map(view));
    },

    /** A new account; without a password the person gets a mail to choose one (AccountError otherwise). */
    async create(actor: Actor, input: { email: string; name?: string | null; password?: string }): Promise<{ result: UserView; event: EventFields }> {
      const password = input.password ?? `${randomBytes(24).toString('base64url')}!Aa1`;
      const account = await deps.accounts.create({ email: input.email, name: input.name ?? null, password });
      if (input.password === undefined) {
        const token = await deps.tokens.issue(account.id, 'password_reset');
        await deps.mailer.send(invitationMessage({ to: account.email, link: `${deps.issuer}/reset-password?token=${token}`, minutes: TOKEN_TTL_SECONDS.password_reset / 60 }));
      }
      return { result: await view(account), event: event(actor, 'user.created', account.id, { invited: input.password === undefined }) };
    },

    async update(actor: Actor, userId: string, change: { name?: string | null; email?: string }): Promise<Outcome<UserView>> {
      const account = await deps.accounts.update(userId, change);
      return account ? { result: await view(account), event: event(actor, 'user.updated', userId, { fields: Object.keys(change) }) } : undefined;
    },

    async setDisabled(actor: Actor, userId: string, disabled: boolean): Promise<Outcome<UserView>> {
      if (disabled) selfProtected(actor, userId, 'disable');
      const before = await deps.accounts.disabledAt(userId);
      if (!(await deps.accounts.setDisabled(userId, disabled))) return undefined;
      if (!disabled) await pastRevocationSecond(before);
      const ended = disabled ? await endEverything(userId) : undefined;
      return { result: (await this.get(userId))!, event: event(actor, disabled ? 'user.disabled' : 'user.enabled', userId, ended) };
    },

    async signOut(actor: Actor, userId: string): Promise<Outcome<{ sessions_ended: number; grants_revoked: number }>> {
      if (!(await deps.accounts.findById(userId))) return undefined;
      const ended = await endEverything(userId);
      return { result: { sessions_ended: ended.sessionsEnded, grants_revoked: ended.grantsRevoked }, event: event(actor, 'user.signed_out', userId, ended) };
    },

    async resetSecondFactors(actor: Actor, userId: string): Promise<Outcome<UserView>> {
      if (!(await deps.accounts.findById(userId))) return undefined;
      await deps.mfa.disable(userId);
      await deps.passkeys.removeAll(userId);
      return { result: (await this.get(userId))!, event: event(actor, 'user.second_factors_reset', userId) };
    },

    /** `self`: the person deletes their own account (the account console), which an administrator may not. */
    async erase(actor: Actor, userId: string, options: { self?: boolean } = {}): Promise<Outcome<true>> {
      if (!options.self) selfProtected(actor, userId, 'delete');
      const account = await deps.accounts.findById(userId);
      if (!account) return undefined;
      if (account.platformAdmin && (await deps.accounts.countPlatformAdmins()) <= 1) throw new ConflictError('the last platform administrator cannot be deleted');
      const ended = await endEverything(userId);
      await deps.accounts.remove(userId);
      // Once more now that the account (and its API keys) are gone: a docs API process that read the
      // user's keys between the first revocation and the removal reads them again, and finds none.
      await deps.revocations.revoke('sub', userId);
      return { result: true, event: event(actor, 'user.deleted', userId, ended) };
    },
  };
}

export type UserLifecycle = ReturnType<typeof createUserLifecycle>;
