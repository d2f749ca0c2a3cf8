// What one `clouddocs` command costs from start to exit: every operator command is a new process, so its
// time is mostly what it loads. Runs a few read-only commands against DATABASE_URL (migrated first), for one
// or more builds (their order reversed every other round), beside bare `node -e 0` in the same run, and prints
// the median wall time and CPU time (user + system of the whole process, from /proc) of each. The database is
// migrated by the last build named (the newest, by convention).
//
//   DATABASE_URL=postgres://… npx tsx bench/src/cli-start.ts
//   CLI_VARIANTS=before=/tmp/cd-before,after=. CLI_ROUNDS=7 npx tsx bench/src/cli-start.ts
// (`bench/src/lib/variant-tree.sh <commit> /tmp/cd-before` makes an earlier commit's tree runnable.)
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';

const CLOCK_TICKS_PER_SECOND = 100;
const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) {
  console.error('cli-start: set DATABASE_URL (a PostgreSQL database the commands may migrate)');
  process.exit(2);
}
const rounds = Number(process.env.CLI_ROUNDS ?? 5);
const variants = (process.env.CLI_VARIANTS ?? 'this=.').split(',').map((pair) => {
  const [name, dir] = pair.split('=') as [string, string];
  return { name, bin: resolve(dir, 'packages/cli/bin/clouddocs.js') };
});
const commands: string[][] = [
  ['user', 'list', '--email', 'nobody@cli-start.example', '--json'],
  ['client', 'list', '--json'],
  ['keys', 'list', '--json'],
];
const env = { ...process.env, LOG_LEVEL: 'silent', DATABASE_URL: databaseUrl };

/** CPU time of this process's waited-for children so far, in seconds (cutime + cstime). */
function childrenCpu(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[13]) + Number(fields[14])) / CLOCK_TICKS_PER_SECOND;
}

function measure(args: string[]): { wallMs: number; cpuMs: number } {
  const cpuBefore = childrenCpu();
  const started = performance.now();
  const run = spawnSync(process.execPath, args, { env, encoding: 'utf8' });
  const wallMs = performance.now() - started;
  if (run.status !== 0) throw new Error(`${args.join(' ')} exited ${run.status}: ${run.stderr.trim()}`);
  return { wallMs, cpuMs: (childrenCpu() - cpuBefore) * 1000 };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

measure([variants[variants.length - 1]!.bin, 'migrate']);
const samples = new Map<string, { wallMs: number[]; cpuMs: number[] }>();
const record = (key: string, sample: { wallMs: number; cpuMs: number }) => {
  const entry = samples.get(key) ?? { wallMs: [], cpuMs: [] };
  entry.wallMs.push(sample.wallMs);
  entry.cpuMs.push(sample.cpuMs);
  samples.set(key, entry);
};
for (let round = 0; round < rounds; round++) {
  record('node -e 0|', measure(['-e', '0']));
  const order = round % 2 === 0 ? variants : [...variants].reverse();
  for (const command of commands) {
    for (const variant of order) record(`clouddocs ${command.slice(0, 2).join(' ')}|${variant.name}`, measure([variant.bin, ...command]));
  }
}

console.log(`${rounds} rounds, builds alternated (order reversed every other round); ${new Date().toISOString()}\n`);
console.log('| command | build | wall (median) | CPU user + system (median) |');
console.log('| --- | --- | --- | --- |');
for (const [key, entry] of samples) {
  const [command, build] = key.split('|');
  console.log(`| ${command} | ${build || '—'} | ${Math.round(median(entry.wallMs))} ms | ${Math.round(median(entry.cpuMs))} ms |`);
}
