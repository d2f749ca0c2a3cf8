export { createKv, RedisKv, MemoryKv, type Kv } from './kv';
export { RevocationList, grantClaim, type RevocationKind } from './revocations';
