// OAuth client registration against the real database (PostgreSQL when DATABASE_URL is set, embedded PGlite otherwise).
import { generateKeyPairSync } from 'node:crypto';
import type { Knex } from '@clouddocs/db';
import { beforeAll, describe, expect, it } from 'vitest';
import { useAuthDatabase } from '../test-support';
import { API_SCOPES, DEFAULT_CLIENT_SCOPES } from '../scopes';
import { SecretBox } from '../secret-box';
import { clientMetadata, ClientError, createClientLibrary, redirectUriProblem, registrationInput, type ClientInput } from './clients';

const LOCAL_ISSUER = 'http://localhost:3000';
const PUBLIC_ISSUER = 'https://id.example.com';
const box = new SecretBox('a-test-encryption-key-of-at-least-32-characters');

const database = useAuthDatabase();
let knex: Knex;
beforeAll(() => {
  knex = database.knex;
});

const library = (issuer = PUBLIC_ISSUER) => createClientLibrary({ knex, box, issuer });
async function refused(input: ClientInput, issuer = PUBLIC_ISSUER): Promise<string> {
  const err = await library(issuer)
    .create(input)
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  expect(err).toBeInstanceOf(ClientError);
  return (err as ClientError).message;
}

describe('redirectUriProblem', () => {
  it('https redirect URIs are fine on any issuer', () => {
    expect(redirectUriProblem('https://app.example.com/callback', PUBLIC_ISSUER)).toBeUndefined();
    expect(redirectUriProblem('https://app.example.com:8443/cb?x=1', PUBLIC_ISSUER)).toBeUndefined();
  });

  it('http on a loopback IP literal (127.0.0.1, [::1]) is fine on any issuer (RFC 8252 §7.3)', () => {
    expect(redirectUriProblem('http://127.0.0.1:9/cb', PUBLIC_ISSUER)).toBeUndefined();
    expect(redirectUriProblem('http://[::1]:8080/cb', PUBLIC_ISSUER)).toBeUndefined();
  });

  it('other http redirects are refused on a non-localhost issuer and allowed on a localhost issuer', () => {
    expect(redirectUriProblem('http://evil.example/cb', PUBLIC_ISSUER)).toMatch(/must use https/);
    expect(redirectUriProblem('http://localhost:8080/cb', PUBLIC_ISSUER)).toMatch(/must use https/);
    expect(redirectUriProblem('http://evil.example/cb', LOCAL_ISSUER)).toBeUndefined();
    expect(redirectUriProblem('http://evil.example/cb', 'http://127.0.0.1:3000')).toBeUndefined();
  });

  it('fragments, credentials, relative URLs and other schemes are refused', () => {
    expect(redirectUriProblem('https://app.example.com/cb#frag', PUBLIC_ISSUER)).toMatch(/fragment/);
    expect(redirectUriProblem('https://app.example.com/cb#', PUBLIC_ISSUER)).toMatch(/fragment/);
    expect(redirectUriProblem('https://user:pw@app.example.com/cb', PUBLIC_ISSUER)).toBe('redirect URI must not contain credentials (user:password@)');
    expect(redirectUriProblem('/relative/cb', PUBLIC_ISSUER)).toMatch(/absolute/);
    expect(redirectUriProblem('javascript:alert(1)', LOCAL_ISSUER)).toMatch(/https/);
    expect(redirectUriProblem('ftp://files.example.com/cb', LOCAL_ISSUER)).toMatch(/https/);
  });
});

