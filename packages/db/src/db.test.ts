// The database layer against the real store: PostgreSQL when DATABASE_URL is set, embedded PGlite otherwise.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  createKnex,
  createTestDatabase,
  freePort,
  locateDatabase,
  migrate,
  runNode,
  scramVerifier,
  SERVICE_ROLE,
  ServiceLoginError,
  startEmbeddedPostgres,
  type DatabaseLocation,
  type Knex,
  type Migration,
  type SchemaGrants,
  type TestDatabase,
} from './index';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function testDatabase(): Promise<TestDatabase> {
  const db = await createTestDatabase();
  cleanups.push(() => db.drop());
  return db;
}
async function knexFor(url: string, options: { poolMax?: number; serviceRole?: boolean; serviceUrl?: string } = {}): Promise<Knex> {
  const knex = await createKnex({ url, ...options });
  cleanups.push(() => knex.destroy());
  return knex;
}

const migrations: Migration[] = [
  {
    name: 'dbtest_001_notes',
    async up(knex) {
      await knex.raw('CREATE SCHEMA IF NOT EXISTS dbtest');
      await knex.raw('CREATE TABLE dbtest.notes (id serial PRIMARY KEY, body text NOT NULL)');
    },
  },
  {
    name: 'dbtest_002_ledger',
    async up(knex) {
      await knex.raw('CREATE TABLE dbtest.ledger (id serial PRIMARY KEY, entry text NOT NULL)');
    },
  },
];
const grants: SchemaGrants[] = [{ schema: 'dbtest', appendOnly: ['ledger'] }];

