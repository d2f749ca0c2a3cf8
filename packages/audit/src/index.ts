export * from './events';
export { AuditLog, AuditUnavailableError, InvalidAuditEventError, prepareEvent, type AuditLogOptions } from './log';
export { verifyAuditLog, describeBreak, formatVerifyResult, type VerifyResult, type VerifyOptions, type ChainBreak } from './verify';
export { queryEvents, toStoredEvent, type EventQuery } from './query';
export { latestEvents, EventFollower, formatEventLine, type TailQuery, type FollowOptions } from './tail';
export { writeCheckpoints, signCheckpoint, checkpointSignatureValid, checkpointPayload, type Checkpoint, type CheckpointSigner } from './checkpoint';
export { auditMigrations, auditGrants } from './migrations';
export { canonicalJson, eventHash, cleanDetail, cleanText, isSecretKey, GENESIS_HASH, REDACTED } from './canonical';
