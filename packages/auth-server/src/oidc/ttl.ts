/** Lifetimes in seconds (documented in the README). Access tokens stay short: revocation is a backstop. */
export const TTL = {
  AccessToken: 600,
  ClientCredentials: 600,
  AuthorizationCode: 60,
  IdToken: 3600,
  Interaction: 600,
  Session: 86_400,
  Grant: 14 * 86_400,
  RefreshToken: 14 * 86_400,
  /** RFC 8628 §3.2 expires_in: time enough to walk to a computer and sign in. */
  DeviceCode: 600,
} as const;

/** RFC 8628 §3.2 `interval`: the seconds a device waits between polls (faster is slow_down). */
export const DEVICE_POLL_INTERVAL_SECONDS = 5;

/** How long revocations and retired keys must be remembered: the longest token they can concern. */
export const LONGEST_SIGNED_TOKEN = Math.max(TTL.AccessToken, TTL.ClientCredentials, TTL.IdToken);
export const LONGEST_ACCESS_TOKEN = Math.max(TTL.AccessToken, TTL.ClientCredentials);
