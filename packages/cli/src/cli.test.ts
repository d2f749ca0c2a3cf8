// The operator CLI as a user runs it: the real `clouddocs` process against a test database (real
// PostgreSQL when DATABASE_URL is set, an embedded PGlite served by this process otherwise).
// cli-embedded.test.ts runs it on its own embedded store under DATA_DIR.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PasswordHasher, SecretBox } from '@clouddocs/auth-server';
import { loadAuthConfig } from '@clouddocs/config';
import { createKv } from '@clouddocs/kv';
import { createKnex, createTestDatabase, serviceUrl, type Knex, type TestDatabase } from '@clouddocs/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseEnv, clouddocs, email, expectOneLineFailure, outputs, PASSWORD, secretsSent } from './test-support';

describe('migrate against DATABASE_URL', () => {
  let db: TestDatabase;
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    db = await createTestDatabase();
    env = { ...baseEnv(), DATABASE_URL: db.url };
  });
  afterAll(async () => {
    await db?.drop();
  });
  const run = (args: string[], stdin?: string) => clouddocs(args, { env, stdin });

  it('migrate --json -> exit 0 with the applied migrations; a second run applies none', async () => {
    const first = await run(['migrate', '--json']);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const body = JSON.parse(first.stdout);
    expect(body.applied).toEqual(expect.arrayContaining(['auth_001_init']));
    expect(body.applied.length).toBeGreaterThanOrEqual(3);
    const second = await run(['migrate', '--json']);
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout)).toEqual({ applied: [] });
    const text = await run(['migrate']);
    expect(text.code).toBe(0);
    expect(text.stdout.trim()).toBe('database is up to date');
  });

  it.skipIf(!process.env.DATABASE_URL)("with only the services' login (DATABASE_SERVICE_URL): migrate is refused, other commands work on a current schema", async () => {
    expect((await run(['migrate'])).code).toBe(0);
    const serviceOnly = { ...baseEnv(), DATABASE_SERVICE_URL: serviceUrl(db.url) };
    expectOneLineFailure(await clouddocs(['migrate'], { env: serviceOnly }), /migrate runs as the schema owner: set DATABASE_URL/);
    const created = await clouddocs(['user', 'create', '--email', email('svc'), '--password-stdin', '--json'], { env: serviceOnly, stdin: `${PASSWORD}\n` });
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
  });

  it.skipIf(!process.env.DATABASE_URL)("with only the services' login on a schema that is not migrated, a command names the pending migrations", async () => {
    const fresh = await createTestDatabase();
    try {
      const run = await clouddocs(['audit', 'verify'], { env: { ...baseEnv(), DATABASE_SERVICE_URL: serviceUrl(fresh.url) } });
      expectOneLineFailure(run, /migration\(s\) pending \(audit_001_events, .*\): run `clouddocs migrate` with the owner's DATABASE_URL first/);
    } finally {
      await fresh.drop();
    }
  });
});

