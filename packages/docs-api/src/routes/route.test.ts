// Every route of the route table (`api.routes`), generated, so that a new route is covered without
// anyone remembering to: every JSON body field, query parameter and path parameter with bad bytes, an
// overlong value and wrong types, unknown fields, bad bytes in headers, and every wrong credential on
// every protected route. Rules: bad input is always a 4xx problem+json without a stack trace, never a
// 5xx (a NUL or invalid UTF-8: exactly 400 invalid-encoding); a wrong credential is 401 with the RFC 6750
// challenge (no error attribute without a token, `invalid_token` with one), or the RFC 9449 DPoP one
// (`invalid_token` for a binding that does not match the scheme, `invalid_dpop_proof` for a bad proof),
// and a header that is not `<scheme> <credential>` is 400 `invalid_request`. The API trusts the proxy
// here, so a certificate-bound token (RFC 8705 §3) meets every hostile value of the certificate header.
import { execFileSync } from 'node:child_process';
import { hash, randomUUID, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { RevocationList } from '@clouddocs/kv';
import { dpopKey, proof, type DpopKey, type ProofOptions } from '../testing/dpop';
import { startHarness, type Harness, type Response } from '../testing/harness';
import { documentOf, orgWith, type TestUser } from '../testing/fixtures';
import type { RouteDefinition } from './route';

let h: Harness;
let alice: TestUser, member: TestUser;
/** A real object for every path parameter name, one the caller (alice, an owner) may act on. */
let objects: Record<string, string>;

beforeAll(async () => {
  h = await startHarness({ env: { DOCS_API_TRUST_PROXY: 'true' } });
  [alice, member] = await Promise.all([h.user(), h.user()]);
  const orgId = await orgWith(h, alice, [[member, 'viewer']]);
  objects = { orgId, id: await documentOf(h, alice, { orgId }), userId: member.id };
});
afterAll(() => h?.close());

const protectedRoutes = () => h.api.routes.filter((r) => r.access !== 'public');
const label = (route: RouteDefinition) => `${route.method.toUpperCase()} ${route.path}`;
const pathOf = (route: RouteDefinition, override: Record<string, string> = {}) =>
  route.path.replace(/:([A-Za-z0-9_]+)/g, (_, name: string) => {
    const value = override[name] ?? objects[name];
    if (value === undefined) throw new Error(`${label(route)}: no test object for the path parameter :${name}; add one to \`objects\``);
    return value;
  });

interface JsonProperty {
  type?: string | string[];
  enum?: unknown[];
  format?: string;
  anyOf?: JsonProperty[];
}

function propertiesOf(schema: z.ZodType): Record<string, JsonProperty> {
  return ((z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as { properties?: Record<string, JsonProperty> }).properties ?? {});
}

/** A valid value for a body field: the test object of that name, an enum's first value, else a short string. */
function exampleFor(name: string, property: JsonProperty): unknown {
  if (objects[name] !== undefined) return objects[name];
  const options = property.anyOf ?? [property];
  const withEnum = options.find((o) => o.enum);
  if (withEnum) return withEnum.enum![0];
  return 'x';
}

/** Every field of the body with a valid value: each case below spoils one of them. */
function validBody(route: RouteDefinition): Record<string, unknown> {
  const body = Object.fromEntries(Object.entries(propertiesOf(route.body!)).map(([name, p]) => [name, exampleFor(name, p)]));
  expect(route.body!.safeParse(body).success, `${label(route)}: the generated valid body ${JSON.stringify(body)} is refused; teach exampleFor this field`).toBe(true);
  return body;
}

const WRONG_TYPES: [string, unknown][] = [
  ['number', 42],
  ['negative number', -1],
  ['fraction', 1.5],
  ['boolean', true],
  ['false', false],
  ['empty array', []],
  ['array', ['x']],
  ['empty object', {}],
  ['object', { a: 'x' }],
  ['null', null],
];
const UNKNOWN_FIELDS = ['__proto__', 'constructor', 'ownerId'];
const ONE_MB = 'x'.repeat(1024 * 1024);
const OVERLONG = 'x'.repeat(200_000); // longer than any field may be, shorter than the body limit
const MARK = 'BAD-BYTES-HERE';

type Expectation = { status: 400; encoding: true } | { status: 400 | 413 } | { status: 'not-5xx' };

/** Collected, not thrown, so that one run names every failing case. */
function judge(failures: string[], what: string, res: Response, expected: Expectation) {
  const problems: string[] = [];
  if (res.status >= 500) problems.push(`status ${res.status}`);
  else if (expected.status !== 'not-5xx' && res.status !== expected.status) problems.push(`status ${res.status}, expected ${expected.status}`);
  if (res.status >= 400) {
    if (!/^application\/problem\+json/.test(res.headers.get('content-type') ?? '')) problems.push(`content-type ${res.headers.get('content-type')}`);
    if (res.body?.status !== res.status || typeof res.body?.type !== 'string' || typeof res.body?.detail !== 'string') problems.push(`not a problem body: ${res.text.slice(0, 200)}`);
    if ('encoding' in expected && res.body?.type !== 'urn:clouddocs:problem:invalid-encoding') problems.push(`type ${res.body?.type}, expected invalid-encoding`);
  }
  if (/\bat [^ ]+ \(|node_modules|\.ts:\d+|stack/i.test(res.text)) problems.push('a stack trace in the body');
  if (problems.length) failures.push(`${what}: ${problems.join('; ')}`);
}

describe('every JSON body field of every route', () => {
  it('NUL, a lone surrogate or invalid UTF-8 bytes in a field -> 400 invalid-encoding', async () => {
    const failures: string[] = [];
    for (const route of h.api.routes.filter((r) => r.body)) {
      const valid = validBody(route);
      for (const field of Object.keys(valid)) {
        const send = (rawBody: string | Buffer) => h.request(route.method.toUpperCase(), pathOf(route), { token: alice.token, rawBody, headers: { 'content-type': 'application/json' } });
        const what = `${label(route)} ${field}`;
        judge(failures, `${what}=NUL`, await send(JSON.stringify({ ...valid, [field]: 'a\u0000b' })), { status: 400, encoding: true });
        judge(failures, `${what}=lone surrogate`, await send(JSON.stringify({ ...valid, [field]: '\ud800' })), { status: 400, encoding: true });
        const [before, after] = JSON.stringify({ ...valid, [field]: MARK }).split(MARK) as [string, string];
        judge(failures, `${what}=invalid UTF-8`, await send(Buffer.concat([Buffer.from(before), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from(after)])), { status: 400, encoding: true });
        judge(failures, `${what} key with a NUL`, await send(JSON.stringify({ ...valid, [`${field}\u0000`]: valid[field] })), { status: 400, encoding: true });
      }
    }
    expect(failures).toEqual([]);
  });

  it('an overlong value (1 MB: 413; 200 kB: 400) and wrong types (number, boolean, array, object, null) -> 4xx, never 5xx', async () => {
    const failures: string[] = [];
    for (const route of h.api.routes.filter((r) => r.body)) {
      const valid = validBody(route);
      for (const field of Object.keys(valid)) {
        const send = (value: unknown) => h.request(route.method.toUpperCase(), pathOf(route), { token: alice.token, body: { ...valid, [field]: value } });
        const what = `${label(route)} ${field}`;
        judge(failures, `${what}=1 MB`, await send(ONE_MB), { status: 413 });
        judge(failures, `${what}=200 kB`, await send(OVERLONG), { status: 400 });
        for (const [name, value] of WRONG_TYPES) {
          // A value the schema takes (orgId: null) is not a wrong type; it must still not fail.
          const accepted = route.body!.safeParse({ ...valid, [field]: value }).success;
          judge(failures, `${what}=${name}`, await send(value), accepted ? { status: 'not-5xx' } : { status: 400 });
        }
      }
    }
    expect(failures).toEqual([]);
  });

  it('unknown fields (__proto__, constructor, ownerId) -> 400 naming them: no mass assignment', async () => {
    const failures: string[] = [];
    for (const route of h.api.routes.filter((r) => r.body)) {
      const valid = JSON.stringify(validBody(route));
      for (const field of UNKNOWN_FIELDS) {
        const rawBody = `${valid.slice(0, -1)},${JSON.stringify(field)}:{"ownerId":"${member.id}"}}`;
        const res = await h.request(route.method.toUpperCase(), pathOf(route), { token: alice.token, rawBody, headers: { 'content-type': 'application/json' } });
        judge(failures, `${label(route)} +${field}`, res, { status: 400 });
        if (!String(res.body?.detail).includes(field)) failures.push(`${label(route)} +${field}: the detail does not name it: ${res.body?.detail}`);
      }
    }
    expect(failures).toEqual([]);
  });
});

describe('every query parameter of every route', () => {
  const queryRoutes = () => h.api.routes.filter((r) => r.query);
  const BAD_BYTES: [string, string][] = [
    ['NUL', 'a%00b'],
    ['invalid UTF-8', '%FF%FE'],
    ['a truncated sequence', '%C3'],
    ['a malformed escape', '%E0%A4%A'],
  ];
  const WRONG: [string, string][] = [
    ['text', 'abc'],
    ['negative', '-1'],
    ['zero', '0'],
    ['fraction', '1.5'],
    ['boolean', 'true'],
    ['null', 'null'],
    ['empty', ''],
    ['array-looking', '[]'],
    ['object-looking', '{}'],
    ['overlong (8 kB)', 'x'.repeat(8_000)],
  ];

  it('NUL or invalid UTF-8 (a cursor included) -> 400 invalid-encoding', async () => {
    const failures: string[] = [];
    for (const route of queryRoutes()) {
      for (const param of Object.keys(propertiesOf(route.query!))) {
        for (const [name, value] of BAD_BYTES) {
          judge(failures, `${label(route)} ?${param}=${name}`, await h.request('GET', `${pathOf(route)}?${param}=${value}`, { token: alice.token }), { status: 400, encoding: true });
        }
      }
    }
    expect(failures).toEqual([]);
  });

  it('wrong types, overlong values, repeated and bracketed parameters -> 4xx, never 5xx', async () => {
    const failures: string[] = [];
    for (const route of queryRoutes()) {
      for (const param of Object.keys(propertiesOf(route.query!))) {
        const cases: [string, string, unknown][] = [
          ...WRONG.map(([name, value]): [string, string, unknown] => [name, `${param}=${encodeURIComponent(value)}`, value]),
          ['repeated', `${param}=1&${param}=2`, ['1', '2']],
        ];
        for (const [name, query, value] of cases) {
          const accepted = route.query!.safeParse({ [param]: value }).success;
          // A value the schema takes may still be refused by the handler (a cursor that is not one): 4xx or success.
          judge(failures, `${label(route)} ?${param}=${name}`, await h.request('GET', `${pathOf(route)}?${query}`, { token: alice.token }), accepted ? { status: 'not-5xx' } : { status: 400 });
        }
        judge(failures, `${label(route)} ?${param}[a]=1`, await h.request('GET', `${pathOf(route)}?${param}%5Ba%5D=1`, { token: alice.token }), { status: 400 });
      }
      for (const field of UNKNOWN_FIELDS) {
        judge(failures, `${label(route)} ?${field}=x`, await h.request('GET', `${pathOf(route)}?${field}=x`, { token: alice.token }), { status: 400 });
      }
    }
    expect(failures).toEqual([]);
  });
});

describe('every path parameter of every route', () => {
  it('NUL or invalid UTF-8 -> 400 invalid-encoding; an overlong one -> 4xx', async () => {
    const failures: string[] = [];
    for (const route of h.api.routes) {
      for (const [, param] of route.path.matchAll(/:([A-Za-z0-9_]+)/g)) {
        const send = (value: string) => h.request(route.method.toUpperCase(), pathOf(route, { [param!]: value }), { token: alice.token, ...(route.body ? { body: validBody(route) } : {}) });
        judge(failures, `${label(route)} :${param}=NUL`, await send(`${objects[param!]}%00`), { status: 400, encoding: true });
        judge(failures, `${label(route)} :${param}=invalid UTF-8`, await send('%C3%28'), { status: 400, encoding: true });
        judge(failures, `${label(route)} :${param}=10 kB`, await send('x'.repeat(10_000)), { status: 'not-5xx' });
      }
    }
    expect(failures).toEqual([]);
  });
});

describe('bad bytes in the headers of every route', () => {
  const rawRequest = (route: RouteDefinition, header: Buffer) =>
    Buffer.concat([Buffer.from(`${route.method.toUpperCase()} ${pathOf(route)} HTTP/1.1\r\nHost: x\r\n`), header, Buffer.from('\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')]);

  it('invalid UTF-8 in Authorization or another header, or a NUL in a header -> 400 problem+json, never a 5xx', async () => {
    const failures: string[] = [];
    for (const route of h.api.routes) {
      const invalid = await h.raw(rawRequest(route, Buffer.concat([Buffer.from('Authorization: Bearer '), Buffer.from([0xff, 0xfe])])));
      judge(failures, `${label(route)} Authorization with invalid UTF-8`, invalid, { status: 400 });
      if (!/error="invalid_request"/.test(invalid.headers.get('www-authenticate') ?? '')) failures.push(`${label(route)} Authorization with invalid UTF-8: no invalid_request challenge`);
      judge(failures, `${label(route)} User-Agent with invalid UTF-8`, await h.raw(rawRequest(route, Buffer.concat([Buffer.from('User-Agent: '), Buffer.from([0xc3, 0x28])]))), { status: 400, encoding: true });
      judge(failures, `${label(route)} a NUL in a header`, await h.raw(rawRequest(route, Buffer.concat([Buffer.from('X-Trace: a'), Buffer.from([0x00])]))), { status: 400 });
    }
    expect(failures).toEqual([]);
  });
});

describe('every wrong credential on every protected route', () => {
  /** The headers of one request to `route` (a DPoP proof is made for that request's method and URL). */
  type Headers = (route: RouteDefinition) => Promise<Record<string, string>>;
  let credentials: { name: string; headers: Headers; status: 400 | 401; challenge: RegExp }[];

  beforeAll(async () => {
    const now = Math.floor(Date.now() / 1000);
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const algNone = `${b64({ alg: 'none', typ: 'at+jwt' })}.${b64({ iss: h.issuer, aud: 'http://localhost:4000', sub: randomUUID(), client_id: 'x', jti: randomUUID(), iat: now, exp: now + 300, scope: 'docs:read docs:write orgs:read orgs:write audit:read' })}.`;
    const { privateKey } = await generateKeyPair('ES256');
    const revoked = await h.token({ sub: alice.id });
    await new RevocationList(h.kv, 600).revoke('jti', JSON.parse(Buffer.from(revoked.split('.')[1]!, 'base64url').toString()).jti);
    for (let deadline = Date.now() + 2_000; (await h.request('GET', '/me', { token: revoked })).status !== 401 && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 20));
    const noError = /^Bearer realm="docs-api", DPoP realm="docs-api", algs="[^"]+"$/;
    const invalidToken = /^Bearer realm="docs-api", error="invalid_token", error_description="[^"\\]+"$/;
    const invalidRequest = /^Bearer realm="docs-api", error="invalid_request", error_description="[^"\\]+"$/;
    const dpopInvalidToken = /^DPoP realm="docs-api", error="invalid_token", error_description="[^"\\]+", algs="[^"]+"$/;
    const invalidProof = /^DPoP realm="docs-api", error="invalid_dpop_proof", error_description="[^"\\]+", algs="[^"]+"$/;
    const header = (value: string): Headers => async () => ({ authorization: value });

    // DPoP (RFC 9449): a token bound to `key`, one bound to `key` without any docs scope, an unbound one.
    const key = await dpopKey();
    const bound = await h.token({ sub: alice.id, claims: { cnf: { jkt: key.jkt } } });
    const boundNoScope = await h.token({ sub: alice.id, scope: 'openid', claims: { cnf: { jkt: key.jkt } } });
    const unbound = await h.token({ sub: alice.id });
    const target = (route: RouteDefinition) => ({ method: route.method.toUpperCase(), url: pathOf(route) });
    /** A DPoP request whose proof for this route is spoiled by `o`. */
    const dpop = (token: string, o: Partial<ProofOptions> & { key?: DpopKey } = {}): Headers => async (route) => ({
      authorization: `DPoP ${token}`,
      dpop: await proof(o.key ?? key, { ...target(route), token, ...o }),
    });
    const stranger = await dpopKey();

    // RFC 8705 §3: a token bound to a certificate's thumbprint, and the terminator's header (URL-encoded PEM).
    const dir = mkdtempSync(join(tmpdir(), 'route-cert-'));
    const certificate = (name: string) => {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.crt`), '-days', '1', '-subj', `/CN=${name}`], { stdio: 'ignore' });
      return readFileSync(join(dir, `${name}.crt`), 'utf8');
    };
    const [mine, theirs] = [certificate('robot'), certificate('intruder')];
    rmSync(dir, { recursive: true, force: true });
    const certBound = await h.token({ sub: alice.id, claims: { cnf: { 'x5t#S256': hash('sha256', new X509Certificate(mine).raw, 'base64url') } } });
    const control = await h.request('GET', '/me', { headers: { authorization: `Bearer ${certBound}`, 'x-ssl-client-cert': encodeURIComponent(mine) } });
    expect(control.status, `the certificate-bound token with its certificate: ${control.text}`).toBe(200);
    const withCertificate = (value: string): Headers => async () => ({ authorization: `Bearer ${certBound}`, 'x-ssl-client-cert': value });
    const [armourStart, armourEnd] = [encodeURIComponent('-----BEGIN CERTIFICATE-----\n'), encodeURIComponent('\n-----END CERTIFICATE-----\n')];

    credentials = [
      { name: 'none', headers: async () => ({}), status: 401, challenge: noError },
      { name: 'another scheme (Basic)', headers: header(`Basic ${Buffer.from('alice:pw').toString('base64')}`), status: 401, challenge: noError },
      { name: 'a scheme without a credential', headers: header('Bearer'), status: 400, challenge: invalidRequest },
      { name: 'a credential that is not one token', headers: header('Bearer a b'), status: 400, challenge: invalidRequest },
      { name: 'lower-case scheme with garbage', headers: header('bearer garbage'), status: 401, challenge: invalidToken },
      { name: 'not a JWT', headers: header('Bearer not-a-jwt'), status: 401, challenge: invalidToken },
      { name: 'expired', headers: header(`Bearer ${await h.token({ sub: alice.id, expiresIn: -120 })}`), status: 401, challenge: invalidToken },
      { name: 'wrong audience', headers: header(`Bearer ${await h.token({ sub: alice.id, audience: 'http://localhost:3000' })}`), status: 401, challenge: invalidToken },
      { name: 'wrong issuer', headers: header(`Bearer ${await h.token({ sub: alice.id, issuer: 'https://evil.example' })}`), status: 401, challenge: invalidToken },
      { name: 'wrong key (a real kid)', headers: header(`Bearer ${await h.token({ sub: alice.id, key: { ...h.keys.es256, privateKey } })}`), status: 401, challenge: invalidToken },
      { name: 'alg none', headers: header(`Bearer ${algNone}`), status: 401, challenge: invalidToken },
      { name: 'revoked', headers: header(`Bearer ${revoked}`), status: 401, challenge: invalidToken },
      { name: 'a DPoP-bound token sent as Bearer', headers: header(`Bearer ${bound}`), status: 401, challenge: dpopInvalidToken },
      { name: 'an unbound token sent as DPoP with a valid proof', headers: dpop(unbound), status: 401, challenge: dpopInvalidToken },
      { name: 'a revoked token sent as DPoP', headers: dpop(revoked), status: 401, challenge: dpopInvalidToken },
      { name: 'a DPoP credential that is not one token', headers: header('DPoP a b'), status: 400, challenge: /^DPoP realm="docs-api", error="invalid_request"/ },
      { name: 'a DPoP-bound token without a proof', headers: header(`DPoP ${bound}`), status: 401, challenge: invalidProof },
      { name: 'a proof that is not a JWT', headers: async () => ({ authorization: `DPoP ${bound}`, dpop: 'not-a-proof' }), status: 401, challenge: invalidProof },
      { name: 'a proof with typ JWT', headers: dpop(bound, { header: { typ: 'JWT' } }), status: 401, challenge: invalidProof },
      { name: 'a proof with a private key in its jwk', headers: dpop(bound, { header: { jwk: await exportJWK(key.privateKey) } }), status: 401, challenge: invalidProof },
      { name: 'a proof signed by another key than its jwk', headers: dpop(bound, { signWith: stranger.privateKey }), status: 401, challenge: invalidProof },
      { name: 'a proof for another method', headers: async (route) => dpop(bound, { method: route.method === 'get' ? 'POST' : 'GET' })(route), status: 401, challenge: invalidProof },
      { name: "a proof for the server's own address, not its public URL", headers: async (route) => dpop(bound, { url: `${h.url}${pathOf(route)}` })(route), status: 401, challenge: invalidProof },
      { name: 'a proof for another path', headers: dpop(bound, { url: '/elsewhere' }), status: 401, challenge: invalidProof },
      { name: 'a proof two minutes old', headers: dpop(bound, { claims: { iat: now - 120 } }), status: 401, challenge: invalidProof },
      { name: 'a proof for another token (ath)', headers: dpop(bound, { token: boundNoScope }), status: 401, challenge: invalidProof },
      { name: "a proof by a key other than the token's cnf.jkt", headers: dpop(bound, { key: stranger }), status: 401, challenge: invalidProof },
      { name: 'a certificate-bound token without a certificate', headers: header(`Bearer ${certBound}`), status: 401, challenge: invalidToken },
      { name: 'a certificate-bound token with another certificate', headers: withCertificate(encodeURIComponent(theirs)), status: 401, challenge: invalidToken },
      { name: 'a certificate-bound token with a garbage certificate header', headers: withCertificate('garbage'), status: 401, challenge: invalidToken },
      { name: 'a certificate-bound token with invalid URL-encoding (%E0%A4%A)', headers: withCertificate(`${encodeURIComponent(mine)}%E0%A4%A`), status: 401, challenge: invalidToken },
      { name: 'a certificate-bound token with a percent-encoded NUL', headers: withCertificate(`${encodeURIComponent(mine)}%00`), status: 401, challenge: invalidToken },
      { name: 'a certificate-bound token with percent-encoded invalid UTF-8', headers: withCertificate(`${armourStart}%FF%FE${armourEnd}`), status: 401, challenge: invalidToken },
      { name: 'a certificate-bound token with PEM armour around garbage', headers: withCertificate(`${armourStart}bm90IGEgY2VydA==${armourEnd}`), status: 401, challenge: invalidToken },
      { name: 'a certificate-bound token with a truncated certificate', headers: withCertificate(`${encodeURIComponent(mine).slice(0, 300)}${armourEnd}`), status: 401, challenge: invalidToken },
      { name: 'a certificate-bound token with a 12 KiB certificate header', headers: withCertificate(`${armourStart}${'A'.repeat(12 * 1024)}${armourEnd}`), status: 401, challenge: invalidToken },
      { name: 'a certificate-bound token sent as DPoP with a valid proof', headers: async (route) => ({ ...(await dpop(certBound)(route)), 'x-ssl-client-cert': encodeURIComponent(mine) }), status: 401, challenge: dpopInvalidToken },
      {
        // Used once first with a token that has no docs scope (403 or /me's 200: nothing changes), then again.
        name: 'a replayed proof',
        headers: async (route) => {
          const used = await dpop(boundNoScope)(route);
          const first = await h.request(route.method.toUpperCase(), pathOf(route), { headers: used, ...(route.body ? { body: validBody(route) } : {}) });
          expect([200, 403], `${label(route)}: the first use of the proof`).toContain(first.status);
          return used;
        },
        status: 401,
        challenge: invalidProof,
      },
    ];
  });

  it('-> 401 with the right WWW-Authenticate (400 invalid_request for a header that is not "<scheme> <credential>")', async () => {
    const failures: string[] = [];
    for (const route of protectedRoutes()) {
      for (const credential of credentials) {
        const headers = await credential.headers(route);
        const res = await h.request(route.method.toUpperCase(), pathOf(route), { headers, ...(route.body ? { body: validBody(route) } : {}) });
        const what = `${label(route)} with ${credential.name}`;
        judge(failures, what, res, credential.status === 401 ? { status: 'not-5xx' } : { status: 400 });
        if (res.status !== credential.status) failures.push(`${what}: status ${res.status}, expected ${credential.status}`);
        if (!credential.challenge.test(res.headers.get('www-authenticate') ?? '')) failures.push(`${what}: WWW-Authenticate ${res.headers.get('www-authenticate')}`);
        for (const value of Object.values(headers)) {
          const secret = value.slice(value.indexOf(' ') + 1);
          if (secret.length > 40 && res.text.includes(secret)) failures.push(`${what}: a credential is echoed`);
        }
      }
    }
    expect(failures).toEqual([]);
  });
});
