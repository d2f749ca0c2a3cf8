// `clouddocs keys reseal`: after AUTH_ENCRYPTION_KEY changes (the old key given as
// AUTH_ENCRYPTION_KEY_PREVIOUS), re-encrypts every secret stored under the old key: client secrets,
// private signing keys, TOTP secrets, the recovery-code pepper. Safe while the services serve (they
// open under either key). Run again, it finds nothing left under the old key; a value under neither key
// is left as it is and makes the command fail.
import { AuditLog } from '@clouddocs/audit';
import { resealAll, SecretBox } from '@clouddocs/auth-server/toolkit';
import { parseOptions } from '../args';
import { withContext } from '../context';
import { CliError, type CommandResult } from '../output';

export async function run(args: string[]): Promise<CommandResult> {
  parseOptions(args, {});
  return withContext(async ({ config, knex }) => {
    const report = await resealAll(knex, SecretBox.fromConfig(config));
    const resealed = Object.values(report.resealed).reduce((a, b) => a + b, 0);
    const audit = await AuditLog.open(knex, 'cli');
    await audit.record({
      action: 'encryption_key.resealed',
      actor: { type: 'system', id: 'cli' },
      target: { type: 'encryption_key', id: 'AUTH_ENCRYPTION_KEY' },
      outcome: report.unreadable.length === 0 ? 'success' : 'failure',
      detail: { resealed: report.resealed, current: report.current, unreadable: report.unreadable.length },
    });
    await audit.close();
    const json = { resealed: report.resealed, current: report.current, unreadable: report.unreadable };
    if (report.unreadable.length > 0) {
      throw new CliError(`${report.unreadable.length} stored secret(s) open under neither AUTH_ENCRYPTION_KEY nor AUTH_ENCRYPTION_KEY_PREVIOUS (first: ${report.unreadable[0]}); ${resealed} resealed`, 1, json);
    }
    const hint = config.AUTH_ENCRYPTION_KEY_PREVIOUS
      ? 'nothing in the database needs AUTH_ENCRYPTION_KEY_PREVIOUS now; drop it from every process once the cache entries sealed under it (at most 10 minutes) have expired'
      : 'every stored secret is under AUTH_ENCRYPTION_KEY';
    return {
      json,
      text: `${resealed} secret(s) resealed under AUTH_ENCRYPTION_KEY (${Object.entries(report.resealed).map(([k, n]) => `${k} ${n}`).join(', ')}), ${report.current} already under it; ${hint}`,
    };
  });
}
