// Running the real `clouddocs` process in tests, as an operator would.
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { runNode, type ProcessRun } from '@clouddocs/db';

export const BIN = fileURLToPath(new URL('../bin/clouddocs.js', import.meta.url));
export const REPO = fileURLToPath(new URL('../../..', import.meta.url));
export const PASSWORD = 'Tr0ub4dor-and-a-long-tail-7731';

export type Run = ProcessRun;

/** Every run and every password sent on stdin, for the check that no output ever shows a secret. */
export const outputs: Run[] = [];
export const secretsSent = new Set<string>();

/** Runs `clouddocs ARGS` with `env`, feeding `stdin` (or nothing), and collects its output. */
export async function clouddocs(args: string[], options: { env: NodeJS.ProcessEnv; stdin?: string }): Promise<Run> {
  if (options.stdin) secretsSent.add(options.stdin.replace(/\r?\n[\s\S]*$/, ''));
  const run = await runNode([BIN, ...args], { cwd: REPO, env: options.env, ...(options.stdin !== undefined ? { stdin: options.stdin } : {}) });
  outputs.push(run);
  return run;
}

/** A failure: non-zero exit and exactly one line on stderr, `clouddocs: <reason>`. */
export function expectOneLineFailure(run: Run, reason?: RegExp) {
  expect(run.code).not.toBe(0);
  const lines = run.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^clouddocs: \S/);
  if (reason) expect(lines[0]).toMatch(reason);
}

/** The test process's environment without a database or data directory of its own. */
export function baseEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'silent' };
  delete env.DATABASE_URL;
  delete env.DATA_DIR;
  return env;
}

export const email = (label: string) => `${label}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}@Example.com`;
