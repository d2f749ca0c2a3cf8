// SQL of auth.passkeys: a person's WebAuthn credentials (public keys and signature counters).
import type { Knex } from '@clouddocs/db';

export interface PasskeyRow {
  id: string;
  account_id: string;
  credential_id: string;
  public_key: Buffer;
  counter: string | number;
  transports: string[];
  device_type: 'singleDevice' | 'multiDevice';
  backed_up: boolean;
  name: string;
  created_at: Date;
  last_used_at: Date | null;
}

export function createPasskeyQueries(knex: Knex) {
  const table = () => knex<PasskeyRow>('auth.passkeys');
  return {
    byAccount: (accountId: string) => table().where({ account_id: accountId }).orderBy('created_at') as Promise<PasskeyRow[]>,
    byCredentialId: (credentialId: string) => table().where({ credential_id: credentialId }).first() as Promise<PasskeyRow | undefined>,
    insert: (row: Omit<PasskeyRow, 'created_at' | 'last_used_at'>) => table().insert(row),
    /** The signature counter only moves forward (a cloned authenticator shows an older one). */
    recordUse: (id: string, counter: number) => table().where({ id }).update({ counter, last_used_at: knex.fn.now() }),
    remove: (accountId: string, id: string) => table().where({ account_id: accountId, id }).delete(),
    removeAll: (accountId: string) => table().where({ account_id: accountId }).delete(),
  };
}
