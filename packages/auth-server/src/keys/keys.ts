// Signing keys live in auth.signing_keys, private parts sealed. A generation is one key per
// algorithm (RS256 for ID tokens by default, ES256 for access tokens, EdDSA). Rotation adds a new
// generation that is published at once and starts signing after AUTH_KEY_ACTIVATION_DELAY_SECONDS,
// so every process (polling every AUTH_KEY_REFRESH_SECONDS) and every relying party's JWKS cache
// knows it before a token carries its kid. The previous generation stays published until the
// longest-lived token it signed has expired.
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import type { Knex } from '@clouddocs/db';
import type { SecretBox } from '../secret-box';

export const KEY_ALGS = ['RS256', 'ES256', 'EdDSA'] as const;
export type KeyAlg = (typeof KEY_ALGS)[number];

export interface PrivateJwk {
  kid: string;
  alg: KeyAlg;
  use: 'sig';
  kty: string;
  [k: string]: unknown;
}

export interface KeySetState {
  /** Private JWKs for the provider: the signing generation first, then published-only keys. */
  jwks: PrivateJwk[];
  /** The kid that signs for each algorithm now. */
  active: Record<KeyAlg, string>;
  /** Changes whenever the published set or the signing generation changes. */
  fingerprint: string;
  /** When this state stops being current by the clock alone (a pending activation or a retirement). */
  validUntil: number;
}

function generate(alg: KeyAlg): { privateKey: KeyObject; publicKey: KeyObject } {
  switch (alg) {
    case 'RS256':
      return generateKeyPairSync('rsa', { modulusLength: 2048 });
    case 'ES256':
      return generateKeyPairSync('ec', { namedCurve: 'P-256' });
    case 'EdDSA':
      return generateKeyPairSync('ed25519');
  }
}

function thumbprintKid(publicJwk: Record<string, unknown>): string {
  const members = Object.fromEntries(Object.entries(publicJwk).filter(([k]) => ['crv', 'e', 'kty', 'n', 'x', 'y'].includes(k)).sort());
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url'); // RFC 7638 thumbprint
}

