// The passkey rules that need no authenticator, against the real database: the RP ID of an issuer, and
// answers refused before any signature is checked (malformed, a challenge never issued, one issued for
// another ceremony or account, one already used). Full ceremonies: test/browser/passkeys.test.ts.
import { randomUUID } from 'node:crypto';
import type { Knex } from '@clouddocs/db';
import { MemoryKv } from '@clouddocs/kv';
import { beforeAll, describe, expect, it } from 'vitest';
import { useAuthDatabase } from '../test-support';
import { createPasskeyLibrary, rpIdOf } from './passkeys';

const database = useAuthDatabase();
let knex: Knex;
const ISSUER = 'http://localhost:3000';

beforeAll(() => {
  knex = database.knex;
});

async function newAccount() {
  const id = randomUUID();
  await knex('auth.accounts').insert({ id, email: `${id}@example.com`, password_hash: 'x' });
  return { id, email: `${id}@example.com`, name: null };
}

/** An answer that signed `challenge` from `origin` (no valid signature: it must be refused before or at verification). */
const answer = (challenge: string, origin = ISSUER) =>
  JSON.stringify({
    id: 'AAAA',
    rawId: 'AAAA',
    type: 'public-key',
    response: { clientDataJSON: Buffer.from(JSON.stringify({ type: 'webauthn.get', challenge, origin })).toString('base64url'), authenticatorData: 'AAAA', signature: 'AAAA' },
    clientExtensionResults: {},
  });

describe('passkeys', () => {
  it('the RP ID is the issuer host name; an IP address issuer has none (browsers refuse WebAuthn there)', () => {
    expect(rpIdOf('https://auth.example.com')).toBe('auth.example.com');
    expect(rpIdOf('http://localhost:3000')).toBe('localhost');
    expect(rpIdOf('http://127.0.0.1:3000')).toBeUndefined();
    expect(rpIdOf('http://[::1]:3000')).toBeUndefined();
    expect(createPasskeyLibrary({ knex, kv: new MemoryKv(), issuer: 'http://127.0.0.1:3000' }).available).toBe(false);
  });

  it('registration options exclude nothing for a new account, require a resident key and user verification', async () => {
    const passkeys = createPasskeyLibrary({ knex, kv: new MemoryKv(), issuer: ISSUER });
    const options = await passkeys.registrationOptions(await newAccount());
    expect(options).toMatchObject({ rp: { id: 'localhost', name: 'CloudDocs' }, attestation: 'none', excludeCredentials: [], authenticatorSelection: { residentKey: 'required', userVerification: 'required' } });
    expect(options.challenge).toMatch(/^[A-Za-z0-9_-]{20,}$/);
  });

  it('malformed answers, unknown challenges, another ceremony\'s challenge and a used challenge are refused with a reason, never thrown', async () => {
    const kv = new MemoryKv();
    const passkeys = createPasskeyLibrary({ knex, kv, issuer: ISSUER });
    const account = await newAccount();
    for (const bad of ['', 'not json', '[]', '{"id":1}', JSON.stringify({ id: 'x', type: 'public-key', response: { clientDataJSON: '%%%' } })]) {
      expect(await passkeys.authenticate({ purpose: 'sign-in', uid: 'u1' }, bad)).toMatchObject({ ok: false, reason: 'malformed' });
      expect(await passkeys.register(account.id, 'x', bad)).toMatchObject({ ok: false, reason: 'malformed' });
    }
    expect(await passkeys.authenticate({ purpose: 'sign-in', uid: 'u1' }, answer('never-issued'))).toMatchObject({ ok: false, reason: 'unknown_challenge' });

    const forOther = await passkeys.authenticationOptions({ purpose: 'sign-in', uid: 'other-interaction' });
    expect(await passkeys.authenticate({ purpose: 'sign-in', uid: 'u1' }, answer(forOther.challenge))).toMatchObject({ ok: false, reason: 'unknown_challenge' });
    const registration = await passkeys.registrationOptions(account);
    expect(await passkeys.authenticate({ purpose: 'sign-in', uid: 'u1' }, answer(registration.challenge))).toMatchObject({ ok: false, reason: 'unknown_challenge' });

    const mine = await passkeys.authenticationOptions({ purpose: 'sign-in', uid: 'u1' });
    // An unknown credential uses up the challenge; the same answer again is a replay.
    expect(await passkeys.authenticate({ purpose: 'sign-in', uid: 'u1' }, answer(mine.challenge))).toMatchObject({ ok: false, reason: 'unknown_credential' });
    expect(await passkeys.authenticate({ purpose: 'sign-in', uid: 'u1' }, answer(mine.challenge))).toMatchObject({ ok: false, reason: 'replayed' });
  });
});
