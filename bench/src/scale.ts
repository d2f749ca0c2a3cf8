// `npm run bench:scale`: how the costs change as the data grows. Seeds one database in steps up to
// 1,000,000 audit events, 100,000 documents across 10,000 orgs and 10,000 clients, and at each step
// measures, against the same running auth server and docs API:
//   - `audit verify` over the whole log (its own process: wall time and peak RSS),
//   - `GET /documents` paged to the end by a user whose own share of the data stays the same,
//   - `GET /orgs/:id/audit` paged to the end for that user's org (its events stay the same),
//   - `POST /token` client credentials, each request by a different seeded client,
//   - a full password sign-in through the pages,
// and the query plans of those reads (EXPLAIN). Expected: verify linear (and flat in memory), every other
// line flat. Writes bench/SCALE-RESULTS.md and bench/scale.svg.
//
//   npm run bench:scale [-- --sizes 0.01,0.1,1] (fractions of the full size)
//
// DATABASE_URL / REDIS_URL default to the local servers; the run uses a fresh database and drops it.
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { AuditLog, type AuditEvent } from '@clouddocs/audit';
import { argon2ParamsFrom, createAccountLibrary, createClientLibrary, PasswordHasher } from '@clouddocs/auth-server';
import { bindClientToOrg, createOrganization } from '@clouddocs/docs-api';
import type { Knex } from '@clouddocs/db';
import { startChild } from './lib/child';
import { benchStores } from './lib/stores';
import { signIn } from './signin';

const { values } = parseArgs({ options: { sizes: { type: 'string', default: '0.01,0.1,1' } } });
const SIZES = values.sizes!.split(',').map(Number);
const FULL = { events: 1_000_000, documents: 100_000, orgs: 10_000, clients: 10_000 };
/** What the measuring user sees, the same at every size: their org's documents and audit events. */
const OWN_DOCUMENTS = 250;
const OWN_ORG_EVENTS = 250;
const TOKEN_SAMPLES = 300;
const SIGN_IN_SAMPLES = 8;
const PASSWORD = 'scale-bench-password-71';
const REDIRECT_URI = 'http://127.0.0.1:9/callback';

interface Step {
  size: number;
  data: { events: number; documents: number; orgs: number; clients: number };
  seedSeconds: number;
  verify: { seconds: number; eventsPerSecond: number; peakRssMb: number; ok: boolean };
  documents: { pages: number; totalMs: number; pageP50: number };
  orgAudit: { pages: number; totalMs: number; pageP50: number };
  /** A different seeded client each time (p50, p99), and the same client again and again (warmP50). */
  token: { p50: number; p99: number; warmP50: number };
  signIn: { p50: number };
  plans: Record<string, string>;
}

const pct = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! * 10) / 10;
};
const count = async (knex: Knex, table: string) => Number((await knex(table).count({ n: '*' }).first())!.n);

