export * from './events';
export { AuditLog, AuditUnavailableError, type AuditLogOptions } from './log';
export { verifyAuditLog, type VerifyResult, type ChainBreak } from './verify';
export { queryEvents, toStoredEvent, type EventQuery } from './query';
export { auditMigrations, auditGrants } from './migrations';
export { canonicalJson, eventHash, GENESIS_HASH } from './canonical';
