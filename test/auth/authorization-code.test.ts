// The authorization code flow with PKCE, end to end: openid-client as the relying party, the real
// login and consent pages, then userinfo, refresh rotation and the single-use rules
// (contract: Auth server; RFC 6749 §4.1, RFC 7636, RFC 9207, RFC 9700 §4.14).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RegisteredClient } from '@clouddocs/auth-server';
import { DOCS_AUDIENCE, REDIRECT_URI, startAuthStack, type AuthStack } from '../support/stack';
import { Browser } from '../support/browser';
import { authorizationResponse, codeFlow, decodeJwtParts, discover, introspect, oauthError, oidc, signInAndConsent, startAuthorization, tokenRequest } from '../support/rp';

let stack: AuthStack;
let web: RegisteredClient;
let user: Awaited<ReturnType<AuthStack['createUser']>>;
let config: oidc.Configuration;

const OFFLINE = { scope: 'openid offline_access docs:read', prompt: 'consent' };

beforeAll(async () => {
  stack = await startAuthStack();
  web = await stack.createClient({ name: 'Team Wiki' });
  user = await stack.createUser({ name: 'Ada Lovelace' });
  config = await discover(stack, web);
});
afterAll(async () => {
  await stack?.stop();
});

describe('authorization code + PKCE', () => {
  it('sign-in and consent through the real pages -> code with iss in the authorization response -> ID token (RS256) validated by openid-client', async () => {
    const { tokens, callback, start } = await codeFlow(config, user);
    // RFC 9207: the authorization response names its issuer.
    expect(callback.origin + callback.pathname).toBe(REDIRECT_URI);
    expect(callback.searchParams.get('iss')).toBe(stack.issuer);
    expect(callback.searchParams.get('state')).toBe(start.state);
    expect(callback.searchParams.get('code')).toEqual(expect.any(String));

    const claims = tokens.claims()!;
    expect(claims).toMatchObject({ iss: stack.issuer, sub: user.id, aud: web.client_id, nonce: start.nonce });
    // With an access token for userinfo, the scope claims are served there, not in the ID token (OIDC Core §5.4).
    expect(await oidc.fetchUserInfo(config, tokens.access_token, user.id)).toMatchObject({ sub: user.id, email: user.email, name: 'Ada Lovelace' });
    expect(decodeJwtParts(tokens.id_token!).header.alg).toBe('RS256');
    expect(tokens.token_type.toLowerCase()).toBe('bearer');
    // OIDC scopes alone: an opaque token for userinfo, no refresh token without offline_access.
    expect(tokens.access_token.split('.')).toHaveLength(1);
    expect(tokens.refresh_token).toBeUndefined();
  });

  it('the code redemption answers with Cache-Control: no-store', async () => {
    const { start, code } = await authorizationResponse(config, user);
    const res = await tokenRequest(stack, web, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: start.verifier });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.body).toMatchObject({ access_token: expect.any(String), id_token: expect.any(String), token_type: 'Bearer' });
  });

  it('userinfo accepts a token issued for the OIDC scopes alone and serves the consented claims', async () => {
    const { tokens } = await codeFlow(config, user, { scope: 'openid email' });
    const info = await oidc.fetchUserInfo(config, tokens.access_token, user.id);
    expect(info).toMatchObject({ sub: user.id, email: user.email, email_verified: expect.any(Boolean) });
    expect(info).not.toHaveProperty('name'); // profile was not asked for
  });

  it('userinfo refuses a docs API token -> 401 invalid_token (its audience is the docs API)', async () => {
    const { tokens } = await codeFlow(config, user, { scope: 'openid docs:read' });
    const { header, payload } = decodeJwtParts(tokens.access_token);
    expect(header.typ).toBe('at+jwt');
    expect(payload.aud).toBe(DOCS_AUDIENCE);
    expect(payload.sub).toBe(user.id);

    const res = await fetch(`${stack.issuer}/me`, { headers: { authorization: `Bearer ${tokens.access_token}`, accept: 'application/json' } });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer .*error="invalid_token"/);
    expect(await res.json()).toMatchObject({ error: 'invalid_token' });
    await expect(oidc.fetchUserInfo(config, tokens.access_token, user.id)).rejects.toMatchObject({ status: 401 });
  });

  it('refresh rotation: every refresh returns a new refresh token and a new access token', async () => {
    const { tokens } = await codeFlow(config, user, OFFLINE);
    expect(tokens.refresh_token).toEqual(expect.any(String));
    const first = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
    expect(first.refresh_token).toEqual(expect.any(String));
    expect(first.refresh_token).not.toBe(tokens.refresh_token);
    expect(first.access_token).not.toBe(tokens.access_token);
    const claims = decodeJwtParts(first.access_token).payload as { exp: number; iat: number };
    expect(claims).toMatchObject({ aud: DOCS_AUDIENCE, sub: user.id, scope: 'docs:read', client_id: web.client_id });
    expect(claims.exp - claims.iat).toBeLessThanOrEqual(600); // access tokens live at most 10 minutes
    expect(first.expires_in).toBeLessThanOrEqual(600);
    const second = await oidc.refreshTokenGrant(config, first.refresh_token!);
    expect(second.refresh_token).not.toBe(first.refresh_token);
  });

  it('offline_access without prompt=consent -> no refresh token', async () => {
    const { tokens } = await codeFlow(config, user, { scope: 'openid offline_access docs:read' });
    expect(tokens.refresh_token).toBeUndefined();
  });

  it("revoking a user's JWT access token -> it introspects active: false; revoking the refresh token -> the next refresh fails invalid_grant", async () => {
    const { tokens } = await codeFlow(config, user, OFFLINE);
    expect((await oidc.tokenIntrospection(config, tokens.access_token)).active).toBe(true);
    await oidc.tokenRevocation(config, tokens.access_token);
    expect(await oidc.tokenIntrospection(config, tokens.access_token)).toEqual({ active: false });

    expect((await oidc.tokenIntrospection(config, tokens.refresh_token!)).active).toBe(true);
    await oidc.tokenRevocation(config, tokens.refresh_token!);
    expect((await oidc.tokenIntrospection(config, tokens.refresh_token!)).active).toBe(false);
    expect(await oauthError(oidc.refreshTokenGrant(config, tokens.refresh_token!))).toEqual({ error: 'invalid_grant', status: 400 });
  });

  it('revoking a refresh token revokes its grant: the access tokens issued with it introspect active: false (RFC 7009 §2.1)', async () => {
    const { tokens } = await codeFlow(config, user, OFFLINE);
    expect((await introspect(stack, web, tokens.access_token)).body.active).toBe(true);
    await oidc.tokenRevocation(config, tokens.refresh_token!);
    expect((await introspect(stack, web, tokens.access_token)).body).toEqual({ active: false });
    const grant = decodeJwtParts(tokens.access_token).payload.gid as string;
    expect(await stack.admin('audit.events').where({ action: 'grant.revoked', target_id: grant })).toHaveLength(1);
  });

  it('a refresh token presented by another client -> 400 invalid_grant, and it is not rotated away from its owner', async () => {
    const { tokens } = await codeFlow(config, user, OFFLINE);
    const thief = await stack.createClient({ name: 'Other app' });
    const stolen = await tokenRequest(stack, thief, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token! });
    expect(stolen.status).toBe(400);
    expect(stolen.body.error).toBe('invalid_grant');
    const mine = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
    expect(mine.refresh_token).toEqual(expect.any(String));
  });

  it('a code redeemed by another client -> 400 invalid_grant', async () => {
    const { start, code } = await authorizationResponse(config, user);
    const thief = await stack.createClient({ name: 'Code thief' });
    const res = await tokenRequest(stack, thief, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: start.verifier });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_grant');
  });

  it('a code redeemed with a different redirect_uri -> 400 invalid_grant', async () => {
    const { start, code } = await authorizationResponse(config, user);
    const res = await tokenRequest(stack, web, { grant_type: 'authorization_code', code, redirect_uri: 'http://127.0.0.1:8080/other', code_verifier: start.verifier });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_grant');
  });

  it('a second redemption of a code -> 400 invalid_grant, and what the first one issued is revoked (RFC 6749 §4.1.2)', async () => {
    const { start, code } = await authorizationResponse(config, user, OFFLINE);
    const redeem = () => tokenRequest(stack, web, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: start.verifier });
    const first = await redeem();
    expect(first.status).toBe(200);
    const accessToken = first.body.access_token as string;
    const refreshToken = first.body.refresh_token as string;
    expect(refreshToken).toEqual(expect.any(String));
    expect((await introspect(stack, web, accessToken)).body.active).toBe(true);

    const second = await redeem();
    expect(second.status).toBe(400);
    expect(second.body.error).toBe('invalid_grant');
    expect(second.body).not.toHaveProperty('access_token');

    const refresh = await tokenRequest(stack, web, { grant_type: 'refresh_token', refresh_token: refreshToken });
    expect(refresh.status).toBe(400);
    expect(refresh.body.error).toBe('invalid_grant');
    expect((await introspect(stack, web, accessToken)).body).toEqual({ active: false });
  });

  it('a wrong code_verifier -> 400 invalid_grant', async () => {
    const { code } = await authorizationResponse(config, user);
    const res = await tokenRequest(stack, web, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT_URI,
      code_verifier: oidc.randomPKCECodeVerifier(),
    });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_grant');
    expect(res.body).not.toHaveProperty('access_token');
  });

  it('a missing code_verifier -> 400 invalid_grant (PKCE is required of confidential clients too)', async () => {
    const { code } = await authorizationResponse(config, user);
    const res = await tokenRequest(stack, web, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI });
    expect(res.status).toBe(400);
    expect(['invalid_grant', 'invalid_request']).toContain(res.body.error);
    expect(res.body).not.toHaveProperty('access_token');
  });

  // Reuse of a refresh token after the grace window, and with the grace off: refresh-reuse-grace.test.ts.
  it('10 concurrent refreshes with one refresh token -> all 200 with the same answer, and the grant stays alive (AUTH_REFRESH_REUSE_GRACE_SECONDS, default 10)', async () => {
    const { tokens } = await codeFlow(config, user, OFFLINE);
    const results = await Promise.all(
      Array.from({ length: 10 }, () => tokenRequest(stack, web, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token! })),
    );
    const first = results[0]!;
    for (const r of results) {
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.headers.get('cache-control')).toBe('no-store');
      expect(r.body).toMatchObject({ token_type: 'Bearer', refresh_token: first.body.refresh_token, access_token: first.body.access_token, id_token: first.body.id_token });
    }
    expect(first.body.refresh_token).toEqual(expect.any(String));
    expect(first.body.refresh_token).not.toBe(tokens.refresh_token);
    expect((await introspect(stack, web, first.body.access_token as string)).body.active).toBe(true);
    const next = await tokenRequest(stack, web, { grant_type: 'refresh_token', refresh_token: first.body.refresh_token as string });
    expect(next.status).toBe(200);
    expect(next.body.refresh_token).not.toBe(first.body.refresh_token);
  });

  it('a public client (no secret) completes the code flow with PKCE, and gets rotating refresh tokens', async () => {
    const spa = await stack.createClient({ name: 'Browser app', public: true });
    expect(spa.client_secret).toBeUndefined();
    const spaConfig = await discover(stack, spa);
    const { tokens } = await codeFlow(spaConfig, user, OFFLINE);
    expect(tokens.claims()).toMatchObject({ sub: user.id, aud: spa.client_id });
    expect(decodeJwtParts(tokens.access_token).payload).toMatchObject({ aud: DOCS_AUDIENCE, client_id: spa.client_id });
    const refreshed = await oidc.refreshTokenGrant(spaConfig, tokens.refresh_token!);
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
  });

  it('a native public client completes the flow on a loopback port it did not register (RFC 8252 §7.3)', async () => {
    const desktop = await stack.createClient({ name: 'Desktop app', public: true, applicationType: 'native' });
    const desktopConfig = await discover(stack, desktop);
    const redirectUri = 'http://127.0.0.1:49152/callback';
    const start = await startAuthorization(desktopConfig, { redirect_uri: redirectUri });
    const callback = await signInAndConsent(new Browser(), start.url, user, redirectUri);
    const tokens = await oidc.authorizationCodeGrant(desktopConfig, callback, {
      pkceCodeVerifier: start.verifier,
      expectedState: start.state,
      expectedNonce: start.nonce,
    }, { redirect_uri: redirectUri });
    expect(tokens.claims()?.sub).toBe(user.id);
  });

  it('20 concurrent redemptions of one code -> exactly one 200, the other 19 invalid_grant', async () => {
    const { start, code } = await authorizationResponse(config, user, OFFLINE);
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        tokenRequest(stack, web, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: start.verifier }),
      ),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    const losers = results.filter((r) => r.status !== 200);
    expect(losers).toHaveLength(19);
    for (const r of losers) {
      expect(r.status).toBe(400);
      expect(r.body.error).toBe('invalid_grant');
    }
    // The later redemptions are code reuse: what the winner got is revoked as well (RFC 6749 §4.1.2).
    const winner = results.find((r) => r.status === 200)!;
    const refresh = await tokenRequest(stack, web, { grant_type: 'refresh_token', refresh_token: winner.body.refresh_token as string });
    expect(refresh.body.error).toBe('invalid_grant');
    expect((await introspect(stack, web, winner.body.access_token as string)).body).toEqual({ active: false });
    // The reuse is on record, whether a loser lost inside the store (reason 'concurrent redemption') or
    // saw the code already consumed; either way the event carries the request id of the request.
    const reuse = await stack.admin('audit.events').where({ action: 'token.reuse_detected' });
    expect(reuse.length).toBeGreaterThanOrEqual(1);
    for (const row of reuse) expect(row.request_id).toMatch(/\S/);
  });
});

