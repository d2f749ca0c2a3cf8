export { createKv, RedisKv, MemoryKv, KvUnavailableError, type Kv } from './kv';
export { RevocationList, grantClaim, type RevocationKind, type RevocableToken } from './revocations';
export { publishAcknowledged, acknowledge, ACK_WAIT_MS } from './acknowledged';
