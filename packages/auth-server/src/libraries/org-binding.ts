// Binding a machine client to an organization (its role there decides what its tokens may do at the
// docs API). The membership lives in the docs API's schema, so the auth server does not write it
// itself: whoever composes the services (the CLI's runAuthServer) gives it this function, which runs
// inside the transaction that creates the client, so a client is never left half-made.
import type { AuditLog } from '@clouddocs/audit';
import type { Knex } from '@clouddocs/db';

export const ORG_ROLES = ['owner', 'admin', 'editor', 'viewer'] as const;

export type OrgBinder = (trx: Knex.Transaction, audit: AuditLog, input: { orgId: string; clientId: string; role: (typeof ORG_ROLES)[number] }) => Promise<void>;

/** The binding was refused (no such organization, the client bound elsewhere): the caller's mistake. */
export class OrgBindingError extends Error {
  override readonly name = 'OrgBindingError';
}
