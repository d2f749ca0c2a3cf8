// Relying parties find everything from discovery alone (contract: Auth server).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthStack, type AuthStack } from '../support/stack';
import { discover } from '../support/rp';

let stack: AuthStack;
beforeAll(async () => {
  stack = await startAuthStack();
});
afterAll(async () => {
  await stack?.stop();
});

describe('discovery', () => {
  it('the openid-configuration names the issuer, every endpoint, the scopes and grants, and only safe choices', async () => {
    const res = await fetch(`${stack.issuer}/.well-known/openid-configuration`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    const d = (await res.json()) as Record<string, unknown>;
    const issuer = stack.issuer;
    expect(d.issuer).toBe(issuer);
    expect(d.authorization_endpoint).toBe(`${issuer}/auth`);
    expect(d.token_endpoint).toBe(`${issuer}/token`);
    expect(d.userinfo_endpoint).toBe(`${issuer}/me`);
    expect(d.jwks_uri).toBe(`${issuer}/jwks`);
    expect(d.introspection_endpoint).toBe(`${issuer}/token/introspection`);
    expect(d.revocation_endpoint).toBe(`${issuer}/token/revocation`);
    expect(d.end_session_endpoint).toBe(`${issuer}/session/end`);
    expect(d.scopes_supported).toEqual(
      expect.arrayContaining(['openid', 'profile', 'email', 'offline_access', 'docs:read', 'docs:write', 'orgs:read', 'orgs:write', 'audit:read']),
    );
    expect(d.grant_types_supported).toEqual(expect.arrayContaining(['authorization_code', 'refresh_token', 'client_credentials']));
    expect(d.grant_types_supported).not.toContain('implicit');
    expect(d.code_challenge_methods_supported).toEqual(['S256']);
    expect(d.authorization_response_iss_parameter_supported).toBe(true);
    expect(d.response_types_supported).toEqual(['code']);
    expect(d.id_token_signing_alg_values_supported).toEqual(expect.arrayContaining(['RS256', 'ES256', 'EdDSA']));
    expect(d.id_token_signing_alg_values_supported).not.toContain('none');
    expect(d.token_endpoint_auth_methods_supported).toEqual(expect.arrayContaining(['client_secret_basic']));
    expect(d.request_object_signing_alg_values_supported ?? []).not.toContain('none');
  });

  it('the JWKS publishes public keys only, one per algorithm, each with a kid', async () => {
    const res = await fetch(`${stack.issuer}/jwks`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/application\/(jwk-set\+)?json/);
    const { keys } = (await res.json()) as { keys: Record<string, unknown>[] };
    expect(keys.map((k) => k.alg).sort()).toEqual(['ES256', 'EdDSA', 'RS256']);
    for (const k of keys) {
      expect(k.kid).toEqual(expect.any(String));
      for (const priv of ['d', 'p', 'q', 'dp', 'dq', 'qi']) expect(k).not.toHaveProperty(priv);
    }
  });

  it('openid-client configures itself from discovery alone', async () => {
    const config = await discover(stack, { client_id: 'nobody-yet', client_secret: 'x' });
    expect(config.serverMetadata().issuer).toBe(stack.issuer);
    expect(config.serverMetadata().supportsPKCE()).toBe(true);
  });
});
