export * from './events';
export {
  AuditLog,
  AuditUnavailableError,
  InvalidAuditEventError,
  prepareEvent,
  DEFAULT_CHECKPOINT_EVERY_EVENTS,
  DEFAULT_CHECKPOINT_EVERY_MS,
  type AuditLogOptions,
  type CheckpointOptions,
  type AlongsideWrite,
} from './log';
export { verifyAuditLog, describeBreak, formatVerifyResult, type VerifyResult, type VerifyOptions, type ChainBreak } from './verify';
export { queryEvents, toStoredEvent, type EventQuery } from './query';
export { latestEvents, EventFollower, formatEventLine, type TailQuery, type FollowOptions } from './tail';
export {
  writeCheckpoints,
  signCheckpoint,
  checkpointSignatureValid,
  checkpointPayload,
  checkpointJson,
  checkpointFileSink,
  readCheckpointFile,
  type Checkpoint,
  type CheckpointSigner,
} from './checkpoint';
export {
  CheckpointKeyError,
  DEV_CHECKPOINT_KEY_FILE,
  checkpointKeyId,
  developmentCheckpointKey,
  parseCheckpointPrivateKey,
  parseCheckpointPublicKeys,
  signerFromPrivateKey,
} from './checkpoint-key';
export { auditCheckpointOptions, checkpointPublicKeysFromConfig, checkpointSignerFromConfig } from './checkpoint-config';
export { auditMigrations, auditGrants } from './migrations';
export { canonicalJson, eventHash, cleanDetail, cleanText, isSecretKey, GENESIS_HASH, REDACTED } from './canonical';
export {
  ensureAuditPartitions,
  monthPartitions,
  parseMonth,
  monthLabel,
  DEFAULT_PARTITION,
  type EnsurePartitionsResult,
  type MonthPartition,
} from './partitions';
export { pruneAuditLog, pruneBoundary, PruneRefusedError, type PruneCut, type PruneOptions, type PruneResult } from './prune';
