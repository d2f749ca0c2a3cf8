// The fleet: HAProxy (infra/haproxy/haproxy.cfg, health checks on /readyz, retries) in front of two auth
// server and two docs API processes, Redis as a primary, a replica and three Sentinels, PostgreSQL.
// Under steady load one auth and one docs process are killed (-9), then the Redis primary fails over.
// Shown: no request lost beyond those in flight at the kills, every token a client received has its
// audit event, a token revoked just before the failover is still refused just after it, the audit log
// verifies intact, and the surviving processes are ready again without a restart.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClientLibrary, SecretBox } from '@clouddocs/auth-server';
import { migrateAll } from '@clouddocs/cli';
import { loadAuthConfig } from '@clouddocs/config';
import { createKnex, createTestDatabase, serviceUrl, type Knex, type TestDatabase } from '@clouddocs/db';
import { ownServersAvailable, sentinelBinary, startOwnSentinelGroup, type OwnSentinelGroup } from '../support/own-servers';
import { freePort } from '../support/ports';

const HAPROXY = '/usr/sbin/haproxy';
const CONFIG = fileURLToPath(new URL('../../infra/haproxy/haproxy.cfg', import.meta.url));
const BIN = fileURLToPath(new URL('../../packages/cli/bin/clouddocs.js', import.meta.url));
const REPO = fileURLToPath(new URL('../..', import.meta.url));

const required = Boolean(process.env.DATABASE_URL);
const available = required && ownServersAvailable() && sentinelBinary() !== undefined && spawnSync(HAPROXY, ['-v']).status === 0;
if (required && !available) throw new Error('the fleet suite needs haproxy, redis-server and redis-sentinel');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const jtiOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()).jti as string;

interface Service {
  name: string;
  port: number;
  child: ChildProcess;
}

