import { parseArgs, type ParseArgsConfig } from 'node:util';
import { CliError } from './output';

type Options = NonNullable<ParseArgsConfig['options']>;

/** Strict option parsing: an unknown option or a stray argument is a one-line error. */
export function parseOptions<O extends Options>(args: string[], options: O) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new CliError((err as Error).message.split('\n')[0]!.replace(/^TypeError \[[A-Z_]+\]: /, ''), 2);
  }
}

export function required<T>(value: T | undefined, flag: string): T {
  if (value === undefined || value === '') throw new CliError(`${flag} is required`, 2);
  return value;
}
