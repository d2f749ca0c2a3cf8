// The event vocabulary shared by every service: one name per kind of thing that happened.
export const AUDIT_ACTIONS = [
  'auth.login.succeeded',
  'auth.login.failed',
  'auth.lockout',
  'auth.logout',
  'auth.signup',
  'auth.email_verified',
  'auth.password_reset.requested',
  'auth.password_reset.completed',
  'auth.password_rehashed',
  'auth.mfa.enrolled',
  'auth.mfa.disabled',
  'auth.mfa.failed',
  'auth.consent.granted',
  'auth.consent.denied',
  'auth.session.revoked',
  'auth.profile.updated',
  'auth.password_changed',
  'auth.email_change.requested',
  'auth.email_changed',
  'auth.data_exported',
  'token.issued',
  'token.refreshed',
  'token.revoked',
  'token.reuse_detected',
  'token.introspected',
  'client.auth_failed',
  'client.created',
  'client.updated',
  'client.deleted',
  'client.disabled',
  'client.enabled',
  'client.secret_rotated',
  'user.created',
  'user.updated',
  'user.disabled',
  'user.enabled',
  'user.signed_out',
  'user.second_factors_reset',
  'user.deleted',
  'api_key.created',
  'api_key.used',
  'api_key.revoked',
  'key.created',
  'key.rotated',
  'grant.revoked',
  'org.created',
  'org.member.added',
  'org.member.role_changed',
  'org.member.removed',
  'document.created',
  'document.updated',
  'document.deleted',
  'document.shared',
  'document.unshared',
  'access.denied',
  'audit.checkpoint.written',
  'audit.archived',
  'audit.pruned',
] as const;

export type AuditAction = (typeof AUDIT_ACTIONS)[number];
export type AuditOutcome = 'success' | 'failure' | 'denied';
export type ActorType = 'user' | 'client' | 'system' | 'anonymous';

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export interface Actor {
  type: ActorType;
  id: string | null;
}

export interface Target {
  type: string;
  id: string | null;
}

export interface AuditEvent {
  action: AuditAction;
  actor: Actor;
  target?: Target | null;
  outcome: AuditOutcome;
  orgId?: string | null;
  requestId?: string | null;
  ip?: string | null;
  userAgent?: string | null;
  /** Small, never secret: no tokens, passwords, or secrets. */
  detail?: Record<string, JsonValue>;
  occurredAt?: Date;
}

export const SYSTEM_ACTOR: Actor = { type: 'system', id: null };

/** A stored event, as read back. */
export interface StoredAuditEvent {
  id: number;
  chainId: string;
  seq: number;
  occurredAt: string;
  actor: Actor;
  action: AuditAction;
  target: Target | null;
  outcome: AuditOutcome;
  orgId: string | null;
  requestId: string | null;
  ip: string | null;
  userAgent: string | null;
  detail: Record<string, JsonValue>;
  prevHash: string;
  hash: string;
}
