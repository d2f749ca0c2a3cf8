// SQL for docs.memberships: a principal (user or machine client) in an org with a role.
import type { Knex } from '@clouddocs/db';
import type { Membership, Role } from '../access';

export type PrincipalType = 'user' | 'client';

export interface MemberRecord {
  orgId: string;
  principalId: string;
  principalType: PrincipalType;
  role: Role;
}

const toMember = (row: Record<string, any>): MemberRecord => ({
  orgId: row.org_id,
  principalId: row.principal_id,
  principalType: row.principal_type,
  role: row.role,
});

export function createMembershipQueries(db: Knex | Knex.Transaction) {
  return {
    async forPrincipal(principalId: string, principalType: PrincipalType): Promise<Membership[]> {
      const rows = await db('docs.memberships').where({ principal_id: principalId, principal_type: principalType }).select('org_id', 'role');
      return rows.map((r) => ({ orgId: r.org_id, role: r.role }));
    },
    async find(orgId: string, principalId: string): Promise<MemberRecord | undefined> {
      const row = await db('docs.memberships').where({ org_id: orgId, principal_id: principalId }).first();
      return row ? toMember(row) : undefined;
    },
    async clientBinding(clientId: string): Promise<MemberRecord | undefined> {
      const row = await db('docs.memberships').where({ principal_id: clientId, principal_type: 'client' }).first();
      return row ? toMember(row) : undefined;
    },
    async listForOrg(orgId: string): Promise<MemberRecord[]> {
      const rows = await db('docs.memberships').where({ org_id: orgId }).orderBy('created_at').orderBy('principal_id');
      return rows.map(toMember);
    },
    async insert(member: MemberRecord): Promise<void> {
      await db('docs.memberships').insert({
        org_id: member.orgId,
        principal_id: member.principalId,
        principal_type: member.principalType,
        role: member.role,
      });
    },
    async setRole(orgId: string, principalId: string, role: Role): Promise<void> {
      await db('docs.memberships').where({ org_id: orgId, principal_id: principalId }).update({ role });
    },
    async remove(orgId: string, principalId: string): Promise<void> {
      await db('docs.memberships').where({ org_id: orgId, principal_id: principalId }).delete();
    },
    /** Owners who are people: a machine client never counts towards keeping an org owned. */
    async countUserOwners(orgId: string): Promise<number> {
      const row = await db('docs.memberships').where({ org_id: orgId, role: 'owner', principal_type: 'user' }).count<{ n: number }[]>({ n: '*' }).first();
      return Number(row?.n ?? 0);
    },
  };
}
