// Refresh tokens under retries and concurrency (contract: "Refresh tokens under retries and
// concurrency"; AUTH_REFRESH_REUSE_GRACE_SECONDS). Within the window, the same client presenting a used
// refresh token again gets the first answer again (parallel requests, a retry after a lost response,
// across auth server processes) and the grant lives on; another client never gets it; past the window,
// or with the grace off, reuse revokes the grant at once, at the docs API too, and is audited.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { argon2ParamsFrom, createAccountLibrary, createClientLibrary, PasswordHasher, SecretBox, type RegisteredClient } from '@clouddocs/auth-server';
import { migrateAll, runDocsApi, type RunningDocs } from '@clouddocs/cli';
import { loadAuthConfig, loadDocsConfig } from '@clouddocs/config';
import { createKnex, createTestDatabase, type Knex, type TestDatabase } from '@clouddocs/db';
import { createKv } from '@clouddocs/kv';
import { clearKv } from '@clouddocs/kv/test-support';
import { createLogger } from '@clouddocs/observability';
import { DOCS_AUDIENCE, PASSWORD, REDIRECT_URI, startAuthStack, type AuthStack } from '../support/stack';
import { codeFlow, decodeJwtParts, discover, introspect, oidc, tokenRequest } from '../support/rp';
import { redisBinary, startOwnRedis, type OwnRedis } from '../support/own-servers';
import { freePort } from '../support/ports';

