// Org rules: creation, and the member changes only owners and admins make. An admin cannot make,
// demote or remove an owner (403); the last owner cannot leave, be removed or demote itself (409).
// A member is added, or has its role changed, only when it is an existing, enabled user (404 for
// anyone else: no membership for nobody, and a machine client's id is never stored as a user); a
// machine client bound to this org keeps its binding's role changes. Removing needs only the membership.
// Every change commits in one transaction with its audit event.
import { randomUUID } from 'node:crypto';
import type { Knex } from '@clouddocs/db';
import type { Role } from '../access';
import { changeOf, type AuthzChanged } from '../authz-cache';
import { ConflictError, ForbiddenError, NotFoundError } from '../errors';
import { createMembershipQueries, type MemberRecord } from '../queries/memberships';
import { createOrgQueries, type OrgRecord } from '../queries/orgs';
import { createUserQueries } from '../queries/users';
import type { AuditWriter } from './audit-writer';
import { event, type EventContext } from './event-context';

export class OrganizationNotFoundError extends NotFoundError {
  constructor(orgId: string) {
    super(`organization ${orgId} does not exist`);
  }
}

export interface OrganizationLibraryDeps {
  knex: Knex;
  audit: AuditWriter;
  /** Told, after the commit, whose memberships changed (the authorization cache forgets them). */
  changed?: AuthzChanged;
}

export function createOrganizationLibrary({ knex, audit, changed = async () => {} }: OrganizationLibraryDeps) {
  const membershipsChanged = (member: { principalType: 'user' | 'client'; principalId: string }) => changed([changeOf.principal(member.principalType, member.principalId)]);
  return {
    async create(context: EventContext, input: { name: string; ownerId: string }): Promise<OrgRecord> {
      const org = await knex.transaction(async (trx) => {
        const org = await createOrgQueries(trx).insert({ id: randomUUID(), name: input.name });
        await createMembershipQueries(trx).insert({ orgId: org.id, principalId: input.ownerId, principalType: 'user', role: 'owner' });
        await audit.appendInTransaction(trx, [
          event(context, { action: 'org.created', target: { type: 'org', id: org.id }, outcome: 'success', orgId: org.id, detail: { ownerId: input.ownerId } }),
        ]);
        return org;
      });
      await membershipsChanged({ principalType: 'user', principalId: input.ownerId });
      return org;
    },

    /** Adds a member or changes a member's role; `created` tells which. */
    async setMember(
      context: EventContext,
      input: { orgId: string; callerRole: Role; principalId: string; role: Role },
    ): Promise<{ member: MemberRecord; created: boolean }> {
      const result = await knex.transaction(async (trx) => {
        const members = createMembershipQueries(trx);
        if (!(await createOrgQueries(trx).lock(input.orgId))) throw new OrganizationNotFoundError(input.orgId);
        const current = await members.find(input.orgId, input.principalId);
        if (current?.principalType !== 'client' && !(await createUserQueries(trx).isEnabledUser(input.principalId))) {
          throw new NotFoundError('no such user');
        }
        if (input.callerRole !== 'owner' && (current?.role === 'owner' || input.role === 'owner')) {
          throw new ForbiddenError('only an owner can make, demote or remove an owner');
        }
        if (current && current.role === input.role) return { member: current, created: false };
        if (current?.role === 'owner' && current.principalType === 'user' && (await members.countUserOwners(input.orgId)) <= 1) {
          throw new ConflictError('the last owner cannot be demoted; make another member an owner first');
        }
        const target = { type: current?.principalType ?? 'user', id: input.principalId };
        if (current) {
          await members.setRole(input.orgId, input.principalId, input.role);
          await audit.appendInTransaction(trx, [
            event(context, { action: 'org.member.role_changed', target, outcome: 'success', orgId: input.orgId, detail: { from: current.role, to: input.role } }),
          ]);
        } else {
          await members.insert({ orgId: input.orgId, principalId: input.principalId, principalType: 'user', role: input.role });
          await audit.appendInTransaction(trx, [
            event(context, { action: 'org.member.added', target, outcome: 'success', orgId: input.orgId, detail: { role: input.role } }),
          ]);
        }
        const member: MemberRecord = { orgId: input.orgId, principalId: input.principalId, principalType: current?.principalType ?? 'user', role: input.role };
        return { member, created: !current };
      });
      await membershipsChanged(result.member);
      return result;
    },

    async removeMember(context: EventContext, input: { orgId: string; callerRole: Role; principalId: string }): Promise<void> {
      const removed = await knex.transaction(async (trx) => {
        const members = createMembershipQueries(trx);
        if (!(await createOrgQueries(trx).lock(input.orgId))) throw new OrganizationNotFoundError(input.orgId);
        const current = await members.find(input.orgId, input.principalId);
        if (!current) throw new NotFoundError('no such member in this organization');
        if (current.role === 'owner' && input.callerRole !== 'owner') throw new ForbiddenError('only an owner can make, demote or remove an owner');
        if (current.role === 'owner' && current.principalType === 'user' && (await members.countUserOwners(input.orgId)) <= 1) {
          throw new ConflictError('the last owner cannot leave or be removed; make another member an owner first');
        }
        await members.remove(input.orgId, input.principalId);
        await audit.appendInTransaction(trx, [
          event(context, {
            action: 'org.member.removed',
            target: { type: current.principalType, id: input.principalId },
            outcome: 'success',
            orgId: input.orgId,
            detail: { role: current.role },
          }),
        ]);
        return current;
      });
      await membershipsChanged(removed);
    },

    /** Binds a machine client to one org with a role (its tokens act there and nowhere else). */
    async bindClient(context: EventContext, input: { orgId: string; clientId: string; role: Role }): Promise<MemberRecord> {
      const binding = await knex.transaction(async (trx) => {
        const members = createMembershipQueries(trx);
        if (!(await createOrgQueries(trx).lock(input.orgId))) throw new OrganizationNotFoundError(input.orgId);
        const bound = await members.clientBinding(input.clientId);
        if (bound && bound.orgId !== input.orgId) throw new ConflictError(`client ${input.clientId} is already bound to organization ${bound.orgId}`);
        if (await members.find(input.orgId, input.clientId).then((m) => m?.principalType === 'user')) {
          throw new ConflictError(`${input.clientId} is already a user member of this organization`);
        }
        const member: MemberRecord = { orgId: input.orgId, principalId: input.clientId, principalType: 'client', role: input.role };
        if (bound) await members.setRole(input.orgId, input.clientId, input.role);
        else await members.insert(member);
        await audit.appendInTransaction(trx, [
          event(context, {
            action: bound ? 'org.member.role_changed' : 'org.member.added',
            target: { type: 'client', id: input.clientId },
            outcome: 'success',
            orgId: input.orgId,
            detail: { role: input.role },
          }),
        ]);
        return member;
      });
      await membershipsChanged(binding);
      return binding;
    },
  };
}

export type OrganizationLibrary = ReturnType<typeof createOrganizationLibrary>;
