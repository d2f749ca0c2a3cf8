// SIGTERM under load: readiness goes false first, requests keep being served while load balancers
// notice (SHUTDOWN_DRAIN_SECONDS), in-flight requests finish, the audit queue is flushed, and the
// process exits 0. A client that stops sending once /readyz says 503 sees no failed request, and
// every token it received has its audit event.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClientLibrary, SecretBox } from '@clouddocs/auth-server';
import { loadAuthConfig } from '@clouddocs/config';
import { createKnex, createTestDatabase, type Knex, type TestDatabase } from '@clouddocs/db';
import { freePort } from '../support/ports';
import { SERVICE_OLD_SPACE_MB } from '../../packages/cli/bin/heap.js';

const BIN = join(import.meta.dirname, '..', '..', 'packages', 'cli', 'bin', 'clouddocs.js');

describe('graceful shutdown', () => {
  let db: TestDatabase;
  let admin: Knex;
  let child: ChildProcess;
  let port: number;
  /** Who the running server is connected as (real PostgreSQL), read before this test opens connections of its own. */
  let serverLogins: string[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    admin = await createKnex({ url: db.url, poolMax: 2 });
    port = await freePort();
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      DATABASE_URL: db.url,
      REDIS_PREFIX: `lifecycle-${randomBytes(3).toString('hex')}:`,
      DATA_DIR: mkdtempSync(join(tmpdir(), 'clouddocs-lifecycle-')),
      AUTH_ISSUER: `http://127.0.0.1:${port}`,
      AUTH_PORT: String(port),
      SHUTDOWN_DRAIN_SECONDS: '1',
      LOG_LEVEL: 'warn',
    };
    delete env.MALLOC_ARENA_MAX; // the CLI's own allocator settings are under test
    delete env.GLIBC_TUNABLES;
    child = spawn(process.execPath, [BIN, 'start', '--service', 'auth'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
    const deadline = Date.now() + 60_000;
    while (!(await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false))) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error('the auth server did not start');
      await new Promise((r) => setTimeout(r, 200));
    }
    if (!db.embedded) {
      const probe = await createKnex({ url: db.url, poolMax: 1 });
      const { rows } = await probe.raw('SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()');
      serverLogins = rows.map((r: { usename: string }) => r.usename);
      await probe.destroy();
    }
  }, 90_000);

  afterAll(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    await admin?.destroy();
    await db?.drop();
  });

  it('clouddocs start migrated as the owner and serves as clouddocs_service: no connection of the owner is left open', () => {
    expect(serverLogins).toEqual(db.embedded ? [] : ['clouddocs_service']);
  });

  it('a service process runs with its heap limit, async context frames, one malloc arena and huge pages for malloc, in the process that was started (no wrapper left behind)', async () => {
    const { readFile } = await import('node:fs/promises');
    const cmdline = (await readFile(`/proc/${child.pid}/cmdline`, 'utf8')).split('\0').filter(Boolean);
    expect(cmdline).toContain(`--max-old-space-size=${SERVICE_OLD_SPACE_MB}`);
    expect(cmdline).toContain('--experimental-async-context-frame');
    expect(cmdline.slice(-3)).toEqual(['start', '--service', 'auth']);
    const environ = (await readFile(`/proc/${child.pid}/environ`, 'utf8')).split('\0');
    expect(environ).toContain('MALLOC_ARENA_MAX=1');
    expect(environ).toContain('GLIBC_TUNABLES=glibc.malloc.hugetlb=1');
  });

  it('SIGTERM under load: zero failed requests, zero lost audit events, exit code 0', async () => {
    const config = loadAuthConfig({ AUTH_ISSUER: `http://127.0.0.1:${port}` });
    const registered = await createClientLibrary({ knex: admin, box: new SecretBox(config.AUTH_ENCRYPTION_KEY), issuer: config.AUTH_ISSUER }).create({
      name: 'lifecycle',
      grants: ['client_credentials'],
    });
    const authorization = `Basic ${Buffer.from(`${registered.client_id}:${registered.client_secret}`).toString('base64')}`;

    let draining = false;
    let ok = 0;
    const failures: string[] = [];
    const poller = (async () => {
      while (!draining) {
        const status = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status, () => 0);
        if (status !== 200) draining = true;
        await new Promise((r) => setTimeout(r, 25));
      }
    })();
    const worker = async () => {
      while (!draining) {
        try {
          const r = await fetch(`http://127.0.0.1:${port}/token`, {
            method: 'POST',
            headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' },
            body: 'grant_type=client_credentials&scope=docs%3Aread',
          });
          const body = (await r.json()) as { access_token?: string };
          if (r.status === 200 && body.access_token) ok += 1;
          else failures.push(`status ${r.status}`);
        } catch (err) {
          failures.push((err as Error).message);
        }
      }
    };
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const load = Promise.all(Array.from({ length: 8 }, worker));
    await new Promise((r) => setTimeout(r, 1500));
    child.kill('SIGTERM');
    await Promise.all([load, poller]);
    const code = await exited;

    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(20);
    expect(code).toBe(0);
    const events = Number(
      (await admin('audit.events').where({ action: 'token.issued', outcome: 'success' }).whereRaw("detail->>'clientId' = ?", [registered.client_id]).count('* as n').first())!.n,
    );
    expect(events).toBe(ok);
  });
});
