export { createKv, sharedCacheConfigured, RedisKv, MemoryKv, KvUnavailableError, type Kv, type KvConfig, type RedisTarget } from './kv';
export { RevocationList, grantClaim, REVOCATIONS_LOADED_KEY, type RevocationKind, type RevocableToken, type RevocationRecord, type DurableRevocations } from './revocations';
export { publishAcknowledged, acknowledge, ACK_WAIT_MS } from './acknowledged';