describe('audit of the code flow', () => {
  it('sign-in, consent, token issue, refresh and code reuse are each an audit event naming the user, the client and the grant', async () => {
    const someone = await stack.createUser();
    const { start, code } = await authorizationResponse(config, someone, OFFLINE);
    const rows = (action: string) => stack.admin('audit.events').where({ action }).orderBy('id');

    expect(await rows('auth.login.succeeded').where({ actor_id: someone.id })).toEqual([
      expect.objectContaining({ actor_type: 'user', target_type: 'account', target_id: someone.id, outcome: 'success' }),
    ]);
    const consent = await rows('auth.consent.granted').where({ actor_id: someone.id });
    expect(consent).toEqual([expect.objectContaining({ target_type: 'client', target_id: web.client_id, outcome: 'success' })]);
    expect(consent[0].detail.scopes).toEqual(expect.arrayContaining(['openid', 'offline_access', 'docs:read']));

    const redeem = () => tokenRequest(stack, web, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: start.verifier });
    const first = await redeem();
    expect(first.status).toBe(200);
    const jti = decodeJwtParts(first.body.access_token as string).payload.jti as string;
    const issued = await rows('token.issued').whereRaw(`detail->>'jti' = ?`, [jti]);
    expect(issued).toEqual([expect.objectContaining({ actor_type: 'user', actor_id: someone.id, target_type: 'grant', outcome: 'success' })]);
    expect(issued[0].detail).toMatchObject({ clientId: web.client_id, grantType: 'authorization_code', format: 'jwt' });
    expect(issued[0].detail.issued).toEqual(expect.arrayContaining(['access', 'refresh', 'id']));
    const grant = issued[0].target_id as string;
    // Neither the grant id nor any token appears in the clear: the event names the grant by its hash.
    const text = JSON.stringify(issued[0]);
    for (const secret of [code, first.body.access_token, first.body.refresh_token, first.body.id_token] as string[]) expect(text).not.toContain(secret);

    const refreshed = await tokenRequest(stack, web, { grant_type: 'refresh_token', refresh_token: first.body.refresh_token as string });
    expect(refreshed.status).toBe(200);
    expect(await rows('token.refreshed').where({ target_id: grant })).toEqual([expect.objectContaining({ actor_id: someone.id, outcome: 'success' })]);

    expect((await redeem()).status).toBe(400);
    const reuse = await rows('token.reuse_detected').where({ target_id: grant });
    expect(reuse.length).toBeGreaterThanOrEqual(1);
    expect(reuse[0]).toMatchObject({ target_type: 'grant', outcome: 'denied' });
  });
});
