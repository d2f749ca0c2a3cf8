// Grants, the one way they die, and what a person sees of them. `revokeGrant` is the single path for
// every way a grant ends (a code or refresh token redeemed twice, oidc-provider's `grant.revoked`,
// "Remove access" in the account console): what it issued is deleted from both stores and the grant
// goes on the revocation list, so its JWT access tokens are refused at introspection and by the docs
// API at once. Callers audit the event in their own words.
import { grantClaim, type Kv, type RevocationList } from '@clouddocs/kv';
import { ACCOUNT_CONSOLE_CLIENT_ID, kvKeys } from '../constants';
import type { PayloadQueries } from '../queries/payloads';

export interface ConnectedApp {
  grantId: string;
  clientId: string;
  clientName: string;
  scopes: string[];
  grantedAt: number | undefined;
}

export function createGrantLibrary(deps: { payloads: PayloadQueries; kv: Kv; revocations: RevocationList; clientName: (clientId: string) => Promise<string> }) {
  return {
    async revokeGrant(grantId: string): Promise<void> {
      const members = await deps.kv.setMembers(kvKeys.grantMembers(grantId));
      await deps.kv.del(...members, kvKeys.grantMembers(grantId));
      await deps.payloads.destroyByGrant(grantId);
      await deps.payloads.destroy('Grant', grantId);
      await deps.revocations.revoke('grant', grantClaim(grantId));
    },

    /** Only the revocation list (oidc-provider has already deleted what the grant issued). */
    async listRevoked(grantId: string): Promise<void> {
      await deps.revocations.revoke('grant', grantClaim(grantId));
    },

    /** The grant a user already gave a client (remembered consent), if any. */
    rememberedGrantId(accountId: string, clientId: string): Promise<string | null> {
      return deps.kv.get(kvKeys.grantFor(accountId, clientId));
    },

    /** The apps a person has granted access, newest first (the account console itself excluded). */
    async connectedApps(accountId: string): Promise<ConnectedApp[]> {
      const grants = (await deps.payloads.grantsOfAccount(accountId)).filter((g) => g.clientId !== ACCOUNT_CONSOLE_CLIENT_ID);
      return Promise.all(grants.map(async (g) => ({ grantId: g.id, clientId: g.clientId, clientName: await deps.clientName(g.clientId), scopes: g.scopes, grantedAt: g.iat })));
    },
  };
}

export type GrantLibrary = ReturnType<typeof createGrantLibrary>;
