// Revoked JWT access tokens and grants, shared by the auth server (writer) and the docs API (reader).
// Each entry lives until the longest access token it can concern has expired. Readers keep an
// in-memory copy, loaded at start and kept current over pub/sub, so a check costs no round trip.
// `jti` and `grant` entries refuse one token or one grant's tokens; `sub` (a user) and `client`
// entries refuse every token of that user or client issued up to the moment of the revocation (a
// disabled user or client, a user signed out everywhere), so tokens issued after it still work.
// `api_key` entries refuse one API key (by its id) from the moment it is revoked.
import { createHash } from 'node:crypto';
import { acknowledge, publishAcknowledged } from './acknowledged';
import type { Kv } from './kv';

const CHANNEL = 'revocations';
const PREFIX = 'revoked:';

export type RevocationKind = 'jti' | 'grant' | 'sub' | 'client' | 'api_key';

interface Entry {
  expiresAt: number; // ms epoch
  /** For `sub` and `client`: tokens issued at or before this (ms epoch) are refused. */
  at: number;
}

export interface RevocableToken {
  jti?: unknown;
  gid?: unknown;
  sub?: unknown;
  client_id?: unknown;
  iat?: unknown;
  /** An API key's id. */
  api_key?: unknown;
}

/** The grant claim published in access tokens: a hash of the grant id, never the id itself. */
export function grantClaim(grantId: string): string {
  return createHash('sha256').update(grantId).digest('base64url').slice(0, 32);
}

export class RevocationList {
  private readonly entries = new Map<string, Entry>(); // `${kind}:${value}`
  private loaded = false;

  constructor(
    private readonly kv: Kv,
    /** How long an entry must be remembered: the longest access token lifetime, in seconds. */
    private readonly retainSeconds: number,
  ) {}

  /**
   * Records a revocation durably in the shared store and tells every reader. Resolves once every
   * process that follows the list has acknowledged it (or after ACK_WAIT_MS if one does not), so the
   * response that confirms a revocation leaves only after the docs API processes refuse the token.
   */
  async revoke(kind: RevocationKind, value: string, ttlSeconds = this.retainSeconds): Promise<void> {
    const key = `${kind}:${value}`;
    const at = Date.now();
    await this.kv.set(`${PREFIX}${key}`, String(at), ttlSeconds);
    this.remember(key, at + ttlSeconds * 1000, at);
    await publishAcknowledged(this.kv, CHANNEL, { key, expiresAt: at + ttlSeconds * 1000, at });
  }

  /** Loads what the store holds now and follows new revocations. */
  async follow(): Promise<void> {
    if (this.loaded) return;
    await this.kv.subscribe(CHANNEL, (message) => {
      try {
        const { key, expiresAt, at, ack } = JSON.parse(message) as { key: string; expiresAt: number; at?: unknown; ack?: unknown };
        if (typeof key === 'string' && typeof expiresAt === 'number') this.remember(key, expiresAt, typeof at === 'number' ? at : expiresAt);
        // Acknowledge once the entry is in memory: the revoker waits for every follower.
        acknowledge(this.kv, ack);
      } catch {
        // malformed message: ignored
      }
    });
    const keys = await this.kv.keys(PREFIX);
    const horizon = Date.now() + this.retainSeconds * 1000;
    const userOrClient = keys.filter((k) => /^revoked:(sub|client):/.test(k));
    const times = await Promise.all(userOrClient.map((k) => this.kv.get(k)));
    const atOf = new Map(userOrClient.map((k, i) => [k, Number(times[i]) || Date.now()]));
    for (const k of keys) this.remember(k.slice(PREFIX.length), horizon, atOf.get(k) ?? Date.now());
    this.loaded = true;
    const sweep = setInterval(() => {
      const now = Date.now();
      for (const [k, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(k);
    }, 60_000);
    sweep.unref();
  }

  private remember(key: string, expiresAt: number, at: number) {
    const known = this.entries.get(key);
    this.entries.set(key, { expiresAt: Math.max(known?.expiresAt ?? 0, expiresAt), at: Math.max(known?.at ?? 0, at) });
  }

  /** A token issued (iat, seconds) at or before `at` (ms); a token without iat counts as old. */
  private static issuedBefore(token: RevocableToken, at: number): boolean {
    return typeof token.iat !== 'number' || token.iat * 1000 <= at;
  }

  /** Answers from memory (after `follow`), so it is cheap on every request. */
  isRevoked(token: RevocableToken): boolean {
    if (this.entries.size === 0) return false;
    if (typeof token.jti === 'string' && this.entries.has(`jti:${token.jti}`)) return true;
    if (typeof token.gid === 'string' && this.entries.has(`grant:${token.gid}`)) return true;
    if (typeof token.api_key === 'string' && this.entries.has(`api_key:${token.api_key}`)) return true;
    for (const [kind, id] of [['sub', token.sub], ['client', token.client_id]] as const) {
      const entry = typeof id === 'string' ? this.entries.get(`${kind}:${id}`) : undefined;
      if (entry && RevocationList.issuedBefore(token, entry.at)) return true;
    }
    return false;
  }

  /** Asks the shared store directly (for a process that does not follow). */
  async isRevokedInStore(token: RevocableToken): Promise<boolean> {
    if (this.isRevoked(token)) return true;
    const exact: Promise<string | null>[] = [];
    if (typeof token.jti === 'string') exact.push(this.kv.get(`${PREFIX}jti:${token.jti}`));
    if (typeof token.gid === 'string') exact.push(this.kv.get(`${PREFIX}grant:${token.gid}`));
    if (typeof token.api_key === 'string') exact.push(this.kv.get(`${PREFIX}api_key:${token.api_key}`));
    const since: Promise<string | null>[] = [];
    if (typeof token.sub === 'string') since.push(this.kv.get(`${PREFIX}sub:${token.sub}`));
    if (typeof token.client_id === 'string') since.push(this.kv.get(`${PREFIX}client:${token.client_id}`));
    const [a, b] = await Promise.all([Promise.all(exact), Promise.all(since)]);
    return a.some((v) => v !== null) || b.some((v) => v !== null && RevocationList.issuedBefore(token, Number(v)));
  }
}
