// Scheduled key rotation as each auth server process runs it at start (AUTH_KEY_ROTATION_DAYS).
import type { AuditEvent, AuditLog } from '@clouddocs/audit';
import { createLogger } from '@clouddocs/observability';
import { describe, expect, it } from 'vitest';
import { createKeyStore } from '../keys/keys';
import { SecretBox } from '../secret-box';
import { useAuthDatabase } from '../test-support';
import { startKeyRotation } from './key-rotation';

const database = useAuthDatabase();
const logger = createLogger({ level: 'silent', name: 'test' });

function recorder() {
  const events: AuditEvent[] = [];
  return { events, audit: { recordAll: async (batch: AuditEvent[]) => void events.push(...batch) } as unknown as AuditLog };
}

async function until(check: () => boolean) {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('not reached');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('startKeyRotation', () => {
  it('a generation older than the period -> one rotation at start, audited by the system, keys reloaded; a fresh one -> nothing', async () => {
    const keyStore = createKeyStore({ knex: database.knex, box: new SecretBox('a-test-encryption-key-of-at-least-32-characters'), retainSeconds: 600 });
    await keyStore.ensure();
    const fresh = recorder();
    let reloads = 0;
    const stopFresh = startKeyRotation({ keyStore, audit: fresh.audit, logger, rotationDays: 30, activationDelaySeconds: 60, refreshKeys: async () => void reloads++ });
    await new Promise((r) => setTimeout(r, 200));
    stopFresh();
    expect(fresh.events).toEqual([]);
    expect(reloads).toBe(0);

    await database.knex('auth.signing_keys').update({ created_at: new Date(Date.now() - 31 * 86_400_000).toISOString() });
    const due = recorder();
    const stop = startKeyRotation({ keyStore, audit: due.audit, logger, rotationDays: 30, activationDelaySeconds: 60, refreshKeys: async () => void reloads++ });
    await until(() => reloads === 1);
    stop();
    expect(due.events).toEqual([expect.objectContaining({ action: 'key.rotated', actor: { type: 'system', id: 'key-rotation' }, outcome: 'success', detail: expect.objectContaining({ scheduled: true }) })]);
    expect(new Set((await keyStore.list()).map((k) => k.status))).toEqual(new Set(['active', 'pending']));
  });

  it('a period of 0 turns it off', async () => {
    const keyStore = createKeyStore({ knex: database.knex, box: new SecretBox('a-test-encryption-key-of-at-least-32-characters'), retainSeconds: 600 });
    const off = recorder();
    startKeyRotation({ keyStore, audit: off.audit, logger, rotationDays: 0, activationDelaySeconds: 60, refreshKeys: async () => undefined })();
    await new Promise((r) => setTimeout(r, 100));
    expect(off.events).toEqual([]);
  });
});
