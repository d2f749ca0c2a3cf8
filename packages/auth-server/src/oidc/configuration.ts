// oidc-provider configuration. Where it departs from the library's defaults, a comment says why.
import type { AuthConfig } from '@clouddocs/config';
import { grantClaim } from '@clouddocs/kv';
import { randomBytes } from 'node:crypto';
import { errors, interactionPolicy, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { AccountLibrary } from '../accounts/accounts';
import type { KeySetState } from '../keys/keys';
import { ASSERTION_ALGS, ASSERTION_CLOCK_TOLERANCE, assertionClaimsProblem, CLIENT_AUTH_METHODS } from '../libraries/client-authentication';
import { MalformedCertificateError, presentedCertificate, subjectMatches, type PresentedCertificate } from '../libraries/client-certificates';
import { ADMIN_SCOPES, ALL_SCOPES, API_SCOPES, isAdminScope, isApiScope } from '../scopes';
import { TTL } from './ttl';
import { ACCOUNT_CONSOLE_CLIENT_ID, cookieNames, STEP_UP } from '../constants';

type DeviceFlowFeature = NonNullable<NonNullable<Configuration['features']>['deviceFlow']>;

export interface ConfigurationDeps {
  config: AuthConfig;
  accounts: AccountLibrary;
  adapter: NonNullable<Configuration['adapter']>;
  keys: KeySetState;
  /** The grant id a user already gave a client, if any (remembered consent). */
  rememberedGrant?: (accountId: string, clientId: string) => Promise<string | null>;
  /** The pages oidc-provider shows itself, rendered in the server's style (the configuration knows no page). */
  pages: {
    error: NonNullable<Configuration['renderError']>;
    logoutPrompt: (ctx: KoaContextWithOIDC, form: string) => void;
    logoutDone: (ctx: KoaContextWithOIDC) => void;
    /** The device flow's user-code, confirmation and result pages (RFC 8628 §3.3). */
    device: Required<Pick<DeviceFlowFeature, 'userCodeInputSource' | 'userCodeConfirmSource' | 'successSource'>>;
  };
}

function requestedScopes(ctx: KoaContextWithOIDC): string[] {
  const scope = ctx.oidc.params?.scope;
  return typeof scope === 'string' ? scope.split(' ') : [];
}

/**
 * An unknown scope is invalid_scope, not silently dropped (oidc-provider only refuses known scopes
 * outside the client's list). Called from the resource indicator callbacks, which run at /auth (after
 * the redirect_uri is verified, so the error goes back to the client), PAR, client credentials and
 * refresh, before unknown scopes are filtered out.
 */
function refuseUnknownScopes(ctx: KoaContextWithOIDC): void {
  const unknown = requestedScopes(ctx).filter((s) => s && !ALL_SCOPES.includes(s));
  if (unknown.length) throw new errors.InvalidScope('requested scope is not supported', unknown.join(' '));
}

const LOCAL_ISSUER = /^https?:\/\/(localhost|127\.0\.0\.1|\[::1\])(:|\/|$)/;
/**
 * The library's prompts, and one more login check: `acr_values` naming urn:clouddocs:mfa is not only
 * voluntary (as the library treats acr_values) but required, so a session without a second factor is
 * asked for one (the pages then ask only for the second factor of the session's account).
 */
function interactionPolicyWithStepUp() {
  const policy = interactionPolicy.base();
  policy.get('login')!.checks.add(
    new interactionPolicy.Check(STEP_UP.reason, 'a second factor is required', 'login_required', (ctx) => {
      const acrValues = ctx.oidc.params?.acr_values;
      const wanted = typeof acrValues === 'string' && acrValues.split(' ').includes(STEP_UP.acr);
      return wanted && ctx.oidc.acr !== STEP_UP.acr ? interactionPolicy.Check.REQUEST_PROMPT : interactionPolicy.Check.NO_NEED_TO_PROMPT;
    }),
  );
  return policy;
}

export function buildConfiguration(deps: ConfigurationDeps): Configuration {
  const { config, accounts, keys } = deps;
  const audience = config.DOCS_API_AUDIENCE;
  const https = config.AUTH_ISSUER.startsWith('https:');
  const certificateHeaders = { trustProxy: config.AUTH_TRUST_PROXY, certHeader: config.AUTH_MTLS_CERT_HEADER, verifyHeader: config.AUTH_MTLS_VERIFY_HEADER };
  /** RFC 8705: the certificate the trusted terminator forwarded; a malformed header is invalid_request. */
  const certificateOf = (ctx: KoaContextWithOIDC): PresentedCertificate | undefined => {
    try {
      return presentedCertificate((name) => ctx.get(name), certificateHeaders);
    } catch (err) {
      if (err instanceof MalformedCertificateError) throw new errors.InvalidRequest(err.message);
      throw err;
    }
  };
  return {
    adapter: deps.adapter,
    jwks: { keys: keys.jwks as never },
    // The account console (/account) signs in through the ordinary pages as this first-party client.
    clients: [
      {
        client_id: ACCOUNT_CONSOLE_CLIENT_ID,
        client_name: 'CloudDocs account',
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code'],
        response_types: ['code'],
        redirect_uris: [`${config.AUTH_ISSUER}/account/callback`],
      },
    ],
    // Password alone, or password and a second factor (TOTP or a recovery code); `amr` says which.
    acrValues: [STEP_UP.passwordAcr, STEP_UP.acr],
    scopes: [...ALL_SCOPES],
    // ID tokens say how the person signed in (RFC 8176 `amr`: pwd, otp, mfa; `acr`), not only who.
    claims: { openid: ['sub', 'acr', 'amr'], email: ['email', 'email_verified'], profile: ['name'] },
    // Only the code flow: no implicit or hybrid response types (RFC 9700 §2.1.2).
    responseTypes: ['code'],
    // RFC 7523 private_key_jwt and RFC 8705 tls_client_auth / self_signed_tls_client_auth beside the
    // secrets; the JWT introspection/revocation front accepts the same list (libraries/client-authentication).
    clientAuthMethods: [...CLIENT_AUTH_METHODS],
    // The library's default skew (15 s), named here because the JWT front allows the same for assertions.
    clockTolerance: ASSERTION_CLOCK_TOLERANCE,
    // A client assertion's jti and kid must be strings and its exp within the hour, as at the JWT front
    // (the library's default checks only a FAPI 2.0 audience, a profile not enabled here).
    assertJwtClientAuthClaimsAndHeader: async (_ctx, claims, header) => {
      const problem = assertionClaimsProblem(claims as Record<string, unknown>, header as Record<string, unknown>);
      if (problem) throw new errors.InvalidClientAuth(problem);
    },
    // jwks_uri of a client on this machine is fetched only for a localhost issuer (development, tests):
    // elsewhere the library's protection against loopback and private addresses stays.
    ...(LOCAL_ISSUER.test(config.AUTH_ISSUER) ? { fetch: (url: string | URL | Request, options?: RequestInit) => globalThis.fetch(url, { ...options, dispatcher: undefined } as RequestInit) } : {}),
    // RFC 6749 §4.1.3: the code exchange repeats the redirect_uri of the authorization request, even
    // for a client with a single registered one (the library's default lets it be omitted).
    allowOmittingSingleRegisteredRedirectUri: false,
    // PKCE for every client, confidential ones included (RFC 9700 §2.1.1); 9.x offers only S256.
    pkce: { required: () => true },
    enabledJWA: {
      idTokenSigningAlgValues: ['RS256', 'ES256', 'EdDSA'],
      userinfoSigningAlgValues: ['RS256', 'ES256', 'EdDSA'],
      introspectionSigningAlgValues: ['RS256', 'ES256', 'EdDSA'],
      authorizationSigningAlgValues: ['RS256', 'ES256', 'EdDSA'],
      // Asymmetric assertions only (no client_secret_jwt); discovery's token_endpoint_auth_signing_alg_values_supported.
      clientAuthSigningAlgValues: [...ASSERTION_ALGS],
    },
    clientDefaults: { id_token_signed_response_alg: 'RS256', grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_basic' },
    cookies: {
      keys: [...config.AUTH_COOKIE_KEYS],
      long: { httpOnly: true, sameSite: 'lax', signed: true, secure: https },
      short: { httpOnly: true, sameSite: 'lax', signed: true, secure: https },
      names: (({ session, interaction, resume }) => ({ session, interaction, resume }))(cookieNames(https)),
    },
    ttl: {
      AccessToken: TTL.AccessToken,
      ClientCredentials: TTL.ClientCredentials,
      AuthorizationCode: TTL.AuthorizationCode,
      IdToken: TTL.IdToken,
      Interaction: TTL.Interaction,
      Session: TTL.Session,
      Grant: TTL.Grant,
      RefreshToken: TTL.RefreshToken,
      DeviceCode: TTL.DeviceCode,
    },
    // Every refresh returns a new refresh token; presenting an old one revokes the grant (RFC 9700 §4.14.2),
    // except within AUTH_REFRESH_REUSE_GRACE_SECONDS of its first use, when its own client gets the first
    // answer again (the adapter and oidc/refresh-grace.ts).
    rotateRefreshToken: true,
    interactions: { policy: interactionPolicyWithStepUp(), url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    // Consent is remembered per user and client (not only per browser session): a returning user is
    // asked again only for what the existing grant does not cover, or when the client sends prompt=consent.
    loadExistingGrant: async (ctx) => {
      const clientId = ctx.oidc.client!.clientId;
      const accountId = ctx.oidc.session!.accountId;
      const grantId =
        ctx.oidc.result?.consent?.grantId ||
        ctx.oidc.session!.grantIdFor(clientId) ||
        (accountId && deps.rememberedGrant ? await deps.rememberedGrant(accountId, clientId) : undefined);
      if (!grantId) return undefined;
      const grant = await ctx.oidc.provider.Grant.find(grantId);
      return grant && grant.accountId === accountId && grant.clientId === clientId ? grant : undefined;
    },
    async findAccount(_ctx, sub) {
      const account = await accounts.findById(sub);
      if (!account || account.disabled) return undefined;
      return {
        accountId: account.id,
        async claims() {
          return { sub: account.id, email: account.email, email_verified: account.emailVerified, name: account.name ?? undefined };
        },
      };
    },
    extraTokenClaims: async (_ctx, token) => {
      // RFC 9068 tokens name their grant by hash so that revoking the grant revokes them at the docs API.
      const grantId = (token as { grantId?: string }).grantId;
      return grantId ? { gid: grantClaim(grantId) } : undefined;
    },
    clientBasedCORS: (_ctx, origin, client) =>
      client.redirectUris?.some((uri) => {
        try {
          return new URL(uri).origin === origin;
        } catch {
          return false;
        }
      }) ?? false,
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: {
        enabled: true,
        // Confidential clients introspect their own tokens only.
        allowedPolicy: async (_ctx, client, token) => client.clientAuthMethod !== 'none' && token.clientId === client.clientId,
      },
      revocation: {
        enabled: true,
        allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId,
      },
      userinfo: { enabled: true },
      // RFC 8705 behind a TLS terminator: its forwarded certificate, trusted only with AUTH_TRUST_PROXY.
      mTLS: {
        enabled: true,
        certificateBoundAccessTokens: true,
        tlsClientAuth: true,
        selfSignedTlsClientAuth: true,
        getCertificate: (ctx) => certificateOf(ctx)?.pem,
        // tls_client_auth is the PKI method: only a certificate the terminator verified against its CAs.
        certificateAuthorized: (ctx) => certificateOf(ctx)?.verified === true,
        certificateSubjectMatches: (ctx, property, expected) => {
          const certificate = certificateOf(ctx);
          return property === 'tls_client_auth_subject_dn' && certificate !== undefined && subjectMatches(certificate.x509, expected);
        },
      },
      // Dynamic client registration (RFC 7591) behind an operator's initial access token (the storage
      // adapter reads auth.registration_tokens; routes/registration.ts takes its uses and applies the
      // client rules first); registered clients manage themselves (RFC 7592) with their registration
      // access token, rotated at each update. Ids and secrets look like an operator's clients'.
      registration: {
        enabled: true,
        initialAccessToken: true,
        issueRegistrationAccessToken: true,
        idFactory: () => `cd_${randomBytes(12).toString('base64url')}`,
        secretFactory: () => randomBytes(32).toString('base64url'),
      },
      registrationManagement: { enabled: true, rotateRegistrationAccessToken: true },
      // OIDC Back-Channel Logout 1.0 (discovery, client metadata); the tokens are delivered from a durable
      // queue (libraries/backchannel-logout.ts), not by the library's one fire-and-forget attempt.
      backchannelLogout: { enabled: true },
      // RFC 8628 for clients registered with the grant (libraries/clients.ts); user codes of 8 base-20
      // characters (the library's default), entered on our pages; the per-IP limit on wrong codes and the
      // polling interval (slow_down) are koa layers in front (middleware/user-code-limit, device-polling).
      deviceFlow: {
        enabled: true,
        userCodeInputSource: deps.pages.device.userCodeInputSource,
        userCodeConfirmSource: deps.pages.device.userCodeConfirmSource,
        successSource: deps.pages.device.successSource,
      },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx, form) => deps.pages.logoutPrompt(ctx, form),
        postLogoutSuccessSource: async (ctx) => deps.pages.logoutDone(ctx),
      },
      resourceIndicators: {
        enabled: true,
        // A request for docs API scopes without `resource` is for the docs API, one for admin scopes
        // alone is for the admin API (contract).
        defaultResource: async (ctx, _client, oneOf) => {
          refuseUnknownScopes(ctx);
          if (oneOf) return oneOf;
          const scopes = requestedScopes(ctx);
          if (scopes.some(isApiScope)) return audience;
          return scopes.some(isAdminScope) ? config.ADMIN_API_AUDIENCE : undefined;
        },
        useGrantedResource: async () => true,
        getResourceServerInfo: async (ctx, resourceIndicator) => {
          refuseUnknownScopes(ctx);
          const scope = resourceIndicator === audience ? API_SCOPES : resourceIndicator === config.ADMIN_API_AUDIENCE ? ADMIN_SCOPES : undefined;
          if (!scope) throw new errors.InvalidTarget();
          return {
            scope: scope.join(' '),
            audience: resourceIndicator,
            accessTokenTTL: TTL.AccessToken,
            // RFC 9068 JWT access tokens, signed with the active ES256 key (fast to sign and verify).
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'ES256', kid: keys.active.ES256 } },
          };
        },
      },
    },
    renderError: deps.pages.error,
  };
}
