// Canonical encoding and hashing of events: a stable JSON (sorted keys, no whitespace) over the
// fields that matter, chained to the previous event's hash with SHA-256.
import * as crypto from 'node:crypto';
import type { JsonValue } from './events';

export const GENESIS_HASH = '0'.repeat(64);

export function canonicalJson(value: JsonValue | undefined): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value !== 'object') return JSON.stringify(value);
  let out: string;
  if (Array.isArray(value)) {
    // A hole or undefined is null, as JSON.stringify writes it (and as the stored jsonb reads back).
    out = '[';
    for (let i = 0; i < value.length; i += 1) out += (i === 0 ? '' : ',') + canonicalJson(value[i]);
    return `${out}]`;
  }
  const keys = Object.keys(value).sort();
  out = '{';
  for (let i = 0; i < keys.length; i += 1) out += `${i === 0 ? '' : ','}${JSON.stringify(keys[i])}:${canonicalJson(value[keys[i]!])}`;
  return `${out}}`;
}

export interface HashedFields {
  chainId: string;
  seq: number;
  occurredAt: string;
  actorType: string;
  actorId: string | null;
  action: string;
  targetType: string | null;
  targetId: string | null;
  outcome: string;
  orgId: string | null;
  requestId: string | null;
  ip: string | null;
  userAgent: string | null;
  detail: Record<string, JsonValue>;
}

/** A text field as canonicalJson writes it (a string directly; null, or anything else, through canonicalJson). */
const field = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : canonicalJson(v as JsonValue));

/**
 * canonicalJson(fields), without sorting the fixed keys each time: they are written here in canonical
 * (sorted) order, which canonical.test.ts checks against canonicalJson.
 */
export function canonicalFields(f: HashedFields): string {
  return canonicalEvent(f.chainId, f.seq, f);
}

/** canonicalFields of an event placed at `seq` of `chainId` (without building the fields object). */
export function canonicalEvent(chainId: string, seq: number, f: Omit<HashedFields, 'chainId' | 'seq'>): string {
  return (
    `{"action":${field(f.action)},"actorId":${field(f.actorId)},"actorType":${field(f.actorType)},"chainId":${field(chainId)},` +
    `"detail":${canonicalJson(f.detail)},"ip":${field(f.ip)},"occurredAt":${field(f.occurredAt)},"orgId":${field(f.orgId)},` +
    `"outcome":${field(f.outcome)},"requestId":${field(f.requestId)},"seq":${canonicalJson(seq)},"targetId":${field(f.targetId)},` +
    `"targetType":${field(f.targetType)},"userAgent":${field(f.userAgent)}}`
  );
}

const sha256Hex: (data: string) => string =
  typeof (crypto as { hash?: unknown }).hash === 'function'
    ? (data) => crypto.hash('sha256', data, 'hex')
    : (data) => crypto.createHash('sha256').update(data).digest('hex');

/** The hash of an event whose canonical fields (canonicalFields) are `canonical`, after `prevHash`. */
export function linkHash(prevHash: string, canonical: string): string {
  return sha256Hex(`${prevHash}\n${canonical}`);
}

export function eventHash(prevHash: string, fields: HashedFields): string {
  return linkHash(prevHash, canonicalFields(fields));
}

// Log injection: control characters (newlines included) are escaped, long strings cut. Lone UTF-16
// surrogates become U+FFFD first: PostgreSQL would store them so, and the hash must match what is stored.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const wellFormed = (s: string) => s.replace(LONE_SURROGATE, '\uFFFD');
const NEEDS_CLEANING = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\uD800-\uDFFF]/;
export function cleanText(value: string, max = 512): string {
  if (!NEEDS_CLEANING.test(value)) return value.length > max ? `${wellFormed(value.slice(0, max))}…` : value;
  const escaped = wellFormed(value).replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return escaped.length > max ? `${wellFormed(escaped.slice(0, max))}…` : escaped;
}

// Keys that name a credential never reach the log, whatever the caller passes.
const SECRET_KEY_WORDS = ['password', 'passwd', 'passphrase', 'secret', 'token', 'codeverifier', 'authorization', 'cookie', 'apikey', 'privatekey'];
// Keys that mention a credential but only describe it.
const DESCRIPTIVE_KEYS = new Set(['tokentype', 'tokenkind', 'tokenendpointauthmethod', 'tokenendpointauthsigningalg', 'tokencount']);

/** True when a detail key names a secret (password, client_secret, refresh_token, code_verifier, cookie…). */
const secretKeyCache = new Map<string, boolean>();
export function isSecretKey(key: string): boolean {
  let known = secretKeyCache.get(key);
  if (known === undefined) {
    known = secretKeyName(key);
    if (secretKeyCache.size < 10_000) secretKeyCache.set(key, known);
  }
  return known;
}

/** A detail key as stored (cleaned, cut to 64), or null when it names a secret; remembered per key. */
const detailKeyCache = new Map<string, string | null>();
function detailKey(key: string): string | null {
  let known = detailKeyCache.get(key);
  if (known === undefined) {
    known = isSecretKey(key) ? null : cleanText(key, 64);
    if (detailKeyCache.size < 10_000) detailKeyCache.set(key, known);
  }
  return known;
}

function secretKeyName(key: string): boolean {
  const normalized = key.toLowerCase().replace(/[^a-z0-9]/g, '');
  if (DESCRIPTIVE_KEYS.has(normalized)) return false;
  return SECRET_KEY_WORDS.some((word) => normalized.includes(word));
}

// A value that is itself a bearer credential (a JWT, an `Authorization` header) is replaced.
const CREDENTIAL_VALUE = /\beyJ[\w-]{5,}\.eyJ[\w-]{5,}\.[\w-]*|^\s*(bearer|basic|dpop)\s+\S{8,}/i;
export const REDACTED = '[redacted]';

export function cleanDetail(value: JsonValue, depth = 0): JsonValue {
  if (depth > 4) return '[depth]';
  if (typeof value === 'string') return value.length >= 12 && CREDENTIAL_VALUE.test(value) ? REDACTED : cleanText(value);
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'boolean' || value === null) return value;
  // Array.from, not map: a hole becomes null (map would keep it, and JSON has none).
  if (Array.isArray(value)) return Array.from(value.slice(0, 50), (v) => cleanDetail(v, depth + 1));
  if ((value as unknown) instanceof Date) {
    const date = value as unknown as Date;
    return Number.isNaN(date.getTime()) ? null : date.toISOString();
  }
  if (typeof value === 'object') {
    const out: Record<string, JsonValue> = {};
    const keys = Object.keys(value);
    for (let i = 0; i < keys.length && i < 50; i += 1) {
      const v = (value as Record<string, JsonValue | undefined>)[keys[i]!];
      const key = v === undefined ? null : detailKey(keys[i]!);
      if (key !== null) out[key] = cleanDetail(v!, depth + 1);
    }
    return out;
  }
  return null; // bigint, function, symbol: not JSON
}
