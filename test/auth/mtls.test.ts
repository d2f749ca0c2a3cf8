// Mutual TLS (RFC 8705) through the shipped nginx configuration (infra/nginx/mtls.conf) on Debian's
// nginx, with a CA and client certificates made here: tls_client_auth only for a certificate nginx
// verified against the CA (a self-signed copy of the subject is invalid_client), self_signed_tls_client_auth
// by the certificate in the client's jwks x5c, certificate-bound tokens (cnf["x5t#S256"]) enforced by the
// docs API, and the certificate headers ignored by services that do not trust a proxy.
import { hash, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getCACertificates, setDefaultCACertificates } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClientLibrary, SecretBox, type ClientInput, type RegisteredClient } from '@clouddocs/auth-server';
import { startDocsStack, type DocsStack } from '../docs/support';
import { certificateAuthority, httpsRequest, startNginx, type Certificate, type RunningNginx } from '../support/nginx';
import { freePort } from '../support/ports';
import { startAuthStack, type AuthStack } from '../support/stack';

const SUBJECT_DN = 'CN=robot,O=CloudDocs Test';
const dir = mkdtempSync(join(tmpdir(), 'clouddocs-mtls-'));
let ca: ReturnType<typeof certificateAuthority>;
let robot: Certificate; // issued by the CA with the registered subject
let copycat: Certificate; // self-signed, same subject
let stranger: Certificate; // issued by the CA, another subject
let nginx: RunningNginx;
let stack: DocsStack;
let authUrl: string;
let docsUrl: string;
let pki: RegisteredClient;
let selfSigned: RegisteredClient;

const thumbprint = (c: Certificate) => hash('sha256', new X509Certificate(c.pem).raw, 'base64url');
const escaped = (c: Certificate) => encodeURIComponent(c.pem);
const payloadOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as Record<string, any>;

function token(client: RegisteredClient, cert?: Certificate, headers: Record<string, string> = {}) {
  return httpsRequest(`${authUrl}/token`, { ca: ca.caPem, ...(cert ? { cert } : {}), headers, form: { grant_type: 'client_credentials', client_id: client.client_id, scope: 'docs:read' } });
}

