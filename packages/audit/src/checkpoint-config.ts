// Checkpoints as the services configure them: the signing key (AUDIT_CHECKPOINT_KEY, or on the
// embedded store a development key under DATA_DIR), the cadence, and the sinks outside the database
// (AUDIT_CHECKPOINT_FILE and the logs). And the trusted public keys `clouddocs audit verify` uses.
import type { KeyObject } from 'node:crypto';
import { createPublicKey } from 'node:crypto';
import { usesEmbeddedStores, type CommonConfig } from '@clouddocs/config';
import type { Logger } from '@clouddocs/observability';
import { checkpointFileSink, checkpointJson, type Checkpoint, type CheckpointSigner } from './checkpoint';
import { checkpointKeyId, developmentCheckpointKey, parseCheckpointPrivateKey, signerFromPrivateKey } from './checkpoint-key';
import type { CheckpointOptions } from './log';

type CheckpointConfig = Pick<
  CommonConfig,
  'AUDIT_CHECKPOINT_KEY' | 'AUDIT_CHECKPOINT_FILE' | 'AUDIT_CHECKPOINT_EVERY_EVENTS' | 'AUDIT_CHECKPOINT_EVERY_SECONDS' | 'DATA_DIR' | 'DATABASE_URL' | 'DATABASE_SERVICE_URL' | 'REDIS_URL'
>;

/** The configured signing key, the development key on the embedded store (created when `create`), or null. */
export async function checkpointSignerFromConfig(config: CheckpointConfig, options: { create: boolean }): Promise<CheckpointSigner | null> {
  if (config.AUDIT_CHECKPOINT_KEY) return signerFromPrivateKey(parseCheckpointPrivateKey(config.AUDIT_CHECKPOINT_KEY, 'AUDIT_CHECKPOINT_KEY'));
  if (!usesEmbeddedStores(config as CommonConfig).database) return null;
  const key = await developmentCheckpointKey(config.DATA_DIR, options);
  return key ? signerFromPrivateKey(key) : null;
}

/** The public keys `audit verify` trusts by default: the configured (or development) key's public half. */
export async function checkpointPublicKeysFromConfig(config: CheckpointConfig): Promise<Record<string, KeyObject> | undefined> {
  const signer = await checkpointSignerFromConfig(config, { create: false });
  if (!signer) return undefined;
  const publicKey = createPublicKey(signer.privateKey);
  return { [checkpointKeyId(publicKey)]: publicKey };
}

/**
 * The `checkpoints` option of a service's `AuditLog.open`: signed every AUDIT_CHECKPOINT_EVERY_EVENTS
 * events or AUDIT_CHECKPOINT_EVERY_SECONDS seconds, each one logged and appended to
 * AUDIT_CHECKPOINT_FILE. Undefined (with a warning) when no key is configured on a real PostgreSQL.
 */
export async function auditCheckpointOptions(config: CheckpointConfig, logger: Logger): Promise<CheckpointOptions | undefined> {
  const signer = await checkpointSignerFromConfig(config, { create: true });
  if (!signer) {
    logger.warn('AUDIT_CHECKPOINT_KEY is not set: the audit log gets no signed checkpoints, so a database superuser could rewrite it unnoticed');
    return undefined;
  }
  if (!config.AUDIT_CHECKPOINT_KEY) logger.info({ keyId: signer.keyId }, 'audit checkpoints signed with the development key under DATA_DIR');
  const file = config.AUDIT_CHECKPOINT_FILE ? checkpointFileSink(config.AUDIT_CHECKPOINT_FILE) : undefined;
  return {
    signer,
    everyEvents: config.AUDIT_CHECKPOINT_EVERY_EVENTS,
    everyMs: config.AUDIT_CHECKPOINT_EVERY_SECONDS * 1000,
    async onCheckpoint(checkpoint: Checkpoint) {
      logger.info({ auditCheckpoint: checkpointJson(checkpoint) }, 'audit checkpoint');
      await file?.(checkpoint);
    },
    onError(err) {
      logger.error({ err }, 'audit checkpoint not written or not exported');
    },
  };
}
