#!/usr/bin/env node
// The `clouddocs` operator CLI. Runs the TypeScript sources through tsx; needs Node.js 22 or later,
// which the repository's own devDependency provides (node_modules/.bin/node).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serviceAllocatorEnv, serviceNodeFlags, startsOneService } from './heap.js';

const here = dirname(fileURLToPath(import.meta.url));
const major = Number(process.versions.node.split('.')[0]);
if (major < 22) {
  // An older system Node: hand over to the repository's Node 22 when it is installed.
  let dir = here;
  let local;
  while (dir !== dirname(dir)) {
    const candidate = join(dir, 'node_modules', '.bin', 'node');
    if (existsSync(candidate)) {
      local = candidate;
      break;
    }
    dir = dirname(dir);
  }
  if (!local || process.env.CLOUDDOCS_REEXEC) {
    console.error(`clouddocs: Node.js 22 or later is required (this is ${process.version}); run 'npm install' first`);
    process.exit(1);
  }
  const result = spawnSync(local, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, CLOUDDOCS_REEXEC: '1' },
  });
  process.exit(result.status ?? 1);
}
const args = process.argv.slice(2);
const oneService = startsOneService(args);
const nodeFlags = oneService ? serviceNodeFlags() : [];
const allocatorEnv = oneService ? serviceAllocatorEnv() : {};
if ((nodeFlags.length > 0 || Object.keys(allocatorEnv).length > 0) && typeof process.execve === 'function') {
  // A service process runs with its heap limit, async context and allocator setting (heap.js): the process
  // image is replaced, so the pid, the signals a supervisor sends and the exit code stay this process's
  // own. The new image finds them all set and goes on.
  process.execve(process.execPath, [process.execPath, ...process.execArgv, ...nodeFlags, fileURLToPath(import.meta.url), ...args], { ...process.env, ...allocatorEnv });
}
const { register } = await import('tsx/esm/api');
register();
const { main } = await import('../src/main.ts');
process.exitCode = await main(process.argv.slice(2));
