// A person's recent security activity, read from the audit log: what they did and what was done to
// their account (sign-ins, failures, changes), newest first. Only their own events.
import { queryEvents, type StoredAuditEvent } from '@clouddocs/audit';
import type { Knex } from '@clouddocs/db';

export function createActivityLibrary(deps: { knex: Knex }) {
  return {
    async recent(accountId: string, limit = 50): Promise<StoredAuditEvent[]> {
      const [by, about] = await Promise.all([queryEvents(deps.knex, { actorId: accountId, limit }), queryEvents(deps.knex, { targetId: accountId, limit })]);
      const seen = new Set<number>();
      return [...by, ...about]
        .filter((e) => !seen.has(e.id) && seen.add(e.id))
        .sort((a, b) => b.id - a.id)
        .slice(0, limit);
    },
  };
}

export type ActivityLibrary = ReturnType<typeof createActivityLibrary>;
