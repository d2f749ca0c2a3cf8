/** OIDC scopes (identity, served at userinfo) and the docs API's scopes (authorization, in its tokens). */
export const OIDC_SCOPES = ['openid', 'profile', 'email', 'offline_access'] as const;
export const API_SCOPES = ['docs:read', 'docs:write', 'orgs:read', 'orgs:write', 'audit:read'] as const;
export const ALL_SCOPES: readonly string[] = [...OIDC_SCOPES, ...API_SCOPES];

export function isApiScope(scope: string): boolean {
  return (API_SCOPES as readonly string[]).includes(scope);
}
