// Who the caller is and what roles and permissions mean: the vocabulary every step shares.
export const ROLES = ['owner', 'admin', 'editor', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

export const SHARE_PERMISSIONS = ['read', 'write'] as const;
export type SharePermission = (typeof SHARE_PERMISSIONS)[number];

export const SCOPES = ['docs:read', 'docs:write', 'orgs:read', 'orgs:write', 'audit:read'] as const;
export type Scope = (typeof SCOPES)[number];

export type DocumentAction = 'read' | 'write' | 'delete' | 'share';

/** The authenticated caller: a user (`sub` = user id) or a machine client (`sub` = `client_id`). */
export interface Principal {
  id: string;
  kind: 'user' | 'client';
  clientId: string;
  scopes: ReadonlySet<string>;
  /** Set when the caller is a user through one of their API keys (then clientId is the key's id too). */
  apiKeyId?: string;
}

export interface Membership {
  orgId: string;
  role: Role;
}

export function roleIn(memberships: readonly Membership[], orgId: string | null): Role | undefined {
  if (orgId === null) return undefined;
  return memberships.find((m) => m.orgId === orgId)?.role;
}

export const managesOrg = (role: Role | undefined): boolean => role === 'owner' || role === 'admin';
export const createsInOrg = (role: Role | undefined): boolean => role === 'owner' || role === 'admin' || role === 'editor';

const ORG_DOCUMENT_RIGHTS: Record<Role, DocumentAction[]> = {
  viewer: ['read'],
  editor: ['read', 'write'],
  admin: ['read', 'write', 'delete', 'share'],
  owner: ['read', 'write', 'delete', 'share'],
};
const SHARE_RIGHTS: Record<SharePermission, DocumentAction[]> = { read: ['read'], write: ['read', 'write'] };

/**
 * What the caller may do to a document. Personal: the owner everything, a share read or read+write.
 * Org: by role (viewer read, editor write, admin/owner delete and share), plus any share.
 * A machine client acts inside its org only, so owners and shares never count for it.
 */
export function documentActions(
  document: { orgId: string | null; ownerId: string },
  principal: Principal,
  memberships: readonly Membership[],
  share: SharePermission | undefined,
): Set<DocumentAction> {
  const actions = new Set<DocumentAction>();
  const role = roleIn(memberships, document.orgId);
  if (role) for (const a of ORG_DOCUMENT_RIGHTS[role]) actions.add(a);
  if (principal.kind === 'client') return actions;
  if (document.orgId === null && document.ownerId === principal.id) for (const a of ORG_DOCUMENT_RIGHTS.owner) actions.add(a);
  if (share) for (const a of SHARE_RIGHTS[share]) actions.add(a);
  return actions;
}
