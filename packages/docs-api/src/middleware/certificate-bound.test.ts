// Certificate-bound access tokens at the docs API (RFC 8705 §3): a token with `cnf["x5t#S256"]` is
// accepted only with the client certificate of that thumbprint in DOCS_API_MTLS_CERT_HEADER, read only
// when DOCS_API_TRUST_PROXY is true; the verified-token cache never skips the check.
import { execFileSync } from 'node:child_process';
import { hash, randomUUID, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../testing/harness';

const HEADER = 'x-client-cert-test';
let trusted: Harness;
let untrusted: Harness;
const dir = mkdtempSync(join(tmpdir(), 'cert-bound-'));

function selfSigned(name: string): { pem: string; thumbprint: string } {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.crt`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', `/CN=${name}`], { stdio: 'ignore' });
  const pem = readFileSync(cert, 'utf8');
  return { pem, thumbprint: hash('sha256', new X509Certificate(pem).raw, 'base64url') };
}

let mine: { pem: string; thumbprint: string };
let other: { pem: string; thumbprint: string };
beforeAll(async () => {
  mine = selfSigned('robot');
  other = selfSigned('intruder');
  [trusted, untrusted] = await Promise.all([
    startHarness({ env: { DOCS_API_TRUST_PROXY: 'true', DOCS_API_MTLS_CERT_HEADER: HEADER } }),
    startHarness({ env: { DOCS_API_MTLS_CERT_HEADER: HEADER } }),
  ]);
});
afterAll(async () => {
  await Promise.all([trusted?.close(), untrusted?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

async function boundToken(h: Harness, thumbprint: string) {
  const sub = randomUUID();
  await h.createAccount(sub);
  return h.token({ sub, claims: { cnf: { 'x5t#S256': thumbprint } } });
}

function expectInvalidToken(res: { status: number; headers: Headers; body: any; text: string }, detail: RegExp) {
  expect(res.status, res.text).toBe(401);
  expect(res.headers.get('www-authenticate')).toMatch(/^Bearer realm="docs-api", error="invalid_token", error_description="[^"]+"/);
  expect(res.body).toMatchObject({ status: 401, type: 'urn:clouddocs:problem:invalid-token' });
  expect(res.body.detail).toMatch(detail);
}

describe('certificate-bound tokens (cnf["x5t#S256"])', () => {
  it('accepted with its certificate (URL-encoded PEM, as nginx $ssl_client_escaped_cert), also when the token is remembered', async () => {
    const token = await boundToken(trusted, mine.thumbprint);
    for (let i = 0; i < 2; i++) {
      const res = await trusted.request('GET', '/me', { token, headers: { [HEADER]: encodeURIComponent(mine.pem) } });
      expect(res.status, res.text).toBe(200);
    }
    // the verified-token cache holds it now: without the certificate it is refused all the same
    expectInvalidToken(await trusted.request('GET', '/me', { token }), /bound to a client certificate/);
  });

  it('without a certificate, with another certificate, or with a malformed header -> 401 invalid_token, never a 5xx', async () => {
    const token = await boundToken(trusted, mine.thumbprint);
    expectInvalidToken(await trusted.request('GET', '/me', { token }), /bound to a client certificate/);
    expectInvalidToken(await trusted.request('GET', '/me', { token, headers: { [HEADER]: encodeURIComponent(other.pem) } }), /not the one this token is bound to/);
    for (const bad of ['%E0%A4%A', 'not-a-certificate', encodeURIComponent('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n')]) {
      expectInvalidToken(await trusted.request('GET', '/me', { token, headers: { [HEADER]: bad } }), /certificate header/);
    }
    // past the server's header limit: 431 before any check
    expect((await trusted.request('GET', '/me', { token, headers: { [HEADER]: 'x'.repeat(20_000) } })).status).toBe(431);
  });

  it('the certificate header is ignored when DOCS_API_TRUST_PROXY is false: a bound token is refused even with its certificate', async () => {
    const token = await boundToken(untrusted, mine.thumbprint);
    expectInvalidToken(await untrusted.request('GET', '/me', { token, headers: { [HEADER]: encodeURIComponent(mine.pem) } }), /bound to a client certificate/);
  });

  it('an unbound token does not look at the header (a malformed one included)', async () => {
    const { token } = await trusted.user();
    expect((await trusted.request('GET', '/me', { token, headers: { [HEADER]: 'garbage' } })).status).toBe(200);
  });
});
