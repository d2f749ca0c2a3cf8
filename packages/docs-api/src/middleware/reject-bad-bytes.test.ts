// Bad bytes are bad input: a NUL or invalid UTF-8 anywhere in a request is a 400 problem+json, never a 5xx.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness, type Response } from '../testing/harness';
import { documentOf, expectProblem, orgWith, type TestUser } from '../testing/fixtures';

let h: Harness;
let alice: TestUser;
let orgId: string, docId: string;

beforeAll(async () => {
  h = await startHarness();
  alice = await h.user();
  orgId = await orgWith(h, alice);
  docId = await documentOf(h, alice);
});
afterAll(() => h?.close());

function expectBadBytes(res: Response, where: RegExp) {
  expectProblem(res, 400, where);
  expect(res.body.type).toBe('urn:clouddocs:problem:invalid-encoding');
  expect(res.headers.get('x-content-type-options')).toBe('nosniff');
}

const json = { 'content-type': 'application/json' };

/** A request line, headers and body written as bytes, exactly. */
const raw = (head: string, extraHeader: Buffer = Buffer.alloc(0), body = Buffer.alloc(0)) =>
  Buffer.concat([Buffer.from(head, 'latin1'), extraHeader, Buffer.from(`\r\nHost: x\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`), body]);

describe('bad bytes in a JSON body', () => {
  it('a NUL in a text field -> 400, not the 500 of the database refusing it', async () => {
    const before = await h.knex('docs.documents').count({ n: '*' }).first();
    expectBadBytes(await h.request('POST', '/documents', { token: alice.token, body: { title: 'a\u0000b', content: 'c' } }), /body contains a NUL/);
    expectBadBytes(await h.request('PATCH', `/documents/${docId}`, { token: alice.token, body: { content: 'x\u0000' } }), /NUL/);
    expectBadBytes(await h.request('POST', '/orgs', { token: alice.token, body: { name: '\u0000' } }), /NUL/);
    expect(await h.knex('docs.documents').count({ n: '*' }).first()).toEqual(before);
  });

  it('a NUL in a key -> 400 invalid-encoding', async () => {
    expectBadBytes(await h.request('POST', '/documents', { token: alice.token, rawBody: '{"title":"t","content":"c","a\\u0000":1}', headers: json }), /NUL/);
  });

  it('a lone surrogate escape (not Unicode) -> 400 invalid-encoding', async () => {
    expectBadBytes(await h.request('POST', '/documents', { token: alice.token, rawBody: '{"title":"\\ud800","content":"c"}', headers: json }), /lone surrogate/);
  });

  it('invalid UTF-8 bytes in a string -> 400 invalid-encoding', async () => {
    const body = Buffer.concat([Buffer.from('{"title":"'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('","content":"c"}')]);
    expectBadBytes(await h.request('POST', '/documents', { token: alice.token, rawBody: body, headers: json }), /UTF-8/);
  });

  it('a deeply nested body -> 400, not a stack overflow', async () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    const res = await h.request('POST', '/orgs', { token: alice.token, rawBody: deep, headers: json });
    expectProblem(res, 400);
  });

  it('malformed JSON -> 400', async () => {
    expectProblem(await h.request('POST', '/orgs', { token: alice.token, rawBody: '{"name": "a"', headers: json }), 400, /well-formed JSON/);
    expectProblem(await h.request('POST', '/orgs', { token: alice.token, rawBody: '{"name": "a\u0001"}', headers: json }), 400, /well-formed JSON/);
  });
});

describe('bad bytes in the URL', () => {
  it('a NUL or invalid UTF-8 in a query parameter or the cursor -> 400', async () => {
    expectBadBytes(await h.request('GET', '/documents?limit=1%00', { token: alice.token }), /URL.*NUL/);
    expectBadBytes(await h.request('GET', '/documents?cursor=%FF%FE', { token: alice.token }), /URL.*invalid UTF-8/);
    expectBadBytes(await h.request('GET', '/documents?cursor=abc%00.def', { token: alice.token }), /NUL/);
    expectBadBytes(await h.request('GET', `/orgs/${orgId}/audit?action=%C3`, { token: alice.token }), /UTF-8/);
  });

  it('a NUL or invalid UTF-8 in a path parameter -> 400, not 404', async () => {
    expectBadBytes(await h.request('GET', '/orgs/%00', { token: alice.token }), /NUL/);
    expectBadBytes(await h.request('GET', `/documents/${docId}%00`, { token: alice.token }), /NUL/);
    expectBadBytes(await h.request('PUT', `/orgs/${orgId}/members/%E0%A4`, { token: alice.token, body: { role: 'viewer' } }), /UTF-8/);
  });

  it('a malformed percent-escape -> 400', async () => {
    expectBadBytes(await h.request('GET', '/documents/%E0%A4%A', { token: alice.token }), /percent-escape/);
    expectBadBytes(await h.request('GET', '/documents?cursor=%zz', { token: alice.token }), /percent-escape/);
  });

  it('is checked before authentication: no token and bad bytes -> 400', async () => {
    expectBadBytes(await h.request('GET', '/documents?x=%00'), /NUL/);
  });

  it('valid UTF-8 in the query passes the edge (then the schema decides)', async () => {
    expectProblem(await h.request('GET', `/orgs/${orgId}/audit?action=%C3%A9t%C3%A9`, { token: alice.token }), 400, /unknown action/);
  });

  it("a raw NUL or non-ASCII byte in the request line -> 400 problem+json from Node's parser", async () => {
    for (const bytes of [Buffer.from([0x00]), Buffer.from([0xff, 0xfe])]) {
      const res = await h.raw(Buffer.concat([Buffer.from('GET /documents/'), bytes, Buffer.from(' HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')]));
      expectProblem(res, 400);
      expect(res.headers.get('connection')).toBe('close');
    }
  });
});

describe('bad bytes in headers', () => {
  it('invalid UTF-8 in the Authorization header -> 400 invalid_request with a Bearer challenge', async () => {
    const res = await h.raw(raw('GET /me HTTP/1.1\r\nAuthorization: Bearer ', Buffer.from([0xff, 0xfe, 0x41])));
    expectProblem(res, 400, /Authorization header contains invalid UTF-8/);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer realm="docs-api", error="invalid_request"/);
  });

  it('invalid UTF-8 in any other header -> 400; valid UTF-8 there is fine', async () => {
    expectBadBytes(await h.raw(raw('GET /healthz HTTP/1.1\r\nUser-Agent: ', Buffer.from([0xc3, 0x28]))), /user-agent header contains invalid UTF-8/);
    expect((await h.raw(raw('GET /healthz HTTP/1.1\r\nUser-Agent: ', Buffer.from('café', 'utf8')))).status).toBe(200);
  });

  it("a NUL in a header -> 400 problem+json from Node's parser", async () => {
    const res = await h.raw(raw('GET /me HTTP/1.1\r\nAuthorization: Bearer a', Buffer.from([0x00, 0x41])));
    expectProblem(res, 400, /malformed/);
  });

  it('headers over the size limit -> 431 problem+json', async () => {
    const res = await h.raw(raw(`GET /me HTTP/1.1\r\nX-Padding: ${'a'.repeat(20_000)}`));
    expectProblem(res, 431);
  });
});
