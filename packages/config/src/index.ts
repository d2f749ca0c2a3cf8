// One validated, frozen configuration object per service, read from the environment.
// A bad value fails fast with a message naming the variable; nothing else reads process.env.
import { createPrivateKey } from 'node:crypto';
import { z } from 'zod';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

const DEV_ENCRYPTION_KEY = 'clouddocs-development-only-encryption-key-change-me';
const DEV_COOKIE_KEY = 'clouddocs-development-only-cookie-key-change-me';

const port = z.coerce.number().int().min(0).max(65535);
const httpUrl = z
  .string()
  .url()
  .refine((v) => /^https?:\/\//.test(v), 'must be an http(s) URL')
  .refine((v) => !v.endsWith('/'), 'must not end with a slash');
const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => ['true', '1', 'yes'].includes(v));
const headerName = z
  .string()
  .regex(/^[A-Za-z0-9-]{1,64}$/, 'must be an HTTP header name')
  .transform((v) => v.toLowerCase());
const positiveInt = z.coerce.number().int().positive();
const optionalString = z.preprocess((v) => (v === '' ? undefined : v), z.string().optional());
/** An optional URL of one scheme (empty means unset), refused with `message` when it is not one. */
const urlOfScheme = (scheme: RegExp, message: string) =>
  z.preprocess(
    (v) => (v === '' ? undefined : v),
    z
      .string()
      .regex(scheme, message)
      .refine((v) => URL.canParse(v), message)
      .optional(),
  );
