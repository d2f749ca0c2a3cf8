// The answers refresh tokens got at their first use, kept for AUTH_REFRESH_REUSE_GRACE_SECONDS so that
// the same client presenting the same token again within that window (a retry after a lost response,
// two tabs refreshing at once, on any auth server process) gets that very answer again instead of
// revoking the grant: the refresh token family stays linear. Kept in the shared cache under a digest of
// the used token (never the token itself), sealed with AUTH_ENCRYPTION_KEY (the answer holds live
// tokens), bound to that digest inside the seal, and only for the window.
import { createHash } from 'node:crypto';
import type { Kv } from '@clouddocs/kv';
import { kvKeys } from '../constants';
import type { SecretBox } from '../secret-box';

export interface RefreshAnswer {
  /** The client the answer was given to: nobody else ever gets it. */
  clientId: string;
  /** Digest of what else the answer depends on (requested scope and resource, DPoP key). */
  request: string;
  grantId: string | null;
  accountId: string | null;
  /** The token response as first sent. */
  body: Record<string, unknown>;
  /** When it was first sent (ms since the epoch): `expires_in` counts down from there. */
  answeredAt: number;
  /** The access token's `jti` when it is a JWT (an opaque token's id is the token itself: never kept apart). */
  accessTokenJti: string | null;
}

interface Sealed extends RefreshAnswer {
  v: 1;
  /** Digest of the used refresh token: a sealed answer moved to another key does not open. */
  token: string;
}

export interface RefreshAnswerOptions {
  kv: Kv;
  box: SecretBox;
  /** AUTH_REFRESH_REUSE_GRACE_SECONDS; 0 keeps nothing. */
  graceSeconds: number;
  /** How long a request that lost the race waits for the winner's answer (bounded). */
  waitMs?: number;
  pollMs?: number;
}

const digest = (value: string) => createHash('sha256').update(value).digest('base64url');

/** Digest of the parts of a refresh request, besides token and client, that shape its answer. */
export function refreshRequestDigest(parts: { scope?: unknown; resource?: unknown; dpopJkt?: string | null }): string {
  const scope = typeof parts.scope === 'string' ? parts.scope.split(' ').filter(Boolean).sort() : [];
  const resource = parts.resource === undefined || parts.resource === null ? [] : [parts.resource].flat().map(String).sort();
  return digest(JSON.stringify({ scope, resource, dpop: parts.dpopJkt ?? null }));
}

export function createRefreshAnswerLibrary(options: RefreshAnswerOptions) {
  const { kv, box, graceSeconds } = options;
  const waitMs = options.waitMs ?? 2_000;
  const pollMs = options.pollMs ?? 50;
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  async function find(tokenId: string): Promise<RefreshAnswer | undefined> {
    const token = digest(tokenId);
    const raw = await kv.get(kvKeys.refreshAnswer(token));
    if (!raw) return undefined;
    let sealed: Sealed;
    try {
      sealed = JSON.parse(box.open(raw)) as Sealed;
    } catch {
      return undefined; // not ours (another key, tampered): as if there were none
    }
    if (sealed.v !== 1 || sealed.token !== token) return undefined;
    const { v: _v, token: _token, ...answer } = sealed;
    return answer;
  }

  return {
    graceSeconds,
    enabled: graceSeconds > 0,

    /** Keeps the first answer to `tokenId` (the used refresh token) for the grace window. */
    async keep(tokenId: string, answer: RefreshAnswer): Promise<void> {
      if (graceSeconds <= 0) return;
      const token = digest(tokenId);
      const sealed: Sealed = { v: 1, token, ...answer };
      await kv.set(kvKeys.refreshAnswer(token), box.seal(JSON.stringify(sealed)), graceSeconds);
    },

    find,

    /** The first answer to `tokenId`, waiting (bounded) for a first use still in progress to give it. */
    async waitFor(tokenId: string): Promise<RefreshAnswer | undefined> {
      const deadline = Date.now() + waitMs;
      for (;;) {
        const answer = await find(tokenId);
        if (answer || Date.now() >= deadline) return answer;
        await sleep(Math.min(pollMs, Math.max(1, deadline - Date.now())));
      }
    },

    /** The answer to send again: the same tokens, `expires_in` counted from when it was first sent. */
    again(answer: RefreshAnswer, now = Date.now()): Record<string, unknown> {
      const body = { ...answer.body };
      if (typeof body.expires_in === 'number') body.expires_in = Math.max(0, body.expires_in - Math.floor((now - answer.answeredAt) / 1000));
      return body;
    },
  };
}

export type RefreshAnswerLibrary = ReturnType<typeof createRefreshAnswerLibrary>;