export function createKeyStore(deps: { knex: Knex; box: SecretBox; retainSeconds: number }) {
  const { knex, box } = deps;

  async function insertGeneration(trx: Knex | Knex.Transaction, generation: number, activatesAt: Date, createdAt = new Date()) {
    const rows = KEY_ALGS.map((alg) => {
      const { privateKey, publicKey } = generate(alg);
      const publicJwk = publicKey.export({ format: 'jwk' }) as Record<string, unknown>;
      const kid = thumbprintKid(publicJwk);
      const privateJwk = { ...(privateKey.export({ format: 'jwk' }) as Record<string, unknown>), kid, alg, use: 'sig' };
      return {
        kid,
        alg,
        generation,
        public_jwk: JSON.stringify({ ...publicJwk, kid, alg, use: 'sig' }),
        private_enc: box.seal(JSON.stringify(privateJwk)),
        activates_at: activatesAt.toISOString(),
        created_at: createdAt.toISOString(),
      };
    });
    await trx('auth.signing_keys').insert(rows);
    return rows.map((r) => ({ kid: r.kid, alg: r.alg }));
  }

  /** In a transaction holding the table lock: the next generation, signing after the delay. */
  async function rotateIn(trx: Knex.Transaction, activationDelaySeconds: number, now: number) {
    const { max } = (await trx('auth.signing_keys').max('generation as max').first()) as { max: number | null };
    const generation = (max ?? 0) + 1;
    const activatesAt = new Date(now + activationDelaySeconds * 1000);
    // Any generation still without a retirement retires when the new one starts signing.
    await trx('auth.signing_keys').whereNull('retires_at').update({ retires_at: activatesAt.toISOString() });
    const keys = await insertGeneration(trx, generation, activatesAt, new Date(now));
    return { generation, activatesAt, keys };
  }

  return {
    /** Creates the first generation, active at once, if there is none. Safe to race. */
    async ensure(): Promise<boolean> {
      return knex.transaction(async (trx) => {
        await trx.raw('LOCK TABLE auth.signing_keys IN SHARE ROW EXCLUSIVE MODE');
        const existing = await trx('auth.signing_keys').first('kid');
        if (existing) return false;
        await insertGeneration(trx, 1, new Date(Date.now() - 1000));
        return true;
      });
    },

    /**
     * Rotates when the newest generation is `rotationDays` old or older (the scheduled rotation); one
     * process does it (the table lock serialises them, and the age is read under it), the others find
     * a fresh generation and do nothing. Undefined when no rotation was due.
     */
    async rotateIfDue(rotationDays: number, activationDelaySeconds: number, now = Date.now()) {
      if (rotationDays <= 0) return undefined;
      return knex.transaction(async (trx) => {
        await trx.raw('LOCK TABLE auth.signing_keys IN SHARE ROW EXCLUSIVE MODE');
        const newest = await trx('auth.signing_keys').orderBy('generation', 'desc').first('created_at');
        if (newest && now - new Date(newest.created_at).getTime() < rotationDays * 86_400_000) return undefined;
        return rotateIn(trx, activationDelaySeconds, now);
      });
    },

    /** Adds a generation that signs after `activationDelaySeconds`; the current one retires then. */
    async rotate(activationDelaySeconds: number): Promise<{ generation: number; activatesAt: Date; keys: { kid: string; alg: string }[] }> {
      return knex.transaction(async (trx) => {
        await trx.raw('LOCK TABLE auth.signing_keys IN SHARE ROW EXCLUSIVE MODE');
        return rotateIn(trx, activationDelaySeconds, Date.now());
      });
    },


    /** Every published key and its state: pending (not signing yet), active (signing), retiring
     * (no longer signing, published until the tokens it signed have expired). */
    async list(now = Date.now()): Promise<{ kid: string; alg: string; generation: number; status: 'pending' | 'active' | 'retiring'; created_at: string; activates_at: string; retires_at: string | null }[]> {
      const horizon = new Date(now - deps.retainSeconds * 1000).toISOString();
      const rows = await knex('auth.signing_keys')
        .where((q) => q.whereNull('retires_at').orWhere('retires_at', '>', horizon))
        .orderBy('generation', 'desc')
        .orderBy('alg')
        .select('kid', 'alg', 'generation', 'created_at', 'activates_at', 'retires_at');
      const at = (v: Date | string) => new Date(v).getTime();
      const iso = (v: Date | string) => new Date(v).toISOString();
      return rows.map((r) => ({
        kid: r.kid,
        alg: r.alg,
        generation: r.generation,
        status: at(r.activates_at) > now ? 'pending' : r.retires_at && at(r.retires_at) <= now ? 'retiring' : 'active',
        created_at: iso(r.created_at),
        activates_at: iso(r.activates_at),
        retires_at: r.retires_at ? iso(r.retires_at) : null,
      }));
    },

    /** The key set as of `now`: which keys are published and which generation signs. */
    async load(now = Date.now()): Promise<KeySetState> {
      const horizon = new Date(now - deps.retainSeconds * 1000).toISOString();
      const rows = await knex('auth.signing_keys')
        .where((q) => q.whereNull('retires_at').orWhere('retires_at', '>', horizon))
        .orderBy('generation', 'desc')
        .select('kid', 'alg', 'generation', 'private_enc', 'activates_at', 'retires_at');
      const at = (v: Date | string) => new Date(v).getTime();
      const activeGeneration = rows.find((r) => at(r.activates_at) <= now)?.generation;
      if (activeGeneration === undefined) throw new Error('no signing key is active: run `clouddocs migrate` and start the auth server');
      const ordered = [
        ...rows.filter((r) => r.generation === activeGeneration),
        ...rows.filter((r) => r.generation !== activeGeneration),
      ];
      const jwks = ordered.map((r) => JSON.parse(box.open(r.private_enc)) as PrivateJwk);
      const active = Object.fromEntries(
        rows.filter((r) => r.generation === activeGeneration).map((r) => [r.alg, r.kid]),
      ) as Record<KeyAlg, string>;
      const upcoming = rows
        .flatMap((r) => [at(r.activates_at), r.retires_at ? at(r.retires_at) + deps.retainSeconds * 1000 : Number.POSITIVE_INFINITY])
        .filter((t) => t > now);
      return {
        jwks,
        active,
        fingerprint: `${activeGeneration}:${ordered.map((r) => r.kid).join(',')}`,
        validUntil: Math.min(...upcoming, Number.POSITIVE_INFINITY),
      };
    },
  };
}

export type KeyStore = ReturnType<typeof createKeyStore>;
