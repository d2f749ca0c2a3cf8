// API keys (personal access tokens): a user's long-lived credential for the docs API, made in the
// account console, by the CLI or for the admin API. Rules:
// - a key is `cd_pat_` + 36 random base62 characters + 6 base62 characters of a CRC-32 of what precedes
//   them: secret scanners recognise the prefix and check the checksum without asking us, and a key
//   with one character changed is refused before any lookup;
// - it is shown once; only its SHA-256 is stored. A slow password hash (argon2) protects guessable
//   secrets; these have 214 random bits, so no guess can be tested against a stolen hash, and a fast,
//   unsalted hash lets the docs API find a key by an indexed lookup on every cache miss;
// - scopes among docs:read docs:write orgs:read orgs:write audit:read; expiry 1–365 days (90 by default);
// - revoking marks the key and publishes an `api_key` revocation, so every docs API process refuses it
//   on the very next request (a disabled or deleted user's keys: the `sub` revocation they already get);
// - the auth server itself never accepts a key as an OAuth token.
// Each change returns the audit event it makes, for the caller to record with its own actor.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { crc32 } from 'node:zlib';
import type { Actor } from '@clouddocs/audit';
import type { Knex } from '@clouddocs/db';
import type { RevocationList } from '@clouddocs/kv';
import { createApiKeyQueries, type ApiKeyRow } from '../queries/api-keys';
import type { EventFields } from './client-lifecycle';

export const API_KEY_PREFIX = 'cd_pat_';
export const API_KEY_SCOPES = ['docs:read', 'docs:write', 'orgs:read', 'orgs:write', 'audit:read'] as const;
export const API_KEY_DEFAULT_DAYS = 90;
export const API_KEY_MAX_DAYS = 365;
const RANDOM_CHARS = 36;
const CHECKSUM_CHARS = 6;
/** The characters a list shows: the prefix and the first four random ones. */
const SHOWN_CHARS = API_KEY_PREFIX.length + 4;
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const KEY_SHAPE = new RegExp(`^${API_KEY_PREFIX}[0-9A-Za-z]{${RANDOM_CHARS + CHECKSUM_CHARS}}$`);

function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248 && out.length < length) out += BASE62[byte % 62]; // 248 = 4 × 62: no bias
    }
  }
  return out;
}

function checksum(body: string): string {
  let n = crc32(body);
  let out = '';
  for (let i = 0; i < CHECKSUM_CHARS; i += 1) {
    out = BASE62[n % 62]! + out;
    n = Math.floor(n / 62);
  }
  return out;
}

/** A new key's text. */
export function generateApiKey(): string {
  const body = API_KEY_PREFIX + randomBase62(RANDOM_CHARS);
  return body + checksum(body);
}

/** Whether `text` has a key's shape and a correct checksum (says nothing of whether it exists). */
export function isWellFormedApiKey(text: string): boolean {
  return KEY_SHAPE.test(text) && checksum(text.slice(0, -CHECKSUM_CHARS)) === text.slice(-CHECKSUM_CHARS);
}

/** What is stored of a key: its SHA-256, hex (see the header for why a fast hash suffices). */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export class ApiKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ApiKeyError';
  }
}

export interface ApiKeyView {
  id: string;
  user_id: string;
  name: string;
  /** The key's first characters, e.g. `cd_pat_AbCd`. */
  prefix: string;
  scopes: string[];
  created_at: string;
  last_used_at: string | null;
  expires_at: string;
  revoked_at: string | null;
}

const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());

export function viewOf(row: ApiKeyRow): ApiKeyView {
  return {
    id: row.id,
    user_id: row.account_id,
    name: row.name,
    prefix: row.prefix,
    scopes: row.scopes,
    created_at: iso(row.created_at)!,
    last_used_at: iso(row.last_used_at),
    expires_at: iso(row.expires_at)!,
    revoked_at: iso(row.revoked_at),
  };
}

