// The embedded PostgreSQL: one PGlite, served over the PostgreSQL wire protocol on a loopback port,
// so that the services and the CLI all use the ordinary `pg` driver, exactly as with a real server.
import { mkdirSync } from 'node:fs';
// Types only: PGlite (a WebAssembly PostgreSQL, ~50 MB of resident memory once loaded) is imported when an
// embedded database is started, so a service on a real PostgreSQL never loads it.
import type { PGlite } from '@electric-sql/pglite';

export interface EmbeddedPostgres {
  readonly url: string;
  stop(): Promise<void>;
}

// PGlite is one database session. The socket server runs one connection's messages at a time and keeps
// a connection to itself only while a transaction is open; between transactions it interleaves single
// messages of different connections. An extended-query exchange (Parse, Bind, Describe, Execute … Sync)
// lives in the session's unnamed statement and portal, so another connection's Parse in the middle
// would make the first one bind or execute the wrong statement ("bind message supplies 4 parameters,
// but prepared statement "" requires 2"). So the server is told a transaction is open from a Parse/Bind/
// Describe/Execute/Close/Flush until the exchange's Sync (or a simple Query); a connection that goes
// away mid-exchange is cleaned up as if mid-transaction (the server's ROLLBACK ends the exchange).
const EXCHANGE_MESSAGES = new Set([0x50, 0x42, 0x44, 0x45, 0x43, 0x48]); // P B D E C H

function withAtomicExchanges(db: PGlite): PGlite {
  let inExchange = false;
  return new Proxy(db, {
    get(target, prop) {
      if (prop === 'isInTransaction') return () => inExchange || target.isInTransaction();
      if (prop === 'execProtocolRawStream') {
        return async (message: Uint8Array, options: Parameters<PGlite['execProtocolRawStream']>[1]) => {
          inExchange = EXCHANGE_MESSAGES.has(message[0] ?? 0);
          return target.execProtocolRawStream(message, options);
        };
      }
      if (prop === 'exec') {
        return async (query: string, options?: Parameters<PGlite['exec']>[1]) => {
          inExchange = false;
          return target.exec(query, options);
        };
      }
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** Starts PGlite (on disk under `dataDir`, or in memory) and serves it on 127.0.0.1:<ephemeral>. */
export async function startEmbeddedPostgres(options: { dataDir?: string; maxConnections?: number } = {}): Promise<EmbeddedPostgres> {
  if (options.dataDir) mkdirSync(options.dataDir, { recursive: true });
  const [{ PGlite }, { PGLiteSocketServer }] = await Promise.all([import('@electric-sql/pglite'), import('@electric-sql/pglite-socket')]);
  const db = options.dataDir ? await PGlite.create(options.dataDir) : await PGlite.create();
  const server = new PGLiteSocketServer({ db: withAtomicExchanges(db), host: '127.0.0.1', port: 0, maxConnections: options.maxConnections ?? 24 });
  await server.start();
  const url = `postgres://postgres@${server.getServerConn()}/postgres`;
  let stopped = false;
  return {
    url,
    async stop() {
      if (stopped) return;
      stopped = true;
      await server.stop();
      await db.close();
    },
  };
}
