// TOTP second factor (RFC 6238, otplib defaults every authenticator app supports: SHA-1, 6 digits,
// 30 s). The secret is sealed at rest. A code is accepted once: the time step it matched is stored
// and only later steps pass (RFC 6238 §5.2), with an atomic update so two concurrent uses cannot
// both win. Recovery codes are single-use and kept only as keyed hashes.
import { createHmac, hkdfSync, randomInt } from 'node:crypto';
import type { Knex } from '@clouddocs/db';
import type { Kv } from '@clouddocs/kv';
import { loadOnce } from '../load-once';
import type { SecretBox } from '../secret-box';

export const RECOVERY_CODE_COUNT = 10;
const ENROLMENT_SECONDS = 10 * 60;
const RECOVERY_ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';

// otplib and qrcode are loaded at their first use: the operator CLI builds this library to disable and
// erase second factors, which needs neither (the auth server loads both at start, server.ts).
const loadOtplib = loadOnce(() => import('otplib'));
const loadQrcode = loadOnce(() => import('qrcode'));

export type SecondFactor = 'totp' | 'recovery_code';

export interface TotpEnrolment {
  secret: string;
  uri: string;
  qrDataUrl: string;
}

/** Recovery codes are compared without case, spaces or dashes. */
export function normalizeRecoveryCode(code: string): string {
  return code.toLowerCase().replace(/[\s-]/g, '');
}

function newRecoveryCode(): string {
  let s = '';
  for (let i = 0; i < 10; i++) s += RECOVERY_ALPHABET[randomInt(RECOVERY_ALPHABET.length)];
  return `${s.slice(0, 5)}-${s.slice(5)}`;
}

const PEPPER_SETTING = 'recovery_code_pepper';

export interface MfaDeps {
  knex: Knex;
  kv: Kv;
  box: SecretBox;
  /**
   * The encryption key the recovery codes made before the pepper was stored were keyed under (the
   * pepper was then derived from it): AUTH_ENCRYPTION_KEY_PREVIOUS during a rotation, else
   * AUTH_ENCRYPTION_KEY. The first process that finds no stored pepper stores that one, sealed, so the
   * pepper stays the same whatever the encryption key becomes (`clouddocs keys reseal` reseals it).
   */
  pepperKey: string;
  issuerName?: string;
}

