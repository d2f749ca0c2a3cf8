// The durable revocations, read through the auth schema's read-only view auth.live_revocations
// (the auth server writes them); loaded into the revocation list when the cache lost its copy.
import type { Knex } from '@clouddocs/db';
import type { DurableRevocations, RevocationRecord } from '@clouddocs/kv';

export function durableRevocationReader(knex: Knex): DurableRevocations {
  return {
    record() {
      throw new Error('the docs API never revokes: the auth server does');
    },
    async live() {
      const rows = (await knex('auth.live_revocations').select('kind', 'value', 'revoked_at', 'expires_at')) as {
        kind: RevocationRecord['kind'];
        value: string;
        revoked_at: Date;
        expires_at: Date;
      }[];
      return rows.map((r) => ({ kind: r.kind, value: r.value, at: r.revoked_at.getTime(), expiresAt: r.expires_at.getTime() }));
    },
  };
}