describe('startEmbeddedPostgres', () => {
  it('serves PGlite over the PostgreSQL wire protocol: an ordinary pg client can query it', async () => {
    const embedded = await startEmbeddedPostgres();
    cleanups.push(() => embedded.stop());
    expect(embedded.url).toMatch(/^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);
    const client = new pg.Client({ connectionString: embedded.url });
    await client.connect();
    try {
      const { rows } = await client.query('SELECT 1 + $1::int AS two, version() AS version', [1]);
      expect(rows[0].two).toBe(2);
      expect(rows[0].version).toMatch(/PostgreSQL/);
    } finally {
      await client.end();
    }
  });

  it('20 concurrent inserts (each its own transaction) through a knex pool of 5 all land', async () => {
    const embedded = await startEmbeddedPostgres();
    cleanups.push(() => embedded.stop());
    const knex = await knexFor(embedded.url, { poolMax: 5 });
    await knex.raw('CREATE TABLE hits (id serial PRIMARY KEY, n int NOT NULL)');
    await Promise.all(
      Array.from({ length: 20 }, (_, n) =>
        knex.transaction(async (trx) => {
          await trx('hits').insert({ n });
          await trx.raw('SELECT pg_sleep(0.01)');
        }),
      ),
    );
    const rows = await knex('hits').orderBy('n').pluck('n');
    expect(rows).toEqual(Array.from({ length: 20 }, (_, n) => n));
  });

  it('a rolled-back transaction on one connection leaves the others\' committed work intact', async () => {
    const embedded = await startEmbeddedPostgres();
    cleanups.push(() => embedded.stop());
    const knex = await knexFor(embedded.url, { poolMax: 3 });
    await knex.raw('CREATE TABLE t (v text)');
    const results = await Promise.allSettled([
      knex.transaction(async (trx) => {
        await trx('t').insert({ v: 'kept-1' });
      }),
      knex.transaction(async (trx) => {
        await trx('t').insert({ v: 'rolled-back' });
        throw new Error('abort');
      }),
      knex.transaction(async (trx) => {
        await trx('t').insert({ v: 'kept-2' });
      }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((await knex('t').pluck('v')).sort()).toEqual(['kept-1', 'kept-2']);
  });

  it('queries of many connections from several processes never mix (each Parse…Sync exchange stays together)', async () => {
    const embedded = await startEmbeddedPostgres();
    cleanups.push(() => embedded.stop());
    const admin = await knexFor(embedded.url);
    await admin.raw('CREATE TABLE two (a int NOT NULL, b text NOT NULL)');
    await admin.raw('CREATE TABLE four (a int NOT NULL, b text NOT NULL, c text NOT NULL, d text NOT NULL)');
    // Statements with different parameter counts, in and out of transactions, from 4 processes x 2 connections.
    const script = `
      const knex = (await import('knex')).default({ client: 'pg', connection: process.env.PG_URL, pool: { min: 0, max: 2 } });
      const id = Number(process.env.WORKER);
      const failures = [];
      let wrong = 0;
      await Promise.all(Array.from({ length: 40 }, async (_, i) => {
        const n = id * 1000 + i;
        try {
          if (i % 3 === 0) {
            await knex.transaction(async (trx) => {
              await trx('two').insert({ a: n, b: 'tx' });
              await trx('four').insert({ a: n, b: 'tx', c: 'c', d: 'd' });
            });
          } else if (i % 3 === 1) {
            await knex('four').insert({ a: n, b: 'plain', c: 'c', d: 'd' });
          } else {
            const rows = await knex.raw('SELECT ?::int + 1 AS v, ?::text AS w', [n, 'x' + n]);
            if (rows.rows[0].v !== n + 1 || rows.rows[0].w !== 'x' + n) wrong += 1;
          }
        } catch (err) {
          failures.push(err.message);
        }
      }));
      await knex.destroy();
      process.stdout.write(JSON.stringify({ failures, wrong }));
    `;
    const dbDir = fileURLToPath(new URL('..', import.meta.url));
    const results = await Promise.all(
      [0, 1, 2, 3].map(async (worker) => {
        const run = await runNode(['--input-type=module', '-e', script], { cwd: dbDir, env: { ...process.env, PG_URL: embedded.url, WORKER: String(worker) } });
        return JSON.parse(run.stdout || `{"failures":[${JSON.stringify(`no output: ${run.stderr}`)}],"wrong":0}`) as { failures: string[]; wrong: number };
      }),
    );
    expect(results.flatMap((r) => r.failures)).toEqual([]);
    expect(results.reduce((sum, r) => sum + r.wrong, 0)).toBe(0);
    // every write landed: 14 transactions (two + four) and 13 plain inserts per worker
    expect(await admin('two').count({ n: '*' })).toEqual([{ n: 4 * 14 }]);
    expect(await admin('four').count({ n: '*' })).toEqual([{ n: 4 * (14 + 13) }]);
  });

  it('a data directory keeps its data across a stop and a start', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'clouddocs-pglite-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const first = await startEmbeddedPostgres({ dataDir: join(dir, 'pglite') });
    const k1 = await createKnex({ url: first.url });
    await k1.raw('CREATE TABLE kept (v text)');
    await k1('kept').insert({ v: 'survives' });
    await k1.destroy();
    await first.stop();
    await first.stop(); // a second stop is a no-op
    const second = await startEmbeddedPostgres({ dataDir: join(dir, 'pglite') });
    cleanups.push(() => second.stop());
    const k2 = await knexFor(second.url);
    expect(await k2('kept').pluck('v')).toEqual(['survives']);
  });
});

describe('createTestDatabase', () => {
  it('gives each caller its own isolated database', async () => {
    const a = await testDatabase();
    const b = await testDatabase();
    expect(a.url).not.toBe(b.url);
    expect(a.embedded).toBe(!process.env.DATABASE_URL);
    const ka = await knexFor(a.url);
    const kb = await knexFor(b.url);
    await ka.raw('CREATE TABLE only_in_a (v text)');
    await ka('only_in_a').insert({ v: 'a' });
    const { rows } = await kb.raw(`SELECT to_regclass('public.only_in_a') AS t`);
    expect(rows[0].t).toBeNull();
  });

  it('drop removes the database', async () => {
    const db = await createTestDatabase();
    const url = db.url;
    await db.drop();
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
    await expect(client.connect()).rejects.toThrow();
    await client.end().catch(() => {});
  });
});

describe('migrate', () => {
  it('applies every migration once; a second run applies nothing', async () => {
    const db = await testDatabase();
    const knex = await knexFor(db.url);
    expect(await migrate(knex, migrations, grants)).toEqual(['dbtest_001_notes', 'dbtest_002_ledger']);
    expect(await migrate(knex, migrations, grants)).toEqual([]);
    const recorded = await knex('clouddocs_meta.migrations').orderBy('id').pluck('name');
    expect(recorded).toEqual(['dbtest_001_notes', 'dbtest_002_ledger']);
  });

  it('a migration added later is the only one applied on the next run', async () => {
    const db = await testDatabase();
    const knex = await knexFor(db.url);
    await migrate(knex, migrations.slice(0, 1), [{ schema: 'dbtest' }]);
    expect(await migrate(knex, migrations, grants)).toEqual(['dbtest_002_ledger']);
  });

  it('creates clouddocs_service as a LOGIN role (no superuser, no role or database creation) and grants it the schema', async () => {
    const db = await testDatabase();
    const knex = await knexFor(db.url);
    await migrate(knex, migrations, grants);
    const { rows } = await knex.raw(`SELECT rolname, rolcanlogin, rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = ?`, [SERVICE_ROLE]);
    expect(rows).toEqual([{ rolname: 'clouddocs_service', rolcanlogin: true, rolsuper: false, rolcreaterole: false, rolcreatedb: false }]);
    const privileges = await knex.raw(
      `SELECT has_table_privilege(?, 'dbtest.notes', 'UPDATE') AS notes_update,
              has_table_privilege(?, 'dbtest.ledger', 'INSERT') AS ledger_insert,
              has_table_privilege(?, 'dbtest.ledger', 'UPDATE') AS ledger_update,
              has_table_privilege(?, 'dbtest.ledger', 'DELETE') AS ledger_delete`,
      [SERVICE_ROLE, SERVICE_ROLE, SERVICE_ROLE, SERVICE_ROLE],
    );
    expect(privileges.rows[0]).toEqual({ notes_update: true, ledger_insert: true, ledger_update: false, ledger_delete: false });
  });

  it('two migrate runs racing apply each migration exactly once', async () => {
    const db = await testDatabase();
    const k1 = await knexFor(db.url);
    const k2 = await knexFor(db.url);
    const settled = await Promise.allSettled([migrate(k1, migrations, grants), migrate(k2, migrations, grants)]);
    const applied = settled.flatMap((s) => (s.status === 'fulfilled' ? s.value : []));
    // knex's migration lock lets one run apply; the other waits (or reports the lock) and applies nothing twice
    expect(applied.sort()).toEqual(['dbtest_001_notes', 'dbtest_002_ledger']);
    expect(await migrate(k1, migrations, grants)).toEqual([]);
  });
  it('many processes migrating an up-to-date database at once all succeed (every CLI command and service start migrates)', async () => {
    const db = await testDatabase();
    const first = await knexFor(db.url);
    await migrate(first, migrations, grants);
    const others = await Promise.all(Array.from({ length: 8 }, () => knexFor(db.url, { poolMax: 1 })));
    for (let round = 0; round < 3; round++) {
      const settled = await Promise.allSettled(others.map((k) => migrate(k, migrations, grants)));
      expect(settled.filter((s) => s.status === 'rejected').map((s) => String((s as PromiseRejectedResult).reason))).toEqual([]);
      expect(settled.map((s) => (s as PromiseFulfilledResult<string[]>).value)).toEqual(others.map(() => []));
    }
  });
});

describe('createKnex({ serviceRole: true }): the services\' own login', () => {
  it('on a real server it connects as clouddocs_service; on the embedded store (one shared session) it stays the owner', async () => {
    const db = await testDatabase();
    const admin = await knexFor(db.url);
    await migrate(admin, migrations, grants);
    const { rows: owner } = await admin.raw('SELECT session_user AS role');
    const service = await knexFor(db.url, { serviceRole: true, poolMax: 2 });
    const { rows } = await service.raw('SELECT session_user AS login, current_user AS role');
    expect(rows[0]).toEqual(db.embedded ? { login: owner[0].role, role: owner[0].role } : { login: SERVICE_ROLE, role: SERVICE_ROLE });
    // the owner's own connections are never restricted by it
    expect((await admin.raw('SELECT current_user AS role')).rows[0].role).toBe(owner[0].role);
  });

  it('the service role may insert into an append-only table but not update or delete it', async () => {
    const db = await testDatabase();
    const admin = await knexFor(db.url);
    await migrate(admin, migrations, grants);
    // SET LOCAL ROLE inside one transaction works on both stores (the embedded one included).
    const asService = (body: (trx: Knex.Transaction) => Promise<unknown>) =>
      admin.transaction(async (trx) => {
        await trx.raw(`SET LOCAL ROLE ${SERVICE_ROLE}`);
        expect((await trx.raw('SELECT current_user AS role')).rows[0].role).toBe(SERVICE_ROLE);
        await body(trx);
      });
    await asService(async (trx) => {
      await trx('dbtest.ledger').insert({ entry: 'appended' });
      await trx('dbtest.notes').insert({ body: 'note' });
      await trx('dbtest.notes').update({ body: 'edited' });
    });
    await expect(asService((trx) => trx('dbtest.ledger').update({ entry: 'rewritten' }))).rejects.toThrow(/permission denied/);
    await expect(asService((trx) => trx('dbtest.ledger').del())).rejects.toThrow(/permission denied/);
    expect(await admin('dbtest.ledger').pluck('entry')).toEqual(['appended']);
    expect(await admin('dbtest.notes').pluck('body')).toEqual(['edited']);
    expect((await admin.raw('SELECT current_user AS role')).rows[0].role).not.toBe(SERVICE_ROLE);
  });

  it('an unreachable server is not an error at creation: the pool connects when it is back', async () => {
    const port = await freePort();
    const knex = await knexFor(`postgres://postgres@127.0.0.1:${port}/nowhere`, { serviceRole: true, poolMax: 1 });
    await expect(knex.raw('SELECT 1')).rejects.toThrow();
  });

  describe.skipIf(!process.env.DATABASE_URL)('on a real server', () => {
    it('every pooled connection is the login itself, not a superuser, and cannot rewrite the append-only table', async () => {
      const db = await testDatabase();
      const admin = await knexFor(db.url);
      await migrate(admin, migrations, grants);
      const service = await knexFor(db.url, { serviceRole: true, poolMax: 3 });
      const logins = await Promise.all(
        Array.from({ length: 6 }, () =>
          service.transaction(async (trx) => (await trx.raw(`SELECT session_user AS login, r.rolsuper AS superuser, pg_sleep(0.02) FROM pg_roles r WHERE r.rolname = session_user`)).rows[0]),
        ),
      );
      expect(logins.map((l) => ({ login: l.login, superuser: l.superuser }))).toEqual(logins.map(() => ({ login: SERVICE_ROLE, superuser: false })));
      await service('dbtest.ledger').insert({ entry: 'appended' });
      await expect(service('dbtest.ledger').update({ entry: 'rewritten' })).rejects.toThrow(/permission denied/);
    });

    it('RESET ROLE gives nothing back: the login is the role, so DELETE stays refused, and no SET ROLE to the owner', async () => {
      const db = await testDatabase();
      const admin = await knexFor(db.url);
      await migrate(admin, migrations, grants);
      await admin('dbtest.ledger').insert({ entry: 'kept' });
      const service = await knexFor(db.url, { serviceRole: true, poolMax: 1 });
      await expect(service.raw('RESET ROLE; DELETE FROM dbtest.ledger')).rejects.toThrow(/permission denied/);
      await expect(service.raw('RESET SESSION AUTHORIZATION; DELETE FROM dbtest.ledger')).rejects.toThrow(/permission denied/);
      await expect(service.raw('ALTER TABLE dbtest.ledger DISABLE TRIGGER ALL')).rejects.toThrow(/must be owner/);
      const owner = (await admin.raw('SELECT session_user AS role')).rows[0].role as string;
      await expect(service.raw(`SET ROLE ${owner}`)).rejects.toThrow(/permission denied/);
      expect(await admin('dbtest.ledger').pluck('entry')).toEqual(['kept']);
    });

    it('a service URL naming a superuser, the owner, or no login is refused with ServiceLoginError', async () => {
      const db = await testDatabase();
      const admin = await knexFor(db.url);
      await migrate(admin, migrations, grants);
      await expect(createKnex({ url: db.url, serviceRole: true, serviceUrl: db.url })).rejects.toThrow(ServiceLoginError);
      await expect(createKnex({ url: db.url, serviceRole: true, serviceUrl: db.url })).rejects.toThrow(/is a superuser/);

      const nobody = new URL(db.url);
      nobody.username = `clouddocs_nobody_${process.pid}`;
      await expect(createKnex({ url: db.url, serviceRole: true, serviceUrl: nobody.toString() })).rejects.toThrow(/login clouddocs_nobody_\d+ is refused/);

      // a login that owns the schema (not a superuser) is refused too
      const ownerRole = `clouddocs_t_owner_${randomBytes(4).toString('hex')}`;
      await admin.raw(`CREATE ROLE ${ownerRole} LOGIN`);
      cleanups.push(async () => {
        const k = await createKnex({ url: db.url, poolMax: 1 });
        await k.raw(`REASSIGN OWNED BY ${ownerRole} TO CURRENT_USER; DROP OWNED BY ${ownerRole}; DROP ROLE ${ownerRole}`).catch(() => {});
        await k.destroy();
      });
      await admin.raw(`ALTER SCHEMA clouddocs_meta OWNER TO ${ownerRole}`);
      const asOwner = new URL(db.url);
      asOwner.username = ownerRole;
      await expect(createKnex({ url: db.url, serviceRole: true, serviceUrl: asOwner.toString() })).rejects.toThrow(/has the schema owner's privileges/);
      await admin.raw(`ALTER SCHEMA clouddocs_meta OWNER TO CURRENT_USER`);
    });

    it('a password in DATABASE_SERVICE_URL becomes the login\'s password, stored as a SCRAM verifier (the password itself never sent)', async () => {
      const db = await testDatabase();
      const admin = await knexFor(db.url);
      cleanups.push(async () => {
        const k = await createKnex({ url: db.url, poolMax: 1 });
        await k.raw(`ALTER ROLE ${SERVICE_ROLE} PASSWORD NULL`).catch(() => {});
        await k.destroy();
      });
      const serviceUrl = new URL(db.url);
      serviceUrl.username = SERVICE_ROLE;
      serviceUrl.password = 'sample service password';
      await migrate(admin, migrations, grants, { serviceUrl: serviceUrl.toString() });
      const { rows } = await admin.raw(`SELECT rolpassword FROM pg_authid WHERE rolname = ?`, [SERVICE_ROLE]);
      const stored = String(rows[0].rolpassword);
      const salt = Buffer.from(/^SCRAM-SHA-256\$4096:([^$]+)\$/.exec(stored)![1]!, 'base64');
      expect(stored).toBe(scramVerifier('sample service password', salt));
    });

    it('scramVerifier agrees with PostgreSQL\'s own: the verifier the server makes from a password, given its salt', async () => {
      const db = await testDatabase();
      const admin = await knexFor(db.url);
      const role = `clouddocs_t_scram_${randomBytes(4).toString('hex')}`;
      await admin.raw(`SET password_encryption = 'scram-sha-256'; CREATE ROLE ${role} NOLOGIN PASSWORD 'pencil'`);
      cleanups.push(async () => {
        const k = await createKnex({ url: db.url, poolMax: 1 });
        await k.raw(`DROP ROLE IF EXISTS ${role}`).catch(() => {});
        await k.destroy();
      });
      const stored = String((await admin.raw(`SELECT rolpassword FROM pg_authid WHERE rolname = ?`, [role])).rows[0].rolpassword);
      const [, iterations, salt] = /^SCRAM-SHA-256\$(\d+):([^$]+)\$/.exec(stored)!;
      expect(scramVerifier('pencil', Buffer.from(salt!, 'base64'), Number(iterations))).toBe(stored);
    });
  });

  it('bigint values come back as numbers', async () => {
    const db = await testDatabase();
    const knex = await knexFor(db.url);
    const { rows } = await knex.raw('SELECT count(*) AS n, 9007199254740::bigint AS big FROM generate_series(1, 3)');
    expect(rows[0]).toEqual({ n: 3, big: 9007199254740 });
  });
});

describe('locateDatabase', () => {
  const dirs: string[] = [];
  const locations: DatabaseLocation[] = [];
  afterEach(async () => {
    for (const l of locations.splice(0)) await l.release();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const dataDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'clouddocs-locate-'));
    dirs.push(dir);
    return dir;
  };

  /** A second process (as the CLI is) that locates the database under `dir`, writes `write` and reads table `seen`. */
  async function otherProcess(dir: string, write: string): Promise<{ url: string; embedded: boolean; seen: string[]; code: number | null; stderr: string }> {
    const dbIndex = fileURLToPath(new URL('./index.ts', import.meta.url));
    const script = `
      const { locateDatabase } = await import(${JSON.stringify(dbIndex)});
      const pg = (await import('pg')).default;
      const location = await locateDatabase({ DATA_DIR: ${JSON.stringify(dir)} });
      const client = new pg.Client({ connectionString: location.url });
      await client.connect();
      await client.query('INSERT INTO seen (v) VALUES ($1)', [${JSON.stringify(write)}]);
      const { rows } = await client.query('SELECT v FROM seen ORDER BY v');
      await client.end();
      await location.release();
      process.stdout.write(JSON.stringify({ url: location.url, embedded: location.embedded, seen: rows.map((r) => r.v) }));
    `;
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.DATABASE_URL;
    const run = await runNode(['--import', 'tsx', '--input-type=module', '-e', script], { cwd: fileURLToPath(new URL('..', import.meta.url)), env });
    try {
      return { ...JSON.parse(run.stdout || '{}'), code: run.code, stderr: run.stderr };
    } catch {
      return { url: '', embedded: false, seen: [], code: run.code, stderr: `${run.stderr}\nstdout: ${run.stdout}` };
    }
  }

  it('DATABASE_URL wins: no embedded store is started', async () => {
    const dir = dataDir();
    const location = await locateDatabase({ DATABASE_URL: 'postgres://u@db.example:5432/x', DATA_DIR: dir });
    expect(location).toMatchObject({ url: 'postgres://u@db.example:5432/x', embedded: false });
    expect(existsSync(join(dir, 'embedded-db.json'))).toBe(false);
    expect(existsSync(join(dir, 'pglite'))).toBe(false);
    await location.release();
  });

  it('a host publishes embedded-db.json; a second process connects to the same database through it; release removes it', async () => {
    const dir = dataDir();
    const host = await locateDatabase({ DATA_DIR: dir }, { host: true });
    locations.push(host);
    expect(host.embedded).toBe(true);
    const record = JSON.parse(readFileSync(join(dir, 'embedded-db.json'), 'utf8')) as { pid: number; url: string };
    expect(record).toEqual({ pid: process.pid, url: host.url });

    const knex = await knexFor(host.url);
    await knex.raw('CREATE TABLE seen (v text)');
    await knex('seen').insert({ v: 'from-host' });

    // The CLI, while the host runs: it must share the hosted database, not open PGlite a second time.
    const cli = await otherProcess(dir, 'from-cli');
    expect(cli.stderr).toBe('');
    expect(cli.code).toBe(0);
    expect(cli).toMatchObject({ url: host.url, embedded: true, seen: ['from-cli', 'from-host'] });
    expect(await knex('seen').orderBy('v').pluck('v')).toEqual(['from-cli', 'from-host']);
    // the CLI's release left the host serving
    expect(existsSync(join(dir, 'embedded-db.json'))).toBe(true);
    expect((await knex.raw('SELECT 1 AS ok')).rows[0].ok).toBe(1);

    await knex.destroy();
    await host.release();
    locations.splice(locations.indexOf(host), 1);
    expect(existsSync(join(dir, 'embedded-db.json'))).toBe(false);
    expect(existsSync(join(dir, 'pglite.lock'))).toBe(false);
  });

  it('without a host, a process opens the store itself, and the next one finds the same data after it released', async () => {
    const dir = dataDir();
    const first = await locateDatabase({ DATA_DIR: dir });
    expect(first.embedded).toBe(true);
    expect(existsSync(join(dir, 'embedded-db.json'))).toBe(false); // not a host: nothing published
    const k = await createKnex({ url: first.url });
    await k.raw('CREATE TABLE seen (v text)');
    await k('seen').insert({ v: 'first' });
    await k.destroy();
    await first.release();
    expect(existsSync(join(dir, 'pglite.lock'))).toBe(false);

    const second = await otherProcess(dir, 'second');
    expect(second.stderr).toBe('');
    expect(second).toMatchObject({ code: 0, embedded: true, seen: ['first', 'second'] });
  });

  it('a stale host record (dead process) is ignored and a stale lock is taken over', async () => {
    const dir = dataDir();
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(dir, 'embedded-db.json'), JSON.stringify({ pid: 2 ** 22 + 12345, url: 'postgres://postgres@127.0.0.1:1/postgres' }));
    writeFileSync(join(dir, 'pglite.lock'), String(2 ** 22 + 12345));
    const location = await locateDatabase({ DATA_DIR: dir }, { host: true });
    locations.push(location);
    expect(location.url).not.toContain(':1/');
    const knex = await knexFor(location.url);
    expect((await knex.raw('SELECT 1 AS ok')).rows[0].ok).toBe(1);
    expect(JSON.parse(readFileSync(join(dir, 'embedded-db.json'), 'utf8'))).toEqual({ pid: process.pid, url: location.url });
  });
});
