// The services connect to PostgreSQL as their own login, never as the owner or a superuser: with CI's
// DATABASE_URL (the `postgres` superuser) the running auth server and docs API still hold only
// `clouddocs_service`'s privileges, so no statement of theirs can rewrite the audit log. The embedded
// PGlite is one shared session, where the append-only triggers are the wall.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateAll } from '@clouddocs/cli';
import { createKnex, createTestDatabase, runNode, serviceUrl, type TestDatabase } from '@clouddocs/db';
import { startDocsStack, type DocsStack } from '../docs/support';
import { freePort } from '../support/ports';

const real = Boolean(process.env.DATABASE_URL);
const BIN = join(import.meta.dirname, '..', '..', 'packages', 'cli', 'bin', 'clouddocs.js');

describe('the services\' database login', () => {
  let stack: DocsStack;
  beforeAll(async () => {
    stack = await startDocsStack();
  });
  afterAll(async () => {
    await stack?.stop();
  });

  const services = () => [
    ['auth server', stack.auth.knex],
    ['docs API', stack.docs.knex],
  ] as const;

  it('on PostgreSQL both running services are connected as clouddocs_service, which is not a superuser (embedded: the one shared session)', async () => {
    const shared = (await stack.admin.raw('SELECT session_user AS login')).rows[0].login as string;
    for (const [name, knex] of services()) {
      const { rows } = await knex.raw('SELECT session_user AS login, r.rolsuper AS superuser FROM pg_roles r WHERE r.rolname = session_user');
      expect(rows, name).toEqual(real ? [{ login: 'clouddocs_service', superuser: false }] : [{ login: shared, superuser: true }]);
    }
  });

  it('through a service\'s own pool the audit log cannot be emptied: RESET ROLE; DELETE or TRUNCATE is refused, the trigger cannot be switched off', async () => {
    const before = Number((await stack.admin('audit.events').count({ n: '*' }))[0]!.n);
    for (const [name, knex] of services()) {
      await expect(knex.raw('RESET ROLE; TRUNCATE audit.events'), name).rejects.toThrow(real ? /permission denied/ : /append-only/);
      if (!real) continue; // the embedded session is the owner's: there the trigger is the wall
      await expect(knex.raw('RESET ROLE; DELETE FROM audit.events'), name).rejects.toThrow(/permission denied/);
      await expect(knex.raw('ALTER TABLE audit.events DISABLE TRIGGER ALL'), name).rejects.toThrow(/must be owner/);
    }
    expect(Number((await stack.admin('audit.events').count({ n: '*' }))[0]!.n)).toBe(before);
  });
});

// A service container in infra/ gets only DATABASE_SERVICE_URL: it must serve without the owner's credential.
describe.skipIf(!real)('clouddocs start given only DATABASE_SERVICE_URL', () => {
  let db: TestDatabase;
  let child: ChildProcess | undefined;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGKILL');
      await new Promise((r) => child!.once('exit', r));
    }
    await db?.drop();
  });
  const serviceEnv = (port: number): NodeJS.ProcessEnv => {
    const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_SERVICE_URL: serviceUrl(db.url), AUTH_PORT: String(port), AUTH_ISSUER: `http://127.0.0.1:${port}`, LOG_LEVEL: 'warn' };
    delete env.DATABASE_URL;
    return env;
  };

  it('refuses to serve a schema with pending migrations, naming `clouddocs migrate`', async () => {
    const run = await runNode([BIN, 'start', '--service', 'auth'], { env: serviceEnv(await freePort()) });
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/^clouddocs: \d+ migration\(s\) pending \(.*\): run `clouddocs migrate` with the owner's DATABASE_URL first$/m);
  });

  it('once the owner has migrated, serves as clouddocs_service and holds no other login', { timeout: 90_000 }, async () => {
    const owner = await createKnex({ url: db.url, poolMax: 1 });
    await migrateAll(owner);
    await owner.destroy();
    const port = await freePort();
    child = spawn(process.execPath, [BIN, 'start', '--service', 'auth'], { env: serviceEnv(port), stdio: ['ignore', 'ignore', 'inherit'] });
    const deadline = Date.now() + 60_000;
    while (!(await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false))) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error('the auth server did not start');
      await new Promise((r) => setTimeout(r, 200));
    }
    const probe = await createKnex({ url: db.url, poolMax: 1 });
    const { rows } = await probe.raw('SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()');
    await probe.destroy();
    expect(rows.map((r: { usename: string }) => r.usename)).toEqual(['clouddocs_service']);
  });
});
