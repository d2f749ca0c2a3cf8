// Test fixtures: a fresh database (real PostgreSQL when DATABASE_URL is set, embedded otherwise)
// with the audit schema, an owner connection and a connection as the services' own login.
import { createKnex, createTestDatabase, migrate, SERVICE_ROLE, type Knex, type TestDatabase } from '@clouddocs/db';
import { auditGrants, auditMigrations } from './migrations';
import type { AuditEvent } from './events';

export interface AuditFixture {
  db: TestDatabase;
  /** The schema owner (superuser on the test server). */
  admin: Knex;
  /** Connected as the services' login `clouddocs_service` on real PostgreSQL; the shared session on the embedded store. */
  service: Knex;
  /** Whether `service` really is the restricted login. */
  restricted: boolean;
  close(): Promise<void>;
}

export async function openAuditFixture(): Promise<AuditFixture> {
  const db = await createTestDatabase();
  const admin = await createKnex({ url: db.url, poolMax: 4 });
  await migrate(admin, auditMigrations, [auditGrants]);
  // The embedded store is one PostgreSQL session behind its socket, so there `service` is that session
  // (the owner) and the service role is only taken inside single transactions (`asServiceRole`).
  const service = await createKnex({ url: db.url, poolMax: 4, serviceRole: true });
  const [{ role }] = (await service.raw('SELECT session_user AS role')).rows;
  return {
    db,
    admin,
    service,
    restricted: role === SERVICE_ROLE,
    async close() {
      await service.destroy();
      await admin.destroy();
      await db.drop();
    },
  };
}

export function sampleEvent(overrides: Partial<AuditEvent> = {}): AuditEvent {
  return {
    action: 'document.created',
    actor: { type: 'user', id: 'user-1' },
    target: { type: 'document', id: 'doc-1' },
    outcome: 'success',
    orgId: 'org-1',
    requestId: 'req-1',
    ip: '127.0.0.1',
    userAgent: 'vitest',
    detail: { title: 'hello' },
    ...overrides,
  };
}

/** Runs `sql` in a transaction that acts as the service role (works on the embedded store too). */
export async function asServiceRole(admin: Knex, sql: string): Promise<void> {
  await admin.transaction(async (trx) => {
    await trx.raw(`SET LOCAL ROLE ${SERVICE_ROLE}`);
    await trx.raw(sql);
  });
}

/** Runs `sql` as the owner with the append-only trigger switched off (what a superuser could do). */
export async function asSuperuserBypassingTrigger(admin: Knex, sql: string, bindings: readonly unknown[] = []): Promise<void> {
  await admin.transaction(async (trx) => {
    await trx.raw('ALTER TABLE audit.events DISABLE TRIGGER events_append_only');
    await trx.raw(sql, bindings as Knex.RawBinding[]);
    await trx.raw('ALTER TABLE audit.events ENABLE TRIGGER events_append_only');
  });
}
