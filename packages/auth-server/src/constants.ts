// Names that several modules must agree on, defined once: the first-party console client, cookie
// names (with the `__Host-`/`__Secure-` prefixes on https), and the cache keys shared by the
// storage adapter, the libraries and the pages.

/** The first-party account console signs in through the ordinary pages; it is never asked for consent. */
export const ACCOUNT_CONSOLE_CLIENT_ID = 'clouddocs-account';

export interface CookieNames {
  session: string;
  interaction: string;
  resume: string;
  /** The page CSRF cookie (account console, mailed links). */
  csrf: string;
  /** The account console's sign-in `state`. */
  accountState: string;
}

export function cookieNames(https: boolean): CookieNames {
  return https
    ? { session: '__Host-cd_session', interaction: '__Secure-cd_interaction', resume: '__Secure-cd_resume', csrf: '__Host-cd_csrf', accountState: '__Secure-cd_account_state' }
    : { session: 'cd_session', interaction: 'cd_interaction', resume: 'cd_resume', csrf: 'cd_csrf', accountState: 'cd_account_state' };
}

/**
 * Step-up (contract "Step-up and second factors"): `acr_values` naming this ACR requires a second factor
 * for the sign-in, even inside a password session; the login prompt then names `reason`.
 */
export const STEP_UP = { acr: 'urn:clouddocs:mfa', passwordAcr: 'urn:clouddocs:pwd', reason: 'second_factor_required' } as const;

/** Cache keys: every module that reads or writes one builds it here. */
export const kvKeys = {
  /** An oidc-provider model instance in the cache. */
  model: (model: string, id: string) => `oidc:${model}:${id}`,
  /** The cache keys of everything a grant issued there (codes, opaque access tokens). */
  grantMembers: (grantId: string) => `oidc:grant:${grantId}`,
  consumed: (model: string, id: string) => `oidc:consumed:${model}:${id}`,
  /** The sealed first answer to a used refresh token (by the token's digest), kept for the reuse grace window. */
  refreshAnswer: (tokenDigest: string) => `oidc:refresh-answer:${tokenDigest}`,
  byUid: (model: string, uid: string) => `oidc:uid:${model}:${uid}`,
  byUserCode: (userCode: string) => `oidc:usercode:${userCode}`,
  /** Remembered consent: the grant a user gave a client. */
  grantFor: (accountId: string, clientId: string) => `oidc:grant-for:${accountId}:${clientId}`,
  /** The uids of an account's browser sessions (the account console lists and ends them). */
  accountSessions: (accountId: string) => `oidc:account-sessions:${accountId}`,
  /** A sign-in that passed the password and waits for its second factor. */
  pendingSecondFactor: (interactionUid: string) => `mfa-pending:${interactionUid}`,
  /** New recovery codes, shown once. */
  recoveryCodesOnce: (accountId: string) => `mfa-codes-once:${accountId}`,
  lockoutNoted: (accountKey: string) => `login-lock-noted:${accountKey}`,
  /** A device's last poll at the token endpoint (by the device code's digest), for slow_down. */
  devicePoll: (deviceCodeDigest: string) => `device-poll:${deviceCodeDigest}`,
} as const;

/** oidc-provider's device flow routes (its defaults): the device authorization endpoint and the verification page. */
export const DEVICE_PATHS = { authorization: '/device/auth', verification: '/device' } as const;

/** Rate limiter key prefixes (rate-limiter-flexible), one per limit. */
export const LIMITS = {
  clientAuthFailures: 'client-auth-fail',
  clientAuthBlockedChannel: 'client-auth-blocked',
  /** Client changes: every auth server process drops its cached copy. */
  clientsChangedChannel: 'clients-changed',
  verifyMails: 'verify-mail',
  signupsPerIp: 'signup-ip',
  resetsPerIp: 'reset-ip',
  registrationsPerIp: 'registration-ip',
  resetsPerAccount: 'reset-account',
  secondFactorFailures: 'mfa-fail',
  userCodesPerIp: 'device-code-ip',
} as const;