beforeAll(async () => {
  ca = certificateAuthority(dir);
  ca.issue('server', '/CN=127.0.0.1', ['subjectAltName=IP:127.0.0.1', 'extendedKeyUsage=serverAuth']);
  robot = ca.issue('robot', '/O=CloudDocs Test/CN=robot');
  stranger = ca.issue('stranger', '/O=CloudDocs Test/CN=stranger');
  copycat = ca.selfSigned('copycat', '/O=CloudDocs Test/CN=robot');
  // The docs API finds the auth server's keys through nginx: it must trust the test CA, as a deployment would.
  setDefaultCACertificates([...getCACertificates('default'), ca.caPem]);

  const [authFront, docsFront, authPort, docsPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  nginx = await startNginx(
    dir,
    [
      ['listen 443 ssl;', `listen 127.0.0.1:${authFront} ssl;`],
      ['listen 8443 ssl;', `listen 127.0.0.1:${docsFront} ssl;`],
      ['server 127.0.0.1:3000;', `server 127.0.0.1:${authPort};`],
      ['server 127.0.0.1:4000;', `server 127.0.0.1:${docsPort};`],
      ['/etc/nginx/clouddocs/client-ca.pem', ca.caFile],
      ['/etc/nginx/clouddocs/server.pem', join(dir, 'server.pem')],
      ['/etc/nginx/clouddocs/server.key', join(dir, 'server.key')],
    ],
    [authFront, docsFront],
  );
  authUrl = `https://127.0.0.1:${authFront}`;
  docsUrl = `https://127.0.0.1:${docsFront}`;
  stack = await startDocsStack({ ports: { auth: authPort, docs: docsPort }, env: { AUTH_ISSUER: authUrl, AUTH_TRUST_PROXY: 'true', DOCS_API_TRUST_PROXY: 'true' } });

  const clients = createClientLibrary({ knex: stack.admin, box: new SecretBox(stack.config.AUTH_ENCRYPTION_KEY), issuer: stack.issuer });
  const machine = (input: Partial<ClientInput>) => clients.create({ name: 'mTLS robot', grants: ['client_credentials'], scope: 'docs:read', ...input });
  pki = await machine({ authMethod: 'tls_client_auth', tlsSubjectDn: SUBJECT_DN, mtlsBound: true });
  const copycatX509 = new X509Certificate(copycat.pem);
  const jwk = { ...(copycatX509.publicKey.export({ format: 'jwk' }) as Record<string, string>), kid: 'copycat', x5c: [copycatX509.raw.toString('base64')] };
  selfSigned = await machine({ authMethod: 'self_signed_tls_client_auth', jwks: { keys: [jwk] } as never, mtlsBound: true });
}, 60_000);
afterAll(async () => {
  await stack?.stop();
  await nginx?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('mTLS through nginx (infra/nginx/mtls.conf)', () => {
  it('discovery lists tls_client_auth, self_signed_tls_client_auth and tls_client_certificate_bound_access_tokens', async () => {
    const meta = (await httpsRequest(`${authUrl}/.well-known/openid-configuration`, { ca: ca.caPem })).body;
    expect(meta.issuer).toBe(authUrl);
    expect(meta.token_endpoint_auth_methods_supported).toEqual(expect.arrayContaining(['tls_client_auth', 'self_signed_tls_client_auth', 'private_key_jwt']));
    expect(meta.tls_client_certificate_bound_access_tokens).toBe(true);
  });

  it('tls_client_auth with the CA-issued certificate -> 200 and an access token bound to it (cnf["x5t#S256"])', async () => {
    const res = await token(pki, robot);
    expect(res.status, res.text).toBe(200);
    expect(res.body.token_type).toBe('Bearer');
    expect(payloadOf(res.body.access_token).cnf).toEqual({ 'x5t#S256': thumbprint(robot) });
  });

  it('tls_client_auth: a self-signed certificate copying the registered subject, another subject, or no certificate -> 401 invalid_client', async () => {
    for (const cert of [copycat, stranger, undefined]) {
      const res = await token(pki, cert);
      expect(res.status, res.text).toBe(401);
      expect(res.body.error).toBe('invalid_client');
    }
  });

  it('certificate headers sent by the client itself are replaced by nginx: a forged SUCCESS does not authenticate', async () => {
    const res = await token(pki, copycat, { 'x-ssl-client-cert': escaped(robot), 'x-ssl-client-verify': 'SUCCESS' });
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('invalid_client');
    const none = await token(pki, undefined, { 'x-ssl-client-cert': escaped(robot), 'x-ssl-client-verify': 'SUCCESS' });
    expect(none.status).toBe(401);
  });

  it('a secret client registered --mtls-bound: a token request with a certificate gets a bound token; without one it is refused', async () => {
    const clients = createClientLibrary({ knex: stack.admin, box: new SecretBox(stack.config.AUTH_ENCRYPTION_KEY), issuer: stack.issuer });
    const secretBound = await clients.create({ name: 'secret but bound', grants: ['client_credentials'], scope: 'docs:read', mtlsBound: true });
    const basic = { authorization: `Basic ${Buffer.from(`${secretBound.client_id}:${secretBound.client_secret}`).toString('base64')}` };
    const withCert = await token(secretBound, stranger, basic);
    expect(withCert.status, withCert.text).toBe(200);
    expect(payloadOf(withCert.body.access_token).cnf).toEqual({ 'x5t#S256': thumbprint(stranger) });
    const without = await token(secretBound, undefined, basic);
    expect(without.status).toBe(400);
    expect(without.body.error).toBe('invalid_grant');
  });

  it('self_signed_tls_client_auth with the certificate of its jwks x5c -> 200 (bound to it); another certificate -> 401 invalid_client', async () => {
    const ok = await token(selfSigned, copycat);
    expect(ok.status, ok.text).toBe(200);
    expect(payloadOf(ok.body.access_token).cnf).toEqual({ 'x5t#S256': thumbprint(copycat) });
    for (const cert of [robot, undefined]) expect((await token(selfSigned, cert)).body.error).toBe('invalid_client');
  });

  it('the JWT introspection front authenticates by certificate too, and returns the token\'s cnf and token_type', async () => {
    const { access_token } = (await token(pki, robot)).body;
    const res = await httpsRequest(`${authUrl}/token/introspection`, { ca: ca.caPem, cert: robot, form: { token: access_token, client_id: pki.client_id } });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ active: true, client_id: pki.client_id, token_type: 'Bearer', cnf: { 'x5t#S256': thumbprint(robot) } });
    const copy = await httpsRequest(`${authUrl}/token/introspection`, { ca: ca.caPem, cert: copycat, form: { token: access_token, client_id: pki.client_id } });
    expect(copy.status).toBe(401);
    expect(copy.body.error).toBe('invalid_client');
  });

  it('a bound token at the docs API: accepted with its certificate; without it or with another certificate -> 401 invalid_token', async () => {
    const { access_token } = (await token(pki, robot)).body;
    const me = (cert?: Certificate) => httpsRequest(`${docsUrl}/me`, { ca: ca.caPem, ...(cert ? { cert } : {}), headers: { authorization: `Bearer ${access_token}` } });
    const accepted = await me(robot);
    expect(accepted.status, accepted.text).toBe(200);
    expect(accepted.body).toMatchObject({ sub: pki.client_id });
    for (const cert of [undefined, stranger, copycat]) {
      const refused = await me(cert);
      expect(refused.status).toBe(401);
      expect(refused.headers['www-authenticate']).toMatch(/error="invalid_token"/);
      expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
  });

  it('a malformed certificate header behind the trusted proxy -> 400 invalid_request at the auth server, 401 at the docs API, never a 5xx', async () => {
    const { access_token } = (await token(pki, robot)).body;
    for (const bad of ['%E0%A4%A', 'not-a-certificate', encodeURIComponent('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n')]) {
      const auth = await fetch(`${stack.authUrl}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-ssl-client-cert': bad, 'x-ssl-client-verify': 'SUCCESS' },
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: pki.client_id, scope: 'docs:read' }).toString(),
      });
      expect(auth.status, bad).toBe(400);
      expect(((await auth.json()) as { error: string }).error).toBe('invalid_request');
      const front = await fetch(`${stack.authUrl}/token/introspection`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-ssl-client-cert': bad },
        body: new URLSearchParams({ token: access_token, client_id: pki.client_id }).toString(),
      });
      expect(front.status, bad).toBe(400);
      const docs = await fetch(`${stack.docsUrl}/me`, { headers: { authorization: `Bearer ${access_token}`, 'x-ssl-client-cert': bad } });
      expect(docs.status, bad).toBe(401);
    }
  });
});

describe('without AUTH_TRUST_PROXY the certificate headers are ignored', () => {
  let plain: AuthStack;
  beforeAll(async () => {
    plain = await startAuthStack();
  });
  afterAll(async () => {
    await plain?.stop();
  });

  it('a verified-looking certificate header does not authenticate a tls_client_auth client -> 401 invalid_client', async () => {
    const client = await plain.createClient({ name: 'pki', grants: ['client_credentials'], redirectUris: [], scope: 'docs:read', authMethod: 'tls_client_auth', tlsSubjectDn: SUBJECT_DN });
    const res = await fetch(`${plain.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-ssl-client-cert': escaped(robot), 'x-ssl-client-verify': 'SUCCESS' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: client.client_id, scope: 'docs:read' }).toString(),
    });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: string }).error).toBe('invalid_client');
    // and a malformed one is not even read
    const garbage = await fetch(`${plain.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-ssl-client-cert': 'garbage' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: client.client_id, scope: 'docs:read' }).toString(),
    });
    expect(garbage.status).toBe(401);
  });
});
