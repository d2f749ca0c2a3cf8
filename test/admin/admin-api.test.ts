// The admin API end to end, on the real auth server and docs API sharing their stores: its credential
// rules checked for every route of its own OpenAPI document (so a route added later is covered), each
// operation with its audit event, and the effects that must be at once (a disabled client or user,
// a signed-out user, a rotated secret) seen by the docs API and the token endpoint on the next request.
import { exportJWK, generateKeyPair } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClientLibrary, SecretBox, type RegisteredClient } from '@clouddocs/auth-server';
import { basic, expectProblem, startDocsStack, type DocsStack } from '../docs/support';
import { answerOf, jsonCasesOf, judgeJson } from '../auth/hostile';

let stack: DocsStack;
let writer: RegisteredClient;
let reader: RegisteredClient;
let machine: RegisteredClient;
let writeToken: string;
let readToken: string;

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

async function token(client: { client_id: string; client_secret?: string }, scope: string, at = stack.authUrl): Promise<Response> {
  return fetch(`${at}/token`, { method: 'POST', headers: { ...FORM, authorization: basic(client) }, body: new URLSearchParams({ grant_type: 'client_credentials', scope }).toString() });
}

async function accessToken(client: { client_id: string; client_secret?: string }, scope: string): Promise<string> {
  const res = await token(client, scope);
  expect(res.status, `token for ${scope}`).toBe(200);
  return ((await res.json()) as { access_token: string }).access_token;
}

