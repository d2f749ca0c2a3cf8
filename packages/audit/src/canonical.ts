// Canonical encoding and hashing of events: a stable JSON (sorted keys, no whitespace) over the
// fields that matter, chained to the previous event's hash with SHA-256.
import { createHash } from 'node:crypto';
import type { JsonValue } from './events';

export const GENESIS_HASH = '0'.repeat(64);

export function canonicalJson(value: JsonValue | undefined): string {
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object') {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
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

export function eventHash(prevHash: string, fields: HashedFields): string {
  return createHash('sha256')
    .update(prevHash)
    .update('\n')
    .update(canonicalJson(fields as unknown as JsonValue))
    .digest('hex');
}

// Log injection: control characters (newlines included) are escaped, long strings cut.
const CONTROL = /[\u0000-\u001f\u007f\u2028\u2029]/g;
export function cleanText(value: string, max = 512): string {
  const escaped = value.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return escaped.length > max ? `${escaped.slice(0, max)}…` : escaped;
}

export function cleanDetail(value: JsonValue, depth = 0): JsonValue {
  if (depth > 4) return '[depth]';
  if (typeof value === 'string') return cleanText(value);
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'boolean' || value === null) return value;
  if (Array.isArray(value)) return value.slice(0, 50).map((v) => cleanDetail(v, depth + 1));
  if (typeof value === 'object') {
    const out: Record<string, JsonValue> = {};
    for (const [k, v] of Object.entries(value).slice(0, 50)) {
      if (v !== undefined) out[cleanText(k, 64)] = cleanDetail(v, depth + 1);
    }
    return out;
  }
  return null;
}
