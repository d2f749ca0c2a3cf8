// Benchmark servers run in their own processes, so the load generator does not share their event loop.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { serviceAllocatorEnv, serviceNodeFlags } from '@clouddocs/cli/heap';
import { processCpu, processMemory } from './proc';

export interface Child<T> {
  info: T;
  process: ChildProcess;
  peakRssMb(): Promise<number>;
  /** Resident memory now and at its peak (VmRSS, VmHWM), and the V8 heap for a CloudDocs service process. */
  memory(): Promise<Memory>;
  /** CPU seconds (user + system) the process has used so far: a cost that a loaded host does not distort the way req/s is. */
  cpuSeconds(): Promise<number>;
  stop(): Promise<void>;
}

export interface Memory {
  rssMb: number;
  peakRssMb: number;
  heapUsedMb?: number;
  heapTotalMb?: number;
}

const mb = (bytes: number) => Math.round(bytes / 2 ** 20);

/**
 * Starts `bench/src/servers/<script>` in its own process: of this checkout, or of `root`, another source
 * tree with its own node_modules (a build of an earlier commit, `lib/variant-tree.sh`).
 */
export async function startChild<T>(script: string, env: Record<string, string> = {}, root?: string): Promise<Child<T>> {
  const path = root ? `${root}/bench/src/servers/${script}` : fileURLToPath(new URL(`../servers/${script}`, import.meta.url));
  // BENCH_PROFILE=dir writes a V8 CPU profile of every benchmark server into dir (for --cpu-prof analysis).
  const profile = process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];
  const given = { ...process.env, LOG_LEVEL: 'error', ...env };
  // A CloudDocs service gets the flags and allocator setting `clouddocs start --service` gives it; the
  // baselines run with Node's defaults.
  const service = script === 'service.ts';
  const childEnv = service ? { ...given, ...serviceAllocatorEnv(given) } : given;
  const heap = service ? serviceNodeFlags([], childEnv) : [];
  const child = spawn(process.execPath, [...profile, ...heap, '--import', 'tsx', path], {
    ...(root ? { cwd: root } : {}),
    env: childEnv,
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  const info = await new Promise<T>((resolve, reject) => {
    let buffer = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const line = buffer.split('\n').find((l) => l.startsWith('READY '));
      if (line) resolve(JSON.parse(line.slice(6)) as T);
    });
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code} before it was ready`)));
  });
  return {
    info,
    process: child,
    async peakRssMb() {
      return (await processMemory(child.pid!)).peakRssMb;
    },
    async memory() {
      // A service answers 'memory' over IPC with process.memoryUsage() (servers/service.ts); a baseline does not.
      const heap = await new Promise<NodeJS.MemoryUsage | undefined>((resolve) => {
        const timer = setTimeout(() => resolve(undefined), 1_000);
        child.once('message', (m) => (clearTimeout(timer), resolve(m as NodeJS.MemoryUsage)));
        child.send('memory');
      });
      return { ...(await processMemory(child.pid!)), ...(heap ? { heapUsedMb: mb(heap.heapUsed), heapTotalMb: mb(heap.heapTotal) } : {}) };
    },
    async cpuSeconds() {
      return (await processCpu(child.pid!)).total;
    },
    stop() {
      return new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
      });
    },
  };
}