async function admin(method: string, path: string, options: { token?: string; body?: unknown; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers['content-type'] ??= 'application/json';
  const res = await fetch(`${stack.authUrl}/admin/v1${path}`, { method, headers, body: options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? (JSON.parse(text) as any) : undefined, text };
}

async function auditEvents(action: string, targetId: string) {
  return stack.admin('audit.events').where({ action, target_id: targetId }).select('actor_type', 'actor_id', 'outcome', 'detail');
}

beforeAll(async () => {
  stack = await startDocsStack();
  const clients = createClientLibrary({ knex: stack.admin, box: new SecretBox(stack.config.AUTH_ENCRYPTION_KEY), issuer: stack.issuer });
  writer = await clients.create({ name: 'operator robot', grants: ['client_credentials'], scope: 'admin:read admin:write' });
  reader = await clients.create({ name: 'auditor robot', grants: ['client_credentials'], scope: 'admin:read' });
  machine = await clients.create({ name: 'docs robot', grants: ['client_credentials'], scope: 'docs:read orgs:read' });
  writeToken = await accessToken(writer, 'admin:read admin:write');
  readToken = await accessToken(reader, 'admin:read');
});
afterAll(async () => {
  await stack?.stop();
});

describe('admin API credentials (every route of /admin/v1/openapi.json)', () => {
  it('discovery lists admin:read and admin:write, and an admin-scoped client credentials token has aud = ADMIN_API_AUDIENCE', async () => {
    const discovery = (await (await fetch(`${stack.authUrl}/.well-known/openid-configuration`)).json()) as { scopes_supported: string[] };
    expect(discovery.scopes_supported).toEqual(expect.arrayContaining(['admin:read', 'admin:write']));
    const payload = JSON.parse(Buffer.from(writeToken.split('.')[1]!, 'base64url').toString()) as { aud: string; scope: string };
    expect(payload.aud).toBe(`${stack.issuer}/admin/v1`);
    expect(payload.scope).toBe('admin:read admin:write');
  });

  it('a client without admin scopes asking for them -> invalid_scope', async () => {
    const res = await token(machine, 'admin:read');
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toBe('invalid_scope');
  });

  it('no token -> 401 with a bare Bearer challenge; a docs API token -> 401 invalid_token; admin:read on a change -> 403 insufficient_scope', async () => {
    const document = await admin('GET', '/openapi.json');
    expect(document.status).toBe(200);
    const docsToken = await accessToken(machine, 'docs:read');
    const operations = Object.entries(document.body.paths as Record<string, Record<string, { security: unknown[] }>>).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, op]) => ({ method: method.toUpperCase(), path: path.replace(/^\/admin\/v1/, '').replace(/\{[^}]+\}/g, 'cd_nonexistent'), secured: op.security.length > 0 })),
    );
    expect(operations.length).toBeGreaterThanOrEqual(20);
    // The registration token routes come from the same table, so they are in the loop below.
    expect(operations.map((o) => `${o.method} ${o.path}`)).toEqual(expect.arrayContaining(['POST /registration-tokens', 'GET /registration-tokens', 'GET /registration-tokens/cd_nonexistent', 'DELETE /registration-tokens/cd_nonexistent']));
    // The credentials of dynamic client registration are not admin credentials either.
    const initial = await admin('POST', '/registration-tokens', { token: writeToken, body: { max_uses: 1 } });
    expect(initial.status).toBe(201);
    const registration = await fetch(`${stack.authUrl}/reg`, {
      method: 'POST',
      headers: { authorization: `Bearer ${initial.body.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ client_name: 'Self-registered', redirect_uris: ['https://rp.example/cb'] }),
    });
    expect(registration.status).toBe(201);
    const registered = (await registration.json()) as { registration_access_token: string };
    const spare = await admin('POST', '/registration-tokens', { token: writeToken, body: {} });
    for (const op of operations.filter((o) => o.secured)) {
      const body = op.method === 'GET' || op.method === 'DELETE' ? undefined : {};
      const none = await admin(op.method, op.path, { body });
      expect(none.status, `${op.method} ${op.path} without a token`).toBe(401);
      expect(none.headers.get('www-authenticate')).toBe('Bearer realm="clouddocs-admin"');
      expect(none.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      const docs = await admin(op.method, op.path, { token: docsToken, body });
      expect(docs.status, `${op.method} ${op.path} with a docs API token`).toBe(401);
      expect(docs.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
      const garbage = await admin(op.method, op.path, { token: 'not.a.token', body });
      expect(garbage.status).toBe(401);
      for (const [what, credential] of [['an initial access token', spare.body.token as string], ['a registration access token', registered.registration_access_token]] as const) {
        const wrong = await admin(op.method, op.path, { token: credential, body });
        expect(wrong.status, `${op.method} ${op.path} with ${what}`).toBe(401);
        expect(wrong.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      }
      if (op.method !== 'GET') {
        const readOnly = await admin(op.method, op.path, { token: readToken, body });
        expect(readOnly.status, `${op.method} ${op.path} with admin:read`).toBe(403);
        expect(readOnly.headers.get('www-authenticate')).toBe('Bearer realm="clouddocs-admin", error="insufficient_scope", scope="admin:write"');
        expect(readOnly.body).toMatchObject({ status: 403, scope: 'admin:write' });
      }
    }
    const denied = await stack.admin('audit.events').where({ action: 'access.denied', actor_id: reader.client_id }).count({ n: '*' }).first();
    expect(Number(denied?.n)).toBeGreaterThan(0);
  });

  it('unknown fields, wrong types and bad JSON are 400 problem+json; an unknown admin path is 404 problem+json', async () => {
    for (const body of ['{"client_name":"x","ownerId":"me"}', '{"client_name":5}', '{"client_name":', '{"__proto__":{"a":1},"client_name":"x"}']) {
      const res = await admin('POST', '/clients', { token: writeToken, body });
      expect(res.status, body).toBe(400);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(res.text).not.toMatch(/at .*\.ts:\d+/);
    }
    const nul = await admin('POST', '/clients', { token: writeToken, body: { client_name: 'a\u0000b', grant_types: ['client_credentials'] } });
    expect(nul.status).toBe(400);
    const unknown = await admin('GET', '/nothing-here', { token: readToken });
    expect(unknown.status).toBe(404);
    expect(unknown.body).toMatchObject({ status: 404 });
  });
});

// Every member of the admin API's new JSON bodies (and of each JWK inside jwks), given every hostile
// value of `jsonCasesOf` (NUL escaped and raw, raw invalid UTF-8, 100 KiB and 40 KiB strings, every wrong
// JSON type) -> a 4xx problem+json with a detail, never a 5xx; null stands for an absent member. Each row's
// untouched body is its control case (2xx).
describe('admin API JSON bodies: every new client field, every registration token field, every hostile value -> 4xx problem+json with a detail', () => {
  interface AdminJsonRow {
    route: string;
    method: 'POST' | 'PATCH';
    path: () => Promise<string>;
    base: () => Promise<Record<string, unknown>>;
    fields: string[];
    ok: number;
  }
  const publicJwk = async () => ({ ...(await exportJWK((await generateKeyPair('ES256', { extractable: true })).publicKey)), kid: 'fuzz-1', alg: 'ES256', use: 'sig' });
  const JWK_FIELDS = ['jwks', 'jwks.keys', 'jwks.keys.0', 'jwks.keys.0.kty', 'jwks.keys.0.crv', 'jwks.keys.0.x', 'jwks.keys.0.y', 'jwks.keys.0.kid', 'jwks.keys.0.alg', 'jwks.keys.0.use', 'jwks.keys.0.x5c'];
  const webKeyClient = async () => ({
    client_name: 'Fuzzed key client',
    redirect_uris: ['https://rp.example/cb'],
    post_logout_redirect_uris: ['https://rp.example/signed-out'],
    grant_types: ['authorization_code', 'refresh_token'],
    scope: 'openid email',
    token_endpoint_auth_method: 'private_key_jwt',
    application_type: 'web',
    dpop_bound_access_tokens: false,
    jwks: { keys: [await publicJwk()] },
    backchannel_logout_uri: 'https://rp.example/backchannel',
    backchannel_logout_session_required: true,
  });
  let orgId: string | undefined;
  let patched: string | undefined;
  const ROWS: AdminJsonRow[] = [
    {
      route: 'POST /clients [private_key_jwt, jwks, back-channel logout]',
      method: 'POST',
      path: async () => '/clients',
      base: webKeyClient,
      fields: ['client_name', 'redirect_uris', 'redirect_uris.0', 'post_logout_redirect_uris.0', 'grant_types', 'grant_types.0', 'scope', 'token_endpoint_auth_method', 'application_type', 'dpop_bound_access_tokens', ...JWK_FIELDS, 'backchannel_logout_uri', 'backchannel_logout_session_required'],
      ok: 201,
    },
    {
      route: 'POST /clients [private_key_jwt, jwks_uri]',
      method: 'POST',
      path: async () => '/clients',
      base: async () => ({ client_name: 'Fuzzed jwks_uri client', grant_types: ['client_credentials'], scope: 'docs:read', token_endpoint_auth_method: 'private_key_jwt', jwks_uri: 'https://keys.rp.example/jwks.json' }),
      fields: ['jwks_uri'],
      ok: 201,
    },
    {
      route: 'POST /clients [tls_client_auth, certificate-bound tokens]',
      method: 'POST',
      path: async () => '/clients',
      base: async () => ({ client_name: 'Fuzzed certificate client', grant_types: ['client_credentials'], scope: 'docs:read', token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_subject_dn: 'CN=robot,O=Example', tls_client_certificate_bound_access_tokens: true }),
      fields: ['token_endpoint_auth_method', 'tls_client_auth_subject_dn', 'tls_client_certificate_bound_access_tokens'],
      ok: 201,
    },
    {
      route: 'POST /clients [client_credentials in an organization]',
      method: 'POST',
      path: async () => '/clients',
      async base() {
        if (!orgId) {
          const owner = await stack.createUser('fuzz-owner');
          const org = await stack.cli(['org', 'create', '--name', 'Fuzz Inc', '--owner', owner.email, '--json']);
          expect(org.code, org.stderr).toBe(0);
          orgId = org.json.id as string;
        }
        return { client_name: 'Fuzzed org robot', grant_types: ['client_credentials'], scope: 'docs:read', org_id: orgId, role: 'editor' };
      },
      fields: ['org_id', 'role'],
      ok: 201,
    },
    {
      route: 'PATCH /clients/:clientId [the same fields]',
      method: 'PATCH',
      async path() {
        if (!patched) {
          const made = await admin('POST', '/clients', { token: writeToken, body: await webKeyClient() });
          expect(made.status, made.text).toBe(201);
          patched = made.body.client_id as string;
        }
        return `/clients/${patched}`;
      },
      async base() {
        const { application_type: _type, ...body } = await webKeyClient();
        return body;
      },
      fields: ['client_name', 'redirect_uris.0', 'token_endpoint_auth_method', ...JWK_FIELDS, 'backchannel_logout_uri', 'backchannel_logout_session_required'],
      ok: 200,
    },
    {
      route: 'POST /registration-tokens',
      method: 'POST',
      path: async () => '/registration-tokens',
      base: async () => ({ max_uses: 5, expires_in: 3600 }),
      fields: ['max_uses', 'expires_in'],
      ok: 201,
    },
  ];
  const send = async (row: AdminJsonRow, body: Buffer | string) =>
    answerOf(await fetch(`${stack.authUrl}/admin/v1${await row.path()}`, { method: row.method, headers: { authorization: `Bearer ${writeToken}`, 'content-type': 'application/json', accept: 'application/json' }, body }));

  it.each(ROWS.map((row) => [row.route, row] as const))('%s', async (_route, row) => {
    const base = await row.base();
    const untouched = await send(row, JSON.stringify(base));
    expect(untouched.status, untouched.text.slice(0, 300)).toBe(row.ok);
    const failures: string[] = [];
    const extra = [
      // Numbers out of range and of the wrong kind, for the numeric members.
      ...['max_uses', 'expires_in'].filter((f) => f in base).flatMap((f) => [0, -1, 1.5, 1e308, 2 ** 53 + 2, '5'].map((v) => ({ name: `${f}: ${v}`, body: Buffer.from(JSON.stringify({ ...base, [f]: v })), absentIsFine: false }))),
    ];
    for (const c of [...row.fields.flatMap((field) => jsonCasesOf(base, field)), ...extra]) {
      const answer = await send(row, c.body);
      const problems = judgeJson('problem', c, answer, [row.ok]);
      if (problems.length) failures.push(`${c.name}: ${problems.join('; ')} [${answer.status} ${answer.text.replace(/\s+/g, ' ').slice(0, 160)}]`);
    }
    expect(failures).toEqual([]);
  }, 120_000);
});

describe('admin API path and query parameters (every one of /admin/v1/openapi.json): hostile values -> 4xx problem+json, never a 5xx', () => {
  it('NUL, invalid UTF-8, 10 KiB, traversal and wrong kinds in every path and query parameter', async () => {
    const document = await admin('GET', '/openapi.json');
    type Parameter = { name: string; in: 'path' | 'query' };
    const operations = Object.entries(document.body.paths as Record<string, Record<string, { parameters?: Parameter[] }>>).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, op]) => ({ method: method.toUpperCase(), path: path.replace(/^\/admin\/v1/, ''), parameters: op.parameters ?? [] })),
    );
    const HOSTILE = ['%00', 'a%00b', '%FF', '%C3%28', '%ED%A0%80', 'x'.repeat(10 * 1024), '..%2F..%2Fetc', '-1', '1e999', 'NaN', '%27%3B--'];
    const failures: string[] = [];
    let cases = 0;
    for (const op of operations) {
      const filled = (override: Record<string, string> = {}) => op.path.replace(/\{([^}]+)\}/g, (_m, name: string) => override[name] ?? 'cd_nonexistent');
      const body = op.method === 'GET' || op.method === 'DELETE' ? undefined : {};
      const variants: { what: string; url: string }[] = [];
      for (const parameter of op.parameters) {
        for (const value of HOSTILE) {
          if (parameter.in === 'path') variants.push({ what: `${parameter.name}=${value.slice(0, 16)}`, url: filled({ [parameter.name]: value }) });
          else variants.push({ what: `?${parameter.name}=${value.slice(0, 16)}`, url: `${filled()}?${parameter.name}=${value}` });
        }
        if (parameter.in === 'query') variants.push({ what: `?${parameter.name} twice`, url: `${filled()}?${parameter.name}=1&${parameter.name}=2` }, { what: `?${parameter.name}[]`, url: `${filled()}?${parameter.name}[]=1` });
      }
      for (const variant of variants) {
        cases += 1;
        const res = await admin(op.method, variant.url, { token: writeToken, body });
        const what = `${op.method} ${op.path} ${variant.what}`;
        // A search may match nothing (200); bad bytes, or any hostile id in a path, never pass.
        const badBytes = /%00|%FF|%C3%28|%ED%A0%80/.test(variant.url);
        if (res.status < 400 && (badBytes || !(op.method === 'GET' && variant.what.startsWith('?')))) failures.push(`${what}: status ${res.status}`);
        if (res.status >= 500) failures.push(`${what}: status ${res.status}`);
        if (res.status >= 400 && !/^application\/problem\+json/.test(res.headers.get('content-type') ?? '')) failures.push(`${what}: content-type ${res.headers.get('content-type')}`);
        if (/node_modules|\n\s+at |\.ts:\d+/.test(res.text)) failures.push(`${what}: a stack trace`);
      }
    }
    expect(cases).toBeGreaterThan(100);
    expect(failures).toEqual([]);
  }, 120_000);
});

describe('admin API operations', () => {
  it('clients: create (secret once) -> list -> read (never the secret) -> update a redirect URI -> delete; each change audited with the caller as actor', async () => {
    const created = await admin('POST', '/clients', { token: writeToken, body: { client_name: 'Partner app', redirect_uris: ['https://partner.example/cb'] } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ client_name: 'Partner app', redirect_uris: ['https://partner.example/cb'], grant_types: ['authorization_code', 'refresh_token'], disabled: false });
    expect(created.body.client_secret).toEqual(expect.any(String));
    const id = created.body.client_id as string;

    const listed = await admin('GET', `/clients?q=${encodeURIComponent('Partner app')}`, { token: readToken });
    expect(listed.status).toBe(200);
    expect(listed.body.items.map((c: { client_id: string }) => c.client_id)).toContain(id);
    expect(listed.body).toHaveProperty('nextCursor');
    const read = await admin('GET', `/clients/${id}`, { token: readToken });
    expect(read.status).toBe(200);
    expect(read.text).not.toContain(created.body.client_secret);
    expect(read.body).not.toHaveProperty('client_secret');

    const bad = await admin('PATCH', `/clients/${id}`, { token: writeToken, body: { redirect_uris: ['https://partner.example/cb#fragment'] } });
    expect(bad.status).toBe(400);
    expect(bad.body.detail).toMatch(/fragment/);
    const updated = await admin('PATCH', `/clients/${id}`, { token: writeToken, body: { redirect_uris: ['https://partner.example/new'] } });
    expect(updated.status).toBe(200);
    expect(updated.body.redirect_uris).toEqual(['https://partner.example/new']);
    // The changed redirect URI applies on the next authorization request: the old one is refused.
    const auth = (uri: string) =>
      fetch(`${stack.authUrl}/auth?${new URLSearchParams({ client_id: id, response_type: 'code', scope: 'openid', redirect_uri: uri, code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' })}`, { redirect: 'manual' });
    expect((await auth('https://partner.example/cb')).status).toBe(400);
    expect((await auth('https://partner.example/new')).status).toBe(303);

    const bound = await admin('PATCH', `/clients/${id}`, { token: writeToken, body: { dpop_bound_access_tokens: true } });
    expect(bound.body).toMatchObject({ dpop_bound_access_tokens: true, redirect_uris: ['https://partner.example/new'] });
    const deleted = await admin('DELETE', `/clients/${id}`, { token: writeToken });
    expect(deleted.status).toBe(204);
    expect((await admin('GET', `/clients/${id}`, { token: readToken })).status).toBe(404);
    for (const [action, count] of [['client.created', 1], ['client.updated', 2], ['client.deleted', 1]] as const) {
      const events = await auditEvents(action, id);
      expect(events, action).toHaveLength(count);
      for (const e of events) expect(e, action).toMatchObject({ actor_type: 'client', actor_id: writer.client_id, outcome: 'success' });
    }
  });

  it('clients: token_endpoint_auth_method, jwks and jwks_uri on create and update; a private key is refused; the key client gets tokens with PrivateKeyJwt and has no secret', async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
    const publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1' };
    const privateJwk = { ...(await exportJWK(pair.privateKey)), kid: 'k1' };
    const body = { client_name: 'Signed robot', grant_types: ['client_credentials'], scope: 'docs:read', token_endpoint_auth_method: 'private_key_jwt' };
    const leaky = await admin('POST', '/clients', { token: writeToken, body: { ...body, jwks: { keys: [privateJwk] } } });
    expect(leaky.status).toBe(400);
    expect(leaky.body.detail).toBe('jwks key 0 is a private or symmetric key: register public keys only');
    const noKeys = await admin('POST', '/clients', { token: writeToken, body });
    expect(noKeys.status).toBe(400);
    expect(noKeys.body.detail).toMatch(/jwks or jwks_uri/);

    const created = await admin('POST', '/clients', { token: writeToken, body: { ...body, jwks: { keys: [publicJwk] } } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [publicJwk] } });
    expect(created.body).not.toHaveProperty('client_secret');
    const id = created.body.client_id as string;
    const config = await oidc.discovery(new URL(stack.issuer), id, undefined, oidc.PrivateKeyJwt(pair.privateKey), { execute: [oidc.allowInsecureRequests] });
    expect((await oidc.clientCredentialsGrant(config, { scope: 'docs:read' })).access_token).toEqual(expect.any(String));

    const patchedLeak = await admin('PATCH', `/clients/${id}`, { token: writeToken, body: { jwks: { keys: [privateJwk] } } });
    expect(patchedLeak.status).toBe(400);
    const moved = await admin('PATCH', `/clients/${id}`, { token: writeToken, body: { jwks_uri: 'https://keys.partner.example/jwks.json' } });
    expect(moved.status).toBe(200);
    expect(moved.body).toMatchObject({ jwks_uri: 'https://keys.partner.example/jwks.json' });
    expect(moved.body).not.toHaveProperty('jwks');
    const tls = await admin('PATCH', `/clients/${id}`, { token: writeToken, body: { token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_subject_dn: 'CN=robot,O=Partner', tls_client_certificate_bound_access_tokens: true } });
    expect(tls.status).toBe(200);
    expect(tls.body).toMatchObject({ token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_subject_dn: 'CN=robot,O=Partner', tls_client_certificate_bound_access_tokens: true });
    expect(tls.body).not.toHaveProperty('jwks_uri');
    const backToSecret = await admin('PATCH', `/clients/${id}`, { token: writeToken, body: { token_endpoint_auth_method: 'client_secret_basic' } });
    expect(backToSecret.status).toBe(400);

    const openapi = (await (await fetch(`${stack.authUrl}/admin/v1/openapi.json`)).json()) as { components?: unknown; paths: unknown };
    const text = JSON.stringify(openapi);
    for (const field of ['jwks_uri', 'tls_client_auth_subject_dn', 'tls_client_certificate_bound_access_tokens', 'private_key_jwt', 'self_signed_tls_client_auth']) expect(text).toContain(field);
    expect(await auditEvents('client.created', id)).toEqual([expect.objectContaining({ detail: expect.objectContaining({ public: false, authMethod: 'private_key_jwt' }) })]);
    expect(await auditEvents('client.updated', id)).toEqual(expect.arrayContaining([expect.objectContaining({ detail: { fields: ['jwksUri'] } })]));
    const events = JSON.stringify(await stack.admin('audit.events').where({ target_id: id }));
    expect(events).not.toContain(publicJwk.x);
    expect(JSON.stringify(await stack.admin('audit.events'))).not.toContain(privateJwk.d);
  });

  it('a disabled client cannot authenticate and its tokens are refused by the docs API at once; enabled again, it gets new tokens', async () => {
    const robot = await admin('POST', '/clients', { token: writeToken, body: { client_name: 'Robot', grant_types: ['client_credentials'], scope: 'docs:read' } });
    const client = { client_id: robot.body.client_id as string, client_secret: robot.body.client_secret as string };
    const before = await accessToken(client, 'docs:read');
    expect((await stack.api('GET', '/me', { token: before })).status).toBe(200);

    const disabled = await admin('POST', `/clients/${client.client_id}/disable`, { token: writeToken });
    expect(disabled.status).toBe(200);
    expect(disabled.body.disabled).toBe(true);
    expectProblem(await stack.api('GET', '/me', { token: before }), 401);
    const refused = await token(client, 'docs:read');
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { error: string }).error).toBe('invalid_client');

    expect((await admin('POST', `/clients/${client.client_id}/enable`, { token: writeToken })).status).toBe(200);
    const retry = await token(client, 'docs:read');
    expect(retry.status, await retry.clone().text()).toBe(200);
    const after = await accessToken(client, 'docs:read');
    expect((await stack.api('GET', '/me', { token: after })).status).toBe(200);
    expectProblem(await stack.api('GET', '/me', { token: before }), 401);
    expect(await auditEvents('client.disabled', client.client_id)).toHaveLength(1);
  });

  it('a rotated secret: the previous one works until its expiry, then only the new one; 0 ends it at once', async () => {
    const robot = await admin('POST', '/clients', { token: writeToken, body: { client_name: 'Rotating robot', grant_types: ['client_credentials'], scope: 'docs:read' } });
    const id = robot.body.client_id as string;
    const old = robot.body.client_secret as string;
    const rotated = await admin('POST', `/clients/${id}/secret`, { token: writeToken, body: { previous_secret_expires_in: 3600 } });
    expect(rotated.status).toBe(200);
    expect(rotated.body.client_secret).not.toBe(old);
    expect(Date.parse(rotated.body.previous_secret_expires_at)).toBeGreaterThan(Date.now() + 3500_000);
    expect((await token({ client_id: id, client_secret: old }, 'docs:read')).status).toBe(200);
    expect((await token({ client_id: id, client_secret: rotated.body.client_secret }, 'docs:read')).status).toBe(200);
    const post = await fetch(`${stack.authUrl}/token`, { method: 'POST', headers: FORM, body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'docs:read', client_id: id, client_secret: old }).toString() });
    expect(post.status).toBe(200); // the previous secret in the body (client_secret_post) too

    const again = await admin('POST', `/clients/${id}/secret`, { token: writeToken, body: { previous_secret_expires_in: 0 } });
    expect(again.body.previous_secret_expires_at).toBeNull();
    expect((await token({ client_id: id, client_secret: rotated.body.client_secret }, 'docs:read')).status).toBe(401);
    expect((await token({ client_id: id, client_secret: old }, 'docs:read')).status).toBe(401);
    expect((await token({ client_id: id, client_secret: again.body.client_secret }, 'docs:read')).status).toBe(200);
    expect((await admin('GET', `/clients/${id}`, { token: readToken })).text).not.toContain(again.body.client_secret);
  });

  it('users: create, find by email, read, update; disable -> sign-in refused, their tokens refused at once; enable; sign-out ends their tokens; delete erases them', async () => {
    const created = await admin('POST', '/users', { token: writeToken, body: { email: 'Grace.Operator@Example.test', name: 'Grace', password: 'quiet-harbor-lantern-93' } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ email: 'grace.operator@example.test', name: 'Grace', disabled: false, second_factors: { totp: false } });
    const id = created.body.id as string;
    const found = await admin('GET', `/users?email=${encodeURIComponent('grace.operator@example.test')}`, { token: readToken });
    expect(found.body.items.map((u: { id: string }) => u.id)).toEqual([id]);
    expect((await admin('POST', '/users', { token: writeToken, body: { email: 'grace.operator@example.test' } })).status).toBe(409);
    const renamed = await admin('PATCH', `/users/${id}`, { token: writeToken, body: { name: 'Grace H.' } });
    expect(renamed.body.name).toBe('Grace H.');

    const web = await stack.createWebClient();
    const user = { email: 'grace.operator@example.test', password: 'quiet-harbor-lantern-93' };
    const { tokens } = await stack.signIn(web, user);
    expect((await stack.api('GET', '/me', { token: tokens.access_token })).status).toBe(200);
    expect(((await admin('GET', `/users/${id}`, { token: readToken })).body.last_sign_in_at as string | null)).toEqual(expect.any(String));

    const disabled = await admin('POST', `/users/${id}/disable`, { token: writeToken });
    expect(disabled.status).toBe(200);
    expect(disabled.body.disabled).toBe(true);
    expectProblem(await stack.api('GET', '/me', { token: tokens.access_token }), 401);
    await expect(stack.signIn(web, user)).rejects.toThrow();
    expect((await admin('POST', `/users/${id}/enable`, { token: writeToken })).body.disabled).toBe(false);
    const second = await stack.signIn(web, user);
    expect((await stack.api('GET', '/me', { token: second.tokens.access_token })).status).toBe(200);

    const out = await admin('POST', `/users/${id}/sign-out`, { token: writeToken });
    expect(out.status).toBe(200);
    expect(out.body.grants_revoked).toBeGreaterThanOrEqual(1);
    expectProblem(await stack.api('GET', '/me', { token: second.tokens.access_token }), 401);

    expect((await admin('DELETE', `/users/${id}`, { token: writeToken })).status).toBe(204);
    expect((await admin('GET', `/users/${id}`, { token: readToken })).status).toBe(404);
    expect(await stack.admin('auth.accounts').where({ id }).first()).toBeUndefined();
    for (const action of ['user.created', 'user.updated', 'user.disabled', 'user.enabled', 'user.signed_out', 'user.deleted']) {
      expect(await auditEvents(action, id), action).toEqual([expect.objectContaining({ actor_type: 'client', actor_id: writer.client_id, outcome: 'success' })]);
    }
  });

  it('a user created without a password gets a mail to choose one; a member add for a disabled user is 404 at the docs API', async () => {
    const created = await admin('POST', '/users', { token: writeToken, body: { email: 'invitee@example.test' } });
    expect(created.status).toBe(201);
    const owner = await stack.createUser('owner');
    const ownerToken = (await stack.signIn(await stack.createWebClient(), owner)).tokens.access_token;
    const org = await stack.api('POST', '/orgs', { token: ownerToken, body: { name: 'Ops' } });
    expect(org.status).toBe(201);
    await admin('POST', `/users/${created.body.id}/disable`, { token: writeToken });
    const member = await stack.api('PUT', `/orgs/${org.body.id}/members/${created.body.id}`, { token: ownerToken, body: { role: 'viewer' } });
    expectProblem(member, 404);
  });

  it('keys: list with status, rotate -> a pending generation, audited; audit search and verify', async () => {
    const keys = await admin('GET', '/keys', { token: readToken });
    expect(keys.status).toBe(200);
    expect(keys.body.items.some((k: { status: string }) => k.status === 'active')).toBe(true);
    const rotated = await admin('POST', '/keys/rotate', { token: writeToken });
    expect(rotated.status).toBe(200);
    const after = await admin('GET', '/keys', { token: readToken });
    const statuses = after.body.items.filter((k: { generation: number }) => k.generation === rotated.body.generation).map((k: { status: string }) => k.status);
    expect(statuses.length).toBe(3);
    expect(new Set(statuses).size).toBe(1);
    expect(['pending', 'active']).toContain(statuses[0]);

    const search = await admin('GET', `/audit?action=key.rotated&actor=${writer.client_id}`, { token: readToken });
    expect(search.status).toBe(200);
    expect(search.body.items[0]).toMatchObject({ action: 'key.rotated', actor: { type: 'client', id: writer.client_id }, outcome: 'success' });
    const page = await admin('GET', '/audit?limit=2', { token: readToken });
    expect(page.body.items).toHaveLength(2);
    const next = await admin('GET', `/audit?limit=2&cursor=${page.body.nextCursor}`, { token: readToken });
    expect(Number(next.body.items[0].id)).toBeLessThan(Number(page.body.items[1].id));
    expect((await admin('GET', '/audit?cursor=%21%21', { token: readToken })).status).toBe(400);
    const verify = await admin('GET', '/audit/verify', { token: readToken });
    expect(verify.body).toMatchObject({ intact: true });
  });
});
