/** What a command returns: one JSON object for `--json`, and lines for people. */
export interface CommandResult {
  json: Record<string, unknown>;
  text: string;
}

/** A failure with a one-line reason; the process exits non-zero. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode = 1,
    readonly json?: Record<string, unknown>,
  ) {
    super(message);
  }
}

/** Reads the whole of stdin (for secrets, which never come as arguments). */
export async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) throw new CliError('expected the value on standard input (pipe it in)');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** The first line of stdin without its line ending. */
export async function readStdinLine(): Promise<string> {
  const text = await readStdin();
  const newline = text.search(/\r?\n/);
  return newline === -1 ? text : text.slice(0, newline);
}