// Independent commands on one migrated database, run side by side (each is a separate CLI process).
describe.concurrent('commands against DATABASE_URL', { timeout: 120_000 }, () => {
  let db: TestDatabase;
  let knex: Knex;
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    db = await createTestDatabase();
    env = { ...baseEnv(), DATABASE_URL: db.url };
    const migrated = await clouddocs(['migrate'], { env });
    expect(migrated.code).toBe(0);
  });
  afterAll(async () => {
    await knex?.destroy();
    await db?.drop();
  });
  const run = (args: string[], stdin?: string) => clouddocs(args, { env, stdin });
  const db_ = async () => (knex ??= await createKnex({ url: db.url, poolMax: 2 }));

  it('user create --password-stdin --json -> { id, email }, the password is the first stdin line without its newline', async () => {
    const address = email('alice');
    const created = await run(['user', 'create', '--email', address, '--password-stdin', '--json'], `${PASSWORD}\n`);
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    const body = JSON.parse(created.stdout);
    expect(body).toEqual({ id: expect.any(String), email: address.toLowerCase() });
    const row = await (await db_())('auth.accounts').where({ id: body.id }).first();
    expect(row.email).toBe(address.toLowerCase());
    const hasher = new PasswordHasher({ memoryCost: 19456, timeCost: 2, parallelism: 1 });
    expect(await hasher.verify(row.password_hash, PASSWORD)).toBe(true);
    expect(await hasher.verify(row.password_hash, `${PASSWORD}\n`)).toBe(false);
    // the creation is audited
    const { rows } = await (await db_()).raw(`SELECT count(*) AS n FROM audit.events WHERE action = 'user.created' AND target_id = ?`, [body.id]);
    expect(rows[0].n).toBe(1);
  });

  it('a Windows line ending is not part of the password either', async () => {
    const address = email('crlf');
    const created = await run(['user', 'create', '--email', address, '--password-stdin', '--json'], `${PASSWORD}-crlf\r\nignored second line\n`);
    expect(created.code).toBe(0);
    const row = await (await db_())('auth.accounts').where({ email: address.toLowerCase() }).first();
    expect(await new PasswordHasher({ memoryCost: 19456, timeCost: 2, parallelism: 1 }).verify(row.password_hash, `${PASSWORD}-crlf`)).toBe(true);
  });

  it('the same email again -> non-zero with a one-line reason', async () => {
    const address = email('twice');
    expect((await run(['user', 'create', '--email', address, '--password-stdin'], `${PASSWORD}\n`)).code).toBe(0);
    const again = await run(['user', 'create', '--email', address.toUpperCase(), '--password-stdin'], `${PASSWORD}-2\n`);
    expectOneLineFailure(again, /already exists/);
    expect(again.stdout).toBe('');
  });

  it('a weak password -> non-zero with a one-line reason, and no account', async () => {
    const address = email('weak');
    const weak = await run(['user', 'create', '--email', address, '--password-stdin', '--json'], 'password1\n');
    expectOneLineFailure(weak, /commonly used/);
    expect(JSON.parse(weak.stdout)).toMatchObject({ error: expect.stringMatching(/commonly used/) });
    const short = await run(['user', 'create', '--email', address, '--password-stdin'], 'short\n');
    expectOneLineFailure(short, /at least 8 characters/);
    expect(await (await db_())('auth.accounts').where({ email: address.toLowerCase() }).first()).toBeUndefined();
  });

  it('missing --password-stdin (or --email) -> non-zero, one line', async () => {
    expectOneLineFailure(await run(['user', 'create', '--email', email('nopw')]), /--password-stdin is required/);
    expectOneLineFailure(await run(['user', 'create', '--password-stdin'], `${PASSWORD}\n`), /--email is required/);
    // a password given as an argument is refused, not taken
    expectOneLineFailure(await run(['user', 'create', '--email', email('argpw'), '--password', PASSWORD]));
  });

  it('client create with a loopback redirect -> a confidential client: client_secret and client_secret_basic', async () => {
    const created = await run(['client', 'create', '--name', 'X', '--redirect-uri', 'http://127.0.0.1:9/cb', '--json']);
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    const client = JSON.parse(created.stdout);
    expect(client).toMatchObject({
      client_id: expect.stringMatching(/^cd_/),
      client_secret: expect.any(String),
      token_endpoint_auth_method: 'client_secret_basic',
      redirect_uris: ['http://127.0.0.1:9/cb'],
      grant_types: ['authorization_code', 'refresh_token'],
    });
    // the secret is stored sealed, and opens to what was printed
    const row = await (await db_())('auth.clients').where({ client_id: client.client_id }).first();
    expect(JSON.stringify(row)).not.toContain(client.client_secret);
    expect(new SecretBox('clouddocs-development-only-encryption-key-change-me').open(row.secret_enc)).toBe(client.client_secret);
  });

  it('client create --public -> no secret, token_endpoint_auth_method none', async () => {
    const created = await run(['client', 'create', '--name', 'SPA', '--redirect-uri', 'http://127.0.0.1:9/cb', '--public', '--json']);
    expect(created.code).toBe(0);
    const client = JSON.parse(created.stdout);
    expect(client.token_endpoint_auth_method).toBe('none');
    expect(client).not.toHaveProperty('client_secret');
  });

  it('client create --grant client_credentials without a redirect URI, with repeated --grant and --scope', async () => {
    const created = await run(['client', 'create', '--name', 'worker', '--grant', 'client_credentials', '--scope', 'docs:read docs:write', '--json']);
    expect(created.code).toBe(0);
    expect(JSON.parse(created.stdout)).toMatchObject({
      grant_types: ['client_credentials'],
      redirect_uris: [],
      scope: 'docs:read docs:write',
      token_endpoint_auth_method: 'client_secret_basic',
      client_secret: expect.any(String),
    });
    const both = await run(['client', 'create', '--name', 'web', '--grant', 'authorization_code', '--grant', 'refresh_token', '--redirect-uri', 'https://a.example/cb', '--redirect-uri', 'https://a.example/cb2', '--json']);
    expect(both.code).toBe(0);
    expect(JSON.parse(both.stdout)).toMatchObject({ grant_types: ['authorization_code', 'refresh_token'], redirect_uris: ['https://a.example/cb', 'https://a.example/cb2'] });
  });

  it('client create --grant urn:ietf:params:oauth:grant-type:device_code: public or confidential, no redirect URI', async () => {
    const device = 'urn:ietf:params:oauth:grant-type:device_code';
    const tv = await run(['client', 'create', '--name', 'TV', '--public', '--grant', device, '--grant', 'refresh_token', '--json']);
    expect(tv.code).toBe(0);
    expect(JSON.parse(tv.stdout)).toMatchObject({ grant_types: [device, 'refresh_token'], redirect_uris: [], token_endpoint_auth_method: 'none' });
    const cli = await run(['client', 'create', '--name', 'CLI', '--grant', device, '--json']);
    expect(cli.code).toBe(0);
    expect(JSON.parse(cli.stdout)).toMatchObject({ grant_types: [device], token_endpoint_auth_method: 'client_secret_basic', client_secret: expect.any(String) });
  });

  it('client create refusals are one line: public + client_credentials, unknown grant, missing --name', async () => {
    expectOneLineFailure(await run(['client', 'create', '--name', 'p', '--public', '--grant', 'client_credentials']), /public client cannot use client_credentials/);
    expectOneLineFailure(await run(['client', 'create', '--name', 'g', '--grant', 'password']), /unknown grant/);
    expectOneLineFailure(await run(['client', 'create', '--redirect-uri', 'https://a.example/cb']), /--name is required/);
  });

  it('--json works anywhere among the arguments', async () => {
    const first = await run(['--json', 'client', 'create', '--name', 'A', '--grant', 'client_credentials']);
    const middle = await run(['client', '--json', 'create', '--name', 'B', '--grant', 'client_credentials']);
    const last = await run(['client', 'create', '--name', 'C', '--json', '--grant', 'client_credentials']);
    for (const [r, name] of [
      [first, 'A'],
      [middle, 'B'],
      [last, 'C'],
    ] as const) {
      expect(r.code).toBe(0);
      expect(r.stdout.trim().split('\n')).toHaveLength(1); // one JSON object
      expect(JSON.parse(r.stdout)).toMatchObject({ client_name: name, grant_types: ['client_credentials'] });
    }
  });

  it('without --json the output is lines for people, secret shown once with a warning', async () => {
    const created = await run(['client', 'create', '--name', 'human', '--grant', 'client_credentials']);
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/^created client human\nclient_id: cd_\S+\nclient_secret: \S+ {3}\(shown once; store it now\)\n/);
  });

  it('an unknown option -> non-zero, one line naming it', async () => {
    const bogus = await run(['client', 'create', '--name', 'x', '--bogus']);
    expectOneLineFailure(bogus, /--bogus/);
    expect(bogus.code).toBe(2);
    expectOneLineFailure(await run(['migrate', '--force']), /--force/);
    expectOneLineFailure(await run(['client', 'create', '--name', 'x', 'stray-positional']), /stray-positional|positional|Unexpected argument/i);
  });

  it('an unknown command -> non-zero, one line', async () => {
    const unknown = await run(['frobnicate']);
    expectOneLineFailure(unknown, /unknown command 'frobnicate'/);
    expect(unknown.code).toBe(2);
    expectOneLineFailure(await run(['user', 'frobnicate', '--email', 'a@b.c']), /unknown command 'user frobnicate'/);
    const none = await run([]);
    expect(none.code).not.toBe(0);
    expect(none.stdout).toMatch(/^usage: clouddocs/);
  });

  it('keys rotate --json -> generation 2 on a fresh database, published now and signing after the activation delay; keys list shows each key\'s state', async () => {
    const rotated = await run(['keys', 'rotate', '--json']);
    expect(rotated.stderr).toBe('');
    expect(rotated.code).toBe(0);
    const body = JSON.parse(rotated.stdout);
    expect(body.generation).toBe(2);
    expect(body.keys.map((k: { alg: string }) => k.alg).sort()).toEqual(['ES256', 'EdDSA', 'RS256']);
    expect(new Date(body.activates_at).getTime()).toBeGreaterThan(Date.now() + 30_000); // AUTH_KEY_ACTIVATION_DELAY_SECONDS=60
    expect(JSON.stringify(body)).not.toMatch(/"d":/); // no private key material printed
    const again = await run(['keys', 'rotate', '--json']);
    expect(JSON.parse(again.stdout).generation).toBe(3);
    const rows = await (await db_())('auth.signing_keys').select('generation');
    expect(rows.map((r: { generation: number }) => r.generation).sort()).toEqual([1, 1, 1, 2, 2, 2, 3, 3, 3]);

    // keys list: every published key with its state (generation 1 signs, 2 and 3 wait), no private key material
    const listed = await run(['keys', 'list', '--json']);
    expect(listed.stderr).toBe('');
    expect(listed.code).toBe(0);
    const { items } = JSON.parse(listed.stdout) as { items: { kid: string; generation: number; status: string }[] };
    expect(items).toHaveLength(9);
    for (const key of items) {
      expect(key).toEqual({ kid: expect.any(String), alg: expect.stringMatching(/^(RS256|ES256|EdDSA)$/), generation: expect.any(Number), status: expect.stringMatching(/^(pending|active|retiring)$/), created_at: expect.any(String), activates_at: expect.any(String), retires_at: key.generation === 3 ? null : expect.any(String) });
    }
    const statusOf = (generation: number) => items.filter((k) => k.generation === generation).map((k) => k.status);
    expect(statusOf(1)).toEqual(['active', 'active', 'active']);
    expect(statusOf(2)).toEqual(['pending', 'pending', 'pending']);
    expect(statusOf(3)).toEqual(['pending', 'pending', 'pending']);
    expect(items.filter((k) => k.generation === 3).map((k) => k.kid).sort()).toEqual(JSON.parse(again.stdout).keys.map((k: { kid: string }) => k.kid).sort());
    expect(listed.stdout).not.toMatch(/"d":/);
    const human = await run(['keys', 'list']);
    expect(human.code).toBe(0);
    expect(human.stdout.trim().split('\n')).toHaveLength(9);
    expectOneLineFailure(await run(['keys', 'list', 'extra']));
  });

  it('org create --name --owner EMAIL -> { id, name }; client create --org binds a machine client', async () => {
    const owner = email('owner');
    expect((await run(['user', 'create', '--email', owner, '--password-stdin'], `${PASSWORD}\n`)).code).toBe(0);
    const org = await run(['org', 'create', '--name', 'Acme', '--owner', owner, '--json']);
    expect(org.stderr).toBe('');
    expect(org.code).toBe(0);
    const body = JSON.parse(org.stdout);
    expect(body).toEqual({ id: expect.any(String), name: 'Acme' });

    const bound = await run(['client', 'create', '--name', 'acme-worker', '--grant', 'client_credentials', '--org', body.id, '--role', 'editor', '--json']);
    expect(bound.stderr).toBe('');
    expect(bound.code).toBe(0);
    expect(JSON.parse(bound.stdout)).toMatchObject({ org_id: body.id, role: 'editor', grant_types: ['client_credentials'] });

    expectOneLineFailure(await run(['org', 'create', '--name', 'Nobody Inc', '--owner', email('nobody')]), /no user has the email/);
    expectOneLineFailure(await run(['client', 'create', '--name', 'half', '--grant', 'client_credentials', '--org', body.id]), /--org and --role go together/);
    expectOneLineFailure(await run(['client', 'create', '--name', 'bad-role', '--grant', 'client_credentials', '--org', body.id, '--role', 'emperor']), /--role must be one of/);
  });

  /** The audit events of `action` on `targetId`, oldest first. */
  const events = async (action: string, targetId: string) =>
    (await (await db_())('audit.events').where({ action, target_id: targetId }).orderBy('id').select('actor_type', 'actor_id', 'outcome', 'detail')) as { actor_type: string; actor_id: string; outcome: string; detail: Record<string, unknown> }[];
  const byCli = { actor_type: 'system', actor_id: 'cli', outcome: 'success' };
  const ok = (r: { code: number | null; stderr: string; stdout: string }) => {
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(1); // one JSON object
    return JSON.parse(r.stdout);
  };

  it('client create/update --auth-method with --jwks-file, --jwks-uri, --tls-subject-dn, --mtls-bound; a private key file is refused and never echoed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cli-jwks-'));
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pub = { ...(publicKey.export({ format: 'jwk' }) as Record<string, string>), kid: 'k1' };
    const priv = privateKey.export({ format: 'jwk' }) as Record<string, string>;
    writeFileSync(join(dir, 'public.json'), JSON.stringify({ keys: [pub] }));
    writeFileSync(join(dir, 'private.json'), JSON.stringify({ keys: [priv] }));
    writeFileSync(join(dir, 'broken.json'), `{"keys": [${JSON.stringify(priv)}`);

    const created = ok(await run(['client', 'create', '--name', 'signed', '--grant', 'client_credentials', '--auth-method', 'private_key_jwt', '--jwks-file', join(dir, 'public.json'), '--json']));
    expect(created).toMatchObject({ token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [pub] } });
    expect(created).not.toHaveProperty('client_secret');
    for (const file of ['private.json', 'broken.json']) {
      const refused = await run(['client', 'create', '--name', 'leaky', '--grant', 'client_credentials', '--auth-method', 'private_key_jwt', '--jwks-file', join(dir, file)]);
      expectOneLineFailure(refused, file === 'private.json' ? /private or symmetric key/ : /is not JSON/);
      expect(refused.stderr + refused.stdout).not.toContain(priv.d);
    }
    const human = await run(['client', 'show', created.client_id]);
    expect(human.stdout).toContain('jwks: 1 public key(s)');

    const moved = ok(await run(['client', 'update', created.client_id, '--jwks-uri', 'https://keys.example/jwks.json', '--json']));
    expect(moved).toMatchObject({ jwks_uri: 'https://keys.example/jwks.json' });
    expect(moved).not.toHaveProperty('jwks');
    const tls = ok(await run(['client', 'create', '--name', 'pki', '--grant', 'client_credentials', '--auth-method', 'tls_client_auth', '--tls-subject-dn', 'CN=pki,O=Example', '--mtls-bound', '--json']));
    expect(tls).toMatchObject({ token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_subject_dn: 'CN=pki,O=Example', tls_client_certificate_bound_access_tokens: true });
    expectOneLineFailure(await run(['client', 'create', '--name', 'x', '--grant', 'client_credentials', '--auth-method', 'tls_client_auth']), /tls_client_auth_subject_dn/);
    expectOneLineFailure(await run(['client', 'rotate-secret', tls.client_id]), /has no secret to rotate/);
  });

  it('client list | show | update | disable | enable | rotate-secret | delete --json: one object each, audited with the CLI as actor; show never prints a secret', { timeout: 600_000 }, async () => {
    const created = ok(await run(['client', 'create', '--name', 'managed', '--redirect-uri', 'https://app.example/cb', '--json']));
    const id = created.client_id as string;
    const first = created.client_secret as string;

    const listed = ok(await run(['client', 'list', '--json']));
    expect(listed.items).toEqual(expect.arrayContaining([expect.objectContaining({ client_id: id, client_name: 'managed', disabled: false })]));
    const shown = await run(['client', 'show', id, '--json']);
    expect(ok(shown)).toMatchObject({ client_id: id, client_name: 'managed', token_endpoint_auth_method: 'client_secret_basic', disabled: false });
    expect(JSON.parse(shown.stdout)).not.toHaveProperty('client_secret');
    const humanShow = await run(['client', 'show', id]);
    expect(humanShow.code).toBe(0);
    for (const out of [shown, humanShow]) expect(out.stdout).not.toContain(first);
    expect(JSON.stringify(listed)).not.toContain(first);

    const updated = ok(await run(['client', 'update', id, '--name', 'renamed', '--redirect-uri', 'https://app.example/cb2', '--scope', 'openid docs:read', '--json']));
    expect(updated).toMatchObject({ client_id: id, client_name: 'renamed', redirect_uris: ['https://app.example/cb2'], scope: 'openid docs:read' });
    expect(updated).not.toHaveProperty('client_secret');
    expect(await events('client.updated', id)).toEqual([expect.objectContaining({ ...byCli, detail: { fields: expect.arrayContaining(['name', 'redirectUris', 'scope']) } })]);
    // a change that breaks a client rule is refused with the rule, and changes nothing
    expectOneLineFailure(await run(['client', 'update', id, '--redirect-uri', 'ftp://app.example/cb']), /must use https/);
    expectOneLineFailure(await run(['client', 'update', id]), /nothing to change/);
    expect(ok(await run(['client', 'show', id, '--json'])).redirect_uris).toEqual(['https://app.example/cb2']);

    expect(ok(await run(['client', 'disable', id, '--json']))).toMatchObject({ client_id: id, disabled: true });
    expect(await events('client.disabled', id)).toEqual([expect.objectContaining({ ...byCli, detail: { grantsRevoked: 0 } })]);
    expect(await (await db_())('auth.clients').where({ client_id: id }).first('disabled_at')).toEqual({ disabled_at: expect.any(Date) });
    expect(ok(await run(['client', 'enable', id, '--json']))).toMatchObject({ client_id: id, disabled: false });
    expect(await events('client.enabled', id)).toEqual([expect.objectContaining(byCli)]);

    const rotated = await run(['client', 'rotate-secret', id, '--previous-expires-in', '60', '--json']);
    const body = ok(rotated);
    expect(body).toEqual({ client_id: id, client_secret: expect.any(String), previous_secret_expires_at: expect.any(String) });
    expect(body.client_secret).not.toBe(first);
    expect(new Date(body.previous_secret_expires_at).getTime()).toBeGreaterThan(Date.now() + 30_000);
    const row = await (await db_())('auth.clients').where({ client_id: id }).first();
    const box = new SecretBox('clouddocs-development-only-encryption-key-change-me');
    expect(box.open(row.secret_enc)).toBe(body.client_secret);
    expect(box.open(row.previous_secret_enc)).toBe(first);
    expect(await events('client.secret_rotated', id)).toEqual([expect.objectContaining(byCli)]); // (its detail key names a secret: the audit log drops it)
    expect((await run(['client', 'show', id])).stdout).not.toContain(body.client_secret);
    // without --previous-expires-in the old secret ends at once; a public client has none to rotate
    expect(ok(await run(['client', 'rotate-secret', id, '--json'])).previous_secret_expires_at).toBeNull();
    expectOneLineFailure(await run(['client', 'rotate-secret', id, '--previous-expires-in', 'soon']), /--previous-expires-in must be a whole number/);
    const spa = ok(await run(['client', 'create', '--name', 'spa', '--public', '--redirect-uri', 'https://app.example/cb', '--json']));
    expectOneLineFailure(await run(['client', 'rotate-secret', spa.client_id]), /is public: it has no secret/);

    expect(ok(await run(['client', 'delete', id, '--json']))).toEqual({ client_id: id, deleted: true });
    expect(await events('client.deleted', id)).toEqual([expect.objectContaining(byCli)]);
    expect(await (await db_())('auth.clients').where({ client_id: id }).first()).toBeUndefined();

    // an unknown id: non-zero with one line (and the JSON error object with --json), nothing audited
    for (const verb of ['show', 'update', 'disable', 'enable', 'delete', 'rotate-secret']) {
      const extra = verb === 'update' ? ['--name', 'x'] : [];
      expectOneLineFailure(await run(['client', verb, id, ...extra]), new RegExp(`no client has the id ${id}`));
    }
    const unknown = await run(['client', 'show', 'cd_nobody', '--json']);
    expectOneLineFailure(unknown, /no client has the id cd_nobody/);
    expect(JSON.parse(unknown.stdout)).toEqual({ error: 'no client has the id cd_nobody' });
    expectOneLineFailure(await run(['client', 'show']), /the client id is required/);
    expect(await events('client.deleted', id)).toHaveLength(1);
  });

  it('user list | show | sign-out | disable | enable | delete --json: one object each, the lifecycle effects, audited with the CLI as actor', { timeout: 600_000 }, async () => {
    const address = email('managed');
    const { id } = ok(await run(['user', 'create', '--email', address, '--password-stdin', '--json'], `${PASSWORD}\n`));
    const listed = ok(await run(['user', 'list', '--email', address, '--json']));
    expect(listed).toEqual({ items: [expect.objectContaining({ id, email: address.toLowerCase(), disabled: false, platform_admin: false })] });
    expect(ok(await run(['user', 'list', '--json'])).items).toEqual(expect.arrayContaining([expect.objectContaining({ id })]));
    expect(ok(await run(['user', 'list', '--email', email('nobody'), '--json']))).toEqual({ items: [] });
    expect(ok(await run(['user', 'show', id, '--json']))).toEqual({
      id,
      email: address.toLowerCase(),
      name: null,
      email_verified: true,
      disabled: false,
      platform_admin: false,
      second_factors: { totp: false, recovery_codes_left: 0, passkeys: 0 },
      created_at: expect.any(String),
      last_sign_in_at: null,
    });

    // A browser session of this user in the shared cache (as the provider stores it) ends at sign-out.
    const config = loadAuthConfig(env);
    const kv = config.REDIS_URL ? createKv(config) : undefined;
    try {
      if (kv) {
        await kv.set(`oidc:Session:sid-${id}`, JSON.stringify({ accountId: id, uid: `uid-${id}`, kind: 'Session' }), 600);
        await kv.set(`oidc:uid:Session:uid-${id}`, `sid-${id}`, 600);
        await kv.addToSet(`oidc:account-sessions:${id}`, `uid-${id}`, 600);
      }
      const signedOut = ok(await run(['user', 'sign-out', id, '--json']));
      expect(signedOut).toEqual({ id, sessions_ended: kv ? 1 : 0, grants_revoked: 0 });
      expect(await events('user.signed_out', id)).toEqual([expect.objectContaining({ ...byCli, detail: { sessionsEnded: kv ? 1 : 0, grantsRevoked: 0 } })]);
      if (kv) {
        expect(await kv.get(`oidc:Session:sid-${id}`)).toBeNull();
        expect(await kv.get(`revoked:sub:${id}`)).not.toBeNull(); // every token issued so far is refused
      }
    } finally {
      await kv?.close();
    }

    expect(ok(await run(['user', 'disable', id, '--json']))).toMatchObject({ id, disabled: true });
    expect(await events('user.disabled', id)).toEqual([expect.objectContaining(byCli)]);
    // The revocation is durable too (PostgreSQL), written with its audit event.
    expect(await (await db_())('auth.revocations').where({ kind: 'sub', value: id }).first()).toBeDefined();
    expect(ok(await run(['user', 'enable', id, '--json']))).toMatchObject({ id, disabled: false });
    expect(await events('user.enabled', id)).toEqual([expect.objectContaining(byCli)]);

    expect(ok(await run(['user', 'delete', id, '--json']))).toEqual({ id, deleted: true });
    expect(await events('user.deleted', id)).toEqual([expect.objectContaining(byCli)]);
    expect(await (await db_())('auth.accounts').where({ id }).first()).toBeUndefined();

    for (const verb of ['show', 'disable', 'enable', 'sign-out', 'delete']) expectOneLineFailure(await run(['user', verb, id]), new RegExp(`no user has the id ${id}`));
    const unknown = await run(['user', 'disable', 'no-such-user', '--json']);
    expectOneLineFailure(unknown, /no user has the id no-such-user/);
    expect(JSON.parse(unknown.stdout)).toEqual({ error: 'no user has the id no-such-user' });
    expect(await events('user.deleted', id)).toHaveLength(1);
  });

  it('client create | update --backchannel-logout-uri: set, shown, removed; a bad one is a one-line failure', async () => {
    const created = ok(await run(['client', 'create', '--name', 'BCL', '--redirect-uri', 'http://127.0.0.1:9/cb', '--backchannel-logout-uri', 'http://127.0.0.1:9/logout', '--backchannel-logout-session-required', '--json']));
    expect(created).toMatchObject({ backchannel_logout_uri: 'http://127.0.0.1:9/logout', backchannel_logout_session_required: true });
    expect(ok(await run(['client', 'show', created.client_id, '--json']))).toMatchObject({ backchannel_logout_uri: 'http://127.0.0.1:9/logout' });
    const removed = ok(await run(['client', 'update', created.client_id, '--backchannel-logout-uri', '', '--json']));
    expect(removed.backchannel_logout_uri).toBeUndefined();
    expectOneLineFailure(await run(['client', 'create', '--name', 'BCL', '--redirect-uri', 'http://127.0.0.1:9/cb', '--backchannel-logout-uri', 'ftp://example.com/x']), /backchannel logout URI .* must use https/);
  });

  it('user sign-out queues a back-channel logout for each app the session signed in to (a running auth server delivers it)', async () => {
    const config = loadAuthConfig(env);
    if (!config.REDIS_URL) return; // without a shared cache the CLI cannot see the server's sessions at all
    const address = email('bcl');
    const { id } = ok(await run(['user', 'create', '--email', address, '--password-stdin', '--json'], `${PASSWORD}\n`));
    const app = ok(await run(['client', 'create', '--name', 'BCL app', '--redirect-uri', 'http://127.0.0.1:9/cb', '--backchannel-logout-uri', 'http://127.0.0.1:9/logout', '--json']));
    const other = ok(await run(['client', 'create', '--name', 'plain app', '--redirect-uri', 'http://127.0.0.1:9/cb', '--json']));
    const kv = createKv(config);
    try {
      const session = { accountId: id, uid: `uid-${id}`, kind: 'Session', authorizations: { [app.client_id]: { sid: `sid-of-${id}` }, [other.client_id]: { sid: 'x' } } };
      await kv.set(`oidc:Session:sid-${id}`, JSON.stringify(session), 600);
      await kv.set(`oidc:uid:Session:uid-${id}`, `sid-${id}`, 600);
      await kv.addToSet(`oidc:account-sessions:${id}`, `uid-${id}`, 600);
      expect(ok(await run(['user', 'sign-out', id, '--json']))).toMatchObject({ sessions_ended: 1 });
    } finally {
      await kv.close();
    }
    const queued = await (await db_())('auth.backchannel_deliveries').where({ sub: id });
    expect(queued).toEqual([expect.objectContaining({ client_id: app.client_id, sid: `sid-of-${id}`, status: 'pending', reason: 'signed_out' })]);
  });

  it('client registration-token create [--max-uses N] [--expires-in S] --json -> { token, id, max_uses, expires_at }, audited without the token', async () => {
    const created = ok(await run(['client', 'registration-token', 'create', '--max-uses', '2', '--expires-in', '600', '--json']));
    expect(created).toMatchObject({ token: expect.stringMatching(/^cd_reg_/), id: expect.stringMatching(/^rt_/), max_uses: 2, uses: 0, revoked: false });
    expect(Date.parse(created.expires_at) - Date.now()).toBeGreaterThan(500_000);
    const unlimited = ok(await run(['client', 'registration-token', 'create', '--json']));
    expect(unlimited).toMatchObject({ max_uses: null, expires_at: null });
    const row = await (await db_())('auth.registration_tokens').where({ id: created.id }).first();
    expect(JSON.stringify(row)).not.toContain(created.token);
    expect(await events('registration_token.created', created.id)).toEqual([expect.objectContaining(byCli)]);
    expect(JSON.stringify(await events('registration_token.created', created.id))).not.toContain(created.token);
    expectOneLineFailure(await run(['client', 'registration-token', 'create', '--max-uses', '0']), /max uses must be a whole number from 1/);
    expectOneLineFailure(await run(['client', 'registration-token', 'create', '--expires-in', 'soon']), /--expires-in must be a whole number/);
  });

  // Sequential: it counts registration tokens, which the test above creates.
  it.sequential('every new client flag and registration-token limit given hostile values (wrong kind, huge, private, malformed, bad numbers) -> a one-line failure naming the flag, no "unexpected failure", nothing echoed, nothing created', { timeout: 300_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cli-hostile-'));
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pub = { ...(publicKey.export({ format: 'jwk' }) as Record<string, string>), kid: 'k1' };
    const priv = privateKey.export({ format: 'jwk' }) as Record<string, string>;
    const file = (name: string, content: string | Buffer) => {
      writeFileSync(join(dir, name), content);
      return join(dir, name);
    };
    const files = {
      privateJwks: file('private.json', JSON.stringify({ keys: [priv] })),
      privatePem: file('private.pem', privateKey.export({ format: 'pem', type: 'pkcs8' }) as string),
      huge: file('huge.json', JSON.stringify({ keys: [{ ...pub, pad: 'x'.repeat(200 * 1024) }] })),
      nul: file('nul.json', JSON.stringify({ keys: [{ ...pub, kid: 'k\u00001' }] })),
      invalidUtf8: file('invalid-utf8.json', Buffer.concat([Buffer.from(`{"keys":[${JSON.stringify({ ...pub, kid: 'PLACE' })}]}`.split('PLACE')[0]!), Buffer.from([0xff, 0xfe]), Buffer.from(`${`{"keys":[${JSON.stringify({ ...pub, kid: 'PLACE' })}]}`.split('PLACE')[1]}`)])),
      array: file('array.json', '[]'),
      kidNumber: file('kid-number.json', JSON.stringify({ keys: [{ ...pub, kid: 12345 }] })),
      empty: file('empty.json', ''),
    };
    // The other tests of this file run at the same time on the same database: count only what this one names.
    const NAME = `hostile-${Date.now()}`;
    const key = ['client', 'create', '--name', NAME, '--grant', 'client_credentials', '--auth-method', 'private_key_jwt'];
    const tls = ['client', 'create', '--name', NAME, '--grant', 'client_credentials', '--auth-method', 'tls_client_auth'];
    const web = ['client', 'create', '--name', NAME, '--redirect-uri', 'https://app.example/cb'];
    const token = ['client', 'registration-token', 'create'];
    const cases: [string, string[], RegExp, NodeJS.ProcessEnv?][] = [
      ['an unknown --auth-method', [...key.slice(0, -1), 'client_secret_jwt'], /unknown auth method/],
      ['a --jwks-file that does not exist', [...key, '--jwks-file', join(dir, 'missing.json')], /--jwks-file .*ENOENT/],
      ['a --jwks-file that is a directory', [...key, '--jwks-file', dir], /--jwks-file .*EISDIR/],
      ['a --jwks-file of private keys', [...key, '--jwks-file', files.privateJwks], /private or symmetric key/],
      ['a --jwks-file that is a PEM private key', [...key, '--jwks-file', files.privatePem], /is not JSON/],
      ['a 200 KiB --jwks-file', [...key, '--jwks-file', files.huge], /64 KiB/],
      ['a --jwks-file with a NUL in a kid', [...key, '--jwks-file', files.nul], /jwks holds a NUL or invalid UTF-8/],
      ['a --jwks-file with invalid UTF-8', [...key, '--jwks-file', files.invalidUtf8], /jwks holds a NUL or invalid UTF-8/],
      ['a --jwks-file that is a JSON array', [...key, '--jwks-file', files.array], /JWK Set/],
      ['a --jwks-file whose kid is a number', [...key, '--jwks-file', files.kidNumber], /kid must be a non-empty string/],
      ['an empty --jwks-file', [...key, '--jwks-file', files.empty], /is not JSON/],
      ['a --jwks-uri that is not a URL', [...key, '--jwks-uri', 'not a url'], /jwks_uri .* absolute URL/],
      ['an ftp --jwks-uri', [...key, '--jwks-uri', 'ftp://keys.example/jwks'], /must use https/],
      ['a 10 KiB --jwks-uri', [...key, '--jwks-uri', `https://keys.example/${'x'.repeat(10 * 1024)}`], /jwks_uri must be at most 2000 characters/],
      ['a --tls-subject-dn that is not a DN', [...tls, '--tls-subject-dn', 'just words'], /RFC 4514 DN/],
      ['a 2 KiB --tls-subject-dn', [...tls, '--tls-subject-dn', `CN=${'x'.repeat(2048)}`], /tls_client_auth_subject_dn/],
      ['a javascript: --backchannel-logout-uri', [...web, '--backchannel-logout-uri', 'javascript:alert(1)'], /backchannel logout URI/],
      ['a 10 KiB --backchannel-logout-uri', [...web, '--backchannel-logout-uri', `https://app.example/${'x'.repeat(10 * 1024)}`], /backchannel logout URI must be at most 2000 characters/],
      ['--max-uses -1', [...token, '--max-uses', '-1'], /--max-uses/],
      ['--max-uses 1.5', [...token, '--max-uses', '1.5'], /--max-uses must be a whole number/],
      ['--max-uses 1e3', [...token, '--max-uses', '1e3'], /--max-uses must be a whole number/],
      ['--max-uses of 30 digits', [...token, '--max-uses', '9'.repeat(30)], /max uses must be a whole number from 1/],
      ['an empty --max-uses', [...token, '--max-uses', ''], /--max-uses/],
      ['--expires-in 0', [...token, '--expires-in', '0'], /expires/],
      ['--expires-in of 30 digits', [...token, '--expires-in', '9'.repeat(30)], /expires/],
      ['keys reseal with an unknown flag', ['keys', 'reseal', '--everything'], /--everything/],
      ['keys reseal with an extra argument', ['keys', 'reseal', 'now'], /now|argument/],
      ['keys reseal with a short AUTH_ENCRYPTION_KEY_PREVIOUS', ['keys', 'reseal'], /AUTH_ENCRYPTION_KEY_PREVIOUS: must be at least 32 characters/, { AUTH_ENCRYPTION_KEY_PREVIOUS: 'short' }],
      ['keys reseal with AUTH_ENCRYPTION_KEY_PREVIOUS the current key', ['keys', 'reseal'], /AUTH_ENCRYPTION_KEY_PREVIOUS: must differ/, { AUTH_ENCRYPTION_KEY: 'the-current-key-of-this-hostile-input-test', AUTH_ENCRYPTION_KEY_PREVIOUS: 'the-current-key-of-this-hostile-input-test' }],
    ];
    const tokensBefore = await (await db_())('auth.registration_tokens').count({ n: '*' }).first();
    const failures: string[] = [];
    // Four CLI processes at a time.
    for (let i = 0; i < cases.length; i += 4) {
      await Promise.all(
        cases.slice(i, i + 4).map(async ([what, args, reason, extraEnv]) => {
          const result = extraEnv ? await clouddocs(args, { env: { ...env, ...extraEnv } }) : await run(args);
          const lines = result.stderr.trimEnd().split('\n');
          const problems: string[] = [];
          if (result.code === 0 || result.code === null) problems.push(`exit ${result.code}`);
          if (lines.length !== 1 || !/^clouddocs: \S/.test(lines[0]!)) problems.push(`stderr ${JSON.stringify(result.stderr.slice(0, 300))}`);
          if (!reason.test(lines[0] ?? '')) problems.push(`reason ${JSON.stringify(lines[0]?.slice(0, 200))} does not match ${reason}`);
          if (/unexpected failure|\n\s+at |node_modules/.test(result.stderr + result.stdout)) problems.push('an unexpected failure or a stack trace');
          if ((result.stderr + result.stdout).includes(priv.d!)) problems.push('the private key is echoed');
          if (problems.length) failures.push(`${what}: ${problems.join('; ')}`);
        }),
      );
    }
    expect(failures).toEqual([]);
    expect(Number((await (await db_())('auth.clients').where({ name: NAME }).count({ n: '*' }).first())!.n)).toBe(0);
    expect(await (await db_())('auth.registration_tokens').count({ n: '*' }).first()).toEqual(tokensBefore);
  });

  it('admin grant | revoke --email: the platform administrator flag, audited; the last one cannot be revoked or deleted', { timeout: 600_000 }, async () => {
    const [first, second] = [email('admin1'), email('admin2')];
    const a = ok(await run(['user', 'create', '--email', first, '--password-stdin', '--json'], `${PASSWORD}\n`));
    const b = ok(await run(['user', 'create', '--email', second, '--password-stdin', '--json'], `${PASSWORD}\n`));

    expect(ok(await run(['admin', 'grant', '--email', first, '--json']))).toEqual({ id: a.id, email: first.toLowerCase(), platform_admin: true, changed: true });
    expect(ok(await run(['user', 'show', a.id, '--json'])).platform_admin).toBe(true);
    expect(await events('user.updated', a.id)).toEqual([expect.objectContaining({ ...byCli, detail: { fields: ['platform_admin'], platform_admin: true } })]);
    // granting again changes nothing and records nothing
    expect(ok(await run(['admin', 'grant', '--email', first.toUpperCase(), '--json']))).toMatchObject({ platform_admin: true, changed: false });
    expect(await events('user.updated', a.id)).toHaveLength(1);

    const last = await run(['admin', 'revoke', '--email', first, '--json']);
    expectOneLineFailure(last, /is the last platform administrator/);
    expectOneLineFailure(await run(['user', 'delete', a.id]), /the last platform administrator cannot be deleted/);
    expect(ok(await run(['user', 'show', a.id, '--json'])).platform_admin).toBe(true);

    ok(await run(['admin', 'grant', '--email', second, '--json']));
    expect(ok(await run(['admin', 'revoke', '--email', first, '--json']))).toEqual({ id: a.id, email: first.toLowerCase(), platform_admin: false, changed: true });
    expect(ok(await run(['user', 'show', a.id, '--json'])).platform_admin).toBe(false);
    expect(await events('user.updated', a.id)).toEqual([expect.objectContaining({ detail: { fields: ['platform_admin'], platform_admin: true } }), expect.objectContaining({ ...byCli, detail: { fields: ['platform_admin'], platform_admin: false } })]);
    expect(ok(await run(['user', 'show', b.id, '--json'])).platform_admin).toBe(true);

    expectOneLineFailure(await run(['admin', 'grant', '--email', email('nobody')]), /no user has the email/);
    expectOneLineFailure(await run(['admin', 'revoke']), /--email is required/);
  });

  it('bad configuration fails fast with one line naming the variable', async () => {
    const bad = await clouddocs(['migrate'], { env: { ...env, DATABASE_URL: 'mysql://root@localhost/db' } });
    expectOneLineFailure(bad, /DATABASE_URL/);
  });

});

