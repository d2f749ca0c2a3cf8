// OAuth client registration (operator-driven: `clouddocs client create`), stored in auth.clients
// with the secret sealed at rest. oidc-provider reads clients through the adapter (see oidc/adapter).
import { randomBytes } from 'node:crypto';
import type { Knex } from '@clouddocs/db';
import type { SecretBox } from '../secret-box';
import { ALL_SCOPES, API_SCOPES } from '../scopes';

export const GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials'] as const;
export type GrantType = (typeof GRANT_TYPES)[number];

export interface ClientInput {
  name: string;
  redirectUris?: string[];
  postLogoutRedirectUris?: string[];
  grants?: string[];
  scope?: string;
  public?: boolean;
  applicationType?: 'web' | 'native';
}

export interface RegisteredClient {
  client_id: string;
  client_secret?: string;
  client_name: string;
  token_endpoint_auth_method: 'client_secret_basic' | 'none';
  grant_types: GrantType[];
  redirect_uris: string[];
  post_logout_redirect_uris: string[];
  response_types: string[];
  scope: string;
  application_type: 'web' | 'native';
}

export class ClientError extends Error {
  override readonly name = 'ClientError';
}

const LOOPBACK = new Set(['127.0.0.1', '[::1]']);

/**
 * Redirect URI rules: absolute, no fragment, https anywhere; http only for loopback IP literals
 * (RFC 8252 §7.3) or when the issuer itself is on localhost (development).
 */
export function redirectUriProblem(uri: string, issuer: string): string | undefined {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return `redirect URI ${JSON.stringify(uri)} is not an absolute URL`;
  }
  if (url.hash || uri.includes('#')) return `redirect URI ${uri} must not contain a fragment`;
  if (url.username || url.password) return `redirect URI ${uri} must not contain credentials`;
  if (url.protocol === 'https:') return undefined;
  if (url.protocol !== 'http:') return `redirect URI ${uri} must use https (or http on loopback)`;
  if (LOOPBACK.has(url.hostname)) return undefined;
  const issuerHost = new URL(issuer).hostname;
  if (issuerHost === 'localhost' || LOOPBACK.has(issuerHost) || issuerHost === '127.0.0.1') return undefined;
  return `redirect URI ${uri} must use https: plain http is only for loopback addresses or a localhost issuer`;
}

export function createClientLibrary(deps: { knex: Knex; box: SecretBox; issuer: string }) {
  return {
    async create(input: ClientInput, trx?: Knex.Transaction): Promise<RegisteredClient> {
      const name = input.name?.trim();
      if (!name) throw new ClientError('--name is required');
      if (name.length > 200) throw new ClientError('name must be at most 200 characters');
      const redirectUris = input.redirectUris ?? [];
      const isPublic = input.public === true;
      const applicationType = input.applicationType ?? 'web';
      if (applicationType === 'native' && !isPublic) throw new ClientError('a native client must be public (--public): only native public clients may vary the loopback port');
      const grants = input.grants?.length
        ? [...new Set(input.grants)]
        : redirectUris.length
          ? ['authorization_code', 'refresh_token']
          : ['client_credentials'];
      for (const g of grants) {
        if (!(GRANT_TYPES as readonly string[]).includes(g)) throw new ClientError(`unknown grant ${JSON.stringify(g)} (expected one of ${GRANT_TYPES.join(', ')})`);
      }
      if (isPublic && grants.includes('client_credentials')) throw new ClientError('a public client cannot use client_credentials (it has no secret)');
      if (grants.includes('refresh_token') && !grants.includes('authorization_code')) throw new ClientError('refresh_token needs the authorization_code grant');
      if (grants.includes('authorization_code') && redirectUris.length === 0) throw new ClientError('authorization_code needs at least one --redirect-uri');
      if (!grants.includes('authorization_code') && redirectUris.length > 0) throw new ClientError('--redirect-uri is only for the authorization_code grant');
      for (const uri of [...redirectUris, ...(input.postLogoutRedirectUris ?? [])]) {
        const problem = redirectUriProblem(uri, deps.issuer);
        if (problem) throw new ClientError(problem);
      }
      const defaultScope = grants.includes('authorization_code') ? ALL_SCOPES : API_SCOPES;
      const scopes = input.scope === undefined ? [...defaultScope] : input.scope.split(/\s+/).filter(Boolean);
      for (const s of scopes) if (!ALL_SCOPES.includes(s)) throw new ClientError(`unknown scope ${JSON.stringify(s)}`);
      if (scopes.length === 0) throw new ClientError('--scope must name at least one scope');

      const clientId = `cd_${randomBytes(12).toString('base64url')}`;
      const secret = isPublic ? undefined : randomBytes(32).toString('base64url');
      const metadata = {
        client_name: name,
        application_type: applicationType,
        redirect_uris: redirectUris,
        post_logout_redirect_uris: input.postLogoutRedirectUris ?? [],
        grant_types: grants,
        response_types: grants.includes('authorization_code') ? ['code'] : [],
        scope: scopes.join(' '),
        token_endpoint_auth_method: isPublic ? 'none' : 'client_secret_basic',
      };
      await (trx ?? deps.knex)('auth.clients').insert({
        client_id: clientId,
        name,
        metadata: JSON.stringify(metadata),
        secret_enc: secret ? deps.box.seal(secret) : null,
      });
      return { client_id: clientId, ...(secret ? { client_secret: secret } : {}), ...metadata } as RegisteredClient;
    },

    /** The metadata oidc-provider needs, secret unsealed; undefined for unknown ids. */
    async findForProvider(clientId: string): Promise<Record<string, unknown> | undefined> {
      const row = await deps.knex('auth.clients').where({ client_id: clientId }).first('metadata', 'secret_enc');
      if (!row) return undefined;
      const metadata = typeof row.metadata === 'string' ? JSON.parse(row.metadata) : row.metadata;
      return { ...metadata, client_id: clientId, ...(row.secret_enc ? { client_secret: deps.box.open(row.secret_enc) } : {}) };
    },
  };
}

export type ClientLibrary = ReturnType<typeof createClientLibrary>;
