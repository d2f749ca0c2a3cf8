// The two database logins. The owner (DATABASE_URL) runs the migrations and owns every table; the
// services connect as their own login, `clouddocs_service`, which is neither a superuser nor the owner:
// it holds only the privileges the migrations grant it (SELECT and INSERT on the append-only tables),
// and there is no role to RESET back to. The embedded PGlite is one shared session: there the
// services use the store as it is, and the append-only triggers are the wall.
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import pg from 'pg';

/** The services' login: it may not UPDATE, DELETE or TRUNCATE audit events, nor alter any table. */
export const SERVICE_ROLE = 'clouddocs_service';

/** The services' login refuses to serve: it does not exist, cannot connect, or is too powerful. */
export class ServiceLoginError extends Error {
  override readonly name = 'ServiceLoginError';
  static readonly code = 'ERR_DB_SERVICE_LOGIN';
  readonly code = ServiceLoginError.code;
}

/**
 * The URL the services connect with: `DATABASE_SERVICE_URL` when given, else the owner's URL with the
 * service login's name and no password (trust, a client certificate or ~/.pgpass).
 */
export function serviceUrl(ownerUrl: string, override?: string): string {
  if (override) return override;
  const url = new URL(ownerUrl);
  url.username = SERVICE_ROLE;
  url.password = '';
  return url.toString();
}

/** The password the migrations give `clouddocs_service`: the one in DATABASE_SERVICE_URL when it names that login. */
export function servicePassword(serviceDatabaseUrl: string | undefined): string | undefined {
  if (!serviceDatabaseUrl) return undefined;
  const url = new URL(serviceDatabaseUrl);
  if (decodeURIComponent(url.username) !== SERVICE_ROLE || url.password === '') return undefined;
  return decodeURIComponent(url.password);
}

/**
 * A SCRAM-SHA-256 verifier (RFC 5802, RFC 7677) in PostgreSQL's stored form, so that `ALTER ROLE …
 * PASSWORD` never carries the password itself into the server's statement log.
 */
export function scramVerifier(password: string, salt: Buffer = randomBytes(16), iterations = 4096): string {
  const salted = pbkdf2Sync(password.normalize('NFKC'), salt, iterations, 32, 'sha256');
  const hmac = (key: Buffer, text: string) => createHmac('sha256', key).update(text).digest();
  const storedKey = createHash('sha256').update(hmac(salted, 'Client Key')).digest();
  const serverKey = hmac(salted, 'Server Key');
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

// SQLSTATE class 28 (invalid authorization: no such role, wrong password, pg_hba refusal), 3D000 (no
// such database) and 42501 (no CONNECT privilege): a configuration error, not an outage.
const refusedLogin = (err: unknown) => /^(28|3D000|42501)/.test(String((err as { code?: unknown }).code ?? ''));

/**
 * Where a service connects, checked once: the service login on a real server (refused when it is a
 * superuser or has the owner's privileges), the store itself when it is the embedded PGlite. An
 * unreachable server is not an error here: the pool connects when it is back, and /readyz says so.
 */
export async function serviceConnection(ownerUrl: string, override?: string): Promise<string> {
  const target = serviceUrl(ownerUrl, override);
  const login = decodeURIComponent(new URL(target).username) || SERVICE_ROLE;
  const client = new pg.Client({ connectionString: target, connectionTimeoutMillis: 5_000 });
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (err) {
    if (refusedLogin(err)) {
      throw new ServiceLoginError(
        `the services' database login ${login} is refused (${(err as Error).message}): run the migrations as the owner (they create ${SERVICE_ROLE}), or set DATABASE_SERVICE_URL`,
        { cause: err },
      );
    }
    await client.end().catch(() => {});
    return target;
  }
  try {
    const { rows } = await client.query(`
      SELECT version() AS version, session_user AS login, r.rolsuper AS superuser,
             EXISTS (SELECT 1 FROM pg_namespace n WHERE n.nspname = 'clouddocs_meta' AND pg_has_role(session_user, n.nspowner, 'USAGE')) AS owner
      FROM pg_roles r WHERE r.rolname = session_user`);
    const row = rows[0] as { version: string; login: string; superuser: boolean; owner: boolean };
    if (row.version.includes('PGlite')) return ownerUrl; // one shared session: no login of its own
    if (row.superuser) throw new ServiceLoginError(`the services' database login ${row.login} is a superuser: give DATABASE_SERVICE_URL a login without SUPERUSER`);
    if (row.owner) throw new ServiceLoginError(`the services' database login ${row.login} has the schema owner's privileges: give DATABASE_SERVICE_URL another login than DATABASE_URL's`);
    return target;
  } finally {
    await client.end().catch(() => {});
  }
}
