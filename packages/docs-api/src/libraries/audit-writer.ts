// The part of the audit log this service writes through, and a writer whose chain is opened
// lazily, so that the API can be built synchronously when no audit log is handed in.
import { AuditLog, type AuditEvent } from '@clouddocs/audit';
import type { Knex } from '@clouddocs/db';

export type AuditWriter = Pick<AuditLog, 'appendInTransaction' | 'record'>;

export function deferredAuditWriter(knex: Knex, service: string): AuditWriter & { opened: Promise<AuditLog> } {
  const opened = AuditLog.open(knex, service);
  opened.catch(() => {});
  return {
    opened,
    async appendInTransaction(trx: Knex.Transaction, events: AuditEvent[]) {
      return (await opened).appendInTransaction(trx, events);
    },
    async record(event: AuditEvent) {
      return (await opened).record(event);
    },
  };
}
