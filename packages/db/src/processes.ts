// Running another Node.js process to its end and collecting what it printed: the CLI as an operator runs
// it, a second writer or a second owner of the embedded store. Tests and dev scripts use it; it runs this
// process's own Node (Node 22, whatever the system Node is).
import { spawn } from 'node:child_process';

export interface ProcessRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `node ARGS` with `env` and `cwd`, fed `stdin` (or nothing); resolves when it exits. */
export function runNode(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; stdin?: string } = {}): Promise<ProcessRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.on('error', () => {}); // a process that exits before reading its stdin
    child.stdin.end(options.stdin ?? '');
  });
}
