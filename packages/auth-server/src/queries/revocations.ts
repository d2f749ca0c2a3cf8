// SQL of auth.revocations: the durable copy of the revocation list (the cache is the fast path).
// A revocation kept twice (the same token revoked again) keeps the latest time and the longest expiry.
import type { Knex } from '@clouddocs/db';
import type { RevocationRecord } from '@clouddocs/kv';

interface Row {
  kind: RevocationRecord['kind'];
  value: string;
  revoked_at: Date;
  expires_at: Date;
}

/** Writes revocations with `db` (a caller's transaction, or the pool). */
export async function insertRevocations(db: Knex | Knex.Transaction, records: RevocationRecord[]): Promise<void> {
  if (records.length === 0) return;
  // One row per revocation: a request may revoke the same thing twice (ON CONFLICT cannot touch a row twice).
  const merged = new Map<string, RevocationRecord>();
  for (const r of records) {
    const key = `${r.kind}:${r.value}`;
    const known = merged.get(key);
    merged.set(key, known ? { ...r, at: Math.max(known.at, r.at), expiresAt: Math.max(known.expiresAt, r.expiresAt) } : r);
  }
  await db('auth.revocations')
    .insert([...merged.values()].map((r) => ({ kind: r.kind, value: r.value, revoked_at: new Date(r.at), expires_at: new Date(r.expiresAt) })))
    .onConflict(['kind', 'value'])
    .merge({
      revoked_at: db.raw('greatest(auth.revocations.revoked_at, excluded.revoked_at)'),
      expires_at: db.raw('greatest(auth.revocations.expires_at, excluded.expires_at)'),
    });
}

/** The revocations that have not expired (through the read-only view the docs API reads too). */
export async function liveRevocations(db: Knex): Promise<RevocationRecord[]> {
  const rows = (await db('auth.live_revocations').select('kind', 'value', 'revoked_at', 'expires_at')) as Row[];
  return rows.map((r) => ({ kind: r.kind, value: r.value, at: r.revoked_at.getTime(), expiresAt: r.expires_at.getTime() }));
}

/** Deletes expired rows; how many. */
export async function pruneRevocations(db: Knex): Promise<number> {
  return db('auth.revocations').where('expires_at', '<=', db.fn.now()).delete();
}
