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

/** RFC 8628 §3.4: the device authorization grant (a CLI or a TV; the person approves in a browser). */
export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
export const GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials', DEVICE_CODE_GRANT] as const;
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
  /** OIDC Back-Channel Logout 1.0: where logout tokens are POSTed (null removes it). */
  backchannelLogoutUri?: string | null;
  /** The logout token must carry the session's `sid`. */
  backchannelLogoutSessionRequired?: boolean;
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
  backchannel_logout_uri?: string;
  backchannel_logout_session_required?: boolean;
}

export class ClientError extends Error {
  override readonly name = 'ClientError';
  /** RFC 7591 §3.2.2: which error code a registration gets for this rule. */
  constructor(
    message: string,
    readonly registrationError: 'invalid_redirect_uri' | 'invalid_client_metadata' = 'invalid_client_metadata',
  ) {
    super(message);
  }
}

const LOOPBACK = new Set(['127.0.0.1', '[::1]']);
/** The longest URI a client registers (the admin API's and registration's limit; the CLI reaches the rules directly). */
const MAX_URI = 2000;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** A NUL, a replacement character (invalid UTF-8 read as text) or a lone surrogate in any string or key of `value`. */
function holdsBadText(value: unknown, depth = 0): boolean {
  if (typeof value === 'string') return value.includes('\u0000') || value.includes('\uFFFD') || LONE_SURROGATE.test(value);
  if (depth > 8 || !value || typeof value !== 'object') return depth > 8;
  return Object.entries(value).some(([k, v]) => holdsBadText(k, depth + 1) || holdsBadText(v, depth + 1));
}

/** An issuer on localhost or a loopback address: a development server. */
export function isLocalIssuer(issuer: string): boolean {
  const host = new URL(issuer).hostname;
  return host === 'localhost' || LOOPBACK.has(host);
}

/**
 * Redirect URI rules: absolute, no fragment, https anywhere; http only for loopback IP literals
 * (RFC 8252 §7.3) or when the issuer itself is on localhost (development).
 */
export function redirectUriProblem(uri: string, issuer: string, what = 'redirect URI'): string | undefined {
  if (uri.length > MAX_URI) return `${what} must be at most ${MAX_URI} characters`;
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return `${what} ${JSON.stringify(uri)} is not an absolute URL`;
  }
  if (url.hash || uri.includes('#')) return `${what} ${uri} must not contain a fragment`;
  // Not echoed: the reason reaches the caller and the audit log, and the URI holds a credential.
  if (url.username || url.password) return `${what} must not contain credentials (user:password@)`;
  if (url.protocol === 'https:') return undefined;
  if (url.protocol !== 'http:') return `${what} ${uri} must use https (or http on loopback)`;
  if (LOOPBACK.has(url.hostname)) return undefined;
  if (isLocalIssuer(issuer)) return undefined;
  return `${what} ${uri} must use https: plain http is only for loopback addresses or a localhost issuer`;
}

/** The methods that authenticate with a client secret (the only clients that get one). */
export const SECRET_METHODS: readonly ClientAuthMethod[] = ['client_secret_basic', 'client_secret_post'];
const KEY_METHODS: readonly ClientAuthMethod[] = ['private_key_jwt', 'self_signed_tls_client_auth'];
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
const JWK_MEMBER_MAX = 256;

