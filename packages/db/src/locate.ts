// Finds the database to use: DATABASE_URL (the owner), else DATABASE_SERVICE_URL alone (a service
// container that is given only the services' login), else the embedded store that a running
// `npm start` publishes under DATA_DIR, else an embedded store this process hosts itself.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import { startEmbeddedPostgres, type EmbeddedPostgres } from './embedded';

export interface DatabaseLocation {
  readonly url: string;
  readonly embedded: boolean;
  /** Whether `url` is the owner's (migrations may run); false when only DATABASE_SERVICE_URL is given. */
  readonly owner: boolean;
  /** Stops the embedded store when this process hosts it; a no-op otherwise. */
  release(): Promise<void>;
}

interface HostRecord {
  pid: number;
  url: string;
}

const HOST_FILE = 'embedded-db.json';
const LOCK_FILE = 'pglite.lock';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function reachable(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((done) => {
    const socket = connect({ host: hostname, port: Number(port) });
    const finish = (ok: boolean) => {
      socket.destroy();
      done(ok);
    };
    socket.setTimeout(1000, () => finish(false));
    socket.once('connect', () => finish(true));
    socket.once('error', () => finish(false));
  });
}

async function runningHost(dataDir: string): Promise<HostRecord | undefined> {
  const file = join(dataDir, HOST_FILE);
  if (!existsSync(file)) return undefined;
  try {
    const record = JSON.parse(readFileSync(file, 'utf8')) as HostRecord;
    if (record.pid !== process.pid && alive(record.pid) && (await reachable(record.url))) return record;
  } catch {
    // unreadable or stale record: treated as no host
  }
  return undefined;
}

/** The live process that hosts or holds the embedded store under `dataDir`, if any (for tools that must not pull it away). */
export function embeddedStoreHolder(dataDir: string): number | undefined {
  for (const file of [HOST_FILE, LOCK_FILE]) {
    try {
      const text = readFileSync(join(dataDir, file), 'utf8');
      const pid = file === HOST_FILE ? (JSON.parse(text) as HostRecord).pid : Number(text);
      if (Number.isInteger(pid) && pid !== process.pid && alive(pid)) return pid;
    } catch {
      // absent or unreadable: nobody holds it through this file
    }
  }
  return undefined;
}

/** Takes the PGlite directory lock (one process at a time), waiting up to `waitMs` for a holder to finish. */
async function lockDataDir(dataDir: string, waitMs: number): Promise<() => void> {
  const file = join(dataDir, LOCK_FILE);
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      const fd = openSync(file, 'wx');
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number(readFileSync(file, 'utf8'));
      if (!Number.isInteger(holder) || !alive(holder)) {
        rmSync(file, { force: true });
        continue;
      }
      const host = await runningHost(dataDir);
      if (host) throw Object.assign(new Error('embedded database is hosted by another process'), { host });
      if (Date.now() > deadline) {
        throw new Error(`the embedded database under ${dataDir} is in use by process ${holder}; stop it or set DATABASE_URL`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/**
 * Resolves where the database is. With `host: true` this process serves the embedded store for
 * others (the CLI, other services) and records its address under DATA_DIR.
 */
export async function locateDatabase(
  config: { DATABASE_URL?: string | undefined; DATABASE_SERVICE_URL?: string | undefined; DATA_DIR: string },
  options: { host?: boolean } = {},
): Promise<DatabaseLocation> {
  if (config.DATABASE_URL) return { url: config.DATABASE_URL, embedded: false, owner: true, release: async () => {} };
  if (config.DATABASE_SERVICE_URL) return { url: config.DATABASE_SERVICE_URL, embedded: false, owner: false, release: async () => {} };
  const dataDir = resolve(config.DATA_DIR);
  mkdirSync(dataDir, { recursive: true });
  for (;;) {
    const running = await runningHost(dataDir);
    if (running) return { url: running.url, embedded: true, owner: true, release: async () => {} };
    let unlock: () => void;
    try {
      unlock = await lockDataDir(dataDir, 15_000);
    } catch (err) {
      if ((err as { host?: HostRecord }).host) continue;
      throw err;
    }
    let pg: EmbeddedPostgres;
    try {
      pg = await startEmbeddedPostgres({ dataDir: join(dataDir, 'pglite') });
    } catch (err) {
      unlock();
      throw err;
    }
    const hostFile = join(dataDir, HOST_FILE);
    if (options.host) writeFileSync(hostFile, JSON.stringify({ pid: process.pid, url: pg.url } satisfies HostRecord));
    return {
      url: pg.url,
      embedded: true,
      owner: true,
      async release() {
        if (options.host) rmSync(hostFile, { force: true });
        await pg.stop();
        unlock();
      },
    };
  }
}
