// What an operator does to a client, with its effects at once everywhere: a change reaches every
// auth server process before the call returns (their client caches drop it, acknowledged over the
// cache's pub/sub); disabling or deleting a client also revokes its grants (refresh tokens deleted,
// access tokens refused) and every token it holds (a client revocation, refused by the docs API on
// the next request). Each operation returns the audit event it makes, for the caller to record with
// its own actor (the admin API's caller, the CLI).
import type { Actor, AuditEvent } from '@clouddocs/audit';
import { acknowledge, publishAcknowledged, type Kv, type RevocationList } from '@clouddocs/kv';
import { LIMITS } from '../constants';
import type { PayloadQueries } from '../queries/payloads';
import type { ClientInput, ClientLibrary, ClientView } from './clients';
import type { GrantLibrary } from './grants';

export type EventFields = Omit<AuditEvent, 'requestId' | 'ip' | 'userAgent'>;
type Outcome<T> = { result: T; event: EventFields } | undefined;

/**
 * Tokens carry their issue time in whole seconds, and a user or client revocation refuses every token
 * issued up to its second: re-enabling waits until that second (and the next, for the revocation's
 * own few milliseconds) has passed, so the first new token is not taken for an old one.
 */
export async function pastRevocationSecond(disabledAt: Date | null): Promise<void> {
  if (!disabledAt) return;
  const wait = (Math.floor(disabledAt.getTime() / 1000) + 2) * 1000 - Date.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}

/** Subscribes `forget` to client changes (the storage adapter's client cache). */
export async function followClientChanges(kv: Kv, forget: (clientId: string) => void): Promise<void> {
  await kv.subscribe(LIMITS.clientsChangedChannel, (message) => {
    try {
      const { clientId, ack } = JSON.parse(message) as { clientId?: unknown; ack?: unknown };
      if (typeof clientId === 'string') forget(clientId);
      acknowledge(kv, ack);
    } catch {
      // malformed: ignored
    }
  });
}

export function createClientLifecycle(deps: { clients: ClientLibrary; payloads: PayloadQueries; grants: GrantLibrary; revocations: RevocationList; kv: Kv }) {
  const changed = (clientId: string) => publishAcknowledged(deps.kv, LIMITS.clientsChangedChannel, { clientId });
  const event = (actor: Actor, action: EventFields['action'], clientId: string, detail?: EventFields['detail']): EventFields => ({ action, actor, target: { type: 'client', id: clientId }, outcome: 'success', ...(detail ? { detail } : {}) });

  /** Ends everything the client holds: its grants and every token issued to it so far. */
  async function cutOff(clientId: string): Promise<number> {
    const grantIds = await deps.payloads.grantIds({ client_id: clientId });
    for (const id of grantIds) await deps.grants.revokeGrant(id);
    await deps.revocations.revoke('client', clientId);
    return grantIds.length;
  }

  return {
    /** A change made elsewhere (oidc-provider's registration management): every process drops its copy. */
    announce: (clientId: string) => changed(clientId),

    async update(actor: Actor, clientId: string, change: Partial<ClientInput>): Promise<Outcome<ClientView>> {
      const result = await deps.clients.update(clientId, change);
      if (!result) return undefined;
      await changed(clientId);
      return { result, event: event(actor, 'client.updated', clientId, { fields: Object.keys(change) }) };
    },

    async setDisabled(actor: Actor, clientId: string, disabled: boolean): Promise<Outcome<ClientView>> {
      const before = await deps.clients.disabledAt(clientId);
      if (!(await deps.clients.setDisabled(clientId, disabled))) return undefined;
      if (!disabled) await pastRevocationSecond(before);
      await changed(clientId);
      const grantsRevoked = disabled ? await cutOff(clientId) : 0;
      return { result: (await deps.clients.get(clientId))!, event: event(actor, disabled ? 'client.disabled' : 'client.enabled', clientId, disabled ? { grantsRevoked } : undefined) };
    },

    async remove(actor: Actor, clientId: string): Promise<Outcome<true>> {
      if (!(await deps.clients.get(clientId))) return undefined;
      await deps.clients.setDisabled(clientId, true);
      await changed(clientId);
      const grantsRevoked = await cutOff(clientId);
      await deps.clients.remove(clientId);
      await changed(clientId);
      return { result: true, event: event(actor, 'client.deleted', clientId, { grantsRevoked }) };
    },

    async rotateSecret(actor: Actor, clientId: string, previousExpiresIn: number): Promise<Outcome<{ client_secret: string; previous_secret_expires_at: string | null }>> {
      const result = await deps.clients.rotateSecret(clientId, previousExpiresIn);
      if (!result) return undefined;
      await changed(clientId);
      return { result, event: event(actor, 'client.secret_rotated', clientId, { overlapUntil: result.previous_secret_expires_at }) };
    },
  };
}

export type ClientLifecycle = ReturnType<typeof createClientLifecycle>;