async function main() {
  const stores = await benchStores('scale', { poolMax: 8 });
  const { admin, env, config, box } = stores;
  const steps: Step[] = [];
  const children: { stop(): Promise<void> }[] = [];
  try {
    const clients = createClientLibrary({ knex: admin, box, issuer: config.AUTH_ISSUER });
    const accounts = createAccountLibrary({ knex: admin, hasher: new PasswordHasher(argon2ParamsFrom(config)) });
    const audit = await AuditLog.open(admin, 'scale-setup');

    // The measuring user, their org with its documents and events, a web client and a machine client
    // whose secret every seeded client shares.
    const user = await accounts.create({ email: 'scale@clouddocs.test', password: PASSWORD, emailVerified: true });
    const org = await createOrganization(admin, audit, { name: 'Measured org', ownerId: user.id });
    const web = await clients.create({ name: 'scale web', redirectUris: [REDIRECT_URI], grants: ['authorization_code'], scope: 'openid docs:read audit:read' });
    const template = await clients.create({ name: 'scale machine', grants: ['client_credentials'], scope: 'docs:read' });
    await bindClientToOrg(admin, audit, { orgId: org.id, clientId: template.client_id, role: 'viewer' });
    await admin.raw(
      `INSERT INTO docs.documents (id, org_id, owner_id, title, content, created_at)
       SELECT 'own-doc-' || g, ?, ?, 'Document ' || g, repeat('x', 200), now() - g * interval '1 second' FROM generate_series(1, ?) g`,
      [org.id, user.id, OWN_DOCUMENTS],
    );
    for (let i = 0; i < OWN_ORG_EVENTS; i++) {
      void audit.record({ action: 'document.updated', actor: { type: 'user', id: user.id }, target: { type: 'document', id: `own-doc-${(i % OWN_DOCUMENTS) + 1}` }, outcome: 'success', orgId: org.id });
    }
    await audit.flush();

    const auth = await startChild<{ url: string }>('service.ts', { ...env, SERVICE: 'auth' });
    children.push(auth);
    const docs = await startChild<{ url: string }>('service.ts', { ...env, SERVICE: 'docs' });
    children.push(docs);
    const signInOnce = () => signIn({ issuer: auth.info.url, clientId: web.client_id, clientSecret: web.client_secret!, redirectUri: REDIRECT_URI, email: user.email, password: PASSWORD, scope: 'openid docs:read audit:read' });
    await signInOnce(); // consent remembered from here on, as for a returning user

    const seeded = { events: 0, documents: 0, orgs: 0, clients: 0 };
    for (const size of SIZES) {
      const target = { events: Math.round(FULL.events * size), documents: Math.round(FULL.documents * size), orgs: Math.round(FULL.orgs * size), clients: Math.round(FULL.clients * size) };
      const seedStarted = performance.now();
      await seedTo(admin, template.client_id, seeded, target);
      const seedSeconds = (performance.now() - seedStarted) / 1000;
      await admin.raw('ANALYZE');
      process.stderr.write(`size ${size}: seeded in ${seedSeconds.toFixed(1)} s; measuring\n`);

      const verifier = await startChild<{ ok: boolean; events: number; seconds: number; peakRssMb: number }>('verify.ts', { DATABASE_URL: env.DATABASE_URL! });
      const verify = verifier.info;
      await verifier.stop();

      const token = (await signInOnce()).access_token as string;
      const documents = await pageToEnd(`${docs.info.url}/documents?limit=50`, token);
      const orgAudit = await pageToEnd(`${docs.info.url}/orgs/${org.id}/audit?limit=50`, token);
      const tokenLatencies: number[] = [];
      const warmLatencies: number[] = [];
      for (let i = 0; i < TOKEN_SAMPLES; i++) {
        // Every other request by the same client (warm), the rest each by a seeded client picked at random.
        const warm = i % 2 === 0;
        const clientId = warm ? template.client_id : `scale-client-${1 + Math.floor(Math.random() * seeded.clients)}`;
        const t = performance.now();
        const res = await fetch(`${auth.info.url}/token`, {
          method: 'POST',
          headers: { authorization: `Basic ${Buffer.from(`${clientId}:${template.client_secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
          body: 'grant_type=client_credentials&scope=docs%3Aread',
        });
        await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`token for ${clientId}: ${res.status}`);
        (warm ? warmLatencies : tokenLatencies).push(performance.now() - t);
      }
      const signInLatencies: number[] = [];
      for (let i = 0; i < SIGN_IN_SAMPLES; i++) {
        const t = performance.now();
        await signInOnce();
        signInLatencies.push(performance.now() - t);
      }
      steps.push({
        size,
        data: { events: await count(admin, 'audit.events'), documents: await count(admin, 'docs.documents'), orgs: await count(admin, 'docs.orgs'), clients: await count(admin, 'auth.clients') },
        seedSeconds,
        verify: { seconds: verify.seconds, eventsPerSecond: Math.round(verify.events / verify.seconds), peakRssMb: verify.peakRssMb, ok: verify.ok },
        documents,
        orgAudit,
        token: { p50: pct(tokenLatencies, 50), p99: pct(tokenLatencies, 99), warmP50: pct(warmLatencies, 50) },
        signIn: { p50: pct(signInLatencies, 50) },
        plans: await plans(admin, user.id, org.id),
      });
      process.stderr.write(`${JSON.stringify(steps[steps.length - 1], (k, v) => (k === 'plans' ? undefined : v))}\n`);
    }
    await audit.close();
  } finally {
    for (const child of children.reverse()) await child.stop();
    await stores.drop();
  }
  writeResults(steps);
}

async function seedTo(knex: Knex, templateId: string, seeded: { events: number; documents: number; orgs: number; clients: number }, target: { events: number; documents: number; orgs: number; clients: number }) {
  if (target.orgs > seeded.orgs) {
    await knex.raw(`INSERT INTO docs.orgs (id, name) SELECT 'scale-org-' || g, 'Org ' || g FROM generate_series(?::int, ?::int) g`, [seeded.orgs + 1, target.orgs]);
    await knex.raw(`INSERT INTO docs.memberships (org_id, principal_id, principal_type, role) SELECT 'scale-org-' || g, 'scale-user-' || g, 'user', 'owner' FROM generate_series(?::int, ?::int) g`, [seeded.orgs + 1, target.orgs]);
    seeded.orgs = target.orgs;
  }
  if (target.documents > seeded.documents) {
    // Spread over the orgs seeded so far, created over the last year; owners are the orgs' owners.
    await knex.raw(
      `INSERT INTO docs.documents (id, org_id, owner_id, title, content, created_at)
       SELECT 'scale-doc-' || g, 'scale-org-' || (1 + g % ?), 'scale-user-' || (1 + g % ?), 'Document ' || g, repeat('y', 200), now() - (g % 31536000) * interval '1 second'
       FROM generate_series(?::int, ?::int) g`,
      [seeded.orgs, seeded.orgs, seeded.documents + 1, target.documents],
    );
    seeded.documents = target.documents;
  }
  if (target.clients > seeded.clients) {
    // Copies of the template client (same secret, its own id), each bound to an org as the CLI would.
    await knex.raw(
      `INSERT INTO auth.clients (client_id, name, metadata, secret_enc)
       SELECT 'scale-client-' || g, 'Client ' || g, jsonb_set(t.metadata, '{client_id}', to_jsonb('scale-client-' || g)), t.secret_enc
       FROM auth.clients t, generate_series(?::int, ?::int) g WHERE t.client_id = ?`,
      [seeded.clients + 1, target.clients, templateId],
    );
    await knex.raw(
      `INSERT INTO docs.memberships (org_id, principal_id, principal_type, role) SELECT 'scale-org-' || (1 + g % ?), 'scale-client-' || g, 'client', 'viewer' FROM generate_series(?::int, ?::int) g`,
      [seeded.orgs, seeded.clients + 1, target.clients],
    );
    seeded.clients = target.clients;
  }
  if (target.events > seeded.events) {
    // Through the audit writer itself (hash chain, group commit), as the services write them.
    const log = await AuditLog.open(knex, `scale-seed-${seeded.events}`, { maxBatch: 2000 });
    const actions: AuditEvent['action'][] = ['token.issued', 'auth.login.succeeded', 'document.updated', 'access.denied'];
    let next = seeded.events;
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (next < target.events) {
          const i = next++;
          await log.record({
            action: actions[i % actions.length]!,
            actor: { type: 'user', id: `scale-user-${1 + (i % seeded.orgs)}` },
            target: { type: 'document', id: `scale-doc-${1 + (i % Math.max(1, seeded.documents))}` },
            outcome: i % 10 === 0 ? 'failure' : 'success',
            orgId: `scale-org-${1 + (i % seeded.orgs)}`,
            requestId: `req-${i.toString(36)}`,
            detail: { scope: 'docs:read' },
          });
        }
      }),
    );
    await log.close();
    seeded.events = target.events;
  }
}