/** A client's JWK Set: public asymmetric keys only (a private or symmetric key is refused, never stored). */
export function jwksProblem(jwks: unknown): string | undefined {
  if (typeof jwks !== 'object' || jwks === null || !Array.isArray((jwks as { keys?: unknown }).keys)) return 'jwks must be a JWK Set: { "keys": [ … ] }';
  const keys = (jwks as { keys: unknown[] }).keys;
  if (keys.length === 0 || keys.length > 20) return 'jwks must hold between 1 and 20 keys';
  if (JSON.stringify(jwks).length > 64 * 1024) return 'jwks must be at most 64 KiB';
  // A key file given to the CLI is not read through the HTTP body reader: PostgreSQL refuses a NUL in jsonb.
  if (holdsBadText(jwks)) return 'jwks holds a NUL or invalid UTF-8';
  for (const [i, jwk] of keys.entries()) {
    if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) return `jwks key ${i} is not a JWK`;
    const members = jwk as Record<string, unknown>;
    if (PRIVATE_JWK_MEMBERS.some((m) => m in members)) return `jwks key ${i} is a private or symmetric key: register public keys only`;
    if (!['RSA', 'EC', 'OKP'].includes(members.kty as string)) return `jwks key ${i} must be an RSA, EC or OKP public key`;
    // oidc-provider refuses to load a client whose key has a non-string alg, kid or use (every request of
    // the client would then fail with invalid_client_metadata): refused here, where the operator sees it.
    for (const member of ['alg', 'kid', 'use']) {
      const value = members[member];
      if (value !== undefined && (typeof value !== 'string' || value.length === 0 || value.length > JWK_MEMBER_MAX)) return `jwks key ${i}: ${member} must be a non-empty string of at most ${JWK_MEMBER_MAX} characters`;
    }
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
  if (uri.length > MAX_URI) return `jwks_uri must be at most ${MAX_URI} characters`;
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return `jwks_uri ${JSON.stringify(uri)} is not an absolute URL`;
  }
  if (url.username || url.password) return 'jwks_uri must not contain credentials (user:password@)';
  if (url.hash) return `jwks_uri ${uri} must not contain a fragment`;
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
  // A person's grants (code or device) can be refreshed; a machine's cannot.
  const forPeople = grants.includes('authorization_code') || grants.includes(DEVICE_CODE_GRANT);
  if (grants.includes('refresh_token') && !forPeople) throw new ClientError('refresh_token needs the authorization_code or the device_code grant');
  if (grants.includes('authorization_code') && redirectUris.length === 0) throw new ClientError('authorization_code needs at least one --redirect-uri', 'invalid_redirect_uri');
  if (!grants.includes('authorization_code') && redirectUris.length > 0) throw new ClientError('--redirect-uri is only for the authorization_code grant');
  for (const uri of [...redirectUris, ...(input.postLogoutRedirectUris ?? [])]) {
    const problem = redirectUriProblem(uri, issuer);
    if (problem) throw new ClientError(problem, 'invalid_redirect_uri');
  }
  const backchannel = input.backchannelLogoutUri ?? undefined;
  if (backchannel !== undefined) {
    // OIDC Back-Channel Logout 1.0 §2.2: the redirect URI rules, and no fragment.
    const problem = redirectUriProblem(backchannel, issuer, 'backchannel logout URI');
    if (problem) throw new ClientError(problem);
    if (!grants.includes('authorization_code')) throw new ClientError('a backchannel logout URI is only for clients that sign people in (authorization_code)');
  } else if (input.backchannelLogoutSessionRequired) {
    throw new ClientError('backchannel_logout_session_required needs a backchannel logout URI');
  }
  const defaultScope = forPeople ? DEFAULT_CLIENT_SCOPES : API_SCOPES;
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
    ...(backchannel !== undefined ? { backchannel_logout_uri: backchannel, backchannel_logout_session_required: input.backchannelLogoutSessionRequired === true } : {}),
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

/** The registration metadata (RFC 7591 §2) CloudDocs understands; others are ignored (§2: MUST ignore). */
const REGISTRATION_AUTH_METHODS = ['client_secret_basic', 'none'];

function stringField(body: Record<string, unknown>, field: string, max = 2000): string | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value.length === 0 || value.length > max) throw new ClientError(`${field} must be a non-empty string of at most ${max} characters`);
  return value;
}

function stringArray(body: Record<string, unknown>, field: string, registrationError?: 'invalid_redirect_uri'): string[] | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.length > 20 || !value.every((v) => typeof v === 'string' && v.length > 0 && v.length <= 2000)) {
    throw new ClientError(`${field} must be an array of at most 20 non-empty strings`, registrationError);
  }
  return value as string[];
}

function booleanField(body: Record<string, unknown>, field: string): boolean | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw new ClientError(`${field} must be true or false`);
  return value;
}

/**
 * A dynamic registration's metadata (RFC 7591 §2) → the input every client follows, with what only
 * registration refuses: no client_credentials (machine clients are bound to an organization by an
 * operator), never an admin:* scope, only the code response type. ClientError otherwise.
 */