/** Scopes from a space-separated string or a list: known, each once, at least one (ApiKeyError otherwise). */
export function parseScopes(scopes: string | readonly string[]): string[] {
  const list = typeof scopes === 'string' ? scopes.split(' ').filter(Boolean) : [...scopes];
  const unknown = list.filter((s) => !(API_KEY_SCOPES as readonly string[]).includes(s));
  if (unknown.length) throw new ApiKeyError(`unknown scope ${unknown.join(', ')}: choose among ${API_KEY_SCOPES.join(' ')}`);
  if (list.length === 0) throw new ApiKeyError('choose at least one scope');
  return API_KEY_SCOPES.filter((s) => list.includes(s));
}

export function createApiKeyLibrary(deps: { knex: Knex; revocations: RevocationList }) {
  const queries = createApiKeyQueries(deps.knex);
  const event = (actor: Actor, action: EventFields['action'], row: ApiKeyRow, detail: EventFields['detail'] = {}): EventFields => ({
    action,
    actor,
    target: { type: 'api_key', id: row.id },
    outcome: 'success',
    detail: { userId: row.account_id, name: row.name, prefix: row.prefix, ...detail },
  });

  return {
    /** A new key for the account; the key's text is in `key`, here only. */
    async create(actor: Actor, accountId: string, input: { name: string; scopes: string | readonly string[]; expiresInDays?: number }): Promise<{ result: ApiKeyView & { key: string }; event: EventFields }> {
      const name = input.name.trim();
      if (name.length === 0 || name.length > 100) throw new ApiKeyError('a key needs a name of 1 to 100 characters');
      const scopes = parseScopes(input.scopes);
      const days = input.expiresInDays ?? API_KEY_DEFAULT_DAYS;
      if (!Number.isInteger(days) || days < 1 || days > API_KEY_MAX_DAYS) throw new ApiKeyError(`a key expires in 1 to ${API_KEY_MAX_DAYS} days`);
      const key = generateApiKey();
      const row = await queries.insert({
        id: randomUUID(),
        account_id: accountId,
        name,
        prefix: key.slice(0, SHOWN_CHARS),
        key_hash: hashApiKey(key),
        scopes,
        expires_at: new Date(Date.now() + days * 86_400_000),
      });
      return { result: { ...viewOf(row), key }, event: event(actor, 'api_key.created', row, { scopes, expiresAt: iso(row.expires_at)! }) };
    },

    /** The account's keys, newest first, revoked and expired ones included. */
    async list(accountId: string): Promise<ApiKeyView[]> {
      return (await queries.byAccount(accountId)).map(viewOf);
    },

    async get(keyId: string): Promise<ApiKeyView | undefined> {
      const row = await queries.byId(keyId);
      return row ? viewOf(row) : undefined;
    },

    /**
     * Revokes a live key (of `accountId` when given): refused by every docs API process on the next
     * request. Undefined when there is no such live key.
     */
    async revoke(actor: Actor, keyId: string, accountId?: string): Promise<{ result: ApiKeyView; event: EventFields } | undefined> {
      const row = await queries.revoke(keyId, accountId);
      if (!row) return undefined;
      await deps.revocations.revoke('api_key', row.id);
      return { result: viewOf(row), event: event(actor, 'api_key.revoked', row) };
    },

    /**
     * The key's record when it would be accepted now: well formed, known, not revoked, not expired,
     * its user enabled and not revoked since. The docs API makes the same checks on its side.
     */
    async verify(key: string): Promise<ApiKeyView | undefined> {
      if (!isWellFormedApiKey(key)) return undefined;
      const row = await queries.byHash(hashApiKey(key));
      if (!row || row.revoked_at !== null || new Date(row.expires_at).getTime() <= Date.now()) return undefined;
      const account = (await deps.knex('auth.enabled_users').where({ id: row.account_id }).first('id')) as { id: string } | undefined;
      if (!account) return undefined;
      if (await deps.revocations.isRevokedInStore({ api_key: row.id })) return undefined;
      return viewOf(row);
    },
  };
}

export type ApiKeyLibrary = ReturnType<typeof createApiKeyLibrary>;
