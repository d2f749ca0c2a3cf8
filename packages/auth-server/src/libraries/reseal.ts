// Re-encrypts every secret stored in PostgreSQL under AUTH_ENCRYPTION_KEY after a rotation (the old
// key given as AUTH_ENCRYPTION_KEY_PREVIOUS), while the services keep serving: they open under either
// key and seal under the new one, and each value here is swapped only if it is still the one read
// (compare-and-set), so a secret rotated by a service in between is never overwritten.
// Sealed values in the cache (refresh answers, TOTP enrolments) are not touched: they live minutes.
import type { Knex } from '@clouddocs/db';
import type { SecretBox } from '../secret-box';

/** Every sealed column of the auth schema (a test holds this list to the columns named `*_enc`). */
export const SEALED_COLUMNS = [
  { table: 'auth.clients', key: 'client_id', column: 'secret_enc' },
  { table: 'auth.clients', key: 'client_id', column: 'previous_secret_enc' },
  { table: 'auth.signing_keys', key: 'kid', column: 'private_enc' },
  { table: 'auth.mfa_totp', key: 'account_id', column: 'secret_enc' },
  { table: 'auth.sealed_settings', key: 'name', column: 'value_enc' },
] as const;

export interface ResealReport {
  /** Values re-encrypted under AUTH_ENCRYPTION_KEY, per `table.column`. */
  resealed: Record<string, number>;
  /** Values already under AUTH_ENCRYPTION_KEY. */
  current: number;
  /** Values that open under neither key, left as they are: `table.column` and the row's key. */
  unreadable: string[];
}

const BATCH = 500;

export async function resealAll(knex: Knex, box: SecretBox): Promise<ResealReport> {
  const report: ResealReport = { resealed: {}, current: 0, unreadable: [] };
  for (const { table, key, column } of SEALED_COLUMNS) {
    const name = `${table}.${column}`;
    report.resealed[name] = 0;
    let after: string | undefined;
    for (;;) {
      const rows = (await knex(table)
        .whereNotNull(column)
        .modify((q) => {
          if (after !== undefined) q.where(key, '>', after);
        })
        .orderBy(key)
        .limit(BATCH)
        .select({ id: key, sealed: column })) as { id: string; sealed: string }[];
      if (rows.length === 0) break;
      after = rows[rows.length - 1]!.id;
      for (const row of rows) {
        const under = box.sealedUnder(row.sealed);
        if (under === 'current') report.current += 1;
        else if (under === 'unknown') report.unreadable.push(`${name} ${row.id}`);
        else {
          const swapped = await knex(table)
            .where({ [key]: row.id, [column]: row.sealed })
            .update({ [column]: box.seal(box.open(row.sealed)) });
          // Not swapped: a service changed it meanwhile, and sealed it under the current key.
          if (swapped === 1) report.resealed[name] += 1;
          else report.current += 1;
        }
      }
    }
  }
  return report;
}
