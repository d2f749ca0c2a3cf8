// The docs API's warm read alone against bare koa, by server CPU time per request and peak RSS:
// `npx tsx bench/src/profile-docs-read.ts` (BENCH_ROUNDS alternations of BENCH_REQUESTS requests each;
// BENCH_PROFILE=dir writes both servers' CPU profiles; BENCH_DOCS_NODE_OPTIONS, the docs API's NODE_OPTIONS). The setup is run.ts's: real PostgreSQL and
// Redis, the auth server's client-credentials token, a 200-character org document read by its bound
// machine client, 32 keep-alive connections; CPU time is the server process's utime+stime from
// /proc/<pid>/stat around a fixed number of requests, which a busy host disturbs far less than req/s.
import { readFile } from 'node:fs/promises';
import autocannon from 'autocannon';
import { createClientLibrary, createAccountLibrary, PasswordHasher, argon2ParamsFrom } from '@clouddocs/auth-server';
import { createOrganization, bindClientToOrg } from '@clouddocs/docs-api';
import { AuditLog } from '@clouddocs/audit';
import { startChild, type Child } from './lib/child';
import { benchStores } from './lib/stores';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 100_000);
const CLOCK_TICKS_PER_SECOND = 100;

/** utime and stime of a process, in seconds. */
async function cpuSeconds(pid: number): Promise<{ user: number; system: number }> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields from the 3rd (state) on
  return { user: Number(fields[11]) / CLOCK_TICKS_PER_SECOND, system: Number(fields[12]) / CLOCK_TICKS_PER_SECOND };
}

interface Measured {
  cpuUsPerRequest: number;
  /** Of which in the kernel (the socket reads and writes). */
  systemUsPerRequest: number;
  rps: number;
  non2xx: number;
}

async function measure(child: Child<{ url: string }>, url: string, headers: Record<string, string>): Promise<Measured> {
  await autocannon({ url, headers, connections: 32, amount: REQUESTS / 5 }); // warm-up: JIT and caches settle
  const before = await cpuSeconds(child.process.pid!);
  const result = await autocannon({ url, headers, connections: 32, amount: REQUESTS });
  const after = await cpuSeconds(child.process.pid!);
  const perRequest = (seconds: number) => (seconds * 1e6) / result.requests.total;
  return {
    cpuUsPerRequest: perRequest(after.user + after.system - before.user - before.system),
    systemUsPerRequest: perRequest(after.system - before.system),
    rps: Math.round(result.requests.average),
    non2xx: result.non2xx,
  };
}

const stores = await benchStores('docsread');
const { env, config, admin, box } = stores;
const clients = createClientLibrary({ knex: admin, box, issuer: config.AUTH_ISSUER });
const accounts = createAccountLibrary({ knex: admin, hasher: new PasswordHasher(argon2ParamsFrom(config)) });
const audit = await AuditLog.open(admin, 'bench');
const owner = await accounts.create({ email: 'docsread-owner@clouddocs.test', password: 'docsread-owner-password-1', emailVerified: true });
const org = await createOrganization(admin, audit, { name: 'Read Org', ownerId: owner.id });
const machine = await clients.create({ name: 'read machine', grants: ['client_credentials'] });
await bindClientToOrg(admin, audit, { orgId: org.id, clientId: machine.client_id, role: 'editor' });

const auth = await startChild<{ url: string }>('service.ts', { ...env, SERVICE: 'auth' });
const tokenResponse = await fetch(`${auth.info.url}/token`, {
  method: 'POST',
  headers: { authorization: `Basic ${Buffer.from(`${machine.client_id}:${machine.client_secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
  body: 'grant_type=client_credentials&scope=docs%3Aread%20docs%3Awrite',
});
const { access_token: accessToken } = (await tokenResponse.json()) as { access_token: string };
const bearer = { authorization: `Bearer ${accessToken}` };

const docsNodeOptions = process.env.BENCH_DOCS_NODE_OPTIONS;
const docs = await startChild<{ url: string }>('service.ts', { ...env, SERVICE: 'docs', ...(docsNodeOptions ? { NODE_OPTIONS: docsNodeOptions } : {}) });
const created = await fetch(`${docs.info.url}/documents`, {
  method: 'POST',
  headers: { ...bearer, 'content-type': 'application/json' },
  body: JSON.stringify({ title: 'Bench', content: 'x'.repeat(200), orgId: org.id }),
});
if (created.status !== 201) throw new Error(`could not create the document: ${created.status} ${await created.text()}`);
const { id: documentId } = (await created.json()) as { id: string };
const koa = await startChild<{ url: string }>('bare-koa.ts');
console.log(`RSS after start: docs API ${await docs.peakRssMb()} MB, bare koa ${await koa.peakRssMb()} MB`);

for (let round = 1; round <= ROUNDS; round++) {
  const k = await measure(koa, `${koa.info.url}/documents/${documentId}`, {});
  const d = await measure(docs, `${docs.info.url}/documents/${documentId}`, bearer);
  if (d.non2xx) throw new Error(`${d.non2xx} docs API answers were not 2xx`);
  console.log(
    `round ${round}: docs API ${d.cpuUsPerRequest.toFixed(1)} µs/req (system ${d.systemUsPerRequest.toFixed(1)}; ${d.rps} req/s), ` +
      `bare koa ${k.cpuUsPerRequest.toFixed(1)} µs/req (system ${k.systemUsPerRequest.toFixed(1)}; ${k.rps} req/s), ` +
      `CPU ratio ${(k.cpuUsPerRequest / d.cpuUsPerRequest).toFixed(2)}, req/s ratio ${(d.rps / k.rps).toFixed(2)}`,
  );
}
console.log(`peak RSS: docs API ${await docs.peakRssMb()} MB, bare koa ${await koa.peakRssMb()} MB`);
await koa.stop();
await docs.stop();
await auth.stop(); // the docs API reads its keys from it
await audit.close();
await stores.drop();
