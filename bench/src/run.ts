// `npm run bench`: each CloudDocs figure against a baseline measured in the same run on this
// machine, printed as a table and written to BENCHMARKS.md. Needs the real PostgreSQL and Redis
// (DATABASE_URL / REDIS_URL; defaults are the local ones). Not part of the test suite.
import { writeFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { createApiKeyLibrary, argon2ParamsFrom } from '@clouddocs/auth-server';
import { MemoryKv, RevocationList } from '@clouddocs/kv';
import { loadDocsConfig } from '@clouddocs/config';
import { startChild, type Memory } from './lib/child';
import { basic, createOrgDocument, machineToken, seedOrgMachine } from './lib/org-machine';
import { benchStores } from './lib/stores';
import { createDpopSigner } from './lib/dpop';
import { load, type LoadResult } from './lib/load';
import { signInBench, argon2Baseline } from './signin';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);

interface Row {
  measure: string;
  ours: string;
  baseline: string;
  ratio: number;
  target: string;
  pass: boolean;
  detail: string;
}

const memo = (m: Memory) => `RSS ${m.rssMb} MB after the load (peak ${m.peakRssMb} MB)${m.heapUsedMb !== undefined ? `, V8 heap ${m.heapUsedMb} MB used of ${m.heapTotalMb} MB` : ''}`;
const fmt = (r: LoadResult) => `${r.rps} req/s (p50 ${r.p50} ms, p99 ${r.p99} ms${r.non2xx || r.errors ? `, ${r.non2xx} non-2xx, ${r.errors} errors` : ''})`;

