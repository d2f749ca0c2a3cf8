// The admin API's shapes (strict: unknown fields are 400), shared by validation and the OpenAPI.
import { z } from 'zod';
import { ORG_ROLES } from '../libraries/org-binding';
import { CLIENT_AUTH_METHODS } from '../libraries/client-authentication';
import { GRANT_TYPES } from '../libraries/clients';

const text = (max: number) => z.string().min(1).max(max);
const uris = z.array(text(2000)).max(20);
// A JWK Set of public keys; the library refuses private and symmetric keys with the reason.
const jwks = z.object({ keys: z.array(z.record(z.string(), z.unknown())).min(1).max(20) }).strict();
const clientAuthFields = {
  jwks: jwks.optional(),
  jwks_uri: text(2000).optional(),
  tls_client_auth_subject_dn: text(1024).optional(),
  tls_client_certificate_bound_access_tokens: z.boolean().optional(),
};

export const pageQuery = (filter: 'q' | 'email') =>
  z
    .object({
      [filter]: text(320).optional(),
      cursor: text(500).optional(),
      limit: z.coerce.number().int().min(1).max(100).default(50),
    })
    .strict();

/** A page of a list without a search filter. */
export const pageOnlyQuery = z.object({ cursor: text(500).optional(), limit: z.coerce.number().int().min(1).max(100).default(50) }).strict();

export const clientCreate = z
  .object({
    client_name: text(200),
    org_id: text(100).optional().describe('a client_credentials client: the organization it acts in (with role)'),
    role: z.enum(ORG_ROLES).optional().describe('its role in org_id'),
    redirect_uris: uris.optional(),
    post_logout_redirect_uris: uris.optional(),
    grant_types: z.array(z.enum(GRANT_TYPES)).min(1).max(4).optional(),
    scope: text(1000).optional(),
    token_endpoint_auth_method: z.enum(CLIENT_AUTH_METHODS).optional(),
    application_type: z.enum(['web', 'native']).optional(),
    dpop_bound_access_tokens: z.boolean().optional(),
    ...clientAuthFields,
    backchannel_logout_uri: text(2000).optional(),
    backchannel_logout_session_required: z.boolean().optional(),
  })
  .strict();

export const clientUpdate = z
  .object({
    client_name: text(200).optional(),
    redirect_uris: uris.optional(),
    post_logout_redirect_uris: uris.optional(),
    grant_types: z.array(z.enum(GRANT_TYPES)).min(1).max(4).optional(),
    scope: text(1000).optional(),
    dpop_bound_access_tokens: z.boolean().optional(),
    token_endpoint_auth_method: z.enum(CLIENT_AUTH_METHODS).optional(),
    ...clientAuthFields,
    backchannel_logout_uri: text(2000).nullable().optional(),
    backchannel_logout_session_required: z.boolean().optional(),
  })
  .strict();

export const secretRotation = z.object({ previous_secret_expires_in: z.number().int().min(0).max(30 * 24 * 3600) }).strict();

export const clientView = z.object({
  client_id: z.string(),
  client_name: z.string(),
  application_type: z.enum(['web', 'native']),
  redirect_uris: z.array(z.string()),
  post_logout_redirect_uris: z.array(z.string()),
  grant_types: z.array(z.string()),
  response_types: z.array(z.string()),
  scope: z.string(),
  token_endpoint_auth_method: z.string(),
  dpop_bound_access_tokens: z.boolean().optional(),
  jwks: jwks.optional().describe('public keys only'),
  jwks_uri: z.string().optional(),
  tls_client_auth_subject_dn: z.string().optional(),
  tls_client_certificate_bound_access_tokens: z.boolean().optional(),
  backchannel_logout_uri: z.string().optional(),
  backchannel_logout_session_required: z.boolean().optional(),
  disabled: z.boolean(),
  registered: z.boolean(),
  created_at: z.string(),
  updated_at: z.string(),
  previous_secret_expires_at: z.string().nullable(),
});

export const userCreate = z.object({ email: text(320), name: text(200).optional(), password: text(256).optional() }).strict();
export const userUpdate = z.object({ name: text(200).nullable().optional(), email: text(320).optional() }).strict();

export const userView = z.object({
  id: z.string(),
  email: z.string(),
  name: z.string().nullable(),
  email_verified: z.boolean(),
  disabled: z.boolean(),
  platform_admin: z.boolean(),
  second_factors: z.object({ totp: z.boolean(), recovery_codes_left: z.number(), passkeys: z.number() }),
  created_at: z.string(),
  last_sign_in_at: z.string().nullable(),
});

export const apiKeyView = z.object({
  id: z.string(),
  user_id: z.string(),
  name: z.string(),
  prefix: z.string().describe("the key's first characters (the key itself is shown only when it is made)"),
  scopes: z.array(z.string()),
  created_at: z.string(),
  last_used_at: z.string().nullable(),
  expires_at: z.string(),
  revoked_at: z.string().nullable(),
});

export const auditQuery = z
  .object({
    action: text(100).optional(),
    actor: text(200).optional(),
    target: text(320).optional(),
    since: z.iso.datetime({ offset: true }).optional(),
    until: z.iso.datetime({ offset: true }).optional(),
    cursor: text(500).optional(),
    limit: z.coerce.number().int().min(1).max(200).default(50),
  })
  .strict();

export const list = (item: z.ZodType) => z.object({ items: z.array(item), nextCursor: z.string().nullable() });

export const registrationTokenCreate = z
  .object({
    max_uses: z.number().int().min(1).max(1_000_000).optional(),
    expires_in: z.number().int().min(1).max(365 * 24 * 3600).optional(),
  })
  .strict();

export const registrationTokenView = z.object({
  id: z.string(),
  max_uses: z.number().nullable(),
  uses: z.number(),
  expires_at: z.string().nullable(),
  revoked: z.boolean(),
  created_at: z.string(),
});
