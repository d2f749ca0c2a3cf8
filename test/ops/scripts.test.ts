// The developer helpers under scripts/, run as a developer runs them (npm run dev-keys | demo | reset-data):
// fresh keys the services accept off localhost; the demo printed again while `npm start` holds the embedded
// store (same clients, a new password that signs in); the embedded data deleted only once nothing holds it.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { argon2ParamsFrom, createAccountLibrary, PasswordHasher } from '@clouddocs/auth-server';
import { DEMO_EMAIL, migrateAll, seedDemoOnce } from '@clouddocs/cli';
import { loadAuthConfig, loadDocsConfig } from '@clouddocs/config';
import { createKnex, locateDatabase, runNode, type DatabaseLocation } from '@clouddocs/db';

const REPO = join(import.meta.dirname, '..', '..');

/** `npm run NAME` without npm: the same `node --import tsx scripts/NAME.ts`, on the embedded stores under `dataDir`. */
function script(name: string, dataDir?: string, args: string[] = []) {
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'silent', ...(dataDir ? { DATA_DIR: dataDir } : {}) };
  for (const key of ['DATABASE_URL', 'DATABASE_SERVICE_URL', 'REDIS_URL']) delete env[key];
  return runNode(['--import', 'tsx', join('scripts', `${name}.ts`), ...args], { cwd: REPO, env });
}

const field = (text: string, pattern: RegExp) => pattern.exec(text)?.[1];

describe('scripts/', () => {
  const hosts: DatabaseLocation[] = [];
  afterAll(async () => {
    for (const host of hosts) await host.release();
  });

  it('dev-keys prints fresh keys that the services accept with a public issuer (no development default left)', async () => {
    const [first, second] = [await script('dev-keys'), await script('dev-keys', undefined, ['--export'])];
    expect(first.code).toBe(0);
    const keys = Object.fromEntries(first.stdout.split('\n').filter((l) => /^[A-Z_]+=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    expect(Object.keys(keys).sort()).toEqual(['AUTH_COOKIE_KEYS', 'AUTH_ENCRYPTION_KEY', 'DOCS_API_CURSOR_KEY']);
    const env = { ...keys, AUTH_ISSUER: 'https://auth.example.com', DOCS_API_AUDIENCE: 'https://docs.example.com' };
    expect(loadAuthConfig(env).devDefaults).toEqual([]);
    expect(loadDocsConfig(env).DOCS_API_CURSOR_KEY).toBe(keys.DOCS_API_CURSOR_KEY);
    expect(second.stdout).toMatch(/^export AUTH_ENCRYPTION_KEY=/m);
    expect(second.stdout).not.toContain(keys.AUTH_ENCRYPTION_KEY!);
  });

  it('demo prints the seeded demo again while the store is hosted: the same client secrets, a new password that signs in; reset-data waits for the host to stop', { timeout: 120_000 }, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'clouddocs-scripts-'));
    const config = loadAuthConfig({ DATA_DIR: dataDir });
    const host = await locateDatabase(config, { host: true }); // what `npm start` does with the embedded store
    hosts.push(host);
    const knex = await createKnex({ url: host.url, poolMax: 2 });
    await migrateAll(knex);
    const seeded = (await seedDemoOnce(knex, config))!;

    const again = await script('demo', dataDir);
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    const secret = /client_secret (\S+)/g;
    expect([...again.stdout.matchAll(secret)].map((m) => m[1])).toEqual([...seeded.matchAll(secret)].map((m) => m[1]));
    const [oldPassword, newPassword] = [field(seeded, /password: (\S+)/), field(again.stdout, /password: (\S+)/)];
    expect(newPassword).toBeDefined();
    expect(newPassword).not.toBe(oldPassword);
    const accounts = createAccountLibrary({ knex, hasher: new PasswordHasher(argon2ParamsFrom(config)) });
    const user = (await accounts.findByEmail(DEMO_EMAIL))!;
    expect(await accounts.verifyPassword(user.id, newPassword!)).toBe(true);
    expect(await accounts.verifyPassword(user.id, oldPassword!)).toBe(false);
    expect(await knex('audit.events').where({ action: 'auth.password_reset.completed', target_id: user.id }).count({ n: '*' })).toEqual([{ n: 1 }]);
    await knex.destroy();

    const refused = await script('reset-data', dataDir);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`process ${process.pid} is using the embedded store`);
    expect(existsSync(join(dataDir, 'pglite'))).toBe(true);

    await host.release();
    hosts.splice(hosts.indexOf(host), 1);
    const reset = await script('reset-data', dataDir);
    expect(reset.code).toBe(0);
    expect(existsSync(dataDir)).toBe(false);
    const none = await script('demo', dataDir);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no demo in this database/);
    rmSync(dataDir, { recursive: true, force: true });
  });
});
