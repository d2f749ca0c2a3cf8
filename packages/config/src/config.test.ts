import { describe, expect, it } from 'vitest';
import { ConfigError, loadAuthConfig, loadDocsConfig, usesEmbeddedStores, workerCount } from './index';

/** Loads with `env` as the whole environment and returns the thrown error (or fails). */
function failure(load: (env: NodeJS.ProcessEnv) => unknown, env: NodeJS.ProcessEnv): ConfigError {
  try {
    load(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(env)}`);
}

describe('defaults (the contract table)', () => {
  it('an empty environment gives the documented defaults for the auth server', () => {
    const config = loadAuthConfig({});
    expect(config.AUTH_ISSUER).toBe('http://localhost:3000');
    expect(config.AUTH_PORT).toBe(3000);
    expect(config.DOCS_API_PORT).toBe(4000);
    expect(config.DOCS_API_AUDIENCE).toBe('http://localhost:4000');
    expect(config.LOG_LEVEL).toBe('info');
    expect(config.DATABASE_URL).toBeUndefined();
    expect(config.REDIS_URL).toBeUndefined();
  });

  it('an empty environment gives the documented defaults for the docs API', () => {
    const config = loadDocsConfig({});
    expect(config.AUTH_ISSUER).toBe('http://localhost:3000');
    expect(config.AUTH_PORT).toBe(3000);
    expect(config.DOCS_API_PORT).toBe(4000);
    expect(config.DOCS_API_AUDIENCE).toBe('http://localhost:4000');
    expect(config.LOG_LEVEL).toBe('info');
  });

  it('unset DATABASE_URL and REDIS_URL (or empty strings) mean the embedded stores', () => {
    expect(usesEmbeddedStores(loadAuthConfig({}))).toEqual({ database: true, cache: true });
    expect(usesEmbeddedStores(loadAuthConfig({ DATABASE_URL: '', REDIS_URL: '' }))).toEqual({ database: true, cache: true });
    const real = loadAuthConfig({ DATABASE_URL: 'postgres://u@db:5432/x', REDIS_URL: 'redis://cache:6379' });
    expect(usesEmbeddedStores(real)).toEqual({ database: false, cache: false });
    expect(real.DATABASE_URL).toBe('postgres://u@db:5432/x');
    expect(real.REDIS_URL).toBe('redis://cache:6379');
  });

  it('DATABASE_SERVICE_URL alone (a service given only its own login) is a real database too', () => {
    const service = loadDocsConfig({ DATABASE_SERVICE_URL: 'postgres://clouddocs_service:pw@db:5432/x' });
    expect(usesEmbeddedStores(service).database).toBe(false);
    expect(service.DATABASE_URL).toBeUndefined();
    expect(loadAuthConfig({}).DATABASE_SERVICE_URL).toBeUndefined();
  });

  it('values from the environment are coerced (ports are numbers)', () => {
    const config = loadAuthConfig({ AUTH_PORT: '3100', DOCS_API_PORT: '4100', LOG_LEVEL: 'debug' });
    expect(config.AUTH_PORT).toBe(3100);
    expect(config.DOCS_API_PORT).toBe(4100);
    expect(config.LOG_LEVEL).toBe('debug');
  });

  it('ADMIN_API_AUDIENCE defaults to ${AUTH_ISSUER}/admin/v1, must be a URL and must differ from DOCS_API_AUDIENCE', () => {
    expect(loadAuthConfig({}).ADMIN_API_AUDIENCE).toBe('http://localhost:3000/admin/v1');
    expect(loadAuthConfig({ AUTH_ISSUER: 'http://127.0.0.1:9000' }).ADMIN_API_AUDIENCE).toBe('http://127.0.0.1:9000/admin/v1');
    expect(loadAuthConfig({ ADMIN_API_AUDIENCE: 'https://admin.example' }).ADMIN_API_AUDIENCE).toBe('https://admin.example');
    expect(() => loadAuthConfig({ ADMIN_API_AUDIENCE: 'admin' })).toThrow(/ADMIN_API_AUDIENCE/);
    expect(() => loadAuthConfig({ ADMIN_API_AUDIENCE: 'http://localhost:4000' })).toThrow(/ADMIN_API_AUDIENCE: must differ from DOCS_API_AUDIENCE/);
  });

  it('AUTH_REFRESH_REUSE_GRACE_SECONDS is 10 by default; 0 turns the grace off', () => {
    expect(loadAuthConfig({}).AUTH_REFRESH_REUSE_GRACE_SECONDS).toBe(10);
    expect(loadAuthConfig({ AUTH_REFRESH_REUSE_GRACE_SECONDS: '0' }).AUTH_REFRESH_REUSE_GRACE_SECONDS).toBe(0);
    expect(loadAuthConfig({ AUTH_REFRESH_REUSE_GRACE_SECONDS: '30' }).AUTH_REFRESH_REUSE_GRACE_SECONDS).toBe(30);
  });

  it('WORKERS=auto means one per core, a number means that many', () => {
    expect(workerCount(loadAuthConfig({}), 8)).toBe(1);
    expect(workerCount(loadAuthConfig({ WORKERS: 'auto' }), 8)).toBe(8);
    expect(workerCount(loadAuthConfig({ WORKERS: '3' }), 8)).toBe(3);
  });
});

describe('a bad value fails fast with a ConfigError naming the variable', () => {
  const cases: [string, NodeJS.ProcessEnv][] = [
    ['AUTH_PORT', { AUTH_PORT: 'abc' }],
    ['AUTH_PORT', { AUTH_PORT: '70000' }],
    ['DOCS_API_PORT', { DOCS_API_PORT: '-1' }],
    ['AUTH_ISSUER', { AUTH_ISSUER: 'notaurl' }],
    ['AUTH_ISSUER', { AUTH_ISSUER: 'ftp://localhost:3000' }],
    ['AUTH_ISSUER', { AUTH_ISSUER: 'http://localhost:3000/' }],
    ['DOCS_API_AUDIENCE', { DOCS_API_AUDIENCE: 'not a url' }],
    ['DATABASE_URL', { DATABASE_URL: 'mysql://root@localhost/db' }],
    ['DATABASE_SERVICE_URL', { DATABASE_SERVICE_URL: 'mysql://svc@localhost/db' }],
    ['DATABASE_SERVICE_URL', { DATABASE_SERVICE_URL: 'postgres://svc@[not-a-host/db' }],
    ['REDIS_URL', { REDIS_URL: 'http://localhost:6379' }],
    ['SMTP_URL', { SMTP_URL: 'not a url' }],
    ['SMTP_URL', { SMTP_URL: 'http://mail.example:25' }],
    ['SMTP_URL', { SMTP_URL: 'smtp://mail.example:notaport' }],
    ['LOG_LEVEL', { LOG_LEVEL: 'loud' }],
    ['WORKERS', { WORKERS: '0' }],
    ['AUTH_ENCRYPTION_KEY', { AUTH_ENCRYPTION_KEY: 'short' }],
    ['AUTH_COOKIE_KEYS', { AUTH_COOKIE_KEYS: 'short,also-short' }],
    ['AUTH_ARGON2_MEMORY_KIB', { AUTH_ARGON2_MEMORY_KIB: '4096' }],
    ['AUTH_REFRESH_REUSE_GRACE_SECONDS', { AUTH_REFRESH_REUSE_GRACE_SECONDS: 'ten' }],
    ['AUTH_REFRESH_REUSE_GRACE_SECONDS', { AUTH_REFRESH_REUSE_GRACE_SECONDS: '-1' }],
    ['AUTH_REFRESH_REUSE_GRACE_SECONDS', { AUTH_REFRESH_REUSE_GRACE_SECONDS: '2.5' }],
    ['AUTH_REFRESH_REUSE_GRACE_SECONDS', { AUTH_REFRESH_REUSE_GRACE_SECONDS: '301' }],
  ];
  for (const [variable, env] of cases) {
    it(`${JSON.stringify(env)} -> ConfigError naming ${variable}`, () => {
      const err = failure(loadAuthConfig, env);
      expect(err.name).toBe('ConfigError');
      expect(err.message).toContain(`${variable}:`);
    });
  }

  it('a refused SMTP_URL is named, its credentials never echoed', () => {
    const message = failure(loadAuthConfig, { SMTP_URL: 'http://mailer:s3cret-pass@mail.example:25' }).message;
    expect(message).toContain('SMTP_URL: must be an smtp:// or smtps:// URL');
    expect(message).not.toContain('s3cret-pass');
    expect(loadAuthConfig({ SMTP_URL: 'smtps://mailer:s3cret-pass@mail.example:465' }).SMTP_URL).toBe('smtps://mailer:s3cret-pass@mail.example:465');
  });

  it('the docs API config refuses the same bad shared values, naming them', () => {
    expect(failure(loadDocsConfig, { DATABASE_URL: 'mysql://root@localhost/db' }).message).toContain('DATABASE_URL:');
    expect(failure(loadDocsConfig, { REDIS_URL: 'http://localhost:6379' }).message).toContain('REDIS_URL:');
    expect(failure(loadDocsConfig, { DOCS_API_CURSOR_KEY: 'short' }).message).toContain('DOCS_API_CURSOR_KEY:');
  });

  it('a DATABASE_SERVICE_URL naming the owner\'s login is refused: the services never connect as the owner', () => {
    const env = { DATABASE_URL: 'postgres://owner:a@db/x', DATABASE_SERVICE_URL: 'postgres://owner:b@db/x' };
    expect(failure(loadAuthConfig, env).message).toMatch(/DATABASE_SERVICE_URL: must name another login than DATABASE_URL/);
    expect(failure(loadDocsConfig, env).message).toMatch(/DATABASE_SERVICE_URL:/);
    expect(loadAuthConfig({ ...env, DATABASE_SERVICE_URL: 'postgres://clouddocs_service:b@db/x' }).DATABASE_SERVICE_URL).toBe('postgres://clouddocs_service:b@db/x');
  });

  it('every bad variable is named at once, one per line', () => {
    const err = failure(loadAuthConfig, { AUTH_PORT: 'abc', LOG_LEVEL: 'loud', REDIS_URL: 'http://x' });
    const lines = err.message.split('\n').slice(1).map((l) => l.trim());
    expect(lines.map((l) => l.split(':')[0]).sort()).toEqual(['AUTH_PORT', 'LOG_LEVEL', 'REDIS_URL']);
  });

  it('postgresql:// and rediss:// are accepted spellings', () => {
    const config = loadAuthConfig({ DATABASE_URL: 'postgresql://u@h/db', REDIS_URL: 'rediss://h:6380' });
    expect(config.DATABASE_URL).toBe('postgresql://u@h/db');
    expect(config.REDIS_URL).toBe('rediss://h:6380');
  });
});

describe('the configuration object is frozen', () => {
  it('assigning to the auth config throws in strict mode and changes nothing', () => {
    const config = loadAuthConfig({});
    expect(Object.isFrozen(config)).toBe(true);
    expect(() => {
      (config as { AUTH_PORT: number }).AUTH_PORT = 1;
    }).toThrow(TypeError);
    expect(config.AUTH_PORT).toBe(3000);
    expect(Object.isFrozen(config.AUTH_COOKIE_KEYS)).toBe(true);
    expect(() => (config.AUTH_COOKIE_KEYS as string[]).push('x'.repeat(40))).toThrow(TypeError);
  });

  it('the docs API config is frozen too', () => {
    const config = loadDocsConfig({});
    expect(Object.isFrozen(config)).toBe(true);
    expect(() => {
      (config as { DOCS_API_PORT: number }).DOCS_API_PORT = 1;
    }).toThrow(TypeError);
  });

  it('later changes to the environment object do not reach a loaded config', () => {
    const env: NodeJS.ProcessEnv = { AUTH_PORT: '3001' };
    const config = loadAuthConfig(env);
    env.AUTH_PORT = '3002';
    expect(config.AUTH_PORT).toBe(3001);
  });
});

describe('development-default secrets', () => {
  const secret = (c: string) => c.repeat(40);

  it('devDefaults lists the secrets left at their development values', () => {
    expect(loadAuthConfig({}).devDefaults).toEqual(['AUTH_ENCRYPTION_KEY', 'AUTH_COOKIE_KEYS']);
    expect(loadAuthConfig({ AUTH_ENCRYPTION_KEY: secret('e') }).devDefaults).toEqual(['AUTH_COOKIE_KEYS']);
    expect(loadAuthConfig({ AUTH_ENCRYPTION_KEY: secret('e'), AUTH_COOKIE_KEYS: `${secret('a')},${secret('b')}` }).devDefaults).toEqual([]);
  });

  it('are refused with a non-localhost issuer, naming each variable', () => {
    const err = failure(loadAuthConfig, { AUTH_ISSUER: 'https://id.example.com' });
    expect(err.message).toContain('AUTH_ENCRYPTION_KEY');
    expect(err.message).toContain('AUTH_COOKIE_KEYS');
    expect(err.message).toMatch(/localhost/);
    expect(failure(loadAuthConfig, { AUTH_ISSUER: 'https://id.example.com', AUTH_ENCRYPTION_KEY: secret('e') }).message).toContain(
      'AUTH_COOKIE_KEYS',
    );
  });

  it('are allowed on localhost, 127.0.0.1 and [::1] issuers', () => {
    for (const issuer of ['http://localhost:3000', 'http://127.0.0.1:3000', 'http://[::1]:3000', 'https://localhost']) {
      expect(loadAuthConfig({ AUTH_ISSUER: issuer }).AUTH_ISSUER).toBe(issuer);
    }
  });

  it('a host that merely starts with "localhost" is not localhost', () => {
    failure(loadAuthConfig, { AUTH_ISSUER: 'https://localhost.evil.example' });
  });

  it('real secrets work with a public issuer', () => {
    const config = loadAuthConfig({ AUTH_ISSUER: 'https://id.example.com', AUTH_ENCRYPTION_KEY: secret('e'), AUTH_COOKIE_KEYS: `${secret('a')}, ${secret('b')}` });
    expect(config.devDefaults).toEqual([]);
    expect(config.AUTH_COOKIE_KEYS).toEqual([secret('a'), secret('b')]);
  });

  it('the docs API refuses its development cursor key with a non-localhost audience', () => {
    expect(failure(loadDocsConfig, { DOCS_API_AUDIENCE: 'https://api.example.com' }).message).toContain('DOCS_API_CURSOR_KEY');
    expect(loadDocsConfig({ DOCS_API_AUDIENCE: 'https://api.example.com', DOCS_API_CURSOR_KEY: secret('c') }).DOCS_API_AUDIENCE).toBe(
      'https://api.example.com',
    );
  });
});

describe('mTLS behind a TLS terminator (RFC 8705)', () => {
  it('the certificate headers default to nginx-style names, are read only with TRUST_PROXY (off by default), and are compared lower-cased', () => {
    const auth = loadAuthConfig({});
    expect(auth).toMatchObject({ AUTH_TRUST_PROXY: false, AUTH_MTLS_CERT_HEADER: 'x-ssl-client-cert', AUTH_MTLS_VERIFY_HEADER: 'x-ssl-client-verify' });
    expect(loadDocsConfig({})).toMatchObject({ DOCS_API_TRUST_PROXY: false, DOCS_API_MTLS_CERT_HEADER: 'x-ssl-client-cert' });
    expect(loadAuthConfig({ AUTH_MTLS_CERT_HEADER: 'X-Client-Cert' }).AUTH_MTLS_CERT_HEADER).toBe('x-client-cert');
  });

  it('a header name that is not one -> ConfigError naming the variable', () => {
    expect(() => loadAuthConfig({ AUTH_MTLS_VERIFY_HEADER: 'x ssl: verify' })).toThrow(ConfigError);
    expect(() => loadAuthConfig({ AUTH_MTLS_VERIFY_HEADER: 'x ssl: verify' })).toThrow(/AUTH_MTLS_VERIFY_HEADER: must be an HTTP header name/);
    expect(() => loadDocsConfig({ DOCS_API_TRUST_PROXY: 'maybe' })).toThrow(/DOCS_API_TRUST_PROXY/);
  });
});