describe.skipIf(!available)('a fleet behind HAProxy survives a killed process of each service and a Redis failover', () => {
  let db: TestDatabase;
  let admin: Knex;
  let group: OwnSentinelGroup;
  let haproxy: ChildProcess;
  let dir: string;
  const services: Service[] = [];
  let authUrl: string;
  let docsUrl: string;
  let env: NodeJS.ProcessEnv;
  let basic: string;

  const startService = (name: string, kind: 'auth' | 'docs', port: number): Service => {
    const log = openSync(join(dir, `${name}.log`), 'a');
    const child = spawn(process.execPath, [BIN, 'start', '--service', kind], {
      cwd: REPO,
      env: { ...env, ...(kind === 'auth' ? { AUTH_PORT: String(port) } : { DOCS_API_PORT: String(port) }) },
      stdio: ['ignore', log, log],
    });
    const service = { name, port, child };
    services.push(service);
    return service;
  };
  const ready = async (url: string) => (await fetch(`${url}/readyz`).catch(() => undefined))?.status === 200;
  const waitFor = async (check: () => Promise<boolean>, what: string, ms = 60_000) => {
    const deadline = Date.now() + ms;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`${what} not reached in ${ms} ms`);
      await sleep(200);
    }
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'clouddocs-fleet-'));
    [db, group] = await Promise.all([createTestDatabase(process.env), startOwnSentinelGroup('fleet')]);
    admin = await createKnex({ url: db.url, poolMax: 2 });
    await migrateAll(admin);
    const [authFront, docsFront, stats, a1, a2, d1, d2] = await Promise.all(Array.from({ length: 7 }, () => freePort()));
    authUrl = `http://127.0.0.1:${authFront}`;
    docsUrl = `http://127.0.0.1:${docsFront}`;
    env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      DATABASE_SERVICE_URL: serviceUrl(db.url),
      REDIS_SENTINELS: group.sentinels,
      REDIS_SENTINEL_NAME: group.name,
      REDIS_PREFIX: `fleet-${randomBytes(3).toString('hex')}:`,
      AUTH_ISSUER: authUrl,
      DOCS_API_AUDIENCE: docsUrl,
      DATA_DIR: dir,
      LOG_LEVEL: 'warn',
      AUTH_KEY_ROTATION_DAYS: '0',
    };
    for (const [name, kind, port] of [
      ['auth1', 'auth', a1],
      ['auth2', 'auth', a2],
      ['docs1', 'docs', d1],
      ['docs2', 'docs', d2],
    ] as const) {
      startService(name, kind, port!);
      if (kind === 'auth' && name === 'auth1') await waitFor(() => ready(`http://127.0.0.1:${a1}`), 'auth1 ready', 90_000); // its first start creates the signing keys
    }
    haproxy = spawn(HAPROXY, ['-f', CONFIG, '-db'], {
      env: {
        ...process.env,
        AUTH_BIND: `127.0.0.1:${authFront}`,
        DOCS_BIND: `127.0.0.1:${docsFront}`,
        AUTH_1: `127.0.0.1:${a1}`,
        AUTH_2: `127.0.0.1:${a2}`,
        DOCS_1: `127.0.0.1:${d1}`,
        DOCS_2: `127.0.0.1:${d2}`,
        HAPROXY_STATS_BIND: `127.0.0.1:${stats}`,
      },
      stdio: ['ignore', 'ignore', openSync(join(dir, 'haproxy.log'), 'a')],
    });
    await waitFor(async () => (await Promise.all(services.map((s) => ready(`http://127.0.0.1:${s.port}`)))).every(Boolean), 'all four processes ready', 90_000);
    await waitFor(async () => (await ready(authUrl)) && (await ready(docsUrl)), 'haproxy fronts', 20_000);
    const config = loadAuthConfig({ ...env, DATABASE_URL: db.url });
    const worker = await createClientLibrary({ knex: admin, box: new SecretBox(config.AUTH_ENCRYPTION_KEY), issuer: config.AUTH_ISSUER }).create({
      name: 'fleet worker',
      grants: ['client_credentials'],
    });
    basic = `Basic ${Buffer.from(`${worker.client_id}:${worker.client_secret}`).toString('base64')}`;
  }, 150_000);

  afterAll(async () => {
    for (const s of services) if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
    if (haproxy && haproxy.exitCode === null) haproxy.kill('SIGKILL');
    await sleep(200);
    await admin?.destroy();
    await group?.stop();
    await db?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('kill -9 of one auth and one docs process, then a Redis failover: nothing lost beyond in-flight, every token audited, a revocation kept, all ready again', async () => {
    const form = { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' };
    const received: string[] = [];
    const stats = { tokens: 0, reads: 0, retried503: 0, lost: 0, unexpected: [] as string[] };
    let running = true;
    const issue = () => fetch(`${authUrl}/token`, { method: 'POST', headers: form, body: 'grant_type=client_credentials&scope=docs%3Aread' });
    const first = await issue();
    expect(first.status).toBe(200);
    let current = ((await first.json()) as { access_token: string }).access_token;
    received.push(current);

    // A client: one request at a time; an honest 503 (the service says "not now") is retried after a
    // pause, as clients do; a request that gets no answer at all is lost (only possible in flight at a kill).
    const client = async (kind: 'token' | 'read') => {
      while (running) {
        for (let attempt = 0; ; attempt += 1) {
          let response: Response;
          try {
            response = kind === 'token' ? await issue() : await fetch(`${docsUrl}/me`, { headers: { authorization: `Bearer ${current}` } });
          } catch {
            stats.lost += 1;
            break;
          }
          if (response.status === 503 && attempt < 50) {
            stats.retried503 += 1;
            await response.arrayBuffer();
            await sleep(100);
            continue;
          }
          if (response.status !== 200) {
            stats.unexpected.push(`${kind} ${response.status} ${(await response.text()).slice(0, 200)}`);
            break;
          }
          if (kind === 'token') {
            const token = ((await response.json()) as { access_token: string }).access_token;
            received.push(token);
            current = token;
            stats.tokens += 1;
          } else {
            await response.arrayBuffer();
            stats.reads += 1;
          }
          break;
        }
        await sleep(20);
      }
    };
    const clients = [client('token'), client('token'), client('read'), client('read'), client('read')];
    await sleep(2_000);

    // kill -9 one process of each service: HAProxy sends the next requests to the survivors.
    const readsBeforeKill = stats.reads;
    for (const name of ['auth1', 'docs1']) services.find((s) => s.name === name)!.child.kill('SIGKILL');
    await sleep(3_000);
    expect(stats.reads).toBeGreaterThan(readsBeforeKill);

    // A token revoked just before the failover...
    const doomed = await issue();
    expect(doomed.status).toBe(200);
    const doomedToken = ((await doomed.json()) as { access_token: string }).access_token;
    received.push(doomedToken);
    expect((await fetch(`${docsUrl}/me`, { headers: { authorization: `Bearer ${doomedToken}` } })).status).toBe(200);
    const revoked = await fetch(`${authUrl}/token/revocation`, { method: 'POST', headers: form, body: new URLSearchParams({ token: doomedToken }).toString() });
    expect(revoked.status).toBe(200);
    expect((await fetch(`${docsUrl}/me`, { headers: { authorization: `Bearer ${doomedToken}` } })).status).toBe(401);

    // ...is refused all through the failover and just after it (503 while a process reloads, never 200).
    const seen = new Set<number>();
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const r = await fetch(`${docsUrl}/me`, { headers: { authorization: `Bearer ${doomedToken}` } }).catch(() => undefined);
        if (r) seen.add(r.status);
        await sleep(20);
      }
    })();
    const { from, to } = await group.failover();
    expect(to).not.toBe(from);
    const readsAtFailover = stats.reads;
    const tokensAtFailover = stats.tokens;
    await sleep(4_000);
    watching = false;
    await watcher;
    expect(seen.has(200)).toBe(false);
    expect((await fetch(`${docsUrl}/me`, { headers: { authorization: `Bearer ${doomedToken}` } })).status).toBe(401);
    // Load went on after the failover.
    expect(stats.reads).toBeGreaterThan(readsAtFailover);
    expect(stats.tokens).toBeGreaterThan(tokensAtFailover);

    running = false;
    await Promise.all(clients);
    // Only requests in flight at the kills may be lost (five clients, one request each at most per kill).
    expect(stats.lost).toBeLessThanOrEqual(clients.length * 2);
    expect(stats.unexpected).toEqual([]);

    // Every token a client received has its audit event (committed before the response left).
    const jtis = new Set(
      (await admin('audit.events').where({ action: 'token.issued', outcome: 'success' }).select(admin.raw("detail->>'jti' AS jti"))).map((r: { jti: string }) => r.jti),
    );
    const missing = received.map(jtiOf).filter((jti) => !jtis.has(jti));
    expect(missing).toEqual([]);

    // The survivors are ready again without a restart; the audit log verifies intact.
    const survivors = services.filter((s) => s.child.exitCode === null && s.child.signalCode === null);
    expect(survivors.map((s) => s.name).sort()).toEqual(['auth2', 'docs2']);
    for (const s of survivors) await waitFor(() => ready(`http://127.0.0.1:${s.port}`), `${s.name} ready`, 15_000);
    expect(await ready(authUrl)).toBe(true);
    expect(await ready(docsUrl)).toBe(true);
    const verify = spawnSync(process.execPath, [BIN, 'audit', 'verify', '--json'], { cwd: REPO, env: { ...process.env, DATABASE_URL: db.url, LOG_LEVEL: 'silent' }, encoding: 'utf8' });
    expect(verify.status, verify.stderr).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true });
    console.info(`fleet: ${stats.tokens} tokens, ${stats.reads} reads, ${stats.retried503} answers of 503 retried, ${stats.lost} lost in flight`);
  }, 90_000);
});
