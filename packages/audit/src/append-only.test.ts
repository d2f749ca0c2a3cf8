import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from './log';
import { writeCheckpoints } from './checkpoint';
import { asServiceRole, openAuditFixture, sampleEvent, type AuditFixture } from './test-support';

let fx: AuditFixture;
beforeAll(async () => {
  fx = await openAuditFixture();
  const log = await AuditLog.open(fx.service, 'test-append-only');
  await log.recordAll([sampleEvent(), sampleEvent()]);
  await log.close();
  await writeCheckpoints(fx.admin);
});
afterAll(async () => {
  await fx?.close();
});

const refusal = /permission denied|append-only/;

describe('audit.events is append-only for the service role', () => {
  for (const sql of ["UPDATE audit.events SET outcome = 'failure'", 'DELETE FROM audit.events', 'TRUNCATE audit.events']) {
    it(`${sql.split(' ')[0]} as the service role -> refused`, async () => {
      await expect(asServiceRole(fx.admin, sql)).rejects.toThrow(refusal);
    });
  }

  it('the service role may still INSERT and SELECT', async () => {
    await expect(asServiceRole(fx.admin, 'SELECT count(*) FROM audit.events')).resolves.toBeUndefined();
  });

  it.skipIf(!process.env.DATABASE_URL)('on a real server the service role lacks the privilege itself (not only the trigger)', async () => {
    const rows = (
      await fx.admin.raw(`SELECT privilege_type FROM information_schema.role_table_grants
        WHERE grantee = 'clouddocs_service' AND table_schema = 'audit' AND table_name = 'events' ORDER BY 1`)
    ).rows.map((r: { privilege_type: string }) => r.privilege_type);
    expect(rows).toEqual(['INSERT', 'SELECT']);
    expect(fx.restricted).toBe(true);
    await expect(fx.service.raw('DELETE FROM audit.events')).rejects.toThrow(/permission denied/);
  });

  it.skipIf(!process.env.DATABASE_URL)('the services\' login is not a superuser, and RESET ROLE or switching the trigger off gets it nothing', async () => {
    const { rows } = await fx.service.raw('SELECT session_user AS login, r.rolsuper AS superuser FROM pg_roles r WHERE r.rolname = session_user');
    expect(rows).toEqual([{ login: 'clouddocs_service', superuser: false }]);
    await expect(fx.service.raw('RESET ROLE; DELETE FROM audit.events')).rejects.toThrow(/permission denied/);
    await expect(fx.service.raw('ALTER TABLE audit.events DISABLE TRIGGER ALL')).rejects.toThrow(/must be owner/);
    await expect(fx.service.raw('ALTER TABLE audit.events DISABLE TRIGGER events_append_only')).rejects.toThrow(/must be owner/);
    const [row] = await fx.admin('audit.events').count({ n: '*' });
    expect(Number(row?.n)).toBe(2);
  });
});

describe('the trigger refuses changes for every role, the owner included', () => {
  for (const sql of ["UPDATE audit.events SET outcome = 'failure'", 'DELETE FROM audit.events', 'TRUNCATE audit.events']) {
    it(`${sql.split(' ')[0]} as the owner -> refused by the trigger`, async () => {
      await expect(fx.admin.raw(sql)).rejects.toThrow(/audit\.events is append-only/);
    });
  }

  for (const sql of ["UPDATE audit.checkpoints SET hash = 'x'", 'DELETE FROM audit.checkpoints', 'TRUNCATE audit.checkpoints']) {
    it(`${sql.split(' ')[0]} on checkpoints as the owner -> refused by the trigger`, async () => {
      await expect(fx.admin.raw(sql)).rejects.toThrow(/audit\.checkpoints is append-only/);
    });
  }

  it('nothing was changed by the refused statements', async () => {
    const [row] = await fx.admin('audit.events').count({ n: '*' });
    expect(Number(row?.n)).toBe(2);
  });
});