export function registrationInput(body: Record<string, unknown>): ClientInput {
  const name = stringField(body, 'client_name', 200);
  if (!name) throw new ClientError('client_name is required');
  const grants = stringArray(body, 'grant_types');
  if (grants?.includes('client_credentials')) throw new ClientError('client_credentials clients are registered by an operator (they are bound to an organization)');
  const responseTypes = stringArray(body, 'response_types');
  if (responseTypes && (responseTypes.length !== 1 || responseTypes[0] !== 'code')) throw new ClientError('response_types must be ["code"] (the authorization code flow only)');
  const scope = stringField(body, 'scope', 1000);
  const admin = scope?.split(/\s+/).filter((s) => s.startsWith('admin:'));
  if (admin?.length) throw new ClientError(`${admin.join(' ')} cannot be registered: admin API scopes are given by an operator only`);
  const method = stringField(body, 'token_endpoint_auth_method') ?? 'client_secret_basic';
  if (!REGISTRATION_AUTH_METHODS.includes(method)) throw new ClientError(`token_endpoint_auth_method must be one of ${REGISTRATION_AUTH_METHODS.join(', ')}`);
  const applicationType = stringField(body, 'application_type');
  if (applicationType !== undefined && applicationType !== 'web' && applicationType !== 'native') throw new ClientError('application_type must be web or native');
  const redirectUris = stringArray(body, 'redirect_uris', 'invalid_redirect_uri');
  if (!redirectUris?.length) throw new ClientError('redirect_uris must name at least one redirect URI', 'invalid_redirect_uri');
  return {
    name,
    redirectUris,
    postLogoutRedirectUris: stringArray(body, 'post_logout_redirect_uris'),
    grants: grants ?? ['authorization_code', 'refresh_token'],
    ...(scope !== undefined ? { scope } : {}),
    public: method === 'none',
    applicationType: applicationType ?? 'web',
    dpopBoundAccessTokens: booleanField(body, 'dpop_bound_access_tokens'),
    backchannelLogoutUri: stringField(body, 'backchannel_logout_uri'),
    backchannelLogoutSessionRequired: booleanField(body, 'backchannel_logout_session_required'),
  };
}

/** What an operator sees of a client: its metadata and state, never a secret. */
export interface ClientView extends Metadata {
  client_id: string;
  disabled: boolean;
  /** Registered by the client itself (RFC 7591), not by an operator: a third-party client. */
  registered: boolean;
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
    backchannelLogoutUri: metadata.backchannel_logout_uri ?? null,
    backchannelLogoutSessionRequired: metadata.backchannel_logout_session_required === true,
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
    registered: row.registered_with !== null && row.registered_with !== undefined,
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
      // Removing the backchannel logout URI removes what only it means.
      if (change.backchannelLogoutUri === null && change.backchannelLogoutSessionRequired === undefined) current.backchannelLogoutSessionRequired = false;
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

    /**
     * A client oidc-provider registered (RFC 7591) or updated (RFC 7592) through the storage adapter,
     * checked again by the same rules; `registeredWith` names the initial access token of a new one.
     */
    async upsertRegistered(payload: Record<string, unknown>, registeredWith: string): Promise<void> {
      const clientId = payload.client_id as string;
      const metadata = clientMetadata(registrationInput(payload), deps.issuer);
      const secret = typeof payload.client_secret === 'string' && metadata.token_endpoint_auth_method !== 'none' ? payload.client_secret : undefined;
      const row = await queries.byId(clientId);
      if (!row) {
        await queries.insert({ client_id: clientId, name: metadata.client_name, metadata: JSON.stringify(metadata), secret_enc: secret ? deps.box.seal(secret) : null, registered_with: registeredWith });
        return;
      }
      if (!row.registered_with) throw new ClientError('only a registered client changes itself through registration');
      const sameSecret = secret !== undefined && row.secret_enc !== null && deps.box.open(row.secret_enc) === secret;
      await queries.update(clientId, { name: metadata.client_name, metadata: JSON.stringify(metadata), ...(sameSecret ? {} : { secret_enc: secret ? deps.box.seal(secret) : null }) });
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
