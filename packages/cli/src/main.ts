// `clouddocs <command>`: parses arguments, runs one command, prints its result (`--json`: one JSON
// object), and exits 0 on success or non-zero with a one-line reason.
import { ConfigError } from '@clouddocs/config';
import { ServiceLoginError } from '@clouddocs/db';
import { startTracing } from '@clouddocs/observability/tracing';
import { CliError, type CommandResult } from './output';
import { commands, type Command } from './commands';

export const USAGE = `usage: clouddocs <command> [options] [--json]
${Object.entries(commands)
  .map(([name, c]) => `  ${name.padEnd(21)} ${c.summary}`)
  .join('\n')}`;

function findCommand(argv: string[]): { command: Command; rest: string[] } | undefined {
  const words = argv.filter((a) => !a.startsWith('-'));
  for (const length of [3, 2, 1]) {
    const name = words.slice(0, length).join(' ');
    const command = commands[name];
    if (command && argv.slice(0, length).join(' ') === name) return { command, rest: argv.slice(length) };
  }
  return undefined;
}

export async function main(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  const args = argv.filter((a) => a !== '--json');
  const print = (result: CommandResult) => process.stdout.write(json ? `${JSON.stringify(result.json)}\n` : `${result.text}\n`);
  if (args.length === 0 || args[0] === '--help' || args[0] === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return args.length === 0 ? 2 : 0;
  }
  const found = findCommand(args);
  if (!found) {
    process.stderr.write(`clouddocs: unknown command '${args.filter((a) => !a.startsWith('-')).slice(0, 2).join(' ')}' (try 'clouddocs --help')\n`);
    return 2;
  }
  try {
    if (found.command === commands.start) {
      // Tracing must be running before the services' modules (http, koa, pg, ioredis) load.
      const service = /--service[= ](auth|docs)/.exec(found.rest.join(' '))?.[1];
      await startTracing(service ? `clouddocs-${service}` : 'clouddocs');
    }
    const result = await found.command.run(found.rest, { json });
    if (result) print(result);
    return 0;
  } catch (err) {
    const reason =
      err instanceof CliError || err instanceof ConfigError || err instanceof ServiceLoginError
        ? err.message.replace(/\n\s*/g, ' ')
        : `unexpected failure: ${(err as Error).message ?? String(err)}`.split('\n')[0]!;
    if (json) process.stdout.write(`${JSON.stringify({ error: reason, ...(err instanceof CliError ? err.json : {}) })}\n`);
    process.stderr.write(`clouddocs: ${reason}\n`);
    return err instanceof CliError ? err.exitCode : 1;
  }
}
