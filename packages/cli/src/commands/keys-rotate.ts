import { AuditLog } from '@clouddocs/audit';
import { createKeyStore, LONGEST_SIGNED_TOKEN, SecretBox } from '@clouddocs/auth-server/toolkit';
import { parseOptions } from '../args';
import { withContext } from '../context';
import type { CommandResult } from '../output';

export async function run(args: string[]): Promise<CommandResult> {
  parseOptions(args, {});
  return withContext(async ({ config, knex }) => {
    const keys = createKeyStore({ knex, box: SecretBox.fromConfig(config), retainSeconds: LONGEST_SIGNED_TOKEN + 60 });
    await keys.ensure();
    const rotated = await keys.rotate(config.AUTH_KEY_ACTIVATION_DELAY_SECONDS);
    const audit = await AuditLog.open(knex, 'cli');
    await audit.record({
      action: 'key.rotated',
      actor: { type: 'system', id: 'cli' },
      target: { type: 'key_generation', id: String(rotated.generation) },
      outcome: 'success',
      detail: { kids: rotated.keys.map((k) => k.kid), activatesAt: rotated.activatesAt.toISOString() },
    });
    await audit.close();
    return {
      json: { generation: rotated.generation, activates_at: rotated.activatesAt.toISOString(), keys: rotated.keys },
      text: `key generation ${rotated.generation} published (${rotated.keys.map((k) => `${k.alg} ${k.kid}`).join(', ')}); it signs from ${rotated.activatesAt.toISOString()}, previous keys stay published until their tokens expire`,
    };
  });
}
