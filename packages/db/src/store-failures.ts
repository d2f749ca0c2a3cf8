// Telling a store outage from a fault of the request, by error class and code (never message text):
// a database that cannot serve or went away under a query is a 503 in both services, a value it
// refuses is not. Both services classify their failures here.
import type { Knex } from 'knex';

// PostgreSQL SQLSTATE classes of a store that cannot serve: 08 connection exception, 53 insufficient
// resources (too many connections, disk full, out of memory), 57P operator intervention (shutdown,
// cannot connect now), 58 system error (I/O).
const STORE_SQLSTATE = /^(08|53|57P|58)/;
// Socket errnos of a store that cannot be reached or went away.
const STORE_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'ENOTCONN', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * Errors the driver raised under a query without the server answering it (the connection closed or
 * broke mid-query or mid-transaction): node-postgres gives these no class or code of their own, so
 * they are recognised where they arise, by knex's `query-error` event: a plain `Error` without a code.
 * A TypeError or RangeError there (a value that cannot be sent) is a fault of ours, not an outage.
 */
const driverFailures = new WeakSet<object>();
const watched = new WeakSet<object>();

/** Marks the connection failures of `knex`'s queries (transactions included) as store outages. */
export function watchStoreFailures(knex: Knex): void {
  if (watched.has(knex)) return;
  watched.add(knex);
  knex.on('query-error', (err: unknown) => {
    if (err instanceof Error && err.constructor === Error && (err as { code?: unknown }).code === undefined) driverFailures.add(err);
  });
}

/** A database or cache that cannot be reached or failed under the request: an outage (503), not a fault of the request. */
export function isStoreFailure(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  if (driverFailures.has(err)) return true;
  const { code, name } = err as { code?: unknown; name?: unknown };
  if (name === 'KnexTimeoutError') return true; // no connection free within the pool's acquire timeout
  if (typeof code !== 'string') return false;
  return STORE_ERRNO.has(code) || (/^[0-9A-Z]{5}$/.test(code) && STORE_SQLSTATE.test(code));
}