const OFFLINE = { scope: 'openid offline_access docs:read', prompt: 'consent' };
const BIN = fileURLToPath(new URL('../../packages/cli/bin/clouddocs.js', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type TokenResponse = Awaited<ReturnType<typeof tokenRequest>>;

/** An auth stack with the given grace, and a docs API beside it on the same database and cache. */
async function startGraceStack(grace: string | undefined): Promise<{ stack: AuthStack; docs: RunningDocs; docsMe(token: string): Promise<number> }> {
  const stack = await startAuthStack(process.env, grace === undefined ? {} : { env: { AUTH_REFRESH_REUSE_GRACE_SECONDS: grace } });
  await migrateAll(stack.admin);
  const docsConfig = loadDocsConfig({
    AUTH_ISSUER: stack.issuer,
    DOCS_API_AUDIENCE: DOCS_AUDIENCE,
    DATABASE_URL: stack.config.DATABASE_URL,
    REDIS_URL: stack.config.REDIS_URL,
    REDIS_PREFIX: stack.config.REDIS_PREFIX,
    DOCS_API_PORT: '0',
    LOG_LEVEL: 'silent',
  });
  const docs = await runDocsApi({ config: docsConfig, databaseUrl: stack.config.DATABASE_URL!, kv: stack.kv, logger: createLogger({ level: 'silent', name: 'e2e-grace-docs' }), port: 0, host: '127.0.0.1' });
  await docs.running.api.ready();
  const docsMe = async (token: string) => (await fetch(`${docs.url}/me`, { headers: { authorization: `Bearer ${token}`, accept: 'application/json' } })).status;
  return { stack, docs, docsMe };
}

const refresh = (stack: { issuer: string }, client: RegisteredClient, refreshToken: string, extra: Record<string, string> = {}) =>
  tokenRequest(stack, client, { grant_type: 'refresh_token', refresh_token: refreshToken, ...extra });

/** The answer a refresh got, for comparing answers (expires_in counts down, so it is left out). */
function tokensOf(r: TokenResponse) {
  return { access_token: r.body.access_token, refresh_token: r.body.refresh_token, id_token: r.body.id_token, token_type: r.body.token_type, scope: r.body.scope };
}

function expectSuccess(r: TokenResponse, tokenType = 'Bearer') {
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  expect(r.headers.get('cache-control')).toBe('no-store');
  expect(r.headers.get('content-type')).toMatch(/^application\/json/);
  expect(r.body).toMatchObject({ access_token: expect.any(String), refresh_token: expect.any(String), id_token: expect.any(String), token_type: tokenType, expires_in: expect.any(Number) });
}

function expectInvalidGrant(r: TokenResponse) {
  expect(r.status, JSON.stringify(r.body)).toBe(400);
  expect(r.headers.get('cache-control')).toBe('no-store');
  expect(r.body.error).toBe('invalid_grant');
  expect(r.body).not.toHaveProperty('access_token');
  expect(r.body).not.toHaveProperty('refresh_token');
}

const grantOf = (accessToken: unknown) => decodeJwtParts(accessToken as string).payload.gid as string;

describe('within the grace window (AUTH_REFRESH_REUSE_GRACE_SECONDS unset: 10)', () => {
  let stack: AuthStack;
  let docs: RunningDocs;
  let docsMe: (token: string) => Promise<number>;
  let web: RegisteredClient;
  let config: oidc.Configuration;
  let user: Awaited<ReturnType<AuthStack['createUser']>>;
  const events = (action: string, grant: string) => stack.admin('audit.events').where({ action, target_id: grant }).orderBy('id');

  beforeAll(async () => {
    ({ stack, docs, docsMe } = await startGraceStack(undefined));
    expect(stack.config.AUTH_REFRESH_REUSE_GRACE_SECONDS).toBe(10);
    web = await stack.createClient({ name: 'Grace web' });
    user = await stack.createUser();
    config = await discover(stack, web);
  });
  afterAll(async () => {
    await docs?.stop().catch(() => {});
    await stack?.stop();
  });

  it('10 parallel refreshes with one refresh token -> all 200 with the same answer; the grant lives on (the new refresh token works, the access token is accepted)', async () => {
    const { tokens } = await codeFlow(config, user, OFFLINE);
    const results = await Promise.all(Array.from({ length: 10 }, () => refresh(stack, web, tokens.refresh_token!)));
    for (const r of results) expectSuccess(r);
    const first = tokensOf(results[0]!);
    for (const r of results) expect(tokensOf(r)).toEqual(first);
    expect(first.refresh_token).not.toBe(tokens.refresh_token);

    // Alive: introspection, the docs API, and the new refresh token.
    expect((await introspect(stack, web, first.access_token as string)).body).toMatchObject({ active: true, client_id: web.client_id, sub: user.id });
    expect(await docsMe(first.access_token as string)).toBe(200);
    const next = await refresh(stack, web, first.refresh_token as string);
    expectSuccess(next);
    expect(next.body.refresh_token).not.toBe(first.refresh_token);
    expect(await docsMe(next.body.access_token as string)).toBe(200);

    // Audited: the first answer once, each answer given again as a replay; no reuse, no failure.
    const grant = grantOf(first.access_token);
    const refreshed = await events('token.refreshed', grant);
    const firstAnswers = refreshed.filter((e) => e.detail.replay !== true);
    const replays = refreshed.filter((e) => e.detail.replay === true);
    expect(firstAnswers).toHaveLength(2); // the first use of each refresh token
    expect(replays).toHaveLength(9);
    const jti = decodeJwtParts(first.access_token as string).payload.jti;
    for (const e of replays) expect(e).toMatchObject({ actor_type: 'user', actor_id: user.id, outcome: 'success', detail: expect.objectContaining({ clientId: web.client_id, grantType: 'refresh_token', jti }) });
    expect(new Set(replays.map((e) => e.request_id)).size).toBe(9);
    expect(await events('token.reuse_detected', grant)).toEqual([]);
    const requestIds = results.map((r) => r.headers.get('x-request-id')!);
    expect(await stack.admin('audit.events').whereIn('request_id', requestIds).whereNot({ action: 'token.refreshed' })).toEqual([]);
  });

  it('a retry after the first response (a lost response) -> the same answer, audited as a replay under its own request id', async () => {
    const { tokens } = await codeFlow(config, user, OFFLINE);
    const first = await refresh(stack, web, tokens.refresh_token!);
    expectSuccess(first);
    const retry = await refresh(stack, web, tokens.refresh_token!);
    expectSuccess(retry);
    expect(tokensOf(retry)).toEqual(tokensOf(first));
    expect(retry.body.expires_in as number).toBeLessThanOrEqual(first.body.expires_in as number);

    const requestId = retry.headers.get('x-request-id');
    expect(requestId).toMatch(/\S/);
    const replay = await stack.admin('audit.events').where({ action: 'token.refreshed', request_id: requestId });
    expect(replay).toEqual([expect.objectContaining({ target_type: 'grant', target_id: grantOf(first.body.access_token), outcome: 'success' })]);
    expect(replay[0].detail).toMatchObject({ replay: true, clientId: web.client_id, issued: ['access', 'refresh', 'id'] });
    // No token in the clear in the event.
    for (const secret of [tokens.refresh_token!, first.body.access_token, first.body.refresh_token, first.body.id_token] as string[]) expect(JSON.stringify(replay[0])).not.toContain(secret);

    // The family goes on from the one new refresh token.
    expect(await docsMe(retry.body.access_token as string)).toBe(200);
    expectSuccess(await refresh(stack, web, retry.body.refresh_token as string));
  });

  it('another client presenting a used refresh token within the window -> 400 invalid_grant; no answer, no reuse, and the owner keeps its grant', async () => {
    const { tokens } = await codeFlow(config, user, OFFLINE);
    const first = await refresh(stack, web, tokens.refresh_token!);
    expectSuccess(first);
    const thief = await stack.createClient({ name: 'Grace thief' });
    const stolen = await refresh(stack, thief, tokens.refresh_token!);
    expectInvalidGrant(stolen);
    expect(JSON.stringify(stolen.body)).not.toContain(first.body.refresh_token as string);

    const grant = grantOf(first.body.access_token);
    expect(await events('token.reuse_detected', grant)).toEqual([]);
    expect((await introspect(stack, web, first.body.access_token as string)).body.active).toBe(true);
    // The owner still gets its answer again, and goes on.
    const retry = await refresh(stack, web, tokens.refresh_token!);
    expectSuccess(retry);
    expect(tokensOf(retry)).toEqual(tokensOf(first));
    expectSuccess(await refresh(stack, web, first.body.refresh_token as string));
  });

  it('the same client asking again for another scope -> 400 invalid_grant (the answer is for the first request only), and nothing is revoked', async () => {
    const { tokens } = await codeFlow(config, user, OFFLINE);
    const first = await refresh(stack, web, tokens.refresh_token!);
    expectSuccess(first);
    expectInvalidGrant(await refresh(stack, web, tokens.refresh_token!, { scope: 'openid' }));
    expect((await introspect(stack, web, first.body.access_token as string)).body.active).toBe(true);
    expectSuccess(await refresh(stack, web, first.body.refresh_token as string));
  });

  it('DPoP: parallel refreshes with proofs of one key -> the same DPoP-bound answer; a retry with another key -> 400 invalid_grant, and nothing is revoked', async () => {
    const { tokens } = await codeFlow(config, user, OFFLINE);
    const [k1, k2] = await Promise.all([generateKeyPair('ES256'), generateKeyPair('ES256')]);
    type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;
    const proof = async (key: KeyPair) =>
      new SignJWT({ htm: 'POST', htu: `${stack.issuer}/token`, jti: randomBytes(16).toString('base64url') })
        .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk: await exportJWK(key.publicKey) })
        .setIssuedAt()
        .sign(key.privateKey);
    const dpopRefresh = async (key: KeyPair): Promise<TokenResponse> => {
      const res = await fetch(`${stack.issuer}/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
          authorization: `Basic ${Buffer.from(`${web.client_id}:${web.client_secret}`).toString('base64')}`,
          dpop: await proof(key),
        },
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token! }).toString(),
      });
      return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
    };
    const results = await Promise.all(Array.from({ length: 5 }, () => dpopRefresh(k1)));
    for (const r of results) {
      expectSuccess(r, 'DPoP');
      expect(tokensOf(r)).toEqual(tokensOf(results[0]!));
    }
    const cnf = decodeJwtParts(results[0]!.body.access_token as string).payload.cnf as { jkt?: string };
    expect(cnf.jkt).toBe(await calculateJwkThumbprint(await exportJWK(k1.publicKey)));

    expectInvalidGrant(await dpopRefresh(k2));
    const grant = grantOf(results[0]!.body.access_token);
    expect(await stack.admin('audit.events').where({ action: 'token.reuse_detected', target_id: grant })).toEqual([]);
    expectSuccess(await refresh(stack, web, results[0]!.body.refresh_token as string));
  });

  it('the kept answer is sealed at rest: the cache holds no token of it in the clear, under a name that is no token', async () => {
    const { tokens } = await codeFlow(config, user, OFFLINE);
    const first = await refresh(stack, web, tokens.refresh_token!);
    expectSuccess(first);
    const keys = await stack.kv.keys('oidc:refresh-answer:');
    expect(keys.length).toBeGreaterThan(0);
    const secrets = [tokens.refresh_token!, first.body.access_token, first.body.refresh_token, first.body.id_token] as string[];
    for (const key of keys) {
      const value = (await stack.kv.get(key)) ?? '';
      expect(value).toMatch(/^v1\./);
      for (const secret of secrets) {
        expect(key).not.toContain(secret);
        expect(value).not.toContain(secret);
      }
    }
  });
});

describe('after the grace window (AUTH_REFRESH_REUSE_GRACE_SECONDS=1)', () => {
  let stack: AuthStack;
  let docs: RunningDocs;
  let docsMe: (token: string) => Promise<number>;
  let web: RegisteredClient;
  let config: oidc.Configuration;
  let user: Awaited<ReturnType<AuthStack['createUser']>>;

  beforeAll(async () => {
    ({ stack, docs, docsMe } = await startGraceStack('1'));
    web = await stack.createClient({ name: 'Grace web, short window' });
    user = await stack.createUser();
    config = await discover(stack, web);
  });
  afterAll(async () => {
    await docs?.stop().catch(() => {});
    await stack?.stop();
  });

  it('a used refresh token presented after the window -> 400 invalid_grant; the grant is revoked (newest refresh token dead, access token inactive and refused by the docs API) and audited as reuse', async () => {
    const { tokens } = await codeFlow(config, user, OFFLINE);
    const rotated = await refresh(stack, web, tokens.refresh_token!);
    expectSuccess(rotated);
    expect((await introspect(stack, web, rotated.body.access_token as string)).body.active).toBe(true);
    expect(await docsMe(rotated.body.access_token as string)).toBe(200);

    await sleep(2_500); // past the 1 s window
    const replay = await refresh(stack, web, tokens.refresh_token!);
    expectInvalidGrant(replay);

    expect((await introspect(stack, web, rotated.body.access_token as string)).body).toEqual({ active: false });
    expect(await docsMe(rotated.body.access_token as string)).toBe(401);
    expectInvalidGrant(await refresh(stack, web, rotated.body.refresh_token as string));
    const reuse = await stack.admin('audit.events').where({ action: 'token.reuse_detected', request_id: replay.headers.get('x-request-id') });
    expect(reuse).toEqual([expect.objectContaining({ target_type: 'grant', target_id: grantOf(rotated.body.access_token), outcome: 'denied' })]);
  });

  it('another client presenting it after the window -> 400 invalid_grant, and it does not count as reuse (the owner keeps its grant)', async () => {
    const { tokens } = await codeFlow(config, user, OFFLINE);
    const rotated = await refresh(stack, web, tokens.refresh_token!);
    expectSuccess(rotated);
    await sleep(2_500);
    const thief = await stack.createClient({ name: 'Late thief' });
    expectInvalidGrant(await refresh(stack, thief, tokens.refresh_token!));
    expect(await stack.admin('audit.events').where({ action: 'token.reuse_detected', target_id: grantOf(rotated.body.access_token) })).toEqual([]);
    expect(await docsMe(rotated.body.access_token as string)).toBe(200);
    expectSuccess(await refresh(stack, web, rotated.body.refresh_token as string));
  });
});

describe('grace off (AUTH_REFRESH_REUSE_GRACE_SECONDS=0): every reuse revokes', () => {
  let stack: AuthStack;
  let web: RegisteredClient;
  let config: oidc.Configuration;
  let user: Awaited<ReturnType<AuthStack['createUser']>>;

  beforeAll(async () => {
    stack = await startAuthStack(process.env, { env: { AUTH_REFRESH_REUSE_GRACE_SECONDS: '0' } });
    web = await stack.createClient({ name: 'No grace web' });
    user = await stack.createUser();
    config = await discover(stack, web);
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('10 concurrent refreshes with one refresh token -> exactly one 200, the rest invalid_grant, and the grant is revoked', async () => {
    const { tokens } = await codeFlow(config, user, OFFLINE);
    const results = await Promise.all(Array.from({ length: 10 }, () => refresh(stack, web, tokens.refresh_token!)));
    const winners = results.filter((r) => r.status === 200);
    expect(winners).toHaveLength(1);
    for (const r of results.filter((x) => x.status !== 200)) expectInvalidGrant(r);
    expectInvalidGrant(await refresh(stack, web, winners[0]!.body.refresh_token as string));
    expect((await introspect(stack, web, winners[0]!.body.access_token as string)).body).toEqual({ active: false });
    expect((await stack.admin('audit.events').where({ action: 'token.reuse_detected', target_id: grantOf(winners[0]!.body.access_token) })).length).toBeGreaterThanOrEqual(1);
    expect(await stack.kv.keys('oidc:refresh-answer:')).toEqual([]);
  });

  it('reusing an old refresh token at once -> 400 invalid_grant, and it kills the newest refresh token and its access token', async () => {
    const { tokens } = await codeFlow(config, user, OFFLINE);
    const rotated = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
    expect((await introspect(stack, web, rotated.access_token)).body.active).toBe(true);

    const replay = await refresh(stack, web, tokens.refresh_token!);
    expectInvalidGrant(replay);
    expectInvalidGrant(await refresh(stack, web, rotated.refresh_token!));
    expect((await introspect(stack, web, rotated.access_token)).body).toEqual({ active: false });
    expect(await stack.admin('audit.events').where({ action: 'token.reuse_detected', request_id: replay.headers.get('x-request-id') })).toHaveLength(1);
  });
});

// Two auth server processes (`clouddocs start --service auth`) on one PostgreSQL (the real one when
// DATABASE_URL is set, else the embedded one served over the wire protocol) and one Redis (REDIS_URL,
// else a Redis of this test's own).
describe.skipIf(!process.env.REDIS_URL && !redisBinary())('two auth server processes sharing PostgreSQL and Redis', () => {
  let db: TestDatabase;
  let admin: Knex;
  let ownRedis: OwnRedis | undefined;
  const children: ChildProcess[] = [];
  const urls: string[] = [];
  let issuer: string;
  let web: RegisteredClient;
  let user: { email: string; password: string; id: string };
  let config: oidc.Configuration;
  let redisPrefix: string;

  async function startProcess(env: NodeJS.ProcessEnv, port: number): Promise<ChildProcess> {
    const child = spawn(process.execPath, [BIN, 'start', '--service', 'auth'], { env: { ...env, AUTH_PORT: String(port) }, stdio: ['ignore', 'ignore', 'inherit'] });
    children.push(child);
    const deadline = Date.now() + 90_000;
    while (!(await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false))) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the auth server on port ${port} did not start`);
      await sleep(200);
    }
    return child;
  }

  beforeAll(async () => {
    db = await createTestDatabase(process.env);
    admin = await createKnex({ url: db.url, poolMax: 2 });
    await migrateAll(admin);
    if (!process.env.REDIS_URL) ownRedis = await startOwnRedis();
    const [portA, portB] = [await freePort(), await freePort()];
    issuer = `http://127.0.0.1:${portA}`;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      DATABASE_URL: db.url,
      REDIS_URL: process.env.REDIS_URL ?? ownRedis!.url,
      REDIS_PREFIX: (redisPrefix = `grace-${randomBytes(4).toString('hex')}:`),
      AUTH_ISSUER: issuer,
      DOCS_API_AUDIENCE: DOCS_AUDIENCE,
      DATA_DIR: mkdtempSync(join(tmpdir(), 'clouddocs-grace-')),
      LOG_LEVEL: 'warn',
      WORKERS: '1',
      AUTH_REFRESH_REUSE_GRACE_SECONDS: '10',
    };
    // One after the other: the first creates the signing keys the second loads.
    await startProcess(env, portA);
    await startProcess(env, portB);
    urls.push(`http://127.0.0.1:${portA}`, `http://127.0.0.1:${portB}`);

    const authConfig = loadAuthConfig(env);
    const account = await createAccountLibrary({ knex: admin, hasher: new PasswordHasher(argon2ParamsFrom(authConfig)) }).create({ email: `grace-${randomBytes(4).toString('hex')}@example.test`, password: PASSWORD, name: 'Grace Hopper' });
    user = { id: account.id, email: account.email, password: PASSWORD };
    web = await createClientLibrary({ knex: admin, box: new SecretBox(authConfig.AUTH_ENCRYPTION_KEY), issuer }).create({ name: 'Two processes', redirectUris: [REDIRECT_URI], grants: ['authorization_code', 'refresh_token'] });
    config = await discover({ issuer }, web);
  }, 240_000);

  afterAll(async () => {
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGKILL');
        await exited;
      }
    }
    if (process.env.REDIS_URL && redisPrefix) {
      // The shared Redis keeps nothing of this suite (its keys are under a prefix of its own).
      const kv = createKv({ REDIS_URL: process.env.REDIS_URL, REDIS_PREFIX: redisPrefix });
      await clearKv(kv).catch(() => {});
      await kv.close().catch(() => {});
    }
    await admin?.destroy().catch(() => {});
    await db?.drop().catch(() => {});
    await ownRedis?.stop().catch(() => {});
  });

  it('parallel refreshes with one refresh token split across both processes -> the same answer from both, and the grant lives on at both', async () => {
    const { tokens } = await codeFlow(config, user, OFFLINE);
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => refresh({ issuer: urls[i % 2]! }, web, tokens.refresh_token!)));
    for (const r of results) expectSuccess(r);
    const first = tokensOf(results[0]!);
    for (const r of results) expect(tokensOf(r)).toEqual(first);

    const replays = await admin('audit.events').where({ action: 'token.refreshed', target_id: grantOf(first.access_token) });
    expect(replays.filter((e) => e.detail.replay !== true)).toHaveLength(1);
    expect(replays.filter((e) => e.detail.replay === true)).toHaveLength(9);
    for (const url of urls) expect((await introspect({ issuer: url }, web, first.access_token as string)).body.active).toBe(true);
    expectSuccess(await refresh({ issuer: urls[1]! }, web, first.refresh_token as string));
  });

  it('a retry at the other process after the one that answered was killed (kill -9) -> the same answer', async () => {
    const { tokens } = await codeFlow(config, user, OFFLINE);
    const first = await refresh({ issuer: urls[0]! }, web, tokens.refresh_token!);
    expectSuccess(first);
    const answered = children[0]!;
    const exited = new Promise((r) => answered.once('exit', r));
    answered.kill('SIGKILL');
    await exited;

    const retry = await refresh({ issuer: urls[1]! }, web, tokens.refresh_token!);
    expectSuccess(retry);
    expect(tokensOf(retry)).toEqual(tokensOf(first));
    expect((await introspect({ issuer: urls[1]! }, web, retry.body.access_token as string)).body.active).toBe(true);
    expectSuccess(await refresh({ issuer: urls[1]! }, web, retry.body.refresh_token as string));
  });
});