async function main() {
  const rows: Row[] = [];
  const stores = await benchStores('bench', { env: { UV_THREADPOOL_SIZE: process.env.UV_THREADPOOL_SIZE ?? '4' } });
  const { env, config, admin } = stores;
  const { clients, accounts, audit, owner, org, machine } = await seedOrgMachine(stores, 'bench');

  // 1. Token endpoint (client_credentials), audited, real PostgreSQL + Redis vs bare oidc-provider.
  const tokenRequest = (url: string, id: string, secret: string) => ({
    url: `${url}/token`,
    method: 'POST' as const,
    headers: { authorization: basic(id, secret), 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials&scope=docs%3Aread%20docs%3Awrite',
    seconds: SECONDS,
  });
  const bare = await startChild<{ url: string; clientId: string; clientSecret: string }>('bare-oidc.ts');
  const bareToken = await load(tokenRequest(bare.info.url, bare.info.clientId, bare.info.clientSecret));
  const bareMemory = await bare.memory();
  await bare.stop();
  const auditedAuth = await startChild<{ url: string }>('service.ts', { ...env, SERVICE: 'auth' });
  const eventsBefore = Number((await admin('audit.events').count('* as n').first())!.n);
  const ourToken = await load(tokenRequest(auditedAuth.info.url, machine.client_id, machine.client_secret!));
  const eventsAfter = Number((await admin('audit.events').count('* as n').first())!.n);
  const auditedMemory = await auditedAuth.memory();
  await auditedAuth.stop();
  const unaudited = await startChild<{ url: string }>('service.ts', { ...env, SERVICE: 'auth', BENCH_NO_AUDIT: '1' });
  const ourTokenNoAudit = await load(tokenRequest(unaudited.info.url, machine.client_id, machine.client_secret!));
  await unaudited.stop();
  rows.push({
    measure: 'token endpoint, client_credentials (PostgreSQL + Redis, audited)',
    ours: fmt(ourToken),
    baseline: `bare oidc-provider, memory adapter: ${fmt(bareToken)}`,
    ratio: ourToken.rps / bareToken.rps,
    target: '≥ 0.9×',
    pass: ourToken.rps / bareToken.rps >= 0.9,
    detail: `auth server ${memo(auditedMemory)}; bare oidc-provider ${memo(bareMemory)}; ${eventsAfter - eventsBefore} token.issued/other audit events written during warm-up + measurement (${ourToken.requests} measured requests)`,
  });
  rows.push({
    measure: 'token endpoint, client_credentials (PostgreSQL + Redis, audit dropped: the cost of auditing)',
    ours: fmt(ourTokenNoAudit),
    baseline: `bare oidc-provider, memory adapter: ${fmt(bareToken)}`,
    ratio: ourTokenNoAudit.rps / bareToken.rps,
    target: '(reference)',
    pass: true,
    detail: `audited / unaudited = ${(ourToken.rps / ourTokenNoAudit.rps).toFixed(2)}`,
  });
  // The audited server again, for the docs API and sign-in measurements.
  const auth = await startChild<{ url: string }>('service.ts', { ...env, SERVICE: 'auth' });

  // 2. Docs API GET /documents/:id with a valid token vs bare koa constant JSON.
  const docs = await startChild<{ url: string }>('service.ts', { ...env, SERVICE: 'docs' });
  const accessToken = await machineToken(auth.info.url, machine);
  const documentId = await createOrgDocument(docs.info.url, accessToken, org.id);
  const koa = await startChild<{ url: string }>('bare-koa.ts');
  const koaGet = await load({ url: `${koa.info.url}/documents/${documentId}`, seconds: SECONDS });
  const koaMemory = await koa.memory();
  await koa.stop();
  const docsGet = await load({ url: `${docs.info.url}/documents/${documentId}`, headers: { authorization: `Bearer ${accessToken}` }, seconds: SECONDS });
  rows.push({
    measure: 'docs API GET /documents/:id with a valid token',
    ours: fmt(docsGet),
    baseline: `bare koa, constant JSON: ${fmt(koaGet)}`,
    ratio: docsGet.rps / koaGet.rps,
    target: '≥ 0.6×',
    pass: docsGet.rps / koaGet.rps >= 0.6,
    detail: `docs API ${memo(await docs.memory())}; bare koa ${memo(koaMemory)}`,
  });
  // The same read with the org owner's API key (Bearer cd_pat_…), against the JWT read just measured:
  // once warm, both are answered from per-process caches (verified token / key read from the view).
  const apiKeys = createApiKeyLibrary({ knex: admin, revocations: new RevocationList(new MemoryKv(), 60) });
  const { result: apiKey } = await apiKeys.create({ type: 'system', id: 'bench' }, owner.id, { name: 'bench', scopes: 'docs:read' });
  const keyGet = await load({ url: `${docs.info.url}/documents/${documentId}`, headers: { authorization: `Bearer ${apiKey.key}` }, seconds: SECONDS });
  rows.push({
    measure: 'docs API GET /documents/:id with an API key',
    ours: fmt(keyGet),
    baseline: `the same read with a bearer JWT: ${fmt(docsGet)}`,
    ratio: keyGet.rps / docsGet.rps,
    target: '≥ 0.9× (no dearer than a JWT)',
    pass: keyGet.rps / docsGet.rps >= 0.9,
    detail: `docs API ${memo(await docs.memory())}; ${keyGet.requests} measured requests`,
  });
  // The same read with a DPoP-bound token (RFC 9449): a fresh proof per request (signature, htm/htu,
  // iat, ath, key thumbprint) and its jti claimed once in the shared cache, on top of the JWT read.
  const dpop = createDpopSigner();
  const dpopTokenResponse = await fetch(`${auth.info.url}/token`, {
    method: 'POST',
    headers: { ...tokenRequest(auth.info.url, machine.client_id, machine.client_secret!).headers, dpop: dpop.proof('POST', `${auth.info.url}/token`) },
    body: 'grant_type=client_credentials&scope=docs%3Aread',
  });
  const dpopToken = (await dpopTokenResponse.json()) as { access_token: string; token_type: string };
  if (dpopToken.token_type !== 'DPoP') throw new Error(`the token endpoint did not issue a DPoP-bound token: ${JSON.stringify(dpopToken)}`);
  const htu = `${loadDocsConfig(env).DOCS_API_AUDIENCE}/documents/${documentId}`;
  const dpopGet = await load({
    url: `${docs.info.url}/documents/${documentId}`,
    headers: { authorization: `DPoP ${dpopToken.access_token}` },
    perRequestHeaders: () => ({ dpop: dpop.proof('GET', htu, dpopToken.access_token) }),
    seconds: SECONDS,
  });
  rows.push({
    measure: 'docs API GET /documents/:id with a DPoP-bound token',
    ours: fmt(dpopGet),
    baseline: `the same read with a bearer JWT: ${fmt(docsGet)}`,
    ratio: dpopGet.rps / docsGet.rps,
    target: '(reference: a proof verified and its jti stored per request)',
    pass: dpopGet.non2xx === 0 && dpopGet.errors === 0,
    detail: `docs API ${memo(await docs.memory())}; ${dpopGet.requests} measured requests, each with its own proof signed by the load generator on the same machine`,
  });
  await docs.stop();

  // 3. Full password sign-in (form post -> code -> token) vs raw argon2id hashes/s, same parameters and threads.
  const web = await clients.create({ name: 'bench web', redirectUris: ['http://127.0.0.1:9/cb'] });
  const users = await Promise.all(
    Array.from({ length: 8 }, (_, i) => accounts.create({ email: `bench-user-${i}@clouddocs.test`, password: `bench-user-password-${i}`, emailVerified: true })),
  );
  const threads = Number(env.UV_THREADPOOL_SIZE);
  const raw = await argon2Baseline(argon2ParamsFrom(config), SECONDS, threads);
  const flows = await signInBench({
    issuer: auth.info.url,
    clientId: web.client_id,
    clientSecret: web.client_secret!,
    redirectUri: 'http://127.0.0.1:9/cb',
    users: users.map((u, i) => ({ email: u.email, password: `bench-user-password-${i}` })),
    seconds: SECONDS,
    concurrency: threads * 2,
  });
  rows.push({
    measure: 'full password sign-in (login form post -> consent -> code -> token)',
    ours: `${flows.perSecond.toFixed(1)} sign-ins/s (p50 ${flows.p50} ms, p99 ${flows.p99} ms, ${flows.failures} failed)`,
    baseline: `raw argon2id (m=${config.AUTH_ARGON2_MEMORY_KIB} KiB, t=${config.AUTH_ARGON2_TIME_COST}, p=${config.AUTH_ARGON2_PARALLELISM}), ${threads} threads: ${raw.perSecond.toFixed(1)} hashes/s`,
    ratio: flows.perSecond / raw.perSecond,
    target: '≥ 0.8×',
    pass: flows.perSecond / raw.perSecond >= 0.8,
    detail: `auth server ${memo(await auth.memory())}`,
  });
  await auth.stop();
  await audit.close();
  await stores.drop();

  const machineLine = `${cpus()[0]?.model ?? 'cpu'} × ${availableParallelism()}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  const table = [
    '| measure | CloudDocs | baseline (same run) | ratio | target | |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r.measure} | ${r.ours} | ${r.baseline} | ${r.ratio.toFixed(2)}× | ${r.target} | ${r.pass ? 'met' : 'missed'} |`),
  ].join('\n');
  const details = rows.map((r) => `- ${r.measure}: ${r.detail}`).join('\n');
  process.stdout.write(`\n${machineLine}\n\n${table}\n\n${details}\n`);
  const out = process.env.BENCH_OUTPUT ?? 'bench/RESULTS.md';
  writeFileSync(
    out,
    `<!-- written by \`npm run bench\` on ${new Date().toISOString()} -->\n\nMachine: ${machineLine}; ${SECONDS} s per measurement, autocannon keep-alive, 32 connections; servers in their own processes.\n\n${table}\n\n${details}\n`,
  );
  process.stdout.write(`\nwritten to ${out}\n`);
}

await main();
