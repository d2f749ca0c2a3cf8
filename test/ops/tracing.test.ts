// Tracing is off by default and on with the standard OTEL_* variables: a real `clouddocs start`
// exports spans for http, koa, pg and ioredis work to an OTLP/HTTP endpoint.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '@clouddocs/db';
import { freePort } from '../support/ports';

const BIN = join(import.meta.dirname, '..', '..', 'packages', 'cli', 'bin', 'clouddocs.js');

interface Collected {
  names: string[];
  scopes: string[];
}

function collector(): Promise<{ server: Server; url: string; collected: Collected }> {
  const collected: Collected = { names: [], scopes: [] };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c as Buffer));
    req.on('end', () => {
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        for (const rs of body.resourceSpans ?? []) {
          for (const ss of rs.scopeSpans ?? []) {
            collected.scopes.push(ss.scope?.name ?? '');
            for (const span of ss.spans ?? []) collected.names.push(span.name);
          }
        }
      } catch {
        // not JSON: ignored
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    resolve({ server, url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`, collected });
  }));
}

async function waitFor<T>(probe: () => Promise<T | undefined> | T | undefined, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('OpenTelemetry tracing', () => {
  let db: TestDatabase;
  let otlp: Awaited<ReturnType<typeof collector>>;
  let child: ChildProcess | undefined;
  let port: number;

  beforeAll(async () => {
    db = await createTestDatabase();
    otlp = await collector();
    port = await freePort();
  });
  afterAll(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child!.once('exit', r));
    }
    otlp?.server.close();
    await db?.drop();
  });

  it('exports http, koa and pg spans to the OTLP endpoint named by OTEL_EXPORTER_OTLP_ENDPOINT', async () => {
    const env = {
      ...process.env,
      DATABASE_URL: db.url,
      DATA_DIR: mkdtempSync(join(tmpdir(), 'clouddocs-otel-')),
      REDIS_PREFIX: `otel-${randomBytes(4).toString('hex')}:`,
      AUTH_ISSUER: `http://127.0.0.1:${port}`,
      AUTH_PORT: String(port),
      LOG_LEVEL: 'warn',
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '100',
      OTEL_SERVICE_NAME: 'clouddocs-test',
    };
    if (!process.env.REDIS_URL) delete (env as NodeJS.ProcessEnv).REDIS_URL;
    child = spawn(process.execPath, [BIN, 'start', '--service', 'auth'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
    await waitFor(async () => ((await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.ok ? true : undefined));
    const discovery = await fetch(`http://127.0.0.1:${port}/.well-known/openid-configuration`);
    expect(discovery.status).toBe(200);
    const token = await fetch(`http://127.0.0.1:${port}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from('nobody:nothing').toString('base64')}` },
      body: 'grant_type=client_credentials',
    });
    expect(token.status).toBe(401);
    const scopes = await waitFor(() => (otlp.collected.scopes.some((s) => s.includes('instrumentation-pg')) && otlp.collected.scopes.some((s) => s.includes('instrumentation-http')) ? otlp.collected.scopes : undefined));
    expect(scopes.some((s) => s.includes('instrumentation-http'))).toBe(true);
    expect(scopes.some((s) => s.includes('instrumentation-pg'))).toBe(true);
    expect(otlp.collected.names.some((n) => /^(GET|POST)\b/.test(n))).toBe(true);
  });

  it('is requested only by the standard OTEL_* variables, and OTEL_SDK_DISABLED wins', async () => {
    const { tracingRequested } = await import('@clouddocs/observability');
    expect(tracingRequested({})).toBe(false);
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x', OTEL_SDK_DISABLED: 'true' })).toBe(false);
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://x' })).toBe(true);
    expect(tracingRequested({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x' })).toBe(false);
  });
});
