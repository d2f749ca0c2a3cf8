import autocannon from 'autocannon';
import { processCpu } from './proc';

export interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
  requests: number;
  /** Requests answered during the warm-up before the measured run (for costs taken over both, e.g. CPU time). */
  warmupRequests: number;
}

/** Keep-alive load for `seconds` with `connections` concurrent clients, after a short warm-up. */
export async function load(options: {
  url: string;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  seconds?: number;
  connections?: number;
  /** Headers made afresh for every request (e.g. a DPoP proof, which is single-use). */
  perRequestHeaders?: () => Record<string, string>;
}): Promise<LoadResult> {
  const requests: autocannon.Request[] | undefined = options.perRequestHeaders
    ? [{ setupRequest: (req) => ({ ...req, headers: { ...(req.headers as Record<string, string> | undefined), ...options.perRequestHeaders!() } }) }]
    : undefined;
  // Warm-up: JIT, pools and caches settle before the measured run.
  const warmup = await autocannon({ url: options.url, method: options.method ?? 'GET', headers: options.headers, body: options.body, duration: 2, connections: options.connections ?? 32, ...(requests ? { requests } : {}) });
  const result = await autocannon({
    url: options.url,
    method: options.method ?? 'GET',
    headers: options.headers,
    body: options.body,
    ...(requests ? { requests } : {}),
    duration: options.seconds ?? 10,
    connections: options.connections ?? 32,
    pipelining: 1,
  });
  return {
    rps: Math.round(result.requests.average),
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    requests: result.requests.total,
    warmupRequests: warmup.requests.total,
  };
}

/**
 * The server process's CPU time (utime + stime from /proc) per request over a fixed number of GET
 * requests, after a warm-up of a fifth as many: a cost a busy host disturbs far less than req/s.
 */
export async function cpuPerRequest(pid: number, options: { url: string; headers?: Record<string, string>; requests: number }) {
  const request = { url: options.url, headers: options.headers ?? {}, connections: 32 };
  await autocannon({ ...request, amount: Math.ceil(options.requests / 5) }); // warm-up: JIT and caches settle
  const before = await processCpu(pid);
  const result = await autocannon({ ...request, amount: options.requests });
  const after = await processCpu(pid);
  const perRequest = (seconds: number) => (seconds * 1e6) / result.requests.total;
  return {
    cpuUsPerRequest: perRequest(after.total - before.total),
    /** Of which in the kernel (the socket reads and writes). */
    systemUsPerRequest: perRequest(after.system - before.system),
    rps: Math.round(result.requests.average),
    non2xx: result.non2xx,
  };
}
