// SQL of auth.registration_tokens: initial access tokens for dynamic client registration (RFC 7591
// §3.1), kept as SHA-256 hashes.
import type { Knex } from '@clouddocs/db';

export interface RegistrationTokenRow {
  id: string;
  token_hash: string;
  max_uses: number | null;
  uses: number;
  expires_at: Date | string | null;
  revoked_at: Date | string | null;
  created_at: Date | string;
}

const TABLE = 'auth.registration_tokens';
/** Live: not revoked, not expired. Usable: live with uses left. */
const LIVE = `revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())`;
const USABLE = `${LIVE} AND (max_uses IS NULL OR uses < max_uses)`;

export function createRegistrationTokenQueries(knex: Knex) {
  return {
    async insert(row: { id: string; token_hash: string; max_uses: number | null; expires_at: Date | null }): Promise<RegistrationTokenRow> {
      const [created] = (await knex(TABLE).insert(row).returning('*')) as RegistrationTokenRow[];
      return created!;
    },
    async list(page: { after?: string; limit: number }): Promise<RegistrationTokenRow[]> {
      const query = knex(TABLE).orderBy('id').limit(page.limit);
      if (page.after) query.where('id', '>', page.after);
      return (await query) as RegistrationTokenRow[];
    },
    async byId(id: string): Promise<RegistrationTokenRow | undefined> {
      return (await knex(TABLE).where({ id }).first()) as RegistrationTokenRow | undefined;
    },
    async liveByHash(hash: string): Promise<RegistrationTokenRow | undefined> {
      return (await knex(TABLE).where({ token_hash: hash }).whereRaw(LIVE).first()) as RegistrationTokenRow | undefined;
    },
    /** Takes one use, atomically (of two registrations racing for the last use, one gets it). */
    async takeUse(hash: string): Promise<string | undefined> {
      const { rows } = await knex.raw(`UPDATE ${TABLE} SET uses = uses + 1 WHERE token_hash = ? AND ${USABLE} RETURNING id`, [hash]);
      return (rows as { id: string }[])[0]?.id;
    },
    /** Gives back a use taken by a registration that did not happen. */
    async giveBackUse(id: string): Promise<void> {
      await knex(TABLE).where({ id }).where('uses', '>', 0).decrement('uses', 1);
    },
    async revoke(id: string): Promise<boolean> {
      return (await knex(TABLE).where({ id }).whereNull('revoked_at').update({ revoked_at: knex.fn.now() })) > 0;
    },
  };
}
