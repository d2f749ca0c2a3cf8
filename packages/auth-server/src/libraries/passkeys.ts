// Passkeys (WebAuthn, with @simplewebauthn/server): registration by a signed-in person, sign-in without
// a password (a discoverable credential, user verification required), and use as the second factor
// after the password. Rules: every ceremony has its own challenge, kept in the shared cache for
// CHALLENGE_SECONDS and bound to its purpose (the account, or the sign-in interaction); a challenge
// works once (a replayed response is refused); the origin and RP ID must be the issuer's; the signature
// counter must move forward. A response that fails any check is a `{ ok: false, reason }`, never a
// throw. `amr` (RFC 8176): `hwk` for a device-bound key, `swk` for a synced (multi-device) one.
import { randomBytes } from 'node:crypto';
import type { Knex } from '@clouddocs/db';
import type { Kv } from '@clouddocs/kv';
import type {
  AuthenticationResponseJSON,
  AuthenticatorTransport,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { loadOnce } from '../load-once';
import { createPasskeyQueries, type PasskeyRow } from '../queries/passkeys';

export const CHALLENGE_SECONDS = 300;

// @simplewebauthn/server is loaded at the first ceremony: the operator CLI lists and removes passkeys
// without it (the auth server loads it at start, server.ts).
const loadWebAuthn = loadOnce(() => import('@simplewebauthn/server'));

/** What a challenge was issued for: registering (an account), signing in (an interaction), or a second factor. */
export type CeremonyBinding = { purpose: 'register'; accountId: string } | { purpose: 'sign-in'; uid: string } | { purpose: 'second-factor'; uid: string; accountId: string };

export interface PasskeyView {
  id: string;
  name: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  synced: boolean;
}

export type PasskeyFailure = 'malformed' | 'unknown_challenge' | 'replayed' | 'unknown_credential' | 'wrong_account' | 'not_verified';
export type PasskeyResult<T> = ({ ok: true } & T) | { ok: false; reason: PasskeyFailure; detail?: string };

const challengeKey = (challenge: string) => `webauthn-challenge:${challenge}`;
const usedKey = (challenge: string) => `webauthn-used:${challenge}`;

/** The WebAuthn RP ID of an issuer: its host name (an IP address cannot be one, so passkeys are off there). */
export function rpIdOf(issuer: string): string | undefined {
  const host = new URL(issuer).hostname;
  return /^[\d.]+$/.test(host) || host.includes(':') || host.startsWith('[') ? undefined : host;
}

/** The challenge a browser signed, from its clientDataJSON (base64url JSON). */
function signedChallenge(response: { response?: { clientDataJSON?: unknown } }): string | undefined {
  const data = response.response?.clientDataJSON;
  if (typeof data !== 'string' || data.length > 4096) return undefined;
  try {
    const parsed = JSON.parse(Buffer.from(data, 'base64url').toString('utf8')) as { challenge?: unknown };
    return typeof parsed.challenge === 'string' ? parsed.challenge : undefined;
  } catch {
    return undefined;
  }
}

function parseResponse<T>(json: string): (T & { id: string; response: { clientDataJSON: string } }) | undefined {
  try {
    const value = JSON.parse(json) as { id?: unknown; rawId?: unknown; type?: unknown; response?: { clientDataJSON?: unknown } };
    if (!value || typeof value.id !== 'string' || value.type !== 'public-key' || typeof value.response?.clientDataJSON !== 'string') return undefined;
    return value as never;
  } catch {
    return undefined;
  }
}

const sameBinding = (a: CeremonyBinding, b: CeremonyBinding) => JSON.stringify(a) === JSON.stringify(b);
export const amrOf = (row: Pick<PasskeyRow, 'device_type'>) => (row.device_type === 'multiDevice' ? 'swk' : 'hwk');

export function createPasskeyLibrary(deps: { knex: Knex; kv: Kv; issuer: string; rpName?: string }) {
  const queries = createPasskeyQueries(deps.knex);
  const rpID = rpIdOf(deps.issuer);
  const origin = new URL(deps.issuer).origin;
  const rpName = deps.rpName ?? 'CloudDocs';

  async function remember(challenge: string, binding: CeremonyBinding) {
    await deps.kv.set(challengeKey(challenge), JSON.stringify(binding), CHALLENGE_SECONDS);
  }

  /** The challenge the response signed, if it was issued for `binding` and not used before (it is used now). */
  async function takeChallenge(response: { response?: { clientDataJSON?: unknown } }, binding: CeremonyBinding): Promise<PasskeyResult<{ challenge: string }>> {
    const challenge = signedChallenge(response);
    if (!challenge) return { ok: false, reason: 'malformed' };
    const stored = await deps.kv.get(challengeKey(challenge));
    if (!stored) return { ok: false, reason: (await deps.kv.get(usedKey(challenge))) ? 'replayed' : 'unknown_challenge' };
    if (!sameBinding(JSON.parse(stored) as CeremonyBinding, binding)) return { ok: false, reason: 'unknown_challenge' };
    // One use, across processes: only the request that marks it used goes on.
    if (!(await deps.kv.setIfAbsent(usedKey(challenge), '1', CHALLENGE_SECONDS))) return { ok: false, reason: 'replayed' };
    await deps.kv.del(challengeKey(challenge));
    return { ok: true, challenge };
  }

  const credentialOf = (row: PasskeyRow) => ({ id: row.credential_id, publicKey: new Uint8Array(row.public_key), counter: Number(row.counter), transports: row.transports as AuthenticatorTransport[] });

  return {
    /** Whether passkeys can work at this issuer (a host name, not an IP address). */
    available: rpID !== undefined,

    async list(accountId: string): Promise<PasskeyView[]> {
      return (await queries.byAccount(accountId)).map((r) => ({ id: r.id, name: r.name, createdAt: r.created_at, lastUsedAt: r.last_used_at, synced: r.device_type === 'multiDevice' }));
    },

    async has(accountId: string): Promise<boolean> {
      if (!rpID) return false;
      return (await queries.byAccount(accountId)).length > 0;
    },

    async registrationOptions(account: { id: string; email: string; name: string | null }): Promise<PublicKeyCredentialCreationOptionsJSON> {
      const existing = await queries.byAccount(account.id);
      const { generateRegistrationOptions } = await loadWebAuthn();
      const options = await generateRegistrationOptions({
        rpName,
        rpID: rpID!,
        userName: account.email,
        userID: new TextEncoder().encode(account.id),
        userDisplayName: account.name ?? account.email,
        attestationType: 'none',
        excludeCredentials: existing.map((r) => ({ id: r.credential_id, transports: r.transports })),
        // A passkey signs in on its own: discoverable, and it checks who holds it (PIN, biometrics).
        authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
      });
      await remember(options.challenge, { purpose: 'register', accountId: account.id });
      return options;
    },

    async register(accountId: string, name: string, json: string): Promise<PasskeyResult<{ passkey: PasskeyView }>> {
      const response = parseResponse<RegistrationResponseJSON>(json);
      if (!response || !rpID) return { ok: false, reason: 'malformed' };
      const { verifyRegistrationResponse } = await loadWebAuthn(); // before the challenge is used up
      const taken = await takeChallenge(response, { purpose: 'register', accountId });
      if (!taken.ok) return taken;
      let verification;
      try {
        verification = await verifyRegistrationResponse({ response, expectedChallenge: taken.challenge, expectedOrigin: origin, expectedRPID: rpID, requireUserVerification: true });
      } catch (err) {
        return { ok: false, reason: 'not_verified', detail: (err as Error).message?.slice(0, 200) };
      }
      if (!verification.verified) return { ok: false, reason: 'not_verified' };
      const info = verification.registrationInfo;
      if (await queries.byCredentialId(info.credential.id)) return { ok: false, reason: 'not_verified', detail: 'credential already registered' };
      const row = {
        id: `pk_${randomBytes(12).toString('base64url')}`,
        account_id: accountId,
        credential_id: info.credential.id,
        public_key: Buffer.from(info.credential.publicKey),
        counter: info.credential.counter,
        transports: info.credential.transports ?? [],
        device_type: info.credentialDeviceType,
        backed_up: info.credentialBackedUp,
        name: name.trim() || 'Passkey',
      };
      await queries.insert(row);
      return { ok: true, passkey: { id: row.id, name: row.name, createdAt: new Date(), lastUsedAt: null, synced: row.device_type === 'multiDevice' } };
    },

    /** Options for signing in (any discoverable passkey) or for the second factor of `accountId`. */
    async authenticationOptions(binding: Exclude<CeremonyBinding, { purpose: 'register' }>): Promise<PublicKeyCredentialRequestOptionsJSON> {
      const allow = binding.purpose === 'second-factor' ? (await queries.byAccount(binding.accountId)).map((r) => ({ id: r.credential_id, transports: r.transports })) : undefined;
      const { generateAuthenticationOptions } = await loadWebAuthn();
      const options = await generateAuthenticationOptions({ rpID: rpID!, allowCredentials: allow, userVerification: binding.purpose === 'sign-in' ? 'required' : 'preferred' });
      await remember(options.challenge, binding);
      return options;
    },

    /** A signed challenge: whose passkey it is, and how it counts (`hwk`/`swk`, user verified). */
    async authenticate(binding: Exclude<CeremonyBinding, { purpose: 'register' }>, json: string): Promise<PasskeyResult<{ accountId: string; amr: 'hwk' | 'swk'; userVerified: boolean; passkeyId: string }>> {
      const response = parseResponse<AuthenticationResponseJSON>(json);
      if (!response || !rpID) return { ok: false, reason: 'malformed' };
      const { verifyAuthenticationResponse } = await loadWebAuthn(); // before the challenge is used up
      const taken = await takeChallenge(response, binding);
      if (!taken.ok) return taken;
      const row = await queries.byCredentialId(response.id);
      if (!row) return { ok: false, reason: 'unknown_credential' };
      if (binding.purpose === 'second-factor' && row.account_id !== binding.accountId) return { ok: false, reason: 'wrong_account' };
      let verification;
      try {
        verification = await verifyAuthenticationResponse({
          response,
          expectedChallenge: taken.challenge,
          expectedOrigin: origin,
          expectedRPID: rpID,
          credential: credentialOf(row),
          requireUserVerification: binding.purpose === 'sign-in',
        });
      } catch (err) {
        return { ok: false, reason: 'not_verified', detail: (err as Error).message?.slice(0, 200) };
      }
      if (!verification.verified) return { ok: false, reason: 'not_verified' };
      await queries.recordUse(row.id, verification.authenticationInfo.newCounter);
      return { ok: true, accountId: row.account_id, amr: amrOf(row), userVerified: verification.authenticationInfo.userVerified, passkeyId: row.id };
    },

    /** Removes one of the person's passkeys; false when it is not theirs. */
    async remove(accountId: string, id: string): Promise<boolean> {
      return (await queries.remove(accountId, id)) > 0;
    },

    removeAll: (accountId: string) => queries.removeAll(accountId),
  };
}

export type PasskeyLibrary = ReturnType<typeof createPasskeyLibrary>;
