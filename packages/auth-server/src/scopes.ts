/** OIDC scopes (identity, served at userinfo), the docs API's scopes (authorization, in its tokens)
 * and the admin API's (given to a client only by an operator, never by registration). */
export const OIDC_SCOPES = ['openid', 'profile', 'email', 'offline_access'] as const;
export const API_SCOPES = ['docs:read', 'docs:write', 'orgs:read', 'orgs:write', 'audit:read'] as const;
export const ADMIN_SCOPES = ['admin:read', 'admin:write'] as const;
export const ALL_SCOPES: readonly string[] = [...OIDC_SCOPES, ...API_SCOPES, ...ADMIN_SCOPES];
/** What a client gets when its scope is not given: everything but the admin API. */
export const DEFAULT_CLIENT_SCOPES: readonly string[] = [...OIDC_SCOPES, ...API_SCOPES];

export function isApiScope(scope: string): boolean {
  return (API_SCOPES as readonly string[]).includes(scope);
}

export function isAdminScope(scope: string): boolean {
  return (ADMIN_SCOPES as readonly string[]).includes(scope);
}
