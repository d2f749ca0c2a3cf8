// OAuth client registration (operator-driven: `clouddocs client create`), stored in auth.clients
// with the secret sealed at rest. oidc-provider reads clients through the adapter (see oidc/adapter).
import { createPublicKey, randomBytes, X509Certificate } from 'node:crypto';
import type { JSONWebKeySet } from 'jose';
import { CLIENT_AUTH_METHODS, type ClientAuthMethod } from './client-authentication';
import { subjectDnProblem } from './client-certificates';
import { sameSecret } from './csrf';
import type { Knex } from '@clouddocs/db';
import type { SecretBox } from '../secret-box';
import { createClientQueries, type ClientRow } from '../queries/clients';
import { ALL_SCOPES, API_SCOPES, DEFAULT_CLIENT_SCOPES } from '../scopes';

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
  /** RFC 9449 §5.2: the client's access tokens are DPoP-bound; its token requests must carry a proof. */
  dpopBoundAccessTokens?: boolean;
  /** How the client authenticates (default client_secret_basic; `none` for public clients). */
  authMethod?: ClientAuthMethod;
  /** Its public keys (private_key_jwt, self_signed_tls_client_auth), or where to fetch them. */
  jwks?: JSONWebKeySet;
  jwksUri?: string;
  /** tls_client_auth: the subject DN its certificate must carry (RFC 8705 §2.1.2). */
  tlsSubjectDn?: string;
  /** RFC 8705 §3: its access tokens are bound to the client certificate of the token request. */
  mtlsBound?: boolean;
}

export interface RegisteredClient {
  client_id: string;
  client_secret?: string;
  client_name: string;
  token_endpoint_auth_method: ClientAuthMethod;
  grant_types: GrantType[];
  redirect_uris: string[];
  post_logout_redirect_uris: string[];
  response_types: string[];
  scope: string;
  application_type: 'web' | 'native';
  dpop_bound_access_tokens?: true;
  jwks?: JSONWebKeySet;
  jwks_uri?: string;
  tls_client_auth_subject_dn?: string;
  tls_client_certificate_bound_access_tokens?: true;
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

/** The methods that authenticate with a client secret (the only clients that get one). */
export const SECRET_METHODS: readonly ClientAuthMethod[] = ['client_secret_basic', 'client_secret_post'];
const KEY_METHODS: readonly ClientAuthMethod[] = ['private_key_jwt', 'self_signed_tls_client_auth'];
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

/** A client's JWK Set: public asymmetric keys only (a private or symmetric key is refused, never stored). */
export function jwksProblem(jwks: unknown): string | undefined {
  if (typeof jwks !== 'object' || jwks === null || !Array.isArray((jwks as { keys?: unknown }).keys)) return 'jwks must be a JWK Set: { "keys": [ … ] }';
  const keys = (jwks as { keys: unknown[] }).keys;
  if (keys.length === 0 || keys.length > 20) return 'jwks must hold between 1 and 20 keys';
  if (JSON.stringify(jwks).length > 64 * 1024) return 'jwks must be at most 64 KiB';
  for (const [i, jwk] of keys.entries()) {
    if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) return `jwks key ${i} is not a JWK`;
    const members = jwk as Record<string, unknown>;
    if (PRIVATE_JWK_MEMBERS.some((m) => m in members)) return `jwks key ${i} is a private or symmetric key: register public keys only`;
    if (!['RSA', 'EC', 'OKP'].includes(members.kty as string)) return `jwks key ${i} must be an RSA, EC or OKP public key`;
    try {
      createPublicKey({ key: members as never, format: 'jwk' });
    } catch {
      return `jwks key ${i} is not a valid public key`;
    }
    if (members.x5c !== undefined) {
      if (!Array.isArray(members.x5c) || members.x5c.length === 0) return `jwks key ${i}: x5c must be a list of certificates`;
      for (const cert of members.x5c) {
        try {
          if (typeof cert !== 'string') throw new Error('not a string');
          new X509Certificate(Buffer.from(cert, 'base64'));
        } catch {
          return `jwks key ${i}: x5c holds something that is not a base64 DER certificate`;
        }
      }
    }
  }
  return undefined;
}

/** jwks_uri: https, or http when the issuer itself is on localhost (development). */
export function jwksUriProblem(uri: string, issuer: string): string | undefined {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return `jwks_uri ${JSON.stringify(uri)} is not an absolute URL`;
  }
  if (url.hash || url.username || url.password) return `jwks_uri ${uri} must not contain a fragment or credentials`;
  if (url.protocol === 'https:') return undefined;
  const issuerHost = new URL(issuer).hostname;
  if (url.protocol === 'http:' && (issuerHost === 'localhost' || LOOPBACK.has(issuerHost))) return undefined;
  return `jwks_uri ${uri} must use https (plain http only with a localhost issuer)`;
}

