// The docs API's warm read alone against bare koa, by server CPU time per request and peak RSS:
// `npx tsx bench/src/profile-docs-read.ts` (BENCH_ROUNDS alternations of BENCH_REQUESTS requests each;
// BENCH_PROFILE=dir writes both servers' CPU profiles; BENCH_DOCS_NODE_OPTIONS, the docs API's NODE_OPTIONS). The setup is run.ts's: real PostgreSQL and
// Redis, the auth server's client-credentials token, a 200-character org document read by its bound
// machine client, 32 keep-alive connections; CPU time is the server process's utime+stime from
// /proc/<pid>/stat around a fixed number of requests, which a busy host disturbs far less than req/s.
import { startChild, type Child } from './lib/child';
import { cpuPerRequest } from './lib/load';
import { benchStores } from './lib/stores';
import { createOrgDocument, machineToken, seedOrgMachine } from './lib/org-machine';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 100_000);

const measure = (child: Child<{ url: string }>, url: string, headers: Record<string, string>) => cpuPerRequest(child.process.pid!, { url, headers, requests: REQUESTS });

const stores = await benchStores('docsread');
const { env } = stores;
const { audit, org, machine } = await seedOrgMachine(stores, 'docsread');

const auth = await startChild<{ url: string }>('service.ts', { ...env, SERVICE: 'auth' });
const accessToken = await machineToken(auth.info.url, machine);
const bearer = { authorization: `Bearer ${accessToken}` };

const docsNodeOptions = process.env.BENCH_DOCS_NODE_OPTIONS;
const docs = await startChild<{ url: string }>('service.ts', { ...env, SERVICE: 'docs', ...(docsNodeOptions ? { NODE_OPTIONS: docsNodeOptions } : {}) });
const documentId = await createOrgDocument(docs.info.url, accessToken, org.id);
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