describe('createClientLibrary().create: rules', () => {
  it('a native client must be public', async () => {
    expect(await refused({ name: 'native app', redirectUris: ['http://127.0.0.1/cb'], applicationType: 'native' })).toMatch(/native client must be public/);
    const native = await library().create({ name: 'native app', redirectUris: ['http://127.0.0.1/cb'], applicationType: 'native', public: true });
    expect(native).toMatchObject({ application_type: 'native', token_endpoint_auth_method: 'none' });
  });

  it('a public client cannot use client_credentials', async () => {
    expect(await refused({ name: 'public machine', grants: ['client_credentials'], public: true })).toMatch(/public client cannot use client_credentials/);
    expect(await refused({ name: 'public machine', public: true })).toMatch(/client_credentials/); // its default grant
  });

  it('refresh_token needs authorization_code', async () => {
    expect(await refused({ name: 'rt only', grants: ['refresh_token', 'client_credentials'] })).toMatch(/refresh_token needs the authorization_code or the device_code grant/);
  });

  it('the device grant (RFC 8628) for public and confidential clients, without redirect URIs, refreshable, with the scopes of a person', async () => {
    const device = 'urn:ietf:params:oauth:grant-type:device_code';
    const tv = await library().create({ name: 'TV app', grants: [device, 'refresh_token'], public: true });
    expect(tv).toMatchObject({ grant_types: [device, 'refresh_token'], token_endpoint_auth_method: 'none', redirect_uris: [], response_types: [] });
    expect(tv.scope.split(' ')).toContain('openid');
    expect(tv).not.toHaveProperty('client_secret');
    const cli = await library().create({ name: 'CLI', grants: [device] });
    expect(cli).toMatchObject({ grant_types: [device], token_endpoint_auth_method: 'client_secret_basic', client_secret: expect.any(String) });
    const both = await library().create({ name: 'web and device', grants: ['authorization_code', device], redirectUris: ['https://a.example/cb'] });
    expect(both.response_types).toEqual(['code']);
    expect(await refused({ name: 'device with redirect', grants: [device], redirectUris: ['https://a.example/cb'] })).toMatch(/only for the authorization_code grant/);
  });

  it('an unknown grant or scope is refused', async () => {
    expect(await refused({ name: 'implicit', grants: ['implicit'], redirectUris: ['https://a.example/cb'] })).toMatch(/unknown grant "implicit"/);
    expect(await refused({ name: 'password', grants: ['password'] })).toMatch(/unknown grant/);
    expect(await refused({ name: 'bad scope', scope: 'docs:read docs:delete' })).toMatch(/unknown scope "docs:delete"/);
    expect(await refused({ name: 'empty scope', scope: '   ' })).toMatch(/at least one scope/);
  });

  it('authorization_code needs a redirect URI, and redirect URIs need authorization_code', async () => {
    expect(await refused({ name: 'no redirect', grants: ['authorization_code'] })).toMatch(/at least one --redirect-uri/);
    expect(await refused({ name: 'machine with redirect', grants: ['client_credentials'], redirectUris: ['https://a.example/cb'] })).toMatch(
      /only for the authorization_code grant/,
    );
  });

  it('redirect URI rules apply at registration: http://evil.example refused on a public issuer, allowed on localhost; fragments refused', async () => {
    expect(await refused({ name: 'evil', redirectUris: ['http://evil.example/cb'] })).toMatch(/must use https/);
    expect(await library(LOCAL_ISSUER).create({ name: 'dev', redirectUris: ['http://evil.example/cb'] })).toMatchObject({
      redirect_uris: ['http://evil.example/cb'],
    });
    expect(await refused({ name: 'frag', redirectUris: ['https://a.example/cb#x'] }, LOCAL_ISSUER)).toMatch(/fragment/);
    expect(await refused({ name: 'logout frag', redirectUris: ['https://a.example/cb'], postLogoutRedirectUris: ['http://evil.example/bye'] })).toMatch(
      /must use https/,
    );
  });

  it('a name is required (and at most 200 characters)', async () => {
    expect(await refused({ name: '   ' })).toMatch(/--name is required/);
    expect(await refused({ name: 'n'.repeat(201) })).toMatch(/at most 200/);
  });

  it('nothing is stored for a refused registration', async () => {
    const before = await knex('auth.clients').count({ c: '*' });
    await refused({ name: 'refused-one', grants: ['bogus'] });
    expect(await knex('auth.clients').count({ c: '*' })).toEqual(before);
  });
});

describe('createClientLibrary().create: defaults', () => {
  it('with a redirect URI: authorization_code + refresh_token, response type code, every scope, confidential with client_secret_basic and a secret', async () => {
    const client = await library().create({ name: 'web app', redirectUris: ['https://app.example.com/cb'] });
    expect(client).toMatchObject({
      client_name: 'web app',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: ['https://app.example.com/cb'],
      token_endpoint_auth_method: 'client_secret_basic',
      application_type: 'web',
      scope: DEFAULT_CLIENT_SCOPES.join(' '), // every scope but the admin API's
    });
    expect(client.client_id).toMatch(/^cd_[A-Za-z0-9_-]{16}$/);
    expect(client.client_secret).toMatch(/^[A-Za-z0-9_-]{43}$/); // 32 random bytes
  });

  it('without a redirect URI: client_credentials, no response types, the API scopes only', async () => {
    const client = await library().create({ name: 'worker' });
    expect(client).toMatchObject({
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: API_SCOPES.join(' '),
    });
    expect(client.client_secret).toBeDefined();
  });

  it('a public client gets token_endpoint_auth_method none and no secret', async () => {
    const client = await library().create({ name: 'spa', redirectUris: ['https://spa.example.com/cb'], public: true });
    expect(client.token_endpoint_auth_method).toBe('none');
    expect(client).not.toHaveProperty('client_secret');
    const row = await knex('auth.clients').where({ client_id: client.client_id }).first();
    expect(row.secret_enc).toBeNull();
    expect(await library().findForProvider(client.client_id)).not.toHaveProperty('client_secret');
  });

  it('grants are de-duplicated and an explicit scope is kept as given', async () => {
    const client = await library().create({ name: 'explicit', grants: ['client_credentials', 'client_credentials'], scope: ' docs:read  orgs:read ' });
    expect(client.grant_types).toEqual(['client_credentials']);
    expect(client.scope).toBe('docs:read orgs:read');
  });

  it('every client gets its own id and secret', async () => {
    const a = await library().create({ name: 'a' });
    const b = await library().create({ name: 'b' });
    expect(a.client_id).not.toBe(b.client_id);
    expect(a.client_secret).not.toBe(b.client_secret);
  });
});