/** Client metadata from an operator's input, by the rules every client follows; ClientError otherwise. */
export function clientMetadata(input: ClientInput, issuer: string) {
  const name = input.name?.trim();
  if (!name) throw new ClientError('--name is required');
  if (name.length > 200) throw new ClientError('name must be at most 200 characters');
  const redirectUris = input.redirectUris ?? [];
  const isPublic = input.public === true || input.authMethod === 'none';
  if (input.authMethod !== undefined && !(CLIENT_AUTH_METHODS as readonly string[]).includes(input.authMethod)) throw new ClientError(`unknown auth method ${JSON.stringify(input.authMethod)} (expected one of ${CLIENT_AUTH_METHODS.join(', ')})`);
  if (input.public === true && input.authMethod !== undefined && input.authMethod !== 'none') throw new ClientError('a public client authenticates with none');
  const authMethod: ClientAuthMethod = isPublic ? 'none' : (input.authMethod ?? 'client_secret_basic');
  const keys = authKeyMetadata(input, authMethod, issuer);
  const applicationType = input.applicationType ?? 'web';
  if (applicationType === 'native' && !isPublic) throw new ClientError('a native client must be public (--public): only native public clients may vary the loopback port');
  const grants = input.grants?.length ? [...new Set(input.grants)] : redirectUris.length ? ['authorization_code', 'refresh_token'] : ['client_credentials'];
  for (const g of grants) {
    if (!(GRANT_TYPES as readonly string[]).includes(g)) throw new ClientError(`unknown grant ${JSON.stringify(g)} (expected one of ${GRANT_TYPES.join(', ')})`);
  }
  if (isPublic && grants.includes('client_credentials')) throw new ClientError('a public client cannot use client_credentials (it has no secret)');
  if (grants.includes('refresh_token') && !grants.includes('authorization_code')) throw new ClientError('refresh_token needs the authorization_code grant');
  if (grants.includes('authorization_code') && redirectUris.length === 0) throw new ClientError('authorization_code needs at least one --redirect-uri');
  if (!grants.includes('authorization_code') && redirectUris.length > 0) throw new ClientError('--redirect-uri is only for the authorization_code grant');
  for (const uri of [...redirectUris, ...(input.postLogoutRedirectUris ?? [])]) {
    const problem = redirectUriProblem(uri, issuer);
    if (problem) throw new ClientError(problem);
  }
  const defaultScope = grants.includes('authorization_code') ? DEFAULT_CLIENT_SCOPES : API_SCOPES;
  const scopes = input.scope === undefined ? [...defaultScope] : input.scope.split(/\s+/).filter(Boolean);
  for (const s of scopes) if (!ALL_SCOPES.includes(s)) throw new ClientError(`unknown scope ${JSON.stringify(s)}`);
  if (scopes.length === 0) throw new ClientError('--scope must name at least one scope');
  return {
    client_name: name,
    application_type: applicationType,
    redirect_uris: redirectUris,
    post_logout_redirect_uris: input.postLogoutRedirectUris ?? [],
    grant_types: grants as GrantType[],
    response_types: grants.includes('authorization_code') ? ['code'] : [],
    scope: [...new Set(scopes)].join(' '),
    token_endpoint_auth_method: authMethod,
    ...(input.dpopBoundAccessTokens ? { dpop_bound_access_tokens: true as const } : {}),
    ...keys,
    ...(input.mtlsBound ? { tls_client_certificate_bound_access_tokens: true as const } : {}),
  };
}

