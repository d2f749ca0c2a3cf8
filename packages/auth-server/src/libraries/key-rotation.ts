// Signing keys rotate without an operator: every AUTH_KEY_ROTATION_DAYS a new generation is published
// (and signs after AUTH_KEY_ACTIVATION_DELAY_SECONDS); the previous one keeps being published until the
// longest-lived token it signed has expired (see keys/keys.ts). Each auth server process checks at
// start and then hourly; the key table's lock makes exactly one of them rotate, and the others pick the
// new generation up on their next key reload. Audited as `key.rotated` by the system.
import type { AuditLog } from '@clouddocs/audit';
import type { Logger } from '@clouddocs/observability';
import type { KeyStore } from '../keys/keys';

const CHECK_EVERY_MS = 60 * 60 * 1000;

export function startKeyRotation(deps: { keyStore: KeyStore; audit: AuditLog; logger: Logger; rotationDays: number; activationDelaySeconds: number; refreshKeys: () => Promise<unknown> }): () => void {
  if (deps.rotationDays <= 0) return () => {};
  const check = async () => {
    const rotated = await deps.keyStore.rotateIfDue(deps.rotationDays, deps.activationDelaySeconds);
    if (!rotated) return;
    await deps.audit.recordAll([
      {
        action: 'key.rotated',
        actor: { type: 'system', id: 'key-rotation' },
        target: { type: 'key_generation', id: String(rotated.generation) },
        outcome: 'success',
        detail: { scheduled: true, kids: rotated.keys.map((k) => k.kid), activatesAt: rotated.activatesAt.toISOString() },
      },
    ]);
    deps.logger.info({ generation: rotated.generation, activatesAt: rotated.activatesAt.toISOString() }, 'signing keys rotated on schedule');
    await deps.refreshKeys();
  };
  const run = () => check().catch((err) => deps.logger.error({ err: (err as Error).message }, 'scheduled key rotation failed; retried at the next check'));
  void run();
  const timer = setInterval(run, CHECK_EVERY_MS);
  timer.unref();
  return () => clearInterval(timer);
}
