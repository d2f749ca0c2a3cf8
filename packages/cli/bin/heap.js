// The V8 heap limit a service process (`clouddocs start --service auth|docs`) runs with.
//
// Under sustained load V8 lets the old space fill with garbage it collects only when it must: with the
// defaults the auth server held 330–370 MB resident under token-endpoint load, almost all of it dead
// objects (bench/src/exp-rss.ts). With a limit V8 collects sooner and a service process stays under
// 200 MB. A service's live heap is far below the limit: ~40 MB after start, and every cache that grows with
// traffic is bounded by count (clients, verified tokens, authorization entries). An operator's own
// `--max-old-space-size` (on the command line or in NODE_OPTIONS) is left as it is.
export const SERVICE_OLD_SPACE_MB = 160;

/** The flags to add to a service process's command line: none when the operator set a limit. */
export function serviceHeapFlags(execArgv = process.execArgv, env = process.env) {
  const given = [...execArgv, env.NODE_OPTIONS ?? ''].join(' ');
  return given.includes('--max-old-space-size') ? [] : [`--max-old-space-size=${SERVICE_OLD_SPACE_MB}`];
}

/** Whether these CLI arguments start one service (auth or docs) in this process. */
export function startsOneService(args) {
  return args.includes('start') && /--service(=|\s+)(auth|docs)\b/.test(args.join(' '));
}
