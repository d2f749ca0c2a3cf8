// Who did it and through which request: the part every audit event of one request shares.
import type { Actor, AuditEvent } from '@clouddocs/audit';

export interface EventContext {
  actor: Actor;
  requestId?: string | null;
  ip?: string | null;
  userAgent?: string | null;
}

export function event(context: EventContext, fields: Omit<AuditEvent, 'actor' | 'requestId' | 'ip' | 'userAgent'>): AuditEvent {
  return { ...fields, actor: context.actor, requestId: context.requestId ?? null, ip: context.ip ?? null, userAgent: context.userAgent ?? null };
}
