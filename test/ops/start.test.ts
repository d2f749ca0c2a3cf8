// `npm start` on the embedded stores: the first start migrates, seeds the demo and prints it once,
// serves both services, and shares its embedded database with the CLI while it runs; a later start
// neither re-seeds nor re-prints secrets.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/ports';

const BIN = join(import.meta.dirname, '..', '..', 'packages', 'cli', 'bin', 'clouddocs.js');

function embeddedEnv(dataDir: string, authPort: number, docsPort: number): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dataDir, AUTH_PORT: String(authPort), AUTH_ISSUER: `http://localhost:${authPort}`, DOCS_API_PORT: String(docsPort), LOG_LEVEL: 'warn' };
  delete env.DATABASE_URL;
  delete env.REDIS_URL;
  return env;
}

async function startUntilReady(env: NodeJS.ProcessEnv, authPort: number, docsPort: number): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, [BIN, 'start'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const deadline = Date.now() + 150_000;
  for (;;) {
    const ready = await Promise.all(
      [authPort, docsPort].map((p) => fetch(`http://127.0.0.1:${p}/readyz`).then((r) => r.status === 200, () => false)),
    );
    if (ready.every(Boolean)) return { child, output: () => out };
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`start did not become ready:\n${out}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function stop(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve(child.exitCode);
    child.once('exit', (code) => resolve(code));
    child.kill('SIGTERM');
  });
}

describe('clouddocs start on the embedded stores', () => {
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  });

  it('seeds and prints the demo once, serves both services, shares the database with the CLI, and does not re-seed', { timeout: 400_000 }, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'clouddocs-start-'));
    const [authPort, docsPort] = [await freePort(), await freePort()];
    const env = embeddedEnv(dataDir, authPort, docsPort);

    const first = await startUntilReady(env, authPort, docsPort);
    children.push(first.child);
    const printed = first.output();
    expect(printed).toContain('CloudDocs demo');
    const machineId = /machine client:\s+client_id (\S+)/.exec(printed)?.[1];
    const machineSecret = /machine client:[^\n]*\n\s+client_secret (\S+)/.exec(printed)?.[1];
    expect(machineId).toBeTruthy();
    expect(machineSecret).toBeTruthy();
    expect(printed).toMatch(new RegExp(`http://localhost:${authPort}/auth\\?client_id=`));

    // The printed machine client works against both services.
    const token = await fetch(`http://127.0.0.1:${authPort}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${machineId}:${machineSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials&scope=docs%3Aread',
    });
    expect(token.status).toBe(200);
    const { access_token: accessToken } = (await token.json()) as { access_token: string };
    const me = await fetch(`http://127.0.0.1:${docsPort}/me`, { headers: { authorization: `Bearer ${accessToken}` } });
    expect(me.status).toBe(200);
    expect(((await me.json()) as { memberships: { role: string }[] }).memberships[0]?.role).toBe('editor');

    // The CLI reaches the same embedded database while the server holds it.
    const cli = spawnSync(process.execPath, [BIN, 'user', 'create', '--email', 'while-running@example.test', '--password-stdin', '--json'], {
      env,
      input: 'a-long-enough-passphrase\n',
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(cli.status, cli.stderr).toBe(0);
    expect(JSON.parse(cli.stdout)).toMatchObject({ email: 'while-running@example.test' });

    expect(await stop(first.child)).toBe(0);

    const second = await startUntilReady(env, authPort, docsPort);
    children.push(second.child);
    expect(second.output()).not.toContain('CloudDocs demo');
    expect(second.output()).not.toContain(machineSecret!);
    expect(await stop(second.child)).toBe(0);
  });
});