const postgresUrl = urlOfScheme(/^postgres(ql)?:\/\//, 'must be a postgres:// URL');

/** An Ed25519 private key as a PKCS#8 PEM (newlines may be written as a literal backslash-n) or a private JWK. */
function isEd25519PrivateKey(text: string): boolean {
  try {
    const trimmed = text.trim();
    const key = trimmed.startsWith('{')
      ? createPrivateKey({ key: JSON.parse(trimmed), format: 'jwk' })
      : createPrivateKey({ key: trimmed.includes('\n') ? trimmed : trimmed.replace(/\\n/g, '\n'), format: 'pem' });
    return key.asymmetricKeyType === 'ed25519';
  } catch {
    return false;
  }
}

/** `host:port,host:port…` (Sentinels or Cluster nodes) → a list of endpoints. */
const endpoints = z.preprocess(
  (v) => (v === '' ? undefined : v),
  z
    .string()
    .regex(/^[A-Za-z0-9.\-\[\]:]+:[0-9]{1,5}(,[A-Za-z0-9.\-\[\]:]+:[0-9]{1,5})*$/, 'must be host:port pairs separated by commas')
    .transform((v) =>
      v.split(',').map((pair) => {
        const at = pair.lastIndexOf(':');
        return Object.freeze({ host: pair.slice(0, at).replace(/^\[(.*)\]$/, '$1'), port: Number(pair.slice(at + 1)) });
      }),
    )
    .refine((list) => list.every((e) => e.port > 0 && e.port <= 65535), 'every port must be 1-65535')
    .optional(),
);

const common = {
  AUTH_ISSUER: httpUrl.default('http://localhost:3000'),
  AUTH_PORT: port.default(3000),
  DOCS_API_PORT: port.default(4000),
  DOCS_API_AUDIENCE: httpUrl.default('http://localhost:4000'),
  DATABASE_URL: postgresUrl,
  DATABASE_SERVICE_URL: postgresUrl,
  REDIS_URL: z.preprocess(
    (v) => (v === '' ? undefined : v),
    z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL').optional(),
  ),
  // High availability: the Sentinels watching the primary named REDIS_SENTINEL_NAME, or some nodes of a
  // Redis Cluster. REDIS_URL then only lends its credentials, TLS (rediss://) and database.
  REDIS_SENTINELS: endpoints,
  REDIS_SENTINEL_NAME: z.preprocess((v) => (v === '' ? undefined : v), z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be a Sentinel master name (letters, digits, . _ -)').optional()),
  REDIS_CLUSTER_NODES: endpoints,
  REDIS_PREFIX: z.string().regex(/^[A-Za-z0-9:_-]{1,64}$/).default('clouddocs:'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DATA_DIR: z.string().min(1).default('./.data'),
  SHUTDOWN_DRAIN_SECONDS: z.coerce.number().int().min(0).max(120).default(0),
  WORKERS: z
    .string()
    .regex(/^(auto|[1-9][0-9]*)$/, 'must be "auto" or a positive integer')
    .default('1'),
  // Audit checkpoints: the writers sign their chain's head with this key (never stored in the
  // database) every N events or T seconds, and append each checkpoint to AUDIT_CHECKPOINT_FILE.
  AUDIT_CHECKPOINT_KEY: z.preprocess(
    (v) => (v === '' ? undefined : v),
    z.string().refine(isEd25519PrivateKey, 'must be an Ed25519 private key (PKCS#8 PEM or private JWK)').optional(),
  ),
  AUDIT_CHECKPOINT_FILE: optionalString,
  AUDIT_CHECKPOINT_EVERY_EVENTS: positiveInt.default(100),
  AUDIT_CHECKPOINT_EVERY_SECONDS: positiveInt.default(10),
};

const authOnly = {
  AUTH_ENCRYPTION_KEY: z.string().min(32, 'must be at least 32 characters').default(DEV_ENCRYPTION_KEY),
  /** During a rotation of AUTH_ENCRYPTION_KEY: the old key, still opened, never sealed with (`clouddocs keys reseal`). */
  AUTH_ENCRYPTION_KEY_PREVIOUS: z.preprocess((v) => (v === '' ? undefined : v), z.string().min(32, 'must be at least 32 characters').optional()),
  AUTH_COOKIE_KEYS: z
    .string()
    .default(DEV_COOKIE_KEY)
    .transform((v) => v.split(',').map((k) => k.trim()).filter(Boolean))
    .refine((keys) => keys.length > 0 && keys.every((k) => k.length >= 32), 'comma-separated keys of at least 32 characters each'),
  AUTH_TRUST_PROXY: bool.default(false),
  // RFC 8705: the TLS terminator's client certificate (URL-encoded PEM, nginx `$ssl_client_escaped_cert`)
  // and its verification result (`$ssl_client_verify`); read only when AUTH_TRUST_PROXY is true.
  AUTH_MTLS_CERT_HEADER: headerName.default('x-ssl-client-cert'),
  AUTH_MTLS_VERIFY_HEADER: headerName.default('x-ssl-client-verify'),
  AUTH_KEY_ACTIVATION_DELAY_SECONDS: z.coerce.number().int().min(0).default(60),
  AUTH_KEY_REFRESH_SECONDS: positiveInt.default(10),
  /** Scheduled signing-key rotation period; 0 turns it off (manual `clouddocs keys rotate` only). */
  AUTH_KEY_ROTATION_DAYS: z.coerce.number().int().min(0).max(3650).default(30),
  // A used refresh token presented again this soon, by its own client, gets the first answer again
  // (retries, parallel tabs); later it revokes the grant. Capped well below the access token lifetime
  // (600 s) so that an answer given again always carries a live access token; 0 turns it off.
  AUTH_REFRESH_REUSE_GRACE_SECONDS: z.coerce.number().int().min(0).max(300).default(10),
  // OIDC Back-Channel Logout deliveries: how long one may take, how often it is tried, and the first
  // retry's delay (doubled each time after).
  AUTH_BACKCHANNEL_TIMEOUT_SECONDS: z.coerce.number().int().min(1).max(60).default(5),
  AUTH_BACKCHANNEL_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(5),
  AUTH_BACKCHANNEL_RETRY_SECONDS: z.coerce.number().int().min(1).max(3600).default(30),
  AUTH_ARGON2_MEMORY_KIB: z.coerce.number().int().min(19456).default(19456),
  AUTH_ARGON2_TIME_COST: z.coerce.number().int().min(2).default(2),
  AUTH_ARGON2_PARALLELISM: z.coerce.number().int().min(1).default(1),
  /** Resource indicator and `aud` of admin API tokens; defaults to `${AUTH_ISSUER}/admin/v1`. */
  ADMIN_API_AUDIENCE: z.preprocess((v) => (v === '' ? undefined : v), z.string().url('must be an absolute URL').optional()),
  SMTP_URL: urlOfScheme(/^smtps?:\/\//, 'must be an smtp:// or smtps:// URL'),
  MAIL_FROM: z.string().default('CloudDocs <no-reply@localhost>'),
};

const DEV_CURSOR_KEY = 'clouddocs-development-only-cursor-key-change-me';
const docsOnly = {
  DOCS_API_CURSOR_KEY: z.string().min(32, 'must be at least 32 characters').default(DEV_CURSOR_KEY),
  DOCS_API_CLOCK_TOLERANCE_SECONDS: z.coerce.number().int().min(0).max(300).default(5),
  DOCS_API_MAX_BODY_BYTES: positiveInt.default(256 * 1024),
  /** Trust the TLS terminator in front: its client-certificate header (certificate-bound tokens). */
  DOCS_API_TRUST_PROXY: bool.default(false),
  DOCS_API_MTLS_CERT_HEADER: headerName.default('x-ssl-client-cert'),
};

const authSchema = z.object({ ...common, ...authOnly });
const docsSchema = z.object({ ...common, ...docsOnly });

export type AuthConfig = Readonly<Omit<z.infer<typeof authSchema>, 'ADMIN_API_AUDIENCE'> & { ADMIN_API_AUDIENCE: string }> & { readonly devDefaults: readonly string[] };
export type DocsConfig = Readonly<z.infer<typeof docsSchema>>;
export type CommonConfig = Readonly<z.infer<z.ZodObject<typeof common>>>;

function parse<S extends z.ZodObject>(schema: S, env: NodeJS.ProcessEnv): z.infer<S> {
  const input: Record<string, string | undefined> = {};
  for (const key of Object.keys(schema.shape)) input[key] = env[key];
  const result = schema.safeParse(input);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? '(config)');
      return `${name}: ${issue.message}`;
    });
    throw new ConfigError(`Invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  return result.data;
}

/** The services must not connect as the owner: a service URL naming the owner's login is refused. */
function checkDatabaseLogins(data: { DATABASE_URL?: string | undefined; DATABASE_SERVICE_URL?: string | undefined }) {
  if (!data.DATABASE_URL || !data.DATABASE_SERVICE_URL) return;
  const login = (url: string) => decodeURIComponent(new URL(url).username);
  if (login(data.DATABASE_SERVICE_URL) === login(data.DATABASE_URL)) {
    throw new ConfigError(`Invalid configuration:\n  DATABASE_SERVICE_URL: must name another login than DATABASE_URL (the services never connect as the owner)`);
  }
}

/** Sentinels need the name of the primary they watch; Sentinel and Cluster exclude each other. */
function checkRedisTopology(data: { REDIS_SENTINELS?: unknown; REDIS_SENTINEL_NAME?: string | undefined; REDIS_CLUSTER_NODES?: unknown }) {
  if (data.REDIS_SENTINELS && !data.REDIS_SENTINEL_NAME) throw new ConfigError('Invalid configuration:\n  REDIS_SENTINEL_NAME: required with REDIS_SENTINELS (the name of the primary the Sentinels watch)');
  if (data.REDIS_SENTINEL_NAME && !data.REDIS_SENTINELS) throw new ConfigError('Invalid configuration:\n  REDIS_SENTINELS: required with REDIS_SENTINEL_NAME (host:port of each Sentinel)');
  if (data.REDIS_SENTINELS && data.REDIS_CLUSTER_NODES) throw new ConfigError('Invalid configuration:\n  REDIS_CLUSTER_NODES: cannot be combined with REDIS_SENTINELS (a Cluster fails over by itself)');
}

/** Configuration of the authorization server (and the CLI, which acts on its stores). */
export function loadAuthConfig(env: NodeJS.ProcessEnv = process.env): AuthConfig {
  const data = parse(authSchema, env);
  checkDatabaseLogins(data);
  checkRedisTopology(data);
  const devDefaults: string[] = [];
  if (data.AUTH_ENCRYPTION_KEY === DEV_ENCRYPTION_KEY) devDefaults.push('AUTH_ENCRYPTION_KEY');
  if (data.AUTH_COOKIE_KEYS.includes(DEV_COOKIE_KEY)) devDefaults.push('AUTH_COOKIE_KEYS');
  if (!/^https?:\/\/(localhost|127\.0\.0\.1|\[::1\])(:|$)/.test(data.AUTH_ISSUER) && devDefaults.length > 0) {
    throw new ConfigError(
      `Invalid configuration:\n  ${devDefaults.join(', ')}: the development default may only be used with a localhost AUTH_ISSUER`,
    );
  }
  if (data.AUTH_ENCRYPTION_KEY_PREVIOUS === data.AUTH_ENCRYPTION_KEY) {
    throw new ConfigError('Invalid configuration:\n  AUTH_ENCRYPTION_KEY_PREVIOUS: must differ from AUTH_ENCRYPTION_KEY (it is the key being rotated out)');
  }
  const ADMIN_API_AUDIENCE = data.ADMIN_API_AUDIENCE ?? `${data.AUTH_ISSUER.replace(/\/$/, '')}/admin/v1`;
  if (ADMIN_API_AUDIENCE === data.DOCS_API_AUDIENCE) throw new ConfigError('Invalid configuration:\n  ADMIN_API_AUDIENCE: must differ from DOCS_API_AUDIENCE');
  return Object.freeze({ ...data, ADMIN_API_AUDIENCE, AUTH_COOKIE_KEYS: Object.freeze([...data.AUTH_COOKIE_KEYS]) as string[], devDefaults });
}

/** Configuration of the docs API. */
export function loadDocsConfig(env: NodeJS.ProcessEnv = process.env): DocsConfig {
  const data = parse(docsSchema, env);
  checkDatabaseLogins(data);
  checkRedisTopology(data);
  if (data.DOCS_API_CURSOR_KEY === DEV_CURSOR_KEY && !/^https?:\/\/(localhost|127\.0\.0\.1|\[::1\])(:|$)/.test(data.DOCS_API_AUDIENCE)) {
    throw new ConfigError('Invalid configuration:\n  DOCS_API_CURSOR_KEY: the development default may only be used with a localhost DOCS_API_AUDIENCE');
  }
  return Object.freeze(data);
}

/** Whether the embedded (single-process) stores are in use. */
export function usesEmbeddedStores(config: CommonConfig): { database: boolean; cache: boolean } {
  return { database: config.DATABASE_URL === undefined && config.DATABASE_SERVICE_URL === undefined, cache: config.REDIS_URL === undefined && !config.REDIS_SENTINELS && !config.REDIS_CLUSTER_NODES };
}

/** How many worker processes a service should run (`WORKERS=auto` is one per core). */
export function workerCount(config: CommonConfig, cores: number): number {
  return config.WORKERS === 'auto' ? Math.max(1, cores) : Number(config.WORKERS);
}
