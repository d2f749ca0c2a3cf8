// Every error is problem+json without a stack: unknown routes, wrong methods, bad bodies; and the
// operational endpoints answer without a token.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@clouddocs/observability';
import { createDocsApi } from './app';
import { quotable } from './errors';
import { startHarness, type Harness } from './testing/harness';
import { expectProblem } from './testing/fixtures';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());

describe('WWW-Authenticate error_description (RFC 6750 §3)', () => {
  it('quotes, backslashes and anything outside printable ASCII are replaced, so any description fits in the header', () => {
    expect(quotable('the "token" \\ é ✓ \u0000')).toBe("the 'token' ' ? ? ?");
    expect(() => new Headers({ 'www-authenticate': `Bearer error_description="${quotable('naïve ✓')}"` })).not.toThrow();
  });
});

describe('problem+json everywhere', () => {
  it('an unknown route -> 404 problem+json (with or without a token)', async () => {
    expectProblem(await h.request('GET', '/nope'), 404);
    expectProblem(await h.request('GET', '/documents/a/b/c', { token: await h.token() }), 404);
  });

  it('a wrong method -> 405 problem+json with Allow', async () => {
    const res = await h.request('PUT', '/documents');
    expectProblem(res, 405);
    expect(res.headers.get('allow')).toMatch(/GET/);
    expect(res.headers.get('allow')).toMatch(/POST/);
  });

  it('a document id that is not an id -> 404, not a server error', async () => {
    const token = await h.token();
    expectProblem(await h.request('GET', `/documents/${'x'.repeat(500)}`, { token }), 404);
    expectProblem(await h.request('GET', "/documents/'%20OR%201=1--", { token }), 404);
    // Bad bytes are bad input (middleware/reject-bad-bytes.test.ts): 400 before any lookup.
    expectProblem(await h.request('GET', '/orgs/%00', { token }), 400);
    expectProblem(await h.request('GET', '/documents/%E0%A4%A', { token }), 400);
  });

  it('a body over DOCS_API_MAX_BODY_BYTES -> 413 before it is parsed', async () => {
    const res = await h.request('POST', '/orgs', { token: await h.token(), rawBody: `{"name":"${'x'.repeat(h.config.DOCS_API_MAX_BODY_BYTES)}"}`, headers: { 'content-type': 'application/json' } });
    expectProblem(res, 413);
  });

  it('every response carries a request id, echoed when well-formed', async () => {
    const res = await h.request('GET', '/nope', { headers: { 'x-request-id': 'trace-123' } });
    expect(res.headers.get('x-request-id')).toBe('trace-123');
    expect(res.body.requestId).toBe('trace-123');
    expect((await h.request('GET', '/healthz')).headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('operations', () => {
  it('GET /healthz and GET /readyz answer 200 when the database, cache, keys and revocation feed are up', async () => {
    expect((await h.request('GET', '/healthz')).body).toEqual({ status: 'ok' });
    const ready = await h.request('GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({ status: 'ready', checks: { database: true, cache: true, keys: true, revocations: true, accepting: true } });
    expect(h.api.isReady()).toBe(true);
  });

  it('after drain() /readyz answers 503 (load balancers stop sending) while requests still work', async () => {
    const api = createDocsApi({ config: h.config, knex: h.knex, audit: h.audit, kv: h.kv, revocations: h.revocations, jwks: h.jwks!, logger: createLogger({ level: 'silent', name: 'docs-api' }) });
    const served = await h.serve(api);
    try {
      await api.ready();
      expect((await served.request('GET', '/readyz')).status).toBe(200);
      api.drain();
      const draining = await served.request('GET', '/readyz');
      expectProblem(draining, 503, /accepting/);
      expect(api.isReady()).toBe(false);
      expect((await served.request('GET', '/me', { token: await h.token() })).status).toBe(200);
    } finally {
      await served.close();
      await api.close();
    }
  });

  it('GET /metrics exposes the request histogram by route template', async () => {
    await h.request('GET', '/documents/123', { token: await h.token() });
    const res = await h.request('GET', '/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(res.text).toMatch(/http_request_duration_seconds_count\{[^}]*route="\/documents\/:id"[^}]*\}/);
  });
});
