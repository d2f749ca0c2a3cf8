// Builds of the docs API compared by server CPU per warm read, several processes per build, in one run:
// `BENCH_VARIANTS=before=/tmp/x,after=. npx tsx bench/src/exp-docs-variants.ts` (BENCH_PROCESSES per
// build, default 3; BENCH_ROUNDS, default 3; BENCH_REQUESTS per process and round, default 40,000).
// Each variant is a source tree (a checkout, or `git archive` of a commit) whose node_modules resolves
// @clouddocs/* to its own packages; `bench/src/lib/variant-tree.sh` makes one from a commit. Two
// processes of the same build differ by up to 10 µs per request, so one process per build would read
// process luck as an effect: compare the medians over processes. Bare koa runs beside them throughout.
// The stores, the token and the document are profile-docs-read.ts's. Before measuring, every process's raw
// answer (from the database, then from its cache) must be the same bytes, Date and request id aside.
import { connect } from 'node:net';
import { resolve } from 'node:path';
import { freePort } from '@clouddocs/db';
import { startChild } from './lib/child';
import { cpuPerRequest } from './lib/load';
import { createOrgDocument, machineToken, seedOrgMachine } from './lib/org-machine';
import { benchStores } from './lib/stores';

const PROCESSES = Number(process.env.BENCH_PROCESSES ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 40_000);
const variants = (process.env.BENCH_VARIANTS ?? `current=${process.cwd()}`).split(',').map((spec) => {
  const [name, root] = spec.split('=') as [string, string];
  return { name, root: resolve(root) };
});

interface Server {
  label: string;
  variant: string;
  url: string;
  pid: number;
  headers: Record<string, string>;
  readings: number[];
  stop(): void;
}

async function serverCpu(server: Server, path: string): Promise<number> {
  const measured = await cpuPerRequest(server.pid, { url: `${server.url}${path}`, headers: server.headers, requests: REQUESTS });
  if (measured.non2xx) throw new Error(`${server.label}: ${measured.non2xx} answers were not 2xx`);
  return measured.cpuUsPerRequest;
}

/** The raw answer to one request, its Date and request id masked: every build must answer the same bytes. */
function rawAnswer(url: string, path: string, authorization: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((done, fail) => {
    const socket = connect(Number(port), hostname, () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nAuthorization: ${authorization}\r\nConnection: close\r\n\r\n`);
    });
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    socket.on('end', () => done(text.replace(/^(Date|x-request-id): .*$/gim, '$1: (masked)'))); // Connection: close
    socket.on('error', fail);
  });
}

const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

const stores = await benchStores('docsvariants');
const { env } = stores;
const { audit, org, machine } = await seedOrgMachine(stores, 'docsvariants');
const auth = await startChild<{ url: string }>('service.ts', { ...env, SERVICE: 'auth' });
const accessToken = await machineToken(auth.info.url, machine);
const bearer = { authorization: `Bearer ${accessToken}` };

const servers: Server[] = [];
for (let i = 1; i <= PROCESSES; i++) {
  for (const { name, root } of variants) {
    // Each build's own bench/src/servers/service.ts, with the flags and allocator setting of `clouddocs start --service`.
    const docs = await startChild<{ url: string }>('service.ts', { ...env, SERVICE: 'docs', DOCS_API_PORT: String(await freePort()) }, root);
    servers.push({ label: `${name}#${i}`, variant: name, url: docs.info.url, pid: docs.process.pid!, headers: bearer, readings: [], stop: () => void docs.stop() });
  }
}
for (let i = 1; i <= Math.max(1, Math.ceil(PROCESSES / 2)); i++) {
  const koa = await startChild<{ url: string }>('bare-koa.ts');
  servers.push({ label: `bare koa#${i}`, variant: 'bare koa', url: koa.info.url, pid: koa.process.pid!, headers: {}, readings: [], stop: () => void koa.stop() });
}
const documentId = await createOrgDocument(servers[0]!.url, accessToken, org.id);

const answers = new Map<string, string[]>();
for (const server of servers.filter((s) => s.variant !== 'bare koa')) {
  const answer = await rawAnswer(server.url, `/documents/${documentId}`, bearer.authorization); // from the database
  if ((await rawAnswer(server.url, `/documents/${documentId}`, bearer.authorization)) !== answer) throw new Error(`${server.label} answers differently from its cache`);
  answers.set(answer, [...(answers.get(answer) ?? []), server.label]);
}
if (answers.size !== 1 || !/^HTTP\/1.1 200 /.test([...answers.keys()][0]!)) throw new Error(`the builds answer differently:\n${[...answers].map(([a, labels]) => `${labels.join(', ')}:\n${a}`).join('\n')}`);
console.log(`every build answers the same bytes:\n${[...answers.keys()][0]}`);

for (let round = 1; round <= ROUNDS; round++) {
  const order = round % 2 ? servers : [...servers].reverse(); // no server always first or last
  for (const server of order) server.readings.push(await serverCpu(server, `/documents/${documentId}`));
  console.log(`round ${round}: ${servers.map((s) => `${s.label} ${s.readings.at(-1)!.toFixed(1)}`).join(', ')}`);
}
console.log(`µs of server CPU per request, per process (median over rounds), and per build (median over its processes):`);
const koaMedian = median(servers.filter((s) => s.variant === 'bare koa').map((s) => median(s.readings)));
for (const variant of [...variants.map((v) => v.name), 'bare koa']) {
  const own = servers.filter((s) => s.variant === variant);
  const perProcess = own.map((s) => median(s.readings));
  const m = median(perProcess);
  console.log(`  ${variant}: ${m.toFixed(1)} (${perProcess.map((x) => x.toFixed(1)).join(', ')}), bare koa / this ${(koaMedian / m).toFixed(2)}`);
}
for (const server of servers) server.stop();
await auth.stop();
await audit.close();
await stores.drop();
