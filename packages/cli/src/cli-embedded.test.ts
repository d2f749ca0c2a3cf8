// The operator CLI on the embedded store it opens itself under DATA_DIR (no DATABASE_URL at all), as on
// a fresh clone with nothing installed: each command opens the store, and data persists between them.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKnex, locateDatabase } from '@clouddocs/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseEnv, clouddocs, email, expectOneLineFailure, PASSWORD } from './test-support';

describe('on the embedded store under DATA_DIR (no DATABASE_URL)', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'clouddocs-cli-'));
    env = { ...baseEnv(), DATA_DIR: dir };
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const run = (args: string[], stdin?: string) => clouddocs(args, { env, stdin });

  it('migrate, user create, then the same email again: each command opens the store, and data persists between them', { timeout: 240_000 }, async () => {
    const migrated = await run(['migrate', '--json']);
    expect(migrated.stderr).toBe('');
    expect(migrated.code).toBe(0);
    expect(JSON.parse(migrated.stdout).applied).toEqual(expect.arrayContaining(['auth_001_init']));
    expect(JSON.parse((await run(['--json', 'migrate'])).stdout)).toEqual({ applied: [] });

    const address = email('embedded');
    const created = await run(['user', 'create', '--email', address, '--password-stdin', '--json'], `${PASSWORD}\n`);
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    expect(JSON.parse(created.stdout)).toEqual({ id: expect.any(String), email: address.toLowerCase() });

    expectOneLineFailure(await run(['user', 'create', '--email', address, '--password-stdin'], `${PASSWORD}\n`), /already exists/);

    const client = await run(['client', 'create', '--name', 'local', '--redirect-uri', 'http://127.0.0.1:9/cb', '--json']);
    expect(client.code).toBe(0);
    expect(JSON.parse(client.stdout)).toMatchObject({ token_endpoint_auth_method: 'client_secret_basic', client_secret: expect.any(String) });

    const rotated = await run(['keys', 'rotate', '--json']);
    expect(rotated.code).toBe(0);
    expect(JSON.parse(rotated.stdout).generation).toBe(2);
    for (const out of [migrated, created, client, rotated]) expect(`${out.stdout}${out.stderr}`).not.toContain(PASSWORD);
  });
});

describe('while a service hosts the embedded store (npm start)', () => {
  it('the CLI shares the running store through DATA_DIR instead of being locked out, and the host sees its writes', { timeout: 240_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'clouddocs-cli-host-'));
    const host = await locateDatabase({ DATA_DIR: dir }, { host: true });
    const knex = await createKnex({ url: host.url, poolMax: 2 });
    try {
      const env = { ...baseEnv(), DATA_DIR: dir };
      const migrated = await clouddocs(['migrate', '--json'], { env });
      expect(migrated.stderr).toBe('');
      expect(migrated.code).toBe(0);
      const address = email('shared');
      const created = await clouddocs(['user', 'create', '--email', address, '--password-stdin', '--json'], { env, stdin: `${PASSWORD}\n` });
      expect(created.stderr).toBe('');
      expect(created.code).toBe(0);
      const { id } = JSON.parse(created.stdout) as { id: string };
      // the hosting process reads what the CLI wrote, through its own connection
      expect(await knex('auth.accounts').where({ id }).first('email')).toEqual({ email: address.toLowerCase() });
      // and the host is still serving after the CLI exited
      expect((await knex.raw('SELECT 1 AS ok')).rows[0].ok).toBe(1);
    } finally {
      await knex.destroy();
      await host.release();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