/** The keys or certificate subject the auth method needs, and nothing it does not. */
function authKeyMetadata(input: ClientInput, method: ClientAuthMethod, issuer: string): { jwks?: JSONWebKeySet; jwks_uri?: string; tls_client_auth_subject_dn?: string } {
  const { jwks, jwksUri, tlsSubjectDn } = input;
  if ((jwks !== undefined || jwksUri !== undefined) && !KEY_METHODS.includes(method)) throw new ClientError('jwks and jwks_uri are for private_key_jwt and self_signed_tls_client_auth clients');
  if (tlsSubjectDn !== undefined && method !== 'tls_client_auth') throw new ClientError('tls_client_auth_subject_dn is for tls_client_auth clients');
  if (jwks !== undefined && jwksUri !== undefined) throw new ClientError('give jwks or jwks_uri, not both');
  if (method === 'private_key_jwt' && jwks === undefined && jwksUri === undefined) throw new ClientError('private_key_jwt needs the client\'s public keys: jwks or jwks_uri');
  if (method === 'self_signed_tls_client_auth' && (jwks === undefined || !jwks.keys?.some((k) => Array.isArray(k.x5c)))) throw new ClientError('self_signed_tls_client_auth needs jwks with the client certificate in x5c');
  if (method === 'tls_client_auth' && tlsSubjectDn === undefined) throw new ClientError('tls_client_auth needs tls_client_auth_subject_dn (--tls-subject-dn)');
  if (jwks !== undefined) {
    const problem = jwksProblem(jwks);
    if (problem) throw new ClientError(problem);
    return { jwks: { keys: jwks.keys.map((k) => ({ ...k })) } };
  }
  if (jwksUri !== undefined) {
    const problem = jwksUriProblem(jwksUri, issuer);
    if (problem) throw new ClientError(problem);
    return { jwks_uri: jwksUri };
  }
  if (tlsSubjectDn !== undefined) {
    const problem = subjectDnProblem(tlsSubjectDn);
    if (problem) throw new ClientError(problem);
    return { tls_client_auth_subject_dn: tlsSubjectDn.trim() };
  }
  return {};
}

type Metadata = ReturnType<typeof clientMetadata>;

/** What an operator sees of a client: its metadata and state, never a secret. */
export interface ClientView extends Metadata {
  client_id: string;
  disabled: boolean;
  created_at: string;
  updated_at: string;
  previous_secret_expires_at: string | null;
}

/** The input a stored client was made from, so a change is checked by the same rules as a creation. */
function inputOf(metadata: Metadata): ClientInput {
  return {
    name: metadata.client_name,
    redirectUris: metadata.redirect_uris,
    postLogoutRedirectUris: metadata.post_logout_redirect_uris,
    grants: metadata.grant_types,
    scope: metadata.scope,
    public: metadata.token_endpoint_auth_method === 'none',
    applicationType: metadata.application_type,
    dpopBoundAccessTokens: metadata.dpop_bound_access_tokens === true,
    authMethod: metadata.token_endpoint_auth_method,
    ...(metadata.jwks ? { jwks: metadata.jwks } : {}),
    ...(metadata.jwks_uri ? { jwksUri: metadata.jwks_uri } : {}),
    ...(metadata.tls_client_auth_subject_dn ? { tlsSubjectDn: metadata.tls_client_auth_subject_dn } : {}),
    mtlsBound: metadata.tls_client_certificate_bound_access_tokens === true,
  };
}

/** A change merged into a client's input: a new key source or method drops what it replaces. */
function changed(current: ClientInput, change: Partial<ClientInput>): ClientInput {
  const next: ClientInput = { ...current, ...change, public: current.public, applicationType: change.applicationType ?? current.applicationType };
  if (change.jwks !== undefined && change.jwksUri === undefined) delete next.jwksUri;
  if (change.jwksUri !== undefined && change.jwks === undefined) delete next.jwks;
  const method = next.authMethod ?? 'client_secret_basic';
  if (change.authMethod !== undefined) {
    if (!KEY_METHODS.includes(method) && change.jwks === undefined && change.jwksUri === undefined) {
      delete next.jwks;
      delete next.jwksUri;
    }
    if (method !== 'tls_client_auth' && change.tlsSubjectDn === undefined) delete next.tlsSubjectDn;
  }
  if (current.public && change.authMethod !== undefined && change.authMethod !== 'none') throw new ClientError('a public client stays public (authenticates with none)');
  if (!current.public && change.authMethod === 'none') throw new ClientError('a confidential client cannot become public');
  if (change.authMethod !== undefined && SECRET_METHODS.includes(change.authMethod) && !SECRET_METHODS.includes(current.authMethod ?? 'client_secret_basic')) {
    throw new ClientError('a client without a secret cannot switch to a secret method: register a new client');
  }
  return next;
}

const iso = (v: unknown) => (v ? new Date(v as string).toISOString() : null);

