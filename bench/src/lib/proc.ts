// A process's CPU time (a cost that a busy shared host distorts far less than req/s) and resident memory, from /proc.
import { readdir, readFile } from 'node:fs/promises';

const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** utime and stime of a process, in seconds (0 for a process that is gone). */
export async function processCpu(pid: number): Promise<{ user: number; system: number; total: number }> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const user = Number(fields[11] ?? 0) / CLOCK_TICKS_PER_SECOND;
  const system = Number(fields[12] ?? 0) / CLOCK_TICKS_PER_SECOND;
  return { user, system, total: user + system };
}

/**
 * A process's CPU time split by thread kind, in seconds: the main (JavaScript) thread, libuv's pool (password
 * hashes, WebCrypto signatures) and the rest (V8's garbage-collection and compiler threads), each user and system.
 */
export async function threadCpu(pid: number): Promise<Record<'main' | 'pool' | 'other', { user: number; system: number }>> {
  const split = { main: { user: 0, system: 0 }, pool: { user: 0, system: 0 }, other: { user: 0, system: 0 } };
  for (const tid of await readdir(`/proc/${pid}/task`).catch(() => [] as string[])) {
    const [stat, comm] = await Promise.all([readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8').catch(() => ''), readFile(`/proc/${pid}/task/${tid}/comm`, 'utf8').catch(() => '')]);
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const kind = tid === String(pid) ? split.main : comm.startsWith('libuv-worker') ? split.pool : split.other;
    kind.user += Number(fields[11] ?? 0) / CLOCK_TICKS_PER_SECOND;
    kind.system += Number(fields[12] ?? 0) / CLOCK_TICKS_PER_SECOND;
  }
  return split;
}

/** Resident memory now and at its peak (VmRSS, VmHWM), in MB. */
export async function processMemory(pid: number): Promise<{ rssMb: number; peakRssMb: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const mb = (field: string) => Math.round(Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) / 1024);
  return { rssMb: mb('VmRSS'), peakRssMb: mb('VmHWM') };
}
