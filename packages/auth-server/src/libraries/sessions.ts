// A person's sessions, found through the account -> session index the storage adapter keeps in the
// cache (session uids, never the session ids that the cookies carry), loaded through oidc-provider's
// own Session model so that expiry and signatures are checked as for any request.
import type { Kv } from '@clouddocs/kv';
import type Provider from 'oidc-provider';
import { kvKeys } from '../constants';
import type { LogoutReason, SessionAuthorizations } from './backchannel-logout';

/** Told of every session this directory ends, before it ends (back-channel logout is queued there). */
export type SessionEndedHook = (accountId: string, authorizations: SessionAuthorizations | undefined, reason: LogoutReason) => Promise<unknown>;

export interface AccountSession {
  uid: string;
  loginTs: number | undefined;
  expiresAt: number | undefined;
  amr: string[];
  clients: string[];
}

type SessionInstance = InstanceType<Provider['Session']>;

export function createSessionDirectory(deps: { provider: () => Provider; kv: Kv; onEnded?: SessionEndedHook }) {
  const ended = (s: SessionInstance, reason: LogoutReason) => deps.onEnded?.(s.accountId!, s.authorizations as SessionAuthorizations | undefined, reason);
  async function load(accountId: string): Promise<SessionInstance[]> {
    const uids = await deps.kv.setMembers(kvKeys.accountSessions(accountId));
    const found = await Promise.all(uids.map((uid) => deps.provider().Session.findByUid(uid)));
    return found.filter((s): s is SessionInstance => Boolean(s && s.accountId === accountId));
  }
  return {
    async list(accountId: string): Promise<AccountSession[]> {
      const sessions = await load(accountId);
      return sessions
        .map((s) => ({
          uid: s.uid,
          loginTs: s.loginTs,
          expiresAt: s.exp,
          amr: (s.amr as string[] | undefined) ?? [],
          clients: Object.keys((s.authorizations as Record<string, unknown> | undefined) ?? {}),
        }))
        .sort((a, b) => (b.loginTs ?? 0) - (a.loginTs ?? 0));
    },
    /** Display names of the apps a session signed in to. */
    async clientNames(clientIds: string[]): Promise<string[]> {
      const clients = await Promise.all(clientIds.map((id) => deps.provider().Client.find(id).catch(() => undefined)));
      return clients.map((c, i) => c?.clientName ?? clientIds[i]!);
    },
    /** Ends one session server-side; its cookie then opens nothing. */
    async revoke(accountId: string, uid: string): Promise<boolean> {
      const session = await deps.provider().Session.findByUid(uid);
      if (!session || session.accountId !== accountId) return false;
      await ended(session, 'session_revoked');
      await session.destroy();
      return true;
    },
    /** Ends every session of the account (an operator's sign-out, a password reset). Returns how many ended. */
    async revokeAll(accountId: string, reason: LogoutReason = 'signed_out'): Promise<number> {
      const sessions = await load(accountId);
      for (const s of sessions) await ended(s, reason);
      await Promise.all(sessions.map((s) => s.destroy()));
      return sessions.length;
    },
  };
}

export type SessionDirectory = ReturnType<typeof createSessionDirectory>;

/**
 * Ends every session of the account straight in the cache, for a process that runs no provider (the
 * CLI): what `Session#destroy` deletes (the session under oidc-provider's model key, and its uid
 * index), found through the same account -> uid index. Returns how many sessions ended.
 */
export async function endAccountSessionsInCache(kv: Kv, accountId: string, onEnded?: SessionEndedHook): Promise<number> {
  const uids = await kv.setMembers(kvKeys.accountSessions(accountId));
  let ended = 0;
  for (const uid of uids) {
    const id = await kv.get(kvKeys.byUid('Session', uid));
    if (!id) continue;
    const raw = await kv.get(kvKeys.model('Session', id));
    let stored: { accountId?: unknown; authorizations?: SessionAuthorizations } | undefined;
    try {
      stored = raw ? (JSON.parse(raw) as typeof stored) : undefined;
    } catch {
      stored = undefined;
    }
    if (stored?.accountId !== accountId) continue;
    await onEnded?.(accountId, stored.authorizations, 'signed_out');
    await kv.del(kvKeys.model('Session', id), kvKeys.byUid('Session', uid));
    ended += 1;
  }
  return ended;
}