/** Follows `nextCursor` to the end: the pages, their total time and the median page time. */
async function pageToEnd(first: string, token: string) {
  const times: number[] = [];
  let url: string | undefined = first;
  let items = 0;
  while (url) {
    const t = performance.now();
    const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    const body = (await res.json()) as { items?: unknown[]; nextCursor?: string | null };
    times.push(performance.now() - t);
    if (res.status !== 200) throw new Error(`${url}: ${res.status} ${JSON.stringify(body)}`);
    items += body.items!.length;
    url = body.nextCursor ? `${first}&cursor=${encodeURIComponent(body.nextCursor)}` : undefined;
  }
  if (items === 0) throw new Error(`${first}: nothing listed`);
  return { pages: times.length, totalMs: Math.round(times.reduce((a, b) => a + b, 0)), pageP50: pct(times, 50) };
}

/** The plans of the reads measured above (the services' own query shapes), node types only. */
async function plans(knex: Knex, userId: string, orgId: string): Promise<Record<string, string>> {
  const explain = async (sql: string, bindings: unknown[]) => {
    const rows = (await knex.raw(`EXPLAIN ${sql}`, bindings as never[])).rows as { 'QUERY PLAN': string }[];
    return rows
      .map((r) => r['QUERY PLAN'].trim())
      .filter((line) => /Scan|Sort|Join|Append|Limit|Unique/.test(line))
      .map((line) => line.replace(/^->\s*/, '').replace(/\s+\(cost=.*$/, ''))
      .join(' → ');
  };
  return {
    'documents, first page': await explain(
      `SELECT v.*, s.permission FROM (
         (SELECT d.id, d.created_at FROM docs.documents d WHERE d.org_id IN (?) ORDER BY d.created_at DESC, d.id DESC LIMIT 51)
         UNION (SELECT d.id, d.created_at FROM docs.documents d WHERE d.org_id IS NULL AND d.owner_id = ? ORDER BY d.created_at DESC, d.id DESC LIMIT 51)
         UNION (SELECT d.id, d.created_at FROM docs.documents d JOIN docs.shares ds ON ds.document_id = d.id WHERE ds.user_id = ? ORDER BY d.created_at DESC, d.id DESC LIMIT 51)
       ) v LEFT JOIN docs.shares s ON s.document_id = v.id AND s.user_id = ? ORDER BY v.created_at DESC, v.id DESC LIMIT 51`,
      [orgId, userId, userId, userId],
    ),
    'org audit, first page': await explain(`SELECT id FROM audit.events WHERE org_id = ? ORDER BY id DESC LIMIT 51`, [orgId]),
    'client by id': await explain(`SELECT * FROM auth.clients WHERE client_id = ?`, ['scale-client-1']),
  };
}

function writeResults(steps: Step[]) {
  const line = (s: Step) =>
    `| ${s.size} | ${s.data.events.toLocaleString('en')} | ${s.data.documents.toLocaleString('en')} / ${s.data.orgs.toLocaleString('en')} | ${s.data.clients.toLocaleString('en')} | ${s.verify.seconds.toFixed(1)} s (${s.verify.eventsPerSecond.toLocaleString('en')}/s, ${s.verify.peakRssMb} MB, ${s.verify.ok ? 'intact' : 'BROKEN'}) | ${s.documents.pageP50} ms × ${s.documents.pages} | ${s.orgAudit.pageP50} ms × ${s.orgAudit.pages} | ${s.token.p50} / ${s.token.p99} ms (same client: ${s.token.warmP50} ms) | ${s.signIn.p50} ms |`;
  const md = [
    '# Scale benchmark (`npm run bench:scale`)',
    '',
    `Run ${new Date().toISOString()} on ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}; one auth server and one docs API process, PostgreSQL and Redis on the same host. Medians of sequential requests (no concurrency).`,
    '',
    '| size | audit events | documents / orgs | clients | `audit verify` (whole log) | `GET /documents` page p50 × pages | org audit page p50 × pages | token p50 / p99, each by another client | sign-in p50 |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...steps.map(line),
    '',
    'Query plans at each size (node types):',
    '',
    ...steps.flatMap((s) => [`- size ${s.size}:`, ...Object.entries(s.plans).map(([k, v]) => `  - ${k}: ${v}`)]),
    '',
    '![how each cost changes with the data](scale.svg)',
    '',
  ].join('\n');
  writeFileSync(new URL('../SCALE-RESULTS.md', import.meta.url), md);
  writeFileSync(new URL('../scale.svg', import.meta.url), chart(steps));
  process.stdout.write(`${md}\n`);
}

/** Each measure relative to its value at the smallest size, against the data size (log scale). */
function chart(steps: Step[]): string {
  const series: { name: string; color: string; values: number[] }[] = [
    { name: 'audit verify time', color: '#d62728', values: steps.map((s) => s.verify.seconds) },
    { name: 'audit verify peak RSS', color: '#ff9896', values: steps.map((s) => s.verify.peakRssMb) },
    { name: 'GET /documents page', color: '#1f77b4', values: steps.map((s) => s.documents.pageP50) },
    { name: 'org audit page', color: '#2ca02c', values: steps.map((s) => s.orgAudit.pageP50) },
    { name: 'token p50, another client', color: '#9467bd', values: steps.map((s) => s.token.p50) },
    { name: 'token p50, same client', color: '#c5b0d5', values: steps.map((s) => s.token.warmP50) },
    { name: 'sign-in p50', color: '#8c564b', values: steps.map((s) => s.signIn.p50) },
  ];
  const W = 720, H = 420, L = 70, R = 220, T = 30, B = 50;
  const xs = steps.map((s) => Math.log10(s.size));
  const xMin = Math.min(...xs), xMax = Math.max(...xs);
  const ratios = series.flatMap((s) => s.values.map((v) => v / (s.values[0] || 1)));
  const yMax = Math.max(10, ...ratios.map((r) => Math.log10(Math.max(r, 0.1))).map((l) => 10 ** Math.ceil(l)));
  const x = (v: number) => L + ((v - xMin) / (xMax - xMin || 1)) * (W - L - R);
  const y = (r: number) => T + (1 - (Math.log10(Math.max(r, 0.1)) + 1) / (Math.log10(yMax) + 1)) * (H - T - B);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  parts.push(`<text x="${L}" y="18" font-size="14">Cost relative to the smallest size, as the data grows ${steps.length ? `${steps[steps.length - 1]!.size / steps[0]!.size}×` : ''}</text>`);
  for (let r = 0.1; r <= yMax; r *= 10) {
    parts.push(`<line x1="${L}" x2="${W - R}" y1="${y(r)}" y2="${y(r)}" stroke="#ddd"/><text x="${L - 8}" y="${y(r) + 4}" text-anchor="end">${r >= 1 ? `${r}×` : `${r}×`}</text>`);
  }
  steps.forEach((s, i) => parts.push(`<text x="${x(xs[i]!)}" y="${H - B + 18}" text-anchor="middle">${s.data.events.toLocaleString('en')} events</text>`));
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - 10}" text-anchor="middle">data size (log scale): audit events, with documents, orgs and clients in proportion</text>`);
  parts.push(`<line x1="${L}" x2="${W - R}" y1="${y(1)}" y2="${y(1)}" stroke="#999" stroke-dasharray="4 3"/>`);
  // The line a linear cost would follow.
  parts.push(`<polyline fill="none" stroke="#bbb" stroke-dasharray="2 4" points="${steps.map((s, i) => `${x(xs[i]!)},${y(s.size / steps[0]!.size)}`).join(' ')}"/>`);
  series.forEach((s, k) => {
    const points = s.values.map((v, i) => `${x(xs[i]!)},${y(v / (s.values[0] || 1))}`).join(' ');
    parts.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${points}"/>`);
    parts.push(`<rect x="${W - R + 16}" y="${T + k * 22}" width="14" height="4" fill="${s.color}"/><text x="${W - R + 36}" y="${T + k * 22 + 6}">${s.name}</text>`);
  });
  parts.push(`<text x="${W - R + 16}" y="${T + series.length * 22 + 6}" fill="#999">dotted: linear growth</text>`);
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

await main();