export function createMfaLibrary(deps: MfaDeps) {
  const { knex, kv, box } = deps;
  let pepper: Promise<Buffer> | undefined;
  const recoveryPepper = () => {
    pepper ??= loadPepper().catch((err: unknown) => {
      pepper = undefined;
      throw err;
    });
    return pepper;
  };
  async function loadPepper(): Promise<Buffer> {
    const stored = () => knex('auth.sealed_settings').where({ name: PEPPER_SETTING }).first('value_enc') as Promise<{ value_enc: string } | undefined>;
    let row = await stored();
    if (!row) {
      const derived = Buffer.from(hkdfSync('sha256', deps.pepperKey, 'clouddocs-recovery-codes', 'hmac-sha256 v1', 32));
      await knex('auth.sealed_settings').insert({ name: PEPPER_SETTING, value_enc: box.seal(derived.toString('base64url')) }).onConflict('name').ignore();
      row = await stored();
      if (!row) throw new Error('the recovery-code pepper could not be stored');
    }
    return Buffer.from(box.open(row.value_enc), 'base64url');
  }
  const hashRecovery = async (code: string) => createHmac('sha256', await recoveryPepper()).update(normalizeRecoveryCode(code)).digest('base64url');
  const enrolmentKey = (accountId: string) => `mfa-enrol:${accountId}`;

  async function matchTotp(secret: string, code: string): Promise<number | undefined> {
    if (!/^\d{6}$/.test(code)) return undefined;
    // One step either side for clock drift between the phone and the server.
    const { verify } = await loadOtplib();
    const result = await verify({ secret, token: code, epochTolerance: 30 }).catch(() => ({ valid: false as const }));
    return result.valid ? (result as { timeStep?: number }).timeStep : undefined;
  }

  /** New codes and their hashes, made before a transaction opens (the pepper may need the database). */
  async function newRecoveryCodes(): Promise<{ codes: string[]; hashes: string[] }> {
    const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
    return { codes, hashes: await Promise.all(codes.map(hashRecovery)) };
  }

  async function replaceRecoveryCodes(trx: Knex.Transaction, accountId: string, { codes, hashes }: { codes: string[]; hashes: string[] }): Promise<string[]> {
    await trx('auth.mfa_recovery_codes').where({ account_id: accountId }).delete();
    await trx('auth.mfa_recovery_codes').insert(hashes.map((codeHash) => ({ account_id: accountId, code_hash: codeHash })));
    return codes;
  }

  async function describe(secret: string, label: string): Promise<TotpEnrolment> {
    const { generateURI } = await loadOtplib();
    const uri = generateURI({ issuer: deps.issuerName ?? 'CloudDocs', label, secret });
    const qrDataUrl = await (await loadQrcode()).toDataURL(uri, { errorCorrectionLevel: 'M', margin: 2, width: 220 });
    return { secret, uri, qrDataUrl };
  }

  return {
    async status(accountId: string): Promise<{ enabled: boolean; enabledAt: Date | null; recoveryCodesLeft: number }> {
      const row = await knex('auth.mfa_totp').where({ account_id: accountId }).first('enabled_at');
      if (!row) return { enabled: false, enabledAt: null, recoveryCodesLeft: 0 };
      const [{ count }] = (await knex('auth.mfa_recovery_codes').where({ account_id: accountId }).whereNull('used_at').count({ count: '*' })) as [{ count: string | number }];
      return { enabled: true, enabledAt: new Date(row.enabled_at), recoveryCodesLeft: Number(count) };
    },

    async enabled(accountId: string): Promise<boolean> {
      return Boolean(await knex('auth.mfa_totp').where({ account_id: accountId }).first('account_id'));
    },

    /** A new secret waiting for its first code; nothing changes for the account until it is confirmed. */
    async startEnrolment(accountId: string, label: string): Promise<TotpEnrolment> {
      const secret = (await loadOtplib()).generateSecret({ length: 20 });
      await kv.set(enrolmentKey(accountId), box.seal(secret), ENROLMENT_SECONDS);
      return describe(secret, label);
    },

    async pendingEnrolment(accountId: string, label: string): Promise<TotpEnrolment | undefined> {
      const sealed = await kv.get(enrolmentKey(accountId));
      return sealed ? describe(box.open(sealed), label) : undefined;
    },

    /** Confirms enrolment with a code from the app; returns the recovery codes (shown once), or undefined. */
    async confirmEnrolment(accountId: string, code: string): Promise<string[] | undefined> {
      const sealed = await kv.get(enrolmentKey(accountId));
      if (!sealed) return undefined;
      const secret = box.open(sealed);
      const step = await matchTotp(secret, code.trim());
      if (step === undefined) return undefined;
      const recovery = await newRecoveryCodes();
      const codes = await knex.transaction(async (trx) => {
        await trx('auth.mfa_totp')
          .insert({ account_id: accountId, secret_enc: box.seal(secret), last_step: step, enabled_at: trx.fn.now() })
          .onConflict('account_id')
          .merge(['secret_enc', 'last_step', 'enabled_at']);
        return replaceRecoveryCodes(trx, accountId, recovery);
      });
      await kv.del(enrolmentKey(accountId));
      return codes;
    },

    /** Checks a TOTP code (once per time step) or an unused recovery code (once). */
    async verify(accountId: string, input: string): Promise<SecondFactor | undefined> {
      const code = input.trim();
      const row = await knex('auth.mfa_totp').where({ account_id: accountId }).first('secret_enc');
      if (!row) return undefined;
      if (/^\d{6}$/.test(code)) {
        const step = await matchTotp(box.open(row.secret_enc), code);
        if (step === undefined) return undefined;
        const updated = await knex('auth.mfa_totp')
          .where({ account_id: accountId })
          .andWhere((q) => q.whereNull('last_step').orWhere('last_step', '<', step))
          .update({ last_step: step });
        return updated === 1 ? 'totp' : undefined;
      }
      if (normalizeRecoveryCode(code).length !== 10) return undefined;
      const used = await knex('auth.mfa_recovery_codes')
        .where({ account_id: accountId, code_hash: await hashRecovery(code) })
        .whereNull('used_at')
        .update({ used_at: knex.fn.now() });
      return used === 1 ? 'recovery_code' : undefined;
    },

    async regenerateRecoveryCodes(accountId: string): Promise<string[]> {
      const recovery = await newRecoveryCodes();
      return knex.transaction((trx) => replaceRecoveryCodes(trx, accountId, recovery));
    },

    async disable(accountId: string): Promise<boolean> {
      return knex.transaction(async (trx) => {
        await trx('auth.mfa_recovery_codes').where({ account_id: accountId }).delete();
        return (await trx('auth.mfa_totp').where({ account_id: accountId }).delete()) > 0;
      });
    },
  };
}

export type MfaLibrary = ReturnType<typeof createMfaLibrary>;
