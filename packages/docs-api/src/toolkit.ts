// What the operator CLI needs of the docs API without running it: creating organizations, binding a
// machine client to one, and the roles, scopes and errors they use. Loading it loads no koa (index.ts
// adds the API itself).
import { AuditLog } from '@clouddocs/audit';
import { loadDocsConfig } from '@clouddocs/config';
import type { Knex } from '@clouddocs/db';
import { createKv, publishAcknowledged, sharedCacheConfigured, type Kv } from '@clouddocs/kv';
import type { Role } from './access';
import { AUTHZ_CHANNEL, type AuthzChanged } from './authz-cache';
import { BadRequestError } from './errors';
import type { AuditWriter } from './libraries/audit-writer';
import { createOrganizationLibrary } from './libraries/organizations';
import type { MemberRecord } from './queries/memberships';
import type { OrgRecord } from './queries/orgs';
import { orgName, role as roleSchema } from './schemas';

export { OrganizationNotFoundError } from './libraries/organizations';
export { ProblemError } from './errors';
export type { AuditWriter } from './libraries/audit-writer';
export { ROLES, SCOPES, type Role, type Scope } from './access';

const SYSTEM = { actor: { type: 'system' as const, id: null } };

/**
 * Tells the running docs API processes that memberships changed (their authorization caches forget
 * them), through `kv` when given, else through REDIS_URL's Redis when set. With the embedded
 * in-process cache there is no other process to tell: its entries expire within seconds.
 */
function announcer(kv: Kv | undefined): AuthzChanged {
  return async (changes) => {
    let shared: Kv | undefined;
    try {
      if (kv) {
        await publishAcknowledged(kv, AUTHZ_CHANNEL, { changes });
        return;
      }
      const config = loadDocsConfig();
      if (!sharedCacheConfigured(config)) return;
      shared = createKv(config);
      await publishAcknowledged(shared, AUTHZ_CHANNEL, { changes });
    } catch {
      // committed either way; the docs API's entries expire within seconds
    } finally {
      await shared?.close();
    }
  };
}

/** Creates an org with `ownerId` (a user id, the `sub` of their tokens) as its owner; used by `clouddocs org create`. */
export async function createOrganization(knex: Knex, audit: AuditWriter, input: { name: string; ownerId: string }, options: { kv?: Kv } = {}): Promise<OrgRecord> {
  const name = orgName.safeParse(input.name);
  if (!name.success) throw new BadRequestError(`the organization name must be 1 to 100 characters`);
  return createOrganizationLibrary({ knex, audit, changed: announcer(options.kv) }).create(SYSTEM, { name: name.data, ownerId: input.ownerId });
}

/**
 * Binds a machine client to one org with a role (`clouddocs client create --org --role`): its
 * client-credentials tokens then act in that org only. Throws OrganizationNotFoundError when the
 * org does not exist. Without `audit`, the event goes to a chain of the CLI's own.
 */
export async function bindClientToOrg(
  knex: Knex,
  audit: AuditWriter | undefined,
  input: { orgId: string; clientId: string; role: Role | string },
  options: { kv?: Kv } = {},
): Promise<MemberRecord> {
  const role = roleSchema.safeParse(input.role);
  if (!role.success) throw new BadRequestError(`a client's role must be owner, admin, editor or viewer, not ${input.role}`);
  const log = audit ?? (await AuditLog.open(knex, 'cli'));
  try {
    return await createOrganizationLibrary({ knex, audit: log, changed: announcer(options.kv) }).bindClient(SYSTEM, { orgId: input.orgId, clientId: input.clientId, role: role.data });
  } finally {
    if (!audit) await (log as AuditLog).close();
  }
}