describe('client secrets at rest', () => {
  it('the secret is sealed in the database (no column holds it) and findForProvider returns it unsealed', async () => {
    const client = await library().create({ name: 'sealed', redirectUris: ['https://app.example.com/cb'] });
    const secret = client.client_secret!;
    const row = await knex('auth.clients').where({ client_id: client.client_id }).first();
    expect(JSON.stringify(row)).not.toContain(secret);
    expect(row.secret_enc).toMatch(/^v1\./);
    expect(box.open(row.secret_enc)).toBe(secret);
    const { rows } = await knex.raw(`SELECT count(*) AS n FROM auth.clients WHERE metadata::text LIKE ? OR secret_enc LIKE ?`, [`%${secret}%`, `%${secret}%`]);
    expect(rows[0].n).toBe(0);

    const forProvider = await library().findForProvider(client.client_id);
    expect(forProvider).toMatchObject({
      client_id: client.client_id,
      client_secret: secret,
      redirect_uris: ['https://app.example.com/cb'],
      grant_types: ['authorization_code', 'refresh_token'],
      token_endpoint_auth_method: 'client_secret_basic',
    });
  });

  it('findForProvider of an unknown client id -> undefined', async () => {
    expect(await library().findForProvider('cd_does-not-exist')).toBeUndefined();
  });

  it('a create inside a rolled-back transaction stores nothing', async () => {
    let id = '';
    await expect(
      knex.transaction(async (trx) => {
        id = (await library().create({ name: 'rolled back' }, trx)).client_id;
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    expect(await library().findForProvider(id)).toBeUndefined();
  });
});

describe('createClientLibrary(): the operator plane', () => {
  it('admin scopes only when an operator names them; a client with admin scopes alone needs nothing else', async () => {
    const defaults = await library().create({ name: 'machine', grants: ['client_credentials'] });
    expect(defaults.scope.split(' ')).not.toContain('admin:read');
    const operator = await library().create({ name: 'operator', grants: ['client_credentials'], scope: 'admin:read admin:write' });
    expect(operator.scope).toBe('admin:read admin:write');
  });

  it('update keeps the creation rules; a disabled client is invisible to oidc-provider; a rotated secret keeps its predecessor until it expires', async () => {
    const lib = library();
    const created = await lib.create({ name: 'web', redirectUris: ['https://app.example/cb'] });
    await expect(lib.update(created.client_id, { redirectUris: ['https://app.example/cb#x'] })).rejects.toBeInstanceOf(ClientError);
    expect((await lib.update(created.client_id, { redirectUris: ['https://app.example/new'] }))?.redirect_uris).toEqual(['https://app.example/new']);
    expect(await lib.update('cd_unknown', { name: 'x' })).toBeUndefined();

    expect(await lib.setDisabled(created.client_id, true)).toBe(true);
    expect(await lib.findForProvider(created.client_id)).toBeUndefined();
    expect((await lib.get(created.client_id))?.disabled).toBe(true);
    await lib.setDisabled(created.client_id, false);
    expect((await lib.findForProvider(created.client_id))?.client_secret).toBe(created.client_secret);

    const rotated = await lib.rotateSecret(created.client_id, 60);
    expect(rotated?.client_secret).not.toBe(created.client_secret);
    expect(await lib.currentSecretFor(created.client_id, created.client_secret!)).toBe(rotated!.client_secret);
    expect(await lib.currentSecretFor(created.client_id, 'wrong')).toBeUndefined();
    await lib.rotateSecret(created.client_id, 0);
    expect(await lib.currentSecretFor(created.client_id, rotated!.client_secret)).toBeUndefined();
    expect(JSON.stringify(await lib.get(created.client_id))).not.toContain(rotated!.client_secret);
  });
});

describe('client authentication methods (private_key_jwt, tls_client_auth, self_signed_tls_client_auth)', () => {
  const ec = () => {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    return { pub: { ...(publicKey.export({ format: 'jwk' }) as Record<string, unknown>), kid: 'k' }, priv: privateKey.export({ format: 'jwk' }) as Record<string, unknown> };
  };
  const machine = { name: 'm', grants: ['client_credentials'] };

  it('private_key_jwt with jwks: no secret is made; the provider gets the public keys', async () => {
    const { pub } = ec();
    const created = await library().create({ ...machine, authMethod: 'private_key_jwt', jwks: { keys: [pub] } as never });
    expect(created).toMatchObject({ token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [pub] } });
    expect(created).not.toHaveProperty('client_secret');
    expect(await library().findForProvider(created.client_id)).not.toHaveProperty('client_secret');
  });

  it('a private key, a symmetric key, a non-key or an empty set in jwks is refused, with the reason', async () => {
    const { priv } = ec();
    expect(await refused({ ...machine, authMethod: 'private_key_jwt', jwks: { keys: [priv] } as never })).toBe('jwks key 0 is a private or symmetric key: register public keys only');
    expect(await refused({ ...machine, authMethod: 'private_key_jwt', jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] } as never })).toMatch(/private or symmetric/);
    expect(await refused({ ...machine, authMethod: 'private_key_jwt', jwks: { keys: [{ kty: 'EC', crv: 'P-256', x: 'AA', y: 'AA' }] } as never })).toMatch(/not a valid public key/);
    expect(await refused({ ...machine, authMethod: 'private_key_jwt', jwks: { keys: [] } as never })).toMatch(/between 1 and 20/);
  });

  it('a key whose alg, kid or use is not a short non-empty string, or any text of the set with a NUL or invalid UTF-8, is refused (oidc-provider would refuse to load the client; PostgreSQL refuses a NUL)', async () => {
    const { pub } = ec();
    for (const [member, value] of [['kid', 12345], ['alg', { a: 1 }], ['use', true], ['kid', ''], ['kid', 'x'.repeat(257)]] as const) {
      expect(await refused({ ...machine, authMethod: 'private_key_jwt', jwks: { keys: [{ ...pub, [member]: value }] } as never })).toBe(`jwks key 0: ${member} must be a non-empty string of at most 256 characters`);
    }
    for (const kid of ['k\u00001', 'k\uFFFD', 'k\uD800']) {
      expect(await refused({ ...machine, authMethod: 'private_key_jwt', jwks: { keys: [{ ...pub, kid }] } as never })).toBe('jwks holds a NUL or invalid UTF-8');
    }
    expect((await library().create({ ...machine, authMethod: 'private_key_jwt', jwks: { keys: [{ ...pub, kid: 'k-1', alg: 'ES256', use: 'sig' }] } as never })).jwks).toEqual({ keys: [{ ...pub, kid: 'k-1', alg: 'ES256', use: 'sig' }] });
  });

  it('a jwks_uri, redirect URI or back-channel logout URI over 2,000 characters is refused without echoing it', async () => {
    const long = `https://app.example/${'x'.repeat(2000)}`;
    expect(await refused({ ...machine, authMethod: 'private_key_jwt', jwksUri: long })).toBe('jwks_uri must be at most 2000 characters');
    expect(await refused({ name: 'web', redirectUris: [long], grants: ['authorization_code'] })).toBe('redirect URI must be at most 2000 characters');
    expect(await refused({ name: 'web', redirectUris: ['https://app.example/cb'], grants: ['authorization_code'], backchannelLogoutUri: long })).toMatch(/^backchannel logout URI must be at most 2000 characters$/);
  });

  it('jwks xor jwks_uri; jwks_uri https (http only for a localhost issuer); keys only for key methods', async () => {
    const { pub } = ec();
    expect(await refused({ ...machine, authMethod: 'private_key_jwt' })).toMatch(/jwks or jwks_uri/);
    expect(await refused({ ...machine, authMethod: 'private_key_jwt', jwks: { keys: [pub] } as never, jwksUri: 'https://k.example/jwks' })).toMatch(/not both/);
    expect(await refused({ ...machine, authMethod: 'private_key_jwt', jwksUri: 'http://k.example/jwks' })).toMatch(/must use https/);
    expect((await library(LOCAL_ISSUER).create({ ...machine, authMethod: 'private_key_jwt', jwksUri: 'http://127.0.0.1:9/jwks' })).jwks_uri).toBe('http://127.0.0.1:9/jwks');
    expect(await refused({ ...machine, jwks: { keys: [pub] } as never })).toMatch(/jwks and jwks_uri are for/);
    expect(await refused({ ...machine, authMethod: 'password' as never })).toMatch(/unknown auth method/);
  });

  it('tls_client_auth needs a subject DN; self_signed_tls_client_auth needs jwks with x5c; --mtls-bound sets tls_client_certificate_bound_access_tokens', async () => {
    expect(await refused({ ...machine, authMethod: 'tls_client_auth' })).toMatch(/tls_client_auth_subject_dn/);
    expect(await refused({ ...machine, authMethod: 'tls_client_auth', tlsSubjectDn: 'not a dn' })).toMatch(/RFC 4514/);
    expect(await refused({ ...machine, tlsSubjectDn: 'CN=a' })).toMatch(/is for tls_client_auth clients/);
    const tls = await library().create({ ...machine, authMethod: 'tls_client_auth', tlsSubjectDn: 'CN=robot,O=Example', mtlsBound: true });
    expect(tls).toMatchObject({ tls_client_auth_subject_dn: 'CN=robot,O=Example', tls_client_certificate_bound_access_tokens: true });
    expect(tls).not.toHaveProperty('client_secret');
    expect(await refused({ ...machine, authMethod: 'self_signed_tls_client_auth', jwks: { keys: [ec().pub] } as never })).toMatch(/x5c/);
  });

  it('update: moving to a key method drops the secret; a keyless client cannot move back to a secret; a public client stays public', async () => {
    const lib = library();
    const created = await lib.create({ ...machine });
    const moved = await lib.update(created.client_id, { authMethod: 'private_key_jwt', jwks: { keys: [ec().pub] } as never });
    expect(moved?.token_endpoint_auth_method).toBe('private_key_jwt');
    expect(await lib.findForProvider(created.client_id)).not.toHaveProperty('client_secret');
    await expect(lib.update(created.client_id, { authMethod: 'client_secret_basic' })).rejects.toThrow(/cannot switch to a secret method/);
    const spa = await lib.create({ name: 'spa', public: true, redirectUris: ['https://app.example/cb'] });
    await expect(lib.update(spa.client_id, { authMethod: 'private_key_jwt', jwks: { keys: [ec().pub] } as never })).rejects.toThrow(/stays public/);
  });
});

