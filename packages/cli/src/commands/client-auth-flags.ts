// The client authentication flags `client create` and `client update` share: --auth-method,
// --jwks-file (a JWK Set of public keys), --jwks-uri, --tls-subject-dn and --mtls-bound. The library
// (libraries/clients) checks the rules; this only reads the flags and the key file.
import { readFileSync } from 'node:fs';
import type { ClientInput } from '@clouddocs/auth-server/toolkit';
import { CliError } from '../output';

export const CLIENT_AUTH_FLAGS = {
  'auth-method': { type: 'string' },
  'jwks-file': { type: 'string' },
  'jwks-uri': { type: 'string' },
  'tls-subject-dn': { type: 'string' },
  'mtls-bound': { type: 'boolean' },
} as const;

interface AuthFlags {
  'auth-method'?: string | undefined;
  'jwks-file'?: string | undefined;
  'jwks-uri'?: string | undefined;
  'tls-subject-dn'?: string | undefined;
  'mtls-bound'?: boolean | undefined;
}

/** The client input these flags give (only what was given). */
export function clientAuthInput(opts: AuthFlags): Partial<ClientInput> {
  const input: Partial<ClientInput> = {};
  if (opts['auth-method'] !== undefined) input.authMethod = opts['auth-method'] as ClientInput['authMethod'];
  if (opts['jwks-file'] !== undefined) input.jwks = readJwks(opts['jwks-file']);
  if (opts['jwks-uri'] !== undefined) input.jwksUri = opts['jwks-uri'];
  if (opts['tls-subject-dn'] !== undefined) input.tlsSubjectDn = opts['tls-subject-dn'];
  if (opts['mtls-bound']) input.mtlsBound = true;
  return input;
}

function readJwks(file: string): NonNullable<ClientInput['jwks']> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError(`--jwks-file ${file}: ${(err as NodeJS.ErrnoException).code ?? 'cannot be read'}`, 2);
  }
  try {
    return JSON.parse(text) as NonNullable<ClientInput['jwks']>;
  } catch {
    // The file's content is never echoed: it might be a private key given by mistake.
    throw new CliError(`--jwks-file ${file} is not JSON (a JWK Set: { "keys": [ … ] })`, 2);
  }
}

/** The lines `show`/`create` print about a client's authentication keys (never the keys). */
export function authLines(c: { jwks?: { keys: unknown[] }; jwks_uri?: string; tls_client_auth_subject_dn?: string; tls_client_certificate_bound_access_tokens?: boolean }): string[] {
  const lines: string[] = [];
  if (c.jwks) lines.push(`jwks: ${c.jwks.keys.length} public key(s)`);
  if (c.jwks_uri) lines.push(`jwks_uri: ${c.jwks_uri}`);
  if (c.tls_client_auth_subject_dn) lines.push(`tls_client_auth_subject_dn: ${c.tls_client_auth_subject_dn}`);
  if (c.tls_client_certificate_bound_access_tokens) lines.push('tls_client_certificate_bound_access_tokens: true');
  return lines;
}
