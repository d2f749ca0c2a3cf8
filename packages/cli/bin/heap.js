// How a service process (`clouddocs start --service auth|docs`) runs: its V8 heap limit, async context
// frames and malloc arenas, each only where the operator did not choose.
//
// The heap limit. Under sustained load V8 lets the old space fill with garbage it collects only when it must: without a
// limit the auth server held 280–370 MB resident under token-endpoint load, almost all of it dead objects
// (bench/src/exp-rss.ts). With a limit V8 collects sooner and a service process stays under 200 MB
// (175–185 MB there with 160, 200 or 256 alike). The price is garbage-collection work: at saturation
// 10–20 % more CPU per token request and a higher p99 (measured in BENCHMARKS.md, "Memory"); any limit up
// to 256 costs about the same, so the largest is taken, for the most headroom above a service's live heap
// (40–60 MB; every cache that grows with traffic is bounded by count). An operator's own
// `--max-old-space-size` (on the command line or in NODE_OPTIONS) is left as it is: a large one trades the
// memory back for that CPU.
export const SERVICE_OLD_SPACE_MB = 256;

/** Whether the operator's command line or NODE_OPTIONS names a Node.js option containing `part`. */
function operatorChose(part, execArgv, env) {
  return [...execArgv, env.NODE_OPTIONS ?? ''].join(' ').includes(part);
}

/** The flags to add to a service process's command line: none when the operator set a limit. */
export function serviceHeapFlags(execArgv = process.execArgv, env = process.env) {
  return operatorChose('--max-old-space-size', execArgv, env) ? [] : [`--max-old-space-size=${SERVICE_OLD_SPACE_MB}`];
}

/**
 * The allocator settings a service process runs with, each only where the operator did not set it.
 *
 * glibc's malloc in one arena (MALLOC_ARENA_MAX=1). By default glibc gives each thread that allocates its
 * own arena, and each keeps what was freed in it for that thread's next allocation; a password hash takes
 * 19 MiB (argon2id's m) on whichever libuv thread runs it, so every thread of the pool ends up holding one.
 * In one arena the freed blocks meet and return to the system (auth server after sign-ins: 240–266 MB
 * resident with the default, 161–185 MB with one arena; BENCHMARKS.md, "Memory").
 *
 * Transparent huge pages for malloc's memory (GLIBC_TUNABLES=glibc.malloc.hugetlb=1, glibc 2.35 and
 * later; nothing where the kernel's THP is off, and ignored by other C libraries). Memory returned to the
 * system is faulted in again by the next hash: 4,864 page faults for 19 MiB in 4 KiB pages, about ten in
 * 2 MiB ones, and fewer TLB misses while argon2 walks it. Server CPU per sign-in on the libuv threads fell
 * from 54–58 to 41–43 ms (system time 11–14 -> 4 ms), resident memory the same (BENCHMARKS.md, round 5).
 */
export function serviceAllocatorEnv(env = process.env) {
  return {
    ...(env.MALLOC_ARENA_MAX === undefined ? { MALLOC_ARENA_MAX: '1' } : {}),
    ...(env.GLIBC_TUNABLES === undefined ? { GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1' } : {}),
  };
}

/**
 * AsyncLocalStorage through V8's continuation frames (`--experimental-async-context-frame`, the default
 * from Node.js 24) instead of a promise hook: the auth server keeps each request's scope in
 * AsyncLocalStorage (so does oidc-provider), and with the hook every promise the process creates pays for
 * it. The token endpoint's CPU per request fell about 9 % (median of alternated rounds; BENCHMARKS.md, round 4).
 * Added only where this Node.js knows the flag and the operator did not choose either way.
 */
export function serviceContextFlags(execArgv = process.execArgv, env = process.env) {
  const flag = '--experimental-async-context-frame';
  return operatorChose('async-context-frame', execArgv, env) || !process.allowedNodeEnvironmentFlags.has(flag) ? [] : [flag];
}

/** Every flag a service process adds to its command line (heap limit, async context). */
export function serviceNodeFlags(execArgv = process.execArgv, env = process.env) {
  return [...serviceHeapFlags(execArgv, env), ...serviceContextFlags(execArgv, env)];
}

/** Whether these CLI arguments start one service (auth or docs) in this process. */
export function startsOneService(args) {
  return args.includes('start') && /--service(=|\s+)(auth|docs)\b/.test(args.join(' '));
}
