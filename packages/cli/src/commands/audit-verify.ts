// `clouddocs audit verify [--public-key FILE]… [--checkpoints FILE]`: walks every audit hash chain and
// checks it against the signed checkpoints (stored, and exported to FILE when given); exit 0 when
// intact, else non-zero with one line naming the first broken or missing event (chain id, seq, event
// id, reason). Checkpoint signatures are checked with the public half of AUDIT_CHECKPOINT_KEY (or
// of the development key under DATA_DIR on the embedded store), or with the keys in --public-key.
import { readFile } from 'node:fs/promises';
import type { KeyObject } from 'node:crypto';
import {
  checkpointPublicKeysFromConfig,
  formatVerifyResult,
  parseCheckpointPublicKeys,
  readCheckpointFile,
  verifyAuditLog,
  type Checkpoint,
} from '@clouddocs/audit';
import { parseOptions } from '../args';
import { withContext } from '../context';
import { CliError, type CommandResult } from '../output';

async function publicKeysFrom(files: string[]): Promise<Record<string, KeyObject>> {
  const keys: Record<string, KeyObject> = {};
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new CliError(`--public-key ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, 2);
    }
    try {
      Object.assign(keys, parseCheckpointPublicKeys(text, `--public-key ${file}`));
    } catch (err) {
      throw new CliError((err as Error).message, 2);
    }
  }
  return keys;
}

export async function run(args: string[]): Promise<CommandResult> {
  const options = parseOptions(args, { 'public-key': { type: 'string', multiple: true }, checkpoints: { type: 'string' } });
  const publicKeys = options['public-key']?.length ? await publicKeysFrom(options['public-key']) : undefined;
  let exported: Checkpoint[] | undefined;
  if (options.checkpoints !== undefined) {
    try {
      exported = await readCheckpointFile(options.checkpoints);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new CliError(code ? `--checkpoints ${options.checkpoints}: ${code}` : (err as Error).message, 2);
    }
  }
  const result = await withContext(async (ctx) => {
    const checkpointKeys = publicKeys ?? (await checkpointPublicKeysFromConfig(ctx.config));
    const bar = progressBar();
    try {
      return await verifyAuditLog(ctx.knex, { ...(checkpointKeys ? { checkpointKeys } : {}), ...(exported ? { exported } : {}), ...(bar ? { onProgress: bar.update } : {}) });
    } finally {
      bar?.done();
    }
  });
  const summary = {
    ok: result.ok,
    chains: result.chains,
    events: result.events,
    anchoredChains: result.anchoredChains,
    checkpoints: result.checkpoints,
    signaturesChecked: result.signaturesChecked,
  };
  if (!result.ok) throw new CliError(formatVerifyResult(result), 1, { ...summary, firstBreak: result.firstBreak });
  return { json: summary, text: formatVerifyResult(result) };
}

/** On a terminal, a progress bar on stderr (redrawn at most ten times a second); elsewhere nothing. */
function progressBar(): { update(checked: number, total: number): void; done(): void } | undefined {
  if (!process.stderr.isTTY) return undefined;
  let last = 0;
  let drawn = false;
  const width = 30;
  return {
    update(checked, total) {
      const now = Date.now();
      if (now - last < 100 && checked < total) return;
      last = now;
      const share = total > 0 ? Math.min(1, checked / total) : 1;
      const filled = Math.round(share * width);
      process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${Math.floor(share * 100)}% ${checked.toLocaleString('en')}/${total.toLocaleString('en')} events`);
      drawn = true;
    },
    done() {
      if (drawn) process.stderr.write('\r\x1b[K');
    },
  };
}