describe('dynamic registration metadata (RFC 7591) by the same rules', () => {
  const rule = (body: Record<string, unknown>, issuer = PUBLIC_ISSUER): ClientError => {
    try {
      clientMetadata(registrationInput(body), issuer);
    } catch (err) {
      expect(err).toBeInstanceOf(ClientError);
      return err as ClientError;
    }
    throw new Error('expected a ClientError');
  };
  const app = { client_name: 'App', redirect_uris: ['https://app.example.com/cb'] };

  it('an http redirect URI on a public issuer is invalid_redirect_uri; on loopback it is fine', () => {
    expect(rule({ ...app, redirect_uris: ['http://app.example.com/cb'] }).registrationError).toBe('invalid_redirect_uri');
    expect(clientMetadata(registrationInput({ ...app, redirect_uris: ['http://127.0.0.1:7000/cb'] }), PUBLIC_ISSUER).redirect_uris).toEqual(['http://127.0.0.1:7000/cb']);
  });

  it('an http backchannel logout URI on a public issuer is refused (the redirect URI rules)', () => {
    expect(rule({ ...app, backchannel_logout_uri: 'http://app.example.com/logout' }).message).toMatch(/backchannel logout URI .* must use https/);
  });

  it('admin scopes and client_credentials are never registered; defaults are the operator defaults', () => {
    expect(rule({ ...app, scope: 'openid admin:read' }).registrationError).toBe('invalid_client_metadata');
    expect(rule({ ...app, grant_types: ['authorization_code', 'client_credentials'] }).message).toMatch(/registered by an operator/);
    const metadata = clientMetadata(registrationInput(app), PUBLIC_ISSUER);
    expect(metadata).toMatchObject({ grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_basic', application_type: 'web' });
    expect(metadata.scope.split(' ')).toEqual([...DEFAULT_CLIENT_SCOPES]);
  });

  it('fields it does not understand are ignored, known ones of the wrong type refused', () => {
    expect(clientMetadata(registrationInput({ ...app, logo_uri: 'https://x', jwks_uri: 'https://x' }), PUBLIC_ISSUER)).not.toHaveProperty('logo_uri');
    expect(rule({ ...app, post_logout_redirect_uris: 'https://app.example.com/out' }).message).toMatch(/post_logout_redirect_uris must be an array/);
  });
});
