// Revoked JWT access tokens and grants, shared by the auth server (writer) and the docs API (reader).
// Each entry lives until the longest access token it can concern has expired. Readers keep an
// in-memory copy, loaded at start and kept current over pub/sub, so a check costs no round trip.
import { createHash } from 'node:crypto';
import { acknowledge, publishAcknowledged } from './acknowledged';
import type { Kv } from './kv';

const CHANNEL = 'revocations';
const PREFIX = 'revoked:';

export type RevocationKind = 'jti' | 'grant';

/** The grant claim published in access tokens: a hash of the grant id, never the id itself. */
export function grantClaim(grantId: string): string {
  return createHash('sha256').update(grantId).digest('base64url').slice(0, 32);
}

export class RevocationList {
  private readonly entries = new Map<string, number>(); // `${kind}:${value}` -> expiry (ms epoch)
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
    await this.kv.set(`${PREFIX}${key}`, '1', ttlSeconds);
    this.remember(key, Date.now() + ttlSeconds * 1000);
    await publishAcknowledged(this.kv, CHANNEL, { key, expiresAt: Date.now() + ttlSeconds * 1000 });
  }

  /** Loads what the store holds now and follows new revocations. */
  async follow(): Promise<void> {
    if (this.loaded) return;
    await this.kv.subscribe(CHANNEL, (message) => {
      try {
        const { key, expiresAt, ack } = JSON.parse(message) as { key: string; expiresAt: number; ack?: unknown };
        if (typeof key === 'string' && typeof expiresAt === 'number') this.remember(key, expiresAt);
        // Acknowledge once the entry is in memory: the revoker waits for every follower.
        acknowledge(this.kv, ack);
      } catch {
        // malformed message: ignored
      }
    });
    const keys = await this.kv.keys(PREFIX);
    const horizon = Date.now() + this.retainSeconds * 1000;
    for (const k of keys) this.remember(k.slice(PREFIX.length), horizon);
    this.loaded = true;
    const sweep = setInterval(() => {
      const now = Date.now();
      for (const [k, exp] of this.entries) if (exp <= now) this.entries.delete(k);
    }, 60_000);
    sweep.unref();
  }

  private remember(key: string, expiresAt: number) {
    this.entries.set(key, Math.max(this.entries.get(key) ?? 0, expiresAt));
  }

  /** Answers from memory (after `follow`), so it is cheap on every request. */
  isRevoked(token: { jti?: unknown; gid?: unknown }): boolean {
    if (typeof token.jti === 'string' && this.entries.has(`jti:${token.jti}`)) return true;
    if (typeof token.gid === 'string' && this.entries.has(`grant:${token.gid}`)) return true;
    return false;
  }

  /** Asks the shared store directly (for a process that does not follow). */
  async isRevokedInStore(token: { jti?: unknown; gid?: unknown }): Promise<boolean> {
    if (this.isRevoked(token)) return true;
    const checks: Promise<string | null>[] = [];
    if (typeof token.jti === 'string') checks.push(this.kv.get(`${PREFIX}jti:${token.jti}`));
    if (typeof token.gid === 'string') checks.push(this.kv.get(`${PREFIX}grant:${token.gid}`));
    return (await Promise.all(checks)).some((v) => v !== null);
  }
}
