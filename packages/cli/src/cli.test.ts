// The operator CLI as a user runs it: the real `clouddocs` process against a test database (real
// PostgreSQL when DATABASE_URL is set, an embedded PGlite served by this process otherwise).
// cli-embedded.test.ts runs it on its own embedded store under DATA_DIR.
import { PasswordHasher, SecretBox } from '@clouddocs/auth-server';
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
    expectOneLineFailure(await run(['user', 'delete', '--email', 'a@b.c']), /unknown command 'user delete'/);
    const none = await run([]);
    expect(none.code).not.toBe(0);
    expect(none.stdout).toMatch(/^usage: clouddocs/);
  });

  it('keys rotate --json -> generation 2 on a fresh database, published now and signing after the activation delay', async () => {
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