export function createClientLibrary(deps: { knex: Knex; box: SecretBox; issuer: string }) {
  const queries = createClientQueries(deps.knex);
  const view = (row: ClientRow): ClientView => ({
    client_id: row.client_id,
    ...(row.metadata as Metadata),
    disabled: row.disabled_at !== null,
    created_at: iso(row.created_at)!,
    updated_at: iso(row.updated_at)!,
    previous_secret_expires_at: row.previous_secret_expires_at && new Date(row.previous_secret_expires_at) > new Date() ? iso(row.previous_secret_expires_at) : null,
  });
  const newSecret = () => randomBytes(32).toString('base64url');
  return {
    async create(input: ClientInput, trx?: Knex.Transaction): Promise<RegisteredClient> {
      const metadata = clientMetadata(input, deps.issuer);
      const clientId = `cd_${randomBytes(12).toString('base64url')}`;
      const secret = SECRET_METHODS.includes(metadata.token_endpoint_auth_method) ? newSecret() : undefined;
      await queries.insert({ client_id: clientId, name: metadata.client_name, metadata: JSON.stringify(metadata), secret_enc: secret ? deps.box.seal(secret) : null }, trx);
      return { client_id: clientId, ...(secret ? { client_secret: secret } : {}), ...metadata } as RegisteredClient;
    },

    async list(page: { q?: string; after?: string; limit: number }): Promise<ClientView[]> {
      return (await queries.list(page)).map(view);
    },

    async get(clientId: string): Promise<ClientView | undefined> {
      const row = await queries.byId(clientId);
      return row ? view(row) : undefined;
    },

    /** Applies a change checked by the creation rules; undefined for an unknown client. */
    async update(clientId: string, change: Partial<ClientInput>, trx?: Knex.Transaction): Promise<ClientView | undefined> {
      const row = await queries.byId(clientId, trx);
      if (!row) return undefined;
      const current = inputOf(row.metadata as Metadata);
      const metadata = clientMetadata(changed(current, change), deps.issuer);
      // A client that moves to keys or certificates keeps no secret that would still authenticate it.
      const secretGone = !SECRET_METHODS.includes(metadata.token_endpoint_auth_method) && row.secret_enc !== null;
      await queries.update(clientId, { name: metadata.client_name, metadata: JSON.stringify(metadata), ...(secretGone ? { secret_enc: null, previous_secret_enc: null, previous_secret_expires_at: null } : {}) }, trx);
      return view((await queries.byId(clientId, trx))!);
    },

    remove: (clientId: string, trx?: Knex.Transaction) => queries.remove(clientId, trx),

    async disabledAt(clientId: string): Promise<Date | null> {
      const row = await queries.byId(clientId);
      return row?.disabled_at ? new Date(row.disabled_at) : null;
    },

    async setDisabled(clientId: string, disabled: boolean, trx?: Knex.Transaction): Promise<boolean> {
      return (await queries.update(clientId, { disabled_at: disabled ? deps.knex.fn.now() : null }, trx)) > 0;
    },

    /** A new secret; the previous one keeps working for `previousExpiresIn` seconds (0: not at all). */
    async rotateSecret(clientId: string, previousExpiresIn: number, trx?: Knex.Transaction): Promise<{ client_secret: string; previous_secret_expires_at: string | null } | undefined> {
      const row = await queries.byId(clientId, trx);
      if (!row?.secret_enc) return undefined;
      const secret = newSecret();
      const until = previousExpiresIn > 0 ? new Date(Date.now() + previousExpiresIn * 1000) : null;
      await queries.update(clientId, { secret_enc: deps.box.seal(secret), previous_secret_enc: until ? row.secret_enc : null, previous_secret_expires_at: until }, trx);
      return { client_secret: secret, previous_secret_expires_at: until?.toISOString() ?? null };
    },

    /** The clients whose previous secret still works (a rotation's overlap). */
    async withPreviousSecret(): Promise<string[]> {
      return queries.withPreviousSecret();
    },

    /** The current secret when `presented` is the client's unexpired previous one (rotation overlap). */
    async currentSecretFor(clientId: string, presented: string): Promise<string | undefined> {
      const row = await queries.byId(clientId);
      if (!row?.secret_enc || !row.previous_secret_enc || !row.previous_secret_expires_at || row.disabled_at) return undefined;
      if (new Date(row.previous_secret_expires_at) <= new Date()) return undefined;
      return sameSecret(deps.box.open(row.previous_secret_enc), presented) ? deps.box.open(row.secret_enc) : undefined;
    },

    /** The metadata oidc-provider needs, secret unsealed; undefined for unknown and disabled clients. */
    async findForProvider(clientId: string): Promise<Record<string, unknown> | undefined> {
      const row = await queries.byId(clientId);
      if (!row || row.disabled_at) return undefined;
      return { ...(row.metadata as Metadata), client_id: clientId, ...(row.secret_enc ? { client_secret: deps.box.open(row.secret_enc) } : {}) };
    },
  };
}

export type ClientLibrary = ReturnType<typeof createClientLibrary>;
