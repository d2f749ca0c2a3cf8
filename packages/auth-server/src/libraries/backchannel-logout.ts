// OIDC Back-Channel Logout 1.0, the queue side: when a session ends (RP-initiated logout, "Sign out" in
// the account console, an operator signing a user out or disabling them, a password reset), every
// client that signed in through it and registered a `backchannel_logout_uri` gets one delivery in
// auth.backchannel_deliveries. The auth server's delivery loop (oidc/backchannel-delivery.ts) signs
// and POSTs the logout tokens from there, so a restart or a process that dies loses none. The CLI,
// which runs no provider, only enqueues.
import { randomBytes } from 'node:crypto';
import type { Knex } from '@clouddocs/db';
import { createDeliveryQueries } from '../queries/backchannel-deliveries';
import type { ClientLibrary } from './clients';

/** How a session ended (kept with the delivery, audited with it). */
export type LogoutReason = 'rp_logout' | 'session_revoked' | 'signed_out' | 'password_reset';

/** What a session knows of the clients it signed in to: oidc-provider's `authorizations`. */
export type SessionAuthorizations = Record<string, { sid?: string; grantId?: string } | undefined>;

export interface LogoutRequest {
  clientId: string;
  sub: string;
  sid: string | undefined;
}

export function createBackchannelLogout(deps: { knex: Knex; clients: Pick<ClientLibrary, 'get'>; onEnqueued?: () => void }) {
  const queries = createDeliveryQueries(deps.knex);
  const id = () => randomBytes(12).toString('base64url');

  async function enqueue(requests: LogoutRequest[], reason: LogoutReason): Promise<number> {
    const wanted: LogoutRequest[] = [];
    for (const r of requests) {
      const client = await deps.clients.get(r.clientId);
      if (client?.backchannel_logout_uri && !client.disabled) wanted.push(r);
    }
    await queries.insert(wanted.map((r) => ({ id: id(), client_id: r.clientId, sub: r.sub, sid: r.sid ?? null, jti: id(), reason })));
    if (wanted.length) deps.onEnqueued?.();
    return wanted.length;
  }

  return {
    queries,
    /** One logout token for one client (oidc-provider's end_session asks client by client). */
    enqueue,
    /** A logout token for every client the ended session signed in to (and that asked for one). */
    sessionEnded(accountId: string, authorizations: SessionAuthorizations | undefined, reason: LogoutReason): Promise<number> {
      const requests = Object.entries(authorizations ?? {}).map(([clientId, a]) => ({ clientId, sub: accountId, sid: a?.sid }));
      return requests.length ? enqueue(requests, reason) : Promise.resolve(0);
    },
  };
}

export type BackchannelLogout = ReturnType<typeof createBackchannelLogout>;