describe('secrets in output', () => {
  it('the password never appears in stdout or stderr', () => {
    expect(outputs.length).toBeGreaterThan(10);
    expect(secretsSent.size).toBeGreaterThan(0);
    for (const out of outputs) {
      for (const secret of secretsSent) {
        if (secret.length < 8) continue;
        expect(out.stdout).not.toContain(secret);
        expect(out.stderr).not.toContain(secret);
      }
    }
  });
});

describe('keys reseal (rotating AUTH_ENCRYPTION_KEY)', () => {
  const OLD = 'clouddocs-development-only-encryption-key-change-me';
  const NEW = 'a-new-encryption-key-for-the-reseal-test-42';
  let db: TestDatabase;
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    db = await createTestDatabase();
    env = { ...baseEnv(), DATABASE_URL: db.url };
    expect((await clouddocs(['client', 'create', '--name', 'Sealed', '--grant', 'client_credentials', '--scope', 'docs:read'], { env })).code).toBe(0);
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('with the new key and AUTH_ENCRYPTION_KEY_PREVIOUS: every secret under the old key is resealed once, audited; a key that opens nothing fails naming the value', async () => {
    const rotated = { ...env, AUTH_ENCRYPTION_KEY: NEW, AUTH_ENCRYPTION_KEY_PREVIOUS: OLD };
    const first = await clouddocs(['keys', 'reseal', '--json'], { env: rotated });
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const body = JSON.parse(first.stdout);
    expect(body.resealed['auth.clients.secret_enc']).toBe(1);
    expect(body.unreadable).toEqual([]);
    const again = JSON.parse((await clouddocs(['keys', 'reseal', '--json'], { env: rotated })).stdout);
    expect(Object.values(again.resealed)).toEqual(Object.values(again.resealed).map(() => 0));
    expect(again.current).toBeGreaterThanOrEqual(1);
    const human = await clouddocs(['keys', 'reseal'], { env: { ...env, AUTH_ENCRYPTION_KEY: NEW } });
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^0 secret\(s\) resealed under AUTH_ENCRYPTION_KEY .*every stored secret is under AUTH_ENCRYPTION_KEY/);

    const wrong = await clouddocs(['keys', 'reseal'], { env: { ...env, AUTH_ENCRYPTION_KEY: 'yet-another-key-that-sealed-nothing-here-7' } });
    expectOneLineFailure(wrong, /stored secret\(s\) open under neither AUTH_ENCRYPTION_KEY nor AUTH_ENCRYPTION_KEY_PREVIOUS \(first: auth\.clients\.secret_enc /);
    const knex = await createKnex({ url: db.url, poolMax: 1 });
    try {
      const events = await knex('audit.events').where({ action: 'encryption_key.resealed' }).orderBy('id').select('outcome');
      expect(events.map((e: { outcome: string }) => e.outcome)).toEqual(['success', 'success', 'success', 'failure']);
    } finally {
      await knex.destroy();
    }
  });
});
