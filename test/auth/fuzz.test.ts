// Every input of the auth server, fed hostile values (contract: Auth server, "Bad bytes are bad input";
// RFC 6749 §5.2; issue 9 "fuzzes every JSON and form field ... never a 5xx"):
// - a NUL (%00) or invalid UTF-8 (%FF, %C3%28) in any parameter of an OAuth endpoint -> 400
//   invalid_request, never a 5xx (rule "Bad bytes are bad input", OAuth half);
// - the same bytes in any form field of a page -> 400 and the same form again with a message (rule
//   "Bad bytes are bad input", pages half);
// - an overlong value -> 4xx; a field sent twice -> 400 (`resource` excepted, RFC 8707 §2); a body of
//   another content type -> 400/415; a body over the size limit -> 413, never read in part (issue 9:
//   "one body reader ... refuses with 413 rather than truncating"). At /auth an overlong or repeated
//   parameter of a client whose redirect_uri checks out may instead go back to the client as an error
//   (RFC 6749 §4.1.2.1); bad bytes may not (the contract: "is a 400");
// - bad bytes at the client-authenticating endpoints count toward the client-authentication rate limit
//   like any other failure (rule "... counts toward the same rate limits as any other failure").
// Every case starts from a request that works (each row's control case), changes one thing, and runs
// from its own client address (the server trusts X-Forwarded-For here) so that the limits of one case
// never answer for another.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRegistrationTokenLibrary, type RegisteredClient } from '@clouddocs/auth-server';
import { DOCS_AUDIENCE, PASSWORD, REDIRECT_URI, startAuthStack, type AuthStack } from '../support/stack';
import { certificateAuthority } from '../support/nginx';
import { discover, oidc, startAuthorization, tokenRequest } from '../support/rp';
import {
  answerOf,
  basic,
  BrowserAt,
  enrolTotp,
  formOf,
  go,
  jsonCasesOf,
  jsonOf,
  judgeJson,
  LEAK,
  mailedLink,
  nextAddress,
  openAuthorization,
  rawRequest,
  signInToAccount,
  submit,
  totpCode,
  uniqueEmail,
  type Answer,
} from './hostile';

// ================================================================================================
// THE SURFACE: every route of the auth server that reads input, and the fields it reads.
//
// This table is meant to be fed, later, from the auth server's own route table (one row per route:
// method, path, where each field travels, and what a page shows again), so that a new route or field
// is fuzzed without anyone editing this file. Until then it is written by hand; `prepare` is the only
// part that cannot come from a route table: it puts a client or a browser in front of the route with
// valid values for every field (the untouched request is the row's control case, answered `ok`).
// ================================================================================================

/** Where a field travels: the query string, the urlencoded body, inside the Basic credentials, or a header. */
type Place = 'query' | 'form' | 'basic-id' | 'basic-secret' | 'header';

interface Field {
  name: string;
  in: Place;
}

interface Row {
  /** Method and path as the route table names them (the bracket says which variant of the route). */
  route: string;
  /** `oauth`: an OAuth/OIDC endpoint (errors carry an RFC error code); `page`: a server-rendered page. */
  kind: 'oauth' | 'page';
  method: 'GET' | 'POST';
  /** The answer is JSON (else an HTML page). */
  json: boolean;
  fields: Field[];
  /** Statuses of the untouched request. */
  ok: number[];
  /** Pages: the form (action path suffix) that must come back, with a message, after bad input. */
  again?: string;
  prepare(fx: Fixture, at: BrowserAt): Promise<{ path: string; values: Record<string, string> }>;
}

const q = (...names: string[]): Field[] => names.map((name) => ({ name, in: 'query' as const }));
const f = (...names: string[]): Field[] => names.map((name) => ({ name, in: 'form' as const }));
const BASIC: Field[] = [
  { name: 'client_id', in: 'basic-id' },
  { name: 'client_secret', in: 'basic-secret' },
];

const SURFACE: Row[] = [
  // --- OAuth / OIDC endpoints -----------------------------------------------------------------
  {
    route: 'GET /auth',
    kind: 'oauth',
    method: 'GET',
    json: false,
    fields: q('client_id', 'response_type', 'redirect_uri', 'scope', 'state', 'nonce', 'code_challenge', 'code_challenge_method'),
    ok: [302, 303],
    async prepare(fx) {
      const { url } = await startAuthorization(fx.webConfig, { scope: 'openid email' });
      return { path: '/auth', values: Object.fromEntries(url.searchParams) };
    },
  },
  {
    route: 'POST /request [PAR, client_secret_basic]',
    kind: 'oauth',
    method: 'POST',
    json: true,
    fields: [...f('client_id', 'response_type', 'redirect_uri', 'scope', 'state', 'code_challenge', 'code_challenge_method'), ...BASIC],
    ok: [201],
    async prepare(fx) {
      const { url } = await startAuthorization(fx.webConfig, { scope: 'openid' });
      const values = Object.fromEntries(url.searchParams);
      delete values.nonce;
      return { path: '/request', values: { ...values, client_secret: fx.web.client_secret! } };
    },
  },
  {
    route: 'POST /token [authorization_code, client_secret_post]',
    kind: 'oauth',
    method: 'POST',
    json: true,
    fields: f('grant_type', 'code', 'redirect_uri', 'code_verifier', 'client_id', 'client_secret'),
    ok: [200],
    async prepare(fx) {
      const { code, verifier } = await fx.code();
      return { path: '/token', values: { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier, client_id: fx.web.client_id, client_secret: fx.web.client_secret! } };
    },
  },
  {
    route: 'POST /token [refresh_token, client_secret_basic]',
    kind: 'oauth',
    method: 'POST',
    json: true,
    fields: [...f('grant_type', 'refresh_token', 'scope'), ...BASIC],
    ok: [200],
    async prepare(fx) {
      return { path: '/token', values: { grant_type: 'refresh_token', refresh_token: await fx.refreshToken(), scope: 'openid', client_id: fx.web.client_id, client_secret: fx.web.client_secret! } };
    },
  },
  {
    route: 'POST /token [client_credentials, client_secret_basic]',
    kind: 'oauth',
    method: 'POST',
    json: true,
    fields: [...f('grant_type', 'scope', 'resource'), ...BASIC],
    ok: [200],
    async prepare(fx) {
      return { path: '/token', values: { grant_type: 'client_credentials', scope: 'docs:read', resource: DOCS_AUDIENCE, client_id: fx.machine.client_id, client_secret: fx.machine.client_secret! } };
    },
  },
  {
    route: 'POST /token [client_credentials, client_secret_post]',
    kind: 'oauth',
    method: 'POST',
    json: true,
    fields: f('grant_type', 'scope', 'client_id', 'client_secret'),
    ok: [200],
    async prepare(fx) {
      return { path: '/token', values: { grant_type: 'client_credentials', scope: 'docs:read docs:write', client_id: fx.machine.client_id, client_secret: fx.machine.client_secret! } };
    },
  },
  {
    route: 'POST /token/introspection [JWT access token, client_secret_basic]',
    kind: 'oauth',
    method: 'POST',
    json: true,
    fields: [...f('token', 'token_type_hint'), ...BASIC],
    ok: [200],
    async prepare(fx) {
      return { path: '/token/introspection', values: { token: await fx.jwtAccessToken(), token_type_hint: 'access_token', client_id: fx.machine.client_id, client_secret: fx.machine.client_secret! } };
    },
  },
  {
    route: 'POST /token/introspection [opaque access token, client_secret_post]',
    kind: 'oauth',
    method: 'POST',
    json: true,
    fields: f('token', 'token_type_hint', 'client_id', 'client_secret'),
    ok: [200],
    async prepare(fx) {
      return { path: '/token/introspection', values: { token: await fx.userinfoToken(), token_type_hint: 'access_token', client_id: fx.web.client_id, client_secret: fx.web.client_secret! } };
    },
  },
  {
    route: 'POST /token/revocation [JWT access token, client_secret_post]',
    kind: 'oauth',
    method: 'POST',
    json: false, // 200 with an empty body on success; errors are JSON (checked below)
    fields: f('token', 'token_type_hint', 'client_id', 'client_secret'),
    ok: [200],
    async prepare(fx) {
      return { path: '/token/revocation', values: { token: await fx.jwtAccessToken(), token_type_hint: 'access_token', client_id: fx.machine.client_id, client_secret: fx.machine.client_secret! } };
    },
  },
  {
    route: 'POST /token [client_credentials, private_key_jwt]',
    kind: 'oauth',
    method: 'POST',
    json: true,
    fields: f('grant_type', 'scope', 'client_id', 'client_assertion_type', 'client_assertion'),
    ok: [200],
    async prepare(fx) {
      return { path: '/token', values: { grant_type: 'client_credentials', scope: 'docs:read', ...(await fx.assertionFields(`${fx.stack.issuer}/token`)) } };
    },
  },
  {
    route: 'POST /token/introspection [JWT access token, private_key_jwt]',
    kind: 'oauth',
    method: 'POST',
    json: true,
    fields: f('token', 'client_id', 'client_assertion_type', 'client_assertion'),
    ok: [200],
    async prepare(fx) {
      return { path: '/token/introspection', values: { token: await fx.jwtAccessToken(), ...(await fx.assertionFields(`${fx.stack.issuer}/token/introspection`)) } };
    },
  },
  {
    route: 'POST /token/revocation [JWT access token, private_key_jwt]',
    kind: 'oauth',
    method: 'POST',
    json: false,
    fields: f('token', 'client_id', 'client_assertion_type', 'client_assertion'),
    ok: [200],
    async prepare(fx) {
      return { path: '/token/revocation', values: { token: await fx.keyClientToken(), ...(await fx.assertionFields(`${fx.stack.issuer}/token/revocation`)) } };
    },
  },
  {
    route: 'POST /token/revocation [refresh token, client_secret_basic]',
    kind: 'oauth',
    method: 'POST',
    json: false,
    fields: [...f('token', 'token_type_hint'), ...BASIC],
    ok: [200],
    async prepare(fx) {
      return { path: '/token/revocation', values: { token: await fx.refreshToken(), token_type_hint: 'refresh_token', client_id: fx.web.client_id, client_secret: fx.web.client_secret! } };
    },
  },
  {
    route: 'GET /me [Authorization header]',
    kind: 'oauth',
    method: 'GET',
    json: true,
    fields: [{ name: 'authorization', in: 'header' }],
    ok: [200],
    async prepare(fx) {
      return { path: '/me', values: { authorization: `Bearer ${await fx.userinfoToken()}` } };
    },
  },
  {
    route: 'POST /me [access_token in the body]',
    kind: 'oauth',
    method: 'POST',
    json: true,
    fields: f('access_token'),
    ok: [200],
    async prepare(fx) {
      return { path: '/me', values: { access_token: await fx.userinfoToken() } };
    },
  },
  {
    route: 'GET /session/end',
    kind: 'oauth',
    method: 'GET',
    json: false,
    fields: q('id_token_hint', 'client_id', 'post_logout_redirect_uri', 'state', 'ui_locales'),
    ok: [200],
    async prepare(fx) {
      return { path: '/session/end', values: { id_token_hint: await fx.idToken(), client_id: fx.web.client_id, post_logout_redirect_uri: POST_LOGOUT, state: 'bye-1', ui_locales: 'en' } };
    },
  },
  {
    route: 'POST /session/end/confirm',
    kind: 'oauth',
    method: 'POST',
    json: false,
    fields: f('xsrf', 'logout'),
    ok: [302, 303],
    async prepare(fx, at) {
      await fx.signIn(at, await fx.user());
      const prompt = await go(at, `${fx.stack.issuer}/session/end?client_id=${fx.web.client_id}`);
      const form = formOf(prompt, '/session/end/confirm');
      return { path: '/session/end/confirm', values: { ...form.fields, logout: 'yes' } };
    },
  },

  // --- Interaction pages (sign-in) ------------------------------------------------------------
  {
    route: 'POST /interaction/:uid/login',
    kind: 'page',
    method: 'POST',
    json: false,
    fields: f('email', 'password', 'csrf'),
    ok: [200], // a wrong password for an unknown address: the form again
    again: '/login',
    async prepare(fx, at) {
      const { page } = await openAuthorization(at, fx.webConfig);
      return { path: pathOf(formOf(page, '/login').action), values: { ...formOf(page, '/login').fields, email: uniqueEmail('nobody'), password: 'not-the-password-1' } };
    },
  },
  {
    route: 'POST /interaction/:uid/mfa',
    kind: 'page',
    method: 'POST',
    json: false,
    fields: f('code', 'csrf'),
    ok: [200], // a wrong code: the form again
    again: '/mfa',
    async prepare(fx, at) {
      const user = await fx.user();
      const setup = new BrowserAt();
      await signInToAccount(setup, fx.stack.issuer, user);
      await enrolTotp(setup, fx.stack.issuer, user.password);
      const { page } = await openAuthorization(at, fx.webConfig);
      const second = await submit(at, page, '/login', { email: user.email, password: user.password });
      const form = formOf(second, '/mfa');
      return { path: pathOf(form.action), values: { ...form.fields, code: '000000' } };
    },
  },
  {
    route: 'POST /interaction/:uid/confirm',
    kind: 'page',
    method: 'POST',
    json: false,
    fields: f('csrf'),
    ok: [303],
    again: '/confirm',
    async prepare(fx, at) {
      const consent = await fx.atConsent(at);
      const form = formOf(consent, '/confirm');
      return { path: pathOf(form.action), values: form.fields };
    },
  },
  {
    route: 'POST /interaction/:uid/abort',
    kind: 'page',
    method: 'POST',
    json: false,
    fields: f('csrf'),
    ok: [303],
    again: '/abort',
    async prepare(fx, at) {
      const consent = await fx.atConsent(at);
      const form = formOf(consent, '/abort');
      return { path: pathOf(form.action), values: form.fields };
    },
  },
  {
    route: 'POST /interaction/:uid/signup',
    kind: 'page',
    method: 'POST',
    json: false,
    fields: f('name', 'email', 'password', 'csrf'),
    ok: [303],
    again: '/signup',
    async prepare(fx, at) {
      const { page } = await openAuthorization(at, fx.webConfig);
      const signup = await go(at, new URL(formOf(page, '/login').action.replace(/\/login$/, '/signup'), page.url));
      const form = formOf(signup, '/signup');
      return { path: pathOf(form.action), values: { ...form.fields, name: 'Fuzz Tester', email: uniqueEmail('signup'), password: PASSWORD } };
    },
  },
  {
    route: 'POST /interaction/:uid/forgot',
    kind: 'page',
    method: 'POST',
    json: false,
    fields: f('email', 'csrf'),
    ok: [303],
    again: '/forgot',
    async prepare(fx, at) {
      const { page } = await openAuthorization(at, fx.webConfig);
      const forgot = await go(at, new URL(formOf(page, '/login').action.replace(/\/login$/, '/forgot'), page.url));
      const form = formOf(forgot, '/forgot');
      return { path: pathOf(form.action), values: { ...form.fields, email: uniqueEmail('forgot') } };
    },
  },

  // --- Mailed links ---------------------------------------------------------------------------
  {
    route: 'GET /verify-email',
    kind: 'page',
    method: 'GET',
    json: false,
    fields: q('token'),
    ok: [200],
    async prepare(fx) {
      return { path: '/verify-email', values: { token: new URL(await fx.verifyLink()).searchParams.get('token')! } };
    },
  },
  {
    route: 'POST /verify-email',
    kind: 'page',
    method: 'POST',
    json: false,
    fields: f('token', 'csrf'),
    ok: [303],
    again: '/verify-email',
    async prepare(fx, at) {
      const page = await go(at, await fx.verifyLink(true));
      return { path: '/verify-email', values: formOf(page, '/verify-email').fields };
    },
  },
  {
    route: 'GET /reset-password',
    kind: 'page',
    method: 'GET',
    json: false,
    fields: q('token'),
    ok: [200],
    async prepare(fx) {
      return { path: '/reset-password', values: { token: new URL(await fx.resetLink()).searchParams.get('token')! } };
    },
  },
  {
    route: 'POST /reset-password',
    kind: 'page',
    method: 'POST',
    json: false,
    fields: f('token', 'password', 'csrf'),
    ok: [303],
    again: '/reset-password',
    async prepare(fx, at) {
      const page = await go(at, await fx.resetLink(true));
      return { path: '/reset-password', values: { ...formOf(page, '/reset-password').fields, password: `${PASSWORD}-new` } };
    },
  },

  // --- Account console ------------------------------------------------------------------------
  {
    route: 'GET /account',
    kind: 'page',
    method: 'GET',
    json: false,
    fields: q('notice'),
    ok: [200],
    async prepare(fx, at) {
      await signInToAccount(at, fx.stack.issuer, await fx.user());
      return { path: '/account', values: { notice: 'revoked' } };
    },
  },
  {
    route: 'GET /account/callback',
    kind: 'page',
    method: 'GET',
    json: false,
    fields: q('code', 'state', 'iss'),
    ok: [302, 303],
    async prepare(fx, at) {
      const user = await fx.user();
      const isCallback = (url: string) => new URL(url).pathname === '/account/callback';
      const login = await go(at, `${fx.stack.issuer}/account/login`, isCallback);
      const back = await submit(at, login, '/login', { email: user.email, password: user.password }, isCallback);
      if (!isCallback(back.url)) throw new Error(`no callback: ${back.url}`);
      return { path: '/account/callback', values: Object.fromEntries(new URL(back.url).searchParams) };
    },
  },
  {
    route: 'POST /account/apps/revoke',
    kind: 'page',
    method: 'POST',
    json: false,
    fields: f('grant', 'csrf'),
    ok: [303],
    again: '/account/apps/revoke',
    async prepare(fx, at) {
      const user = await fx.user();
      await fx.signIn(at, user);
      const account = await go(at, `${fx.stack.issuer}/account`);
      return { path: '/account/apps/revoke', values: formOf(account, '/account/apps/revoke').fields };
    },
  },
  {
    route: 'POST /account/sessions/revoke',
    kind: 'page',
    method: 'POST',
    json: false,
    fields: f('session', 'csrf'),
    ok: [303],
    again: '/account/sessions/revoke',
    async prepare(fx, at) {
      const account = await signInToAccount(at, fx.stack.issuer, await fx.user());
      return { path: '/account/sessions/revoke', values: formOf(account, '/account/sessions/revoke').fields };
    },
  },
  {
    route: 'POST /account/profile',
    kind: 'page',
    method: 'POST',
    json: false,
    fields: f('name', 'csrf'),
    ok: [303],
    again: '/account/profile',
    async prepare(fx, at) {
      const account = await signInToAccount(at, fx.stack.issuer, await fx.user());
      return { path: '/account/profile', values: { ...formOf(account, '/account/profile').fields, name: 'Fuzzed Name' } };
    },
  },
  {
    route: 'POST /account/email',
    kind: 'page',
    method: 'POST',
    json: false,
    fields: f('email', 'password', 'csrf'),
    ok: [303],
    again: '/account/email',
    async prepare(fx, at) {
      const user = await fx.user();
      const account = await signInToAccount(at, fx.stack.issuer, user);
      return { path: '/account/email', values: { ...formOf(account, '/account/email').fields, email: `moved-${Date.now()}@example.test`, password: user.password } };
    },
  },
  {
    route: 'POST /account/password',
    kind: 'page',
    method: 'POST',
    json: false,
    fields: f('current', 'password', 'csrf'),
    ok: [303],
    again: '/account/password',
    async prepare(fx, at) {
      const user = await fx.user();
      const account = await signInToAccount(at, fx.stack.issuer, user);
      return { path: '/account/password', values: { ...formOf(account, '/account/password').fields, current: user.password, password: 'lantern-meadow-quartz-58' } };
    },
  },
  {
    route: 'POST /account/verify-email',
    kind: 'page',
    method: 'POST',
    json: false,
    fields: f('csrf'),
    ok: [303],
    again: '/account/verify-email',
    async prepare(fx, at) {
      const account = await signInToAccount(at, fx.stack.issuer, await fx.user({ emailVerified: false }));
      return { path: '/account/verify-email', values: formOf(account, '/account/verify-email').fields };
    },
  },
  {
    route: 'POST /account/mfa/totp/start',
    kind: 'page',
    method: 'POST',
    json: false,
    fields: f('password', 'csrf'),
    ok: [303],
    again: '/account/mfa/totp/start',
    async prepare(fx, at) {
      const user = await fx.user();
      const account = await signInToAccount(at, fx.stack.issuer, user);
      return { path: '/account/mfa/totp/start', values: { ...formOf(account, '/account/mfa/totp/start').fields, password: user.password } };
    },
  },
  {
    route: 'POST /account/mfa/totp/confirm',
    kind: 'page',
    method: 'POST',
    json: false,
    fields: f('code', 'csrf'),
    ok: [303],
    again: '/account/mfa/totp/confirm',
    async prepare(fx, at) {
      const user = await fx.user();
      const account = await signInToAccount(at, fx.stack.issuer, user);
      const enrol = await submit(at, account, '/account/mfa/totp/start', { password: user.password });
      const secret = /data-secret="([A-Z2-7]+)"/.exec(enrol.html)?.[1];
      if (!secret) throw new Error(`no enrolment page: ${enrol.text.slice(0, 200)}`);
      return { path: '/account/mfa/totp/confirm', values: { ...formOf(enrol, '/account/mfa/totp/confirm').fields, code: await totpCode(secret) } };
    },
  },
  {
    route: 'POST /account/mfa/disable',
    kind: 'page',
    method: 'POST',
    json: false,
    fields: f('password', 'csrf'),
    ok: [303],
    again: '/account/mfa/disable',
    async prepare(fx, at) {
      const user = await fx.user();
      await signInToAccount(at, fx.stack.issuer, user);
      await enrolTotp(at, fx.stack.issuer, user.password);
      const account = await go(at, `${fx.stack.issuer}/account`);
      return { path: '/account/mfa/disable', values: { ...formOf(account, '/account/mfa/disable').fields, password: user.password } };
    },
  },
  {
    route: 'POST /account/mfa/recovery-codes',
    kind: 'page',
    method: 'POST',
    json: false,
    fields: f('password', 'csrf'),
    ok: [303],
    again: '/account/mfa/recovery-codes',
    async prepare(fx, at) {
      const user = await fx.user();
      await signInToAccount(at, fx.stack.issuer, user);
      await enrolTotp(at, fx.stack.issuer, user.password);
      const account = await go(at, `${fx.stack.issuer}/account`);
      return { path: '/account/mfa/recovery-codes', values: { ...formOf(account, '/account/mfa/recovery-codes').fields, password: user.password } };
    },
  },
];

// ================================================================================================
// The hostile values.
// ================================================================================================

/** Bytes that are not text: percent-encoded in a query or a form, raw in a header. */
const BAD_BYTES = [
  { name: 'NUL', escaped: '%00', raw: Buffer.from([0x00]) },
  { name: 'invalid UTF-8 0xFF', escaped: '%FF', raw: Buffer.from([0xff]) },
  { name: 'invalid UTF-8 0xC3 0x28', escaped: '%C3%28', raw: Buffer.from([0xc3, 0x28]) },
] as const;

/** Longer than any field has a use for (the longest legitimate values are JWTs of a few KiB), shorter than any body or URL limit. */
const OVERLONG = 'x'.repeat(10_000);
/** Over every body limit (pages 16 KiB, oidc-provider 56 KiB, the JWT introspection/revocation front 64 KiB). */
const TOO_LARGE = 128 * 1024;
const POST_LOGOUT = 'http://127.0.0.1:8080/signed-out';
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** A client assertion (RFC 7523 §3) of `clientId` for `aud`, signed with `key`, a fresh jti. */
function signedAssertion(clientId: string, aud: string, key: CryptoKey, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg: 'ES256', kid: 'fuzz-key', ...header })
    .setIssuer(clientId)
    .setSubject(clientId)
    .setAudience(aud)
    .setJti(randomUUID())
    .setIssuedAt()
    .setExpirationTime('1m')
    .sign(key);
}

type Mutation =
  | { kind: 'control' }
  | { kind: 'bad-bytes'; field: Field; bytes: (typeof BAD_BYTES)[number] }
  | { kind: 'overlong'; field: Field }
  | { kind: 'repeated'; field: Field }
  | { kind: 'content-type'; contentType: string }
  | { kind: 'too-large' };

function mutationsOf(row: Row): { name: string; mutation: Mutation }[] {
  const out: { name: string; mutation: Mutation }[] = [{ name: 'untouched', mutation: { kind: 'control' } }];
  for (const field of row.fields) {
    for (const bytes of BAD_BYTES) out.push({ name: `${bytes.name} in ${field.name} (${field.in})`, mutation: { kind: 'bad-bytes', field, bytes } });
    out.push({ name: `overlong ${field.name} (${field.in})`, mutation: { kind: 'overlong', field } });
    // RFC 8707 §2: `resource` may be sent more than once; no other parameter may (RFC 6749 §3.1, §3.2).
    if ((field.in === 'query' || field.in === 'form') && field.name !== 'resource') out.push({ name: `${field.name} twice`, mutation: { kind: 'repeated', field } });
  }
  if (row.method === 'POST') {
    for (const contentType of ['text/plain', 'application/json', 'multipart/form-data; boundary=x']) out.push({ name: `body as ${contentType}`, mutation: { kind: 'content-type', contentType } });
    out.push({ name: `a body of ${TOO_LARGE / 1024} KiB`, mutation: { kind: 'too-large' } });
  }
  return out;
}

// ================================================================================================
// Sending one case and judging its answer.
// ================================================================================================

async function send(fx: Fixture, row: Row, at: BrowserAt, values: Record<string, string>, path: string, mutation: Mutation): Promise<Answer> {
  const target = (m: Field) => mutation.kind !== 'control' && 'field' in mutation && mutation.field.name === m.name && mutation.field.in === m.in;
  const encode = (field: Field, value: string) => {
    if (mutation.kind === 'bad-bytes' && target(field)) return encodeURIComponent(value) + mutation.bytes.escaped;
    if (mutation.kind === 'overlong' && target(field)) return OVERLONG;
    return encodeURIComponent(value);
  };
  const pairs = (place: Place) => {
    const out: string[] = [];
    for (const field of row.fields.filter((x) => x.in === place)) {
      const pair = `${encodeURIComponent(field.name)}=${encode(field, values[field.name] ?? '')}`;
      out.push(pair);
      if (mutation.kind === 'repeated' && target(field)) out.push(pair);
    }
    // Values the row sends that are not fuzzed fields (e.g. a hidden field of the page) go along as they are.
    const named = new Set(row.fields.map((x) => x.name));
    if (place === (row.method === 'GET' ? 'query' : 'form')) {
      for (const [k, v] of Object.entries(values)) if (!named.has(k) && !BASIC.some((b) => b.name === k && row.fields.some((x) => x.in === b.in))) out.push(`${encodeURIComponent(k)}=${encodeURIComponent(v)}`);
    }
    return out;
  };
  const headers: Record<string, string> = { accept: row.json ? 'application/json' : 'text/html' };
  const basicId = row.fields.find((x) => x.in === 'basic-id');
  const basicSecret = row.fields.find((x) => x.in === 'basic-secret');
  if (basicId && basicSecret) {
    headers.authorization = `Basic ${Buffer.from(`${encode(basicId, values.client_id ?? '')}:${encode(basicSecret, values.client_secret ?? '')}`).toString('base64')}`;
  }
  const query = pairs('query').join('&');
  const url = new URL(`${fx.stack.issuer}${path}${query ? `?${query}` : ''}`);
  let body: string | undefined;
  if (row.method === 'POST') {
    body = pairs('form').join('&');
    headers['content-type'] = 'application/x-www-form-urlencoded';
    if (mutation.kind === 'content-type') {
      headers['content-type'] = mutation.contentType;
      if (mutation.contentType === 'application/json') body = JSON.stringify(Object.fromEntries(new URLSearchParams(body)));
    }
    if (mutation.kind === 'too-large') body = `${body}&padding=${'x'.repeat(TOO_LARGE)}`;
  }
  const headerField = row.fields.find((x) => x.in === 'header');
  if (headerField || mutation.kind === 'too-large') {
    // Its own connection: header bytes fetch refuses to send, and a body the server stops reading
    // (which ends the connection; a pooled one would fail the next case).
    const raw: Record<string, string | Buffer> = { ...headers, 'x-forwarded-for': at.address };
    const cookie = at.cookieHeader(url);
    if (cookie) raw.cookie = cookie;
    if (headerField) {
      const value = Buffer.from(values[headerField.name] ?? '', 'latin1');
      raw[headerField.name] = mutation.kind === 'bad-bytes' && target(headerField) ? Buffer.concat([value, mutation.bytes.raw]) : mutation.kind === 'overlong' && target(headerField) ? Buffer.from(`Bearer ${OVERLONG}`) : value;
    }
    return rawRequest(url, { method: row.method, headers: raw, body });
  }
  return answerOf(await at.request(url, { method: row.method, body, headers }));
}

/** At /auth: an error redirect to the client's registered redirect_uri, with the issuer (RFC 6749 §4.1.2.1, RFC 9207). */
function errorToClient(row: Row, a: Answer, error?: string): boolean {
  if (row.route !== 'GET /auth' || (a.status !== 302 && a.status !== 303)) return false;
  const location = a.headers.get('location');
  if (!location?.startsWith(`${REDIRECT_URI}?`)) return false;
  const params = new URL(location).searchParams;
  return Boolean(params.get('error')) && (!error || params.get('error') === error) && !params.get('code') && Boolean(params.get('iss'));
}

const HTML_SECURITY = (a: Answer, problems: string[]) => {
  if (!/^text\/html/.test(a.headers.get('content-type') ?? '')) problems.push(`content-type ${a.headers.get('content-type')}`);
  if (!/frame-ancestors/.test(a.headers.get('content-security-policy') ?? '')) problems.push('no CSP frame-ancestors');
  if (a.headers.get('x-content-type-options') !== 'nosniff') problems.push('no nosniff');
  if (!a.headers.get('referrer-policy')) problems.push('no Referrer-Policy');
};

function judge(row: Row, mutation: Mutation, a: Answer): string[] {
  const problems: string[] = [];
  const json = jsonOf(a.text);
  if (a.status >= 500) problems.push(`status ${a.status}`);
  if (LEAK.test(a.text)) problems.push('stack trace or file path in the body');
  switch (mutation.kind) {
    case 'control':
      if (!row.ok.includes(a.status)) problems.push(`status ${a.status}, expected ${row.ok.join('/')}`);
      break;
    case 'bad-bytes': {
      // HTTP itself has no place for a NUL in a header: the HTTP server's own 400 is the answer.
      const httpLevel = mutation.field.in === 'header' && mutation.bytes.name === 'NUL';
      if (a.status !== 400) problems.push(`status ${a.status}, expected 400`);
      if (a.headers.get('location')) problems.push(`redirect to ${a.headers.get('location')}`);
      if (row.kind === 'oauth' && !httpLevel) {
        if (json || row.json) {
          if (json?.error !== 'invalid_request') problems.push(`error ${JSON.stringify(json?.error)}, expected "invalid_request"`);
          if (!/^application\/json/.test(a.headers.get('content-type') ?? '')) problems.push(`content-type ${a.headers.get('content-type')}`);
        } else if (!a.text.includes('invalid_request')) {
          problems.push('the page does not name invalid_request');
        }
        if (row.route.startsWith('POST /token ') && a.headers.get('cache-control') !== 'no-store') problems.push(`cache-control ${a.headers.get('cache-control')}`);
      }
      if (row.kind === 'page') {
        HTML_SECURITY(a, problems);
        if (row.method === 'POST') {
          // The same form again, with a message (role="alert") saying what was wrong.
          if (row.again && !new RegExp(`<form\\b[^>]*action="[^"]*${row.again.replace(/[/]/g, '\\/')}"`).test(a.text)) problems.push(`not the ${row.again} form again`);
          if (!/role="alert"/.test(a.text)) problems.push('no message (role="alert")');
        }
      }
      break;
    }
    case 'overlong':
      // At /auth an error for a client and redirect_uri that check out goes back to the client (RFC 6749 §4.1.2.1).
      if (!errorToClient(row, a) && (a.status < 400 || a.status >= 500)) problems.push(`status ${a.status}, expected 4xx`);
      if (!errorToClient(row, a) && a.headers.get('location')) problems.push(`redirect to ${a.headers.get('location')}`);
      break;
    case 'repeated':
      if (!errorToClient(row, a, 'invalid_request') && a.status !== 400) problems.push(`status ${a.status}, expected 400`);
      break;
    case 'content-type':
      if (a.status !== 400 && a.status !== 415) problems.push(`status ${a.status}, expected 400 or 415`);
      break;
    case 'too-large':
      if (a.status !== 413) problems.push(`status ${a.status}, expected 413`);
      break;
  }
  if (mutation.kind !== 'control' && row.kind === 'oauth' && a.status >= 400 && (row.json || json) && a.text && !(typeof json?.error === 'string')) {
    // An OAuth error answer always has its RFC error code (except the HTTP server's own 400 for a NUL in a header).
    if (!(mutation.kind === 'bad-bytes' && mutation.field.in === 'header' && mutation.bytes.name === 'NUL')) problems.push(`no OAuth error code in ${a.text.slice(0, 80)}`);
  }
  return problems;
}

// ================================================================================================
// The fixture: one auth server, its clients, and the artefacts the rows start from.
// ================================================================================================

interface Fixture {
  stack: AuthStack;
  dataDir: string;
  web: RegisteredClient;
  machine: RegisteredClient;
  webConfig: oidc.Configuration;
  user(input?: { emailVerified?: boolean }): Promise<{ email: string; password: string; id: string }>;
  /** Signs a browser in at the web client (consenting), ending at its callback. */
  signIn(at: BrowserAt, user: { email: string; password: string }): Promise<void>;
  /** A browser signed in (new user) standing on the consent page of the web client. */
  atConsent(at: BrowserAt): Promise<Awaited<ReturnType<typeof go>>>;
  code(): Promise<{ code: string; verifier: string }>;
  refreshToken(): Promise<string>;
  jwtAccessToken(): Promise<string>;
  userinfoToken(): Promise<string>;
  idToken(): Promise<string>;
  verifyLink(fresh?: boolean): Promise<string>;
  resetLink(fresh?: boolean): Promise<string>;
  /** A private_key_jwt client (ES256 key in its jwks) and its private key. */
  keyClient: RegisteredClient;
  keyClientPrivate: CryptoKey;
  /** client_id, client_assertion_type and a fresh client_assertion of the key client for `aud`. */
  assertionFields(aud: string): Promise<Record<string, string>>;
  /** A JWT access token of the key client (its own, so that it may revoke it). */
  keyClientToken(): Promise<string>;
  /** A tls_client_auth client and a certificate of the test CA with its registered subject. */
  tlsClient: RegisteredClient;
  tlsCertificate: string;
}

let fx: Fixture;

beforeAll(async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'cd-fuzz-'));
  const stack = await startAuthStack(process.env, { dataDir, env: { AUTH_TRUST_PROXY: 'true' } });
  const web = await stack.createClient({ name: 'Fuzz web app', postLogoutRedirectUris: [POST_LOGOUT] });
  const machine = await stack.createClient({ name: 'Fuzz machine', grants: ['client_credentials'], redirectUris: [], scope: 'docs:read docs:write' });
  const webConfig = await discover(stack, web);
  const user = async (input: { emailVerified?: boolean } = {}) => stack.createUser({ emailVerified: input.emailVerified ?? true, email: uniqueEmail('user') });

  // One browser signed in at the web client for the codes and tokens the token rows start from.
  const owner = await user();
  const session = new BrowserAt();
  const isCallback = (url: string) => url.startsWith(`${REDIRECT_URI}?`);
  async function authorize(params: Record<string, string>) {
    const start = await startAuthorization(webConfig, params);
    let page = await go(session, start.url);
    for (let i = 0; i < 3 && !isCallback(page.url); i++) {
      page = page.forms.some((x) => x.action.endsWith('/login')) ? await submit(session, page, '/login', { email: owner.email, password: owner.password }) : await submit(session, page, '/confirm');
    }
    if (!isCallback(page.url)) throw new Error(`no code: ${page.url} ${page.text.slice(0, 200)}`);
    return { start, code: new URL(page.url).searchParams.get('code')! };
  }
  const redeem = async (params: Record<string, string>) => {
    const { start, code } = await authorize(params);
    const res = await tokenRequest(stack, web, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: start.verifier });
    if (res.status !== 200) throw new Error(`code redemption: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body as { access_token: string; id_token: string; refresh_token?: string };
  };
  const memo = <T>(make: () => Promise<T>) => {
    let value: Promise<T> | undefined;
    return (fresh = false) => (fresh || !value ? (value = make()) : value);
  };

  async function signupMail(): Promise<string> {
    const at = new BrowserAt();
    const { page } = await openAuthorization(at, webConfig);
    const signup = await go(at, new URL(formOf(page, '/login').action.replace(/\/login$/, '/signup'), page.url));
    const email = uniqueEmail('verify');
    const sent = await submit(at, signup, '/signup', { name: 'Mail Reader', email, password: PASSWORD });
    if (sent.status !== 200) throw new Error(`sign-up: ${sent.status} ${sent.text.slice(0, 200)}`);
    return mailedLink(dataDir, email, /confirm|verify/i);
  }
  async function resetMail(): Promise<string> {
    const who = await user();
    const at = new BrowserAt();
    const { page } = await openAuthorization(at, webConfig);
    const forgot = await go(at, new URL(formOf(page, '/login').action.replace(/\/login$/, '/forgot'), page.url));
    await submit(at, forgot, '/forgot', { email: who.email });
    return mailedLink(dataDir, who.email, /password/i);
  }

  const keys = await generateKeyPair('ES256', { extractable: true });
  const keyClient = await stack.createClient({ name: 'Fuzz key client', grants: ['client_credentials'], redirectUris: [], scope: 'docs:read', authMethod: 'private_key_jwt', jwks: { keys: [{ ...(await exportJWK(keys.publicKey)), kid: 'fuzz-key', alg: 'ES256', use: 'sig' }] } as never });
  const assertionFields = async (aud: string) => ({ client_id: keyClient.client_id, client_assertion_type: ASSERTION_TYPE, client_assertion: await signedAssertion(keyClient.client_id, aud, keys.privateKey) });
  const ca = certificateAuthority(dataDir);
  const tlsCertificate = ca.issue('fuzz-robot', '/CN=fuzz-robot/O=Example').pem;
  const tlsClient = await stack.createClient({ name: 'Fuzz certificate client', grants: ['client_credentials'], redirectUris: [], scope: 'docs:read', authMethod: 'tls_client_auth', tlsSubjectDn: 'CN=fuzz-robot,O=Example' });

  fx = {
    keyClient,
    keyClientPrivate: keys.privateKey,
    assertionFields,
    async keyClientToken() {
      const res = await fetch(`${stack.issuer}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'docs:read', ...(await assertionFields(`${stack.issuer}/token`)) }) });
      const body = (await res.json()) as { access_token?: string };
      if (!body.access_token) throw new Error(`key client token: ${res.status} ${JSON.stringify(body)}`);
      return body.access_token;
    },
    tlsClient,
    tlsCertificate,
    stack,
    dataDir,
    web,
    machine,
    webConfig,
    user,
    async signIn(at, who) {
      const { page } = await openAuthorization(at, webConfig, { scope: 'openid email' });
      let step = await submit(at, page, '/login', { email: who.email, password: who.password });
      if (!isCallback(step.url)) step = await submit(at, step, '/confirm');
      if (!isCallback(step.url)) throw new Error(`sign-in ended at ${step.url}`);
    },
    async atConsent(at) {
      const who = await user();
      const { page } = await openAuthorization(at, webConfig, { scope: 'openid email' });
      const consent = await submit(at, page, '/login', { email: who.email, password: who.password });
      formOf(consent, '/confirm');
      return consent;
    },
    async code() {
      const { start, code } = await authorize({ scope: 'openid' });
      return { code, verifier: start.verifier };
    },
    async refreshToken() {
      const tokens = await redeem({ scope: 'openid offline_access', prompt: 'consent' });
      if (!tokens.refresh_token) throw new Error('no refresh token');
      return tokens.refresh_token;
    },
    async jwtAccessToken() {
      const res = await tokenRequest(stack, machine, { grant_type: 'client_credentials', scope: 'docs:read' });
      return res.body.access_token as string;
    },
    // Fresh each time: the revocation rows revoke the grant these tokens share.
    userinfoToken: async () => (await redeem({ scope: 'openid email' })).access_token,
    idToken: async () => (await redeem({ scope: 'openid email' })).id_token,
    verifyLink: memo(signupMail),
    resetLink: memo(resetMail),
  };
}, 120_000);

afterAll(async () => {
  await fx?.stack.stop();
  if (fx?.dataDir) await rm(fx.dataDir, { recursive: true, force: true }).catch(() => {});
});

const pathOf = (action: string) => new URL(action, 'http://x').pathname;

// ================================================================================================
// The cases: one test per row; each collects every deviation of its row, so one run shows them all.
// ================================================================================================

describe('every route, every field: bad bytes -> 400 (invalid_request / the form again), overlong -> 4xx, twice -> 400, other content types -> 400/415, too large -> 413, never a 5xx', () => {
  it.each(SURFACE.map((row) => [row.route, row] as const))('%s', async (_route, row) => {
    const failures: string[] = [];
    for (const { name, mutation } of mutationsOf(row)) {
      const at = new BrowserAt();
      const { path, values } = await row.prepare(fx, at);
      const answer = await send(fx, row, at, values, path, mutation);
      const problems = judge(row, mutation, answer);
      if (problems.length) failures.push(`${name}: ${problems.join('; ')} [${answer.status} ${answer.text.replace(/\s+/g, ' ').slice(0, 140)}]`);
    }
    expect(failures).toEqual([]);
  });
});

// Runs after the table: it uses up one address's allowance of failed client authentications.
describe('bad bytes count toward the client-authentication rate limit (30 failures / 10 min / address)', () => {
  it('30 requests with bad bytes at token, introspection and revocation from one address -> that address gets 429 with Retry-After, even with the right secret; another address still gets its token', async () => {
    const guarded = SURFACE.filter((row) => ['/token', '/token/introspection', '/token/revocation'].some((p) => row.route.startsWith(`POST ${p} `)));
    // Round robin over the endpoints and their fields, so that every endpoint contributes.
    const perRow = guarded.map((row) => row.fields.flatMap((field) => BAD_BYTES.map((bytes) => ({ row, mutation: { kind: 'bad-bytes', field, bytes } as Mutation }))));
    const cases = Array.from({ length: Math.max(...perRow.map((c) => c.length)) }, (_, i) => perRow.flatMap((c) => (c[i] ? [c[i]] : []))).flat();
    expect(cases.length).toBeGreaterThanOrEqual(30);
    const address = nextAddress();
    const statuses: number[] = [];
    for (const { row, mutation } of cases.slice(0, 30)) {
      const prepared = await row.prepare(fx, new BrowserAt());
      const answer = await send(fx, row, new BrowserAt(address), prepared.values, prepared.path, mutation);
      statuses.push(answer.status);
    }
    const right = await fetch(`${fx.stack.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(fx.machine), 'x-forwarded-for': address },
      body: 'grant_type=client_credentials&scope=docs%3Aread',
    });
    const body = (await right.json()) as Record<string, unknown>;
    expect(right.status, `answers to the 30 bad requests: ${statuses.join(' ')}`).toBe(429);
    expect(body.access_token).toBeUndefined();
    expect(Number(right.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(right.headers.get('cache-control')).toBe('no-store');
    expect(body.error).toEqual(expect.any(String));

    const elsewhere = await fetch(`${fx.stack.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(fx.machine), 'x-forwarded-for': nextAddress() },
      body: 'grant_type=client_credentials&scope=docs%3Aread',
    });
    expect(elsewhere.status).toBe(200);
  });
});

// ================================================================================================
// JSON bodies: dynamic client registration (RFC 7591 §3.2.2, RFC 7592 §2.2). Every member of the
// metadata, given every hostile value of `jsonCasesOf` (NUL, raw invalid UTF-8, 100 KiB and 40 KiB
// strings, every wrong JSON type) -> a 4xx with its RFC error code and a description, never a 5xx;
// null stands for an absent member. The admin API's JSON bodies are fuzzed the same way in
// test/admin/admin-api.test.ts.
// ================================================================================================

const REGISTRATION = {
  client_name: 'Fuzzed registration',
  redirect_uris: [REDIRECT_URI],
  post_logout_redirect_uris: [POST_LOGOUT],
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  scope: 'openid email',
  token_endpoint_auth_method: 'client_secret_basic',
  application_type: 'web',
  dpop_bound_access_tokens: false,
  backchannel_logout_uri: 'http://127.0.0.1:8080/backchannel',
  backchannel_logout_session_required: true,
};
/** Every member, and the first element of every list. */
const REGISTRATION_FIELDS = Object.entries(REGISTRATION).flatMap(([k, v]) => (Array.isArray(v) ? [k, `${k}.0`] : [k]));

interface Registered {
  client_id: string;
  client_secret: string;
  registration_access_token: string;
  registration_client_uri: string;
}

let initialAccessToken: string | undefined;
async function registrationToken(): Promise<string> {
  initialAccessToken ??= (await createRegistrationTokenLibrary({ knex: fx.stack.admin }).create()).token;
  return initialAccessToken;
}

async function registerClient(): Promise<Registered> {
  const res = await fetch(`${fx.stack.issuer}/reg`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${await registrationToken()}`, 'x-forwarded-for': nextAddress() },
    body: JSON.stringify(REGISTRATION),
  });
  const body = (await res.json()) as Registered;
  if (res.status !== 201) throw new Error(`registration: ${res.status} ${JSON.stringify(body)}`);
  return body;
}

interface JsonRow {
  route: string;
  method: 'POST' | 'PUT';
  base: Record<string, unknown>;
  fields: string[];
  ok: number[];
  prepare(): Promise<{ url: string; authorization: string; clientId?: string }>;
}

const JSON_SURFACE: JsonRow[] = [
  {
    route: 'POST /reg',
    method: 'POST',
    base: REGISTRATION,
    fields: REGISTRATION_FIELDS,
    ok: [201],
    prepare: async () => ({ url: `${fx.stack.issuer}/reg`, authorization: `Bearer ${await registrationToken()}` }),
  },
  {
    route: 'PUT /reg/:clientId (registration access token)',
    method: 'PUT',
    base: { ...REGISTRATION, client_id: '(the client)' },
    fields: [...REGISTRATION_FIELDS, 'client_id', 'client_secret'],
    ok: [200],
    async prepare() {
      const client = await registerClient();
      return { url: client.registration_client_uri, authorization: `Bearer ${client.registration_access_token}`, clientId: client.client_id };
    },
  },
];

async function sendJson(row: JsonRow, body: Buffer | string, prepared: { url: string; authorization: string }): Promise<Answer> {
  return answerOf(
    await fetch(prepared.url, {
      method: row.method,
      headers: { 'content-type': 'application/json', accept: 'application/json', authorization: prepared.authorization, 'x-forwarded-for': nextAddress() },
      body,
    }),
  );
}

describe('JSON bodies: every registration metadata member given NUL, raw invalid UTF-8, 100 KiB, 40 KiB and every wrong JSON type -> 4xx with an OAuth error code and a description, never a 5xx', () => {
  it.each(JSON_SURFACE.map((row) => [row.route, row] as const))('%s', async (_route, row) => {
    const failures: string[] = [];
    const baseOf = (prepared: { clientId?: string }) => (prepared.clientId ? { ...row.base, client_id: prepared.clientId } : row.base);
    const control = await row.prepare();
    const untouched = await sendJson(row, JSON.stringify(baseOf(control)), control);
    expect(untouched.status, untouched.text.slice(0, 300)).toBe(row.ok[0]);
    for (const field of row.fields) {
      for (const c of jsonCasesOf(row.base, field)) {
        // A case's body is built on the row's base; the client id of a management row is filled in per case.
        const prepared = await row.prepare();
        const body = prepared.clientId ? Buffer.from(c.body.toString('latin1').replace('"(the client)"', JSON.stringify(prepared.clientId)), 'latin1') : c.body;
        const answer = await sendJson(row, body, prepared);
        const problems = judgeJson('oauth', c, answer, row.ok);
        if (problems.length) failures.push(`${c.name}: ${problems.join('; ')} [${answer.status} ${answer.text.replace(/\s+/g, ' ').slice(0, 160)}]`);
      }
    }
    expect(failures).toEqual([]);
  }, 240_000);
});

// Every registration route against every wrong credential (RFC 7591 §3, RFC 7592 §2, RFC 6750 §3.1):
// POST /reg needs a usable initial access token, GET/PUT/DELETE at registration_client_uri the client's
// own registration access token; anything else is a 4xx (401 invalid_token, or 400 for bytes HTTP has no
// place for) with its reason, never a 5xx, and changes nothing.
describe('registration routes × wrong credentials -> 4xx with a reason, nothing changed', () => {
  type Credential = { name: string; header: (ctx: { self: Registered; other: Registered }) => Promise<string | Buffer | undefined> };
  const CREDENTIALS: Credential[] = [
    { name: 'none', header: async () => undefined },
    { name: 'garbage Bearer', header: async () => 'Bearer not-a-token' },
    { name: 'empty Bearer', header: async () => 'Bearer ' },
    { name: 'another scheme', header: async () => 'Token abc' },
    { name: 'Basic with the client secret', header: async ({ self }) => basic(self) },
    { name: "another client's registration access token", header: async ({ other }) => `Bearer ${other.registration_access_token}` },
    { name: 'the initial access token', header: async () => `Bearer ${await registrationToken()}` },
    { name: 'an access token of another client', header: async () => `Bearer ${await fx.jwtAccessToken()}` },
    { name: 'a revoked initial access token', header: async () => `Bearer ${await revokedRegistrationToken()}` },
    { name: 'NUL in the token', header: async ({ self }) => Buffer.from(`Bearer ${self.registration_access_token}\u0000x`, 'latin1') },
    { name: '0xFF in the token', header: async ({ self }) => Buffer.concat([Buffer.from(`Bearer ${self.registration_access_token}`), Buffer.from([0xff])]) },
    { name: 'a 10 KiB token', header: async () => `Bearer ${'x'.repeat(10 * 1024)}` },
    { name: 'a 100 KiB token', header: async () => `Bearer ${'x'.repeat(100 * 1024)}` },
  ];
  let revoked: string | undefined;
  async function revokedRegistrationToken(): Promise<string> {
    if (!revoked) {
      const library = createRegistrationTokenLibrary({ knex: fx.stack.admin });
      const made = await library.create();
      await library.revoke(made.id);
      revoked = made.token;
    }
    return revoked;
  }

  it('GET, PUT and DELETE /reg/:clientId with a hostile client id (NUL, invalid UTF-8, a lone surrogate, 10 KiB, traversal), holding a real registration access token -> 4xx with an OAuth error code', async () => {
    const self = await registerClient();
    const failures: string[] = [];
    for (const segment of ['%00', 'a%00b', '%FF', '%C3%28', '%ED%A0%80', 'x'.repeat(10 * 1024), '..%2F..', `${self.client_id}%00`]) {
      for (const method of ['GET', 'PUT', 'DELETE']) {
        const answer = await answerOf(
          await fetch(`${fx.stack.issuer}/reg/${segment}`, {
            method,
            headers: { authorization: `Bearer ${self.registration_access_token}`, 'content-type': 'application/json', accept: 'application/json', 'x-forwarded-for': nextAddress() },
            body: method === 'PUT' ? JSON.stringify({ ...REGISTRATION, client_id: self.client_id }) : undefined,
          }),
        );
        const json = jsonOf(answer.text);
        if (answer.status < 400 || answer.status >= 500 || typeof json?.error !== 'string' || LEAK.test(answer.text)) failures.push(`${method} /reg/${segment.slice(0, 20)}: ${answer.status} ${answer.text.slice(0, 120)}`);
      }
    }
    expect(failures).toEqual([]);
    // The client is still there; its token is not: oidc-provider destroys a registration access token
    // presented for another client id (lib/actions/registration.js, "client mismatch").
    expect(await fx.stack.admin('auth.clients').where({ client_id: self.client_id }).first()).toBeDefined();
    expect((await fetch(self.registration_client_uri, { headers: { authorization: `Bearer ${self.registration_access_token}` } })).status).toBe(401);
  });

  it.each(['POST /reg', 'GET /reg/:clientId', 'PUT /reg/:clientId', 'DELETE /reg/:clientId'])('%s', async (route) => {
    const [method, path] = route.split(' ') as [string, string];
    const self = await registerClient();
    const other = await registerClient();
    const url = path === '/reg' ? `${fx.stack.issuer}/reg` : self.registration_client_uri;
    const failures: string[] = [];
    for (const credential of CREDENTIALS) {
      // POST /reg with the initial access token is the one right credential there.
      if (method === 'POST' && credential.name === 'the initial access token') continue;
      const header = await credential.header({ self, other });
      const headers: Record<string, string | Buffer> = { accept: 'application/json', 'x-forwarded-for': nextAddress() };
      if (header !== undefined) headers.authorization = header;
      const body = method === 'POST' || method === 'PUT' ? JSON.stringify({ ...REGISTRATION, client_id: self.client_id }) : undefined;
      if (body) headers['content-type'] = 'application/json';
      const a = await rawRequest(url, { method, headers, body });
      const json = jsonOf(a.text);
      const problems: string[] = [];
      if (a.status < 400 || a.status >= 500) problems.push(`status ${a.status}`);
      if (LEAK.test(a.text)) problems.push('stack trace or file path');
      // A NUL or a header over Node's limit is refused by the HTTP server itself, before any route.
      const httpLevel = credential.name === 'NUL in the token' || credential.name === 'a 100 KiB token';
      if (!httpLevel && typeof json?.error !== 'string') problems.push('no OAuth error code');
      if (problems.length) failures.push(`${credential.name}: ${problems.join('; ')} [${a.status} ${a.text.slice(0, 160)}]`);
    }
    // Nothing changed: the client still reads itself, as registered.
    const read = await fetch(self.registration_client_uri, { headers: { authorization: `Bearer ${self.registration_access_token}`, accept: 'application/json' } });
    const metadata = (await read.json()) as Record<string, unknown>;
    expect(read.status).toBe(200);
    expect(metadata).toMatchObject({ client_id: self.client_id, client_name: REGISTRATION.client_name, redirect_uris: REGISTRATION.redirect_uris });
    expect(failures).toEqual([]);
  });
});

// ================================================================================================
// Client authentication by assertion (RFC 7523 §3) and by certificate (RFC 8705 §2), at the token
// endpoint (oidc-provider) and at the JWT introspection/revocation front (our own): every malformed,
// forged or hostile assertion, and every hostile value of the terminator's certificate headers (the
// server trusts the proxy here), is a 4xx with an OAuth error code, never a token and never a 5xx.
// ================================================================================================

const AUTH_ENDPOINTS = [
  { path: '/token', fields: (): Promise<Record<string, string>> => Promise.resolve({ grant_type: 'client_credentials', scope: 'docs:read' }) },
  { path: '/token/introspection', fields: async (): Promise<Record<string, string>> => ({ token: await fx.jwtAccessToken() }) },
  { path: '/token/revocation', fields: async (): Promise<Record<string, string>> => ({ token: await fx.jwtAccessToken() }) },
];

const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** Each: a name and the form fields that replace the good ones (built for the endpoint's URL). */
function hostileAssertions(aud: string): { name: string; fields: () => Promise<Record<string, string>> }[] {
  const id = fx.keyClient.client_id;
  const now = Math.floor(Date.now() / 1000);
  const claims = () => ({ iss: id, sub: id, aud, jti: randomUUID(), iat: now, exp: now + 60 });
  const raw = (header: unknown, payload: unknown, signature = 'c2ln') => `${typeof header === 'string' ? header : b64(header)}.${typeof payload === 'string' ? payload : b64(payload)}.${signature}`;
  const as = (client_assertion: string, extra: Record<string, string> = {}) => async () => ({ client_id: id, client_assertion_type: ASSERTION_TYPE, client_assertion, ...extra });
  const signedWith = async (key: Parameters<SignJWT['sign']>[0], header: Record<string, unknown>, payload: Record<string, unknown> = claims()) => new SignJWT(payload).setProtectedHeader(header as never).sign(key);
  return [
    { name: 'not a JWT', fields: as('garbage') },
    { name: 'two segments', fields: as('a.b') },
    { name: 'five segments (a JWE shape)', fields: as('a.b.c.d.e') },
    { name: 'empty segments', fields: as('..') },
    { name: 'header not base64url JSON', fields: as(raw('!!!', claims())) },
    { name: 'header a JSON array', fields: as(raw([], claims())) },
    { name: 'header null', fields: as(raw(null, claims())) },
    { name: 'payload not JSON', fields: as(raw({ alg: 'ES256' }, b64('not json'))) },
    { name: 'payload a JSON string', fields: as(raw({ alg: 'ES256' }, b64('"text"'))) },
    { name: 'payload of invalid UTF-8 bytes', fields: as(raw({ alg: 'ES256' }, Buffer.from([0xff, 0xfe, 0x7b]).toString('base64url'))) },
    { name: 'a NUL inside the payload', fields: as(raw({ alg: 'ES256' }, { ...claims(), sub: `${id}\u0000` })) },
    { name: 'alg none, unsigned', fields: as(raw({ alg: 'none' }, claims(), '')) },
    { name: 'alg none with a signature', fields: as(raw({ alg: 'none' }, claims())) },
    { name: 'HS256 keyed with the client id', fields: async () => as(await signedWith(new TextEncoder().encode(id), { alg: 'HS256' }))() },
    { name: 'HS256 keyed with the public key', fields: async () => as(await signedWith(new TextEncoder().encode(JSON.stringify(await exportJWK(fx.keyClientPrivate)).slice(0, 64)), { alg: 'HS256', kid: 'fuzz-key' }))() },
    { name: 'RS256 named over an ES256 signature', fields: async () => as((await signedAssertion(id, aud, fx.keyClientPrivate)).replace(/^[^.]+/, b64({ alg: 'RS256', kid: 'fuzz-key' })))() },
    { name: 'signed by another key', fields: async () => as(await signedAssertion(id, aud, (await generateKeyPair('ES256')).privateKey))() },
    { name: 'a tampered payload', fields: async () => as((await signedAssertion(id, aud, fx.keyClientPrivate)).replace(/\.[^.]+\./, `.${b64({ ...claims(), sub: fx.machine.client_id })}.`))() },
    { name: 'another client as iss and sub', fields: async () => as(await signedAssertion(fx.machine.client_id, aud, fx.keyClientPrivate))() },
    { name: 'client_id another client', fields: async () => as(await signedAssertion(id, aud, fx.keyClientPrivate), { client_id: fx.machine.client_id })() },
    { name: 'audience another server', fields: async () => as(await signedAssertion(id, 'https://elsewhere.example', fx.keyClientPrivate))() },
    { name: 'expired', fields: async () => as(await signedWith(fx.keyClientPrivate, { alg: 'ES256', kid: 'fuzz-key' }, { ...claims(), iat: now - 7200, exp: now - 3600 }))() },
    { name: 'exp a string', fields: async () => as(await signedWith(fx.keyClientPrivate, { alg: 'ES256', kid: 'fuzz-key' }, { ...claims(), exp: 'tomorrow' }))() },
    { name: 'exp two hours ahead (over the one hour bound)', fields: async () => as(await signedWith(fx.keyClientPrivate, { alg: 'ES256', kid: 'fuzz-key' }, { ...claims(), exp: now + 7200 }))() },
    { name: 'exp 1e308', fields: async () => as(await signedWith(fx.keyClientPrivate, { alg: 'ES256', kid: 'fuzz-key' }, { ...claims(), exp: 1e308 }))() },
    { name: 'no jti', fields: async () => as(await signedWith(fx.keyClientPrivate, { alg: 'ES256', kid: 'fuzz-key' }, { ...claims(), jti: undefined }))() },
    { name: 'jti an object', fields: async () => as(await signedWith(fx.keyClientPrivate, { alg: 'ES256', kid: 'fuzz-key' }, { ...claims(), jti: { a: 1 } }))() },
    { name: 'aud an object', fields: async () => as(await signedWith(fx.keyClientPrivate, { alg: 'ES256', kid: 'fuzz-key' }, { ...claims(), aud: { a: 1 } }))() },
    { name: 'kid an object', fields: async () => as(await signedWith(fx.keyClientPrivate, { alg: 'ES256', kid: { a: 1 } }))() },
    { name: 'an unknown crit header', fields: async () => as(raw({ alg: 'ES256', kid: 'fuzz-key', crit: ['x-unknown'], 'x-unknown': 1 }, claims()))() },
    { name: 'a 7 KiB claim (under the parameter limit)', fields: async () => as(await signedWith(fx.keyClientPrivate, { alg: 'ES256', kid: 'fuzz-key' }, { ...claims(), pad: 'x'.repeat(7 * 1024) }))() },
    { name: 'an assertion over the parameter limit', fields: async () => as(await signedWith(fx.keyClientPrivate, { alg: 'ES256', kid: 'fuzz-key' }, { ...claims(), pad: 'x'.repeat(12 * 1024) }))() },
    {
      // client_secret_jwt is not offered (asymmetric assertions only), not even for a client with a secret.
      name: 'client_secret_jwt: HS256 keyed with a secret client\'s secret',
      fields: async () => {
        const machine = fx.machine.client_id;
        const jwt = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setIssuer(machine).setSubject(machine).setAudience(aud).setJti(randomUUID()).setIssuedAt().setExpirationTime('1m').sign(new TextEncoder().encode(fx.machine.client_secret!));
        return { client_id: machine, client_assertion_type: ASSERTION_TYPE, client_assertion: jwt };
      },
    },
    // Another method than the one the key client registered: refused, never a way around the key.
    { name: 'the key client by client_secret_post', fields: async () => ({ client_id: id, client_secret: 'a-guessed-secret' }) },
    { name: 'the key client by its client_id alone (as a public client)', fields: async () => ({ client_id: id }) },
    { name: 'the certificate client by client_secret_post, no certificate', fields: async () => ({ client_id: fx.tlsClient.client_id, client_secret: 'a-guessed-secret' }) },
    { name: 'a wrong client_assertion_type', fields: async () => ({ ...(await fx.assertionFields(aud)), client_assertion_type: 'urn:example:other' }) },
    { name: 'client_assertion_type without an assertion', fields: async () => ({ client_id: id, client_assertion_type: ASSERTION_TYPE }) },
    { name: 'an assertion and a client secret', fields: async () => ({ ...(await fx.assertionFields(aud)), client_secret: 'also-a-secret' }) },
  ];
}

function judgeAuthentication(a: Answer, httpLevel = false): string[] {
  const problems: string[] = [];
  const json = jsonOf(a.text);
  if (a.status < 400 || a.status >= 500) problems.push(`status ${a.status}`);
  if (LEAK.test(a.text)) problems.push('stack trace or file path');
  if (json?.access_token || json?.active === true) problems.push('authenticated');
  if (!httpLevel && typeof json?.error !== 'string') problems.push('no OAuth error code');
  return problems;
}

describe('private_key_jwt: every malformed, forged or hostile client_assertion -> 4xx with an OAuth error, never a token or a 5xx', () => {
  it.each(AUTH_ENDPOINTS.map((e) => [e.path, e] as const))('%s', async (_path, endpoint) => {
    const aud = `${fx.stack.issuer}${endpoint.path}`;
    const failures: string[] = [];
    const send = async (fields: Record<string, string>) =>
      answerOf(await fetch(aud, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', 'x-forwarded-for': nextAddress() }, body: new URLSearchParams({ ...(await endpoint.fields()), ...fields }) }));
    const good = await fx.assertionFields(aud);
    const control = await send(good);
    expect(control.status, control.text).toBe(200);
    const replayed = await send(good);
    const replay = judgeAuthentication(replayed);
    if (replay.length) failures.push(`the same assertion again: ${replay.join('; ')} [${replayed.status} ${replayed.text.slice(0, 160)}]`);
    for (const hostile of hostileAssertions(aud)) {
      const answer = await send(await hostile.fields());
      const problems = judgeAuthentication(answer);
      if (problems.length) failures.push(`${hostile.name}: ${problems.join('; ')} [${answer.status} ${answer.text.slice(0, 160)}]`);
    }
    expect(failures).toEqual([]);
  });
});

describe('tls_client_auth behind a trusted proxy: every hostile certificate header -> 4xx with an OAuth error, never a token or a 5xx', () => {
  const CERT = 'x-ssl-client-cert';
  const VERIFY = 'x-ssl-client-verify';
  const hostileHeaders = (): { name: string; headers: Record<string, string | Buffer>; httpLevel?: boolean }[] => {
    const good = encodeURIComponent(fx.tlsCertificate);
    const [head, tail] = [encodeURIComponent('-----BEGIN CERTIFICATE-----\n'), encodeURIComponent('\n-----END CERTIFICATE-----\n')];
    return [
      { name: 'no certificate', headers: { [VERIFY]: 'SUCCESS' } },
      { name: 'garbage', headers: { [CERT]: 'hello', [VERIFY]: 'SUCCESS' } },
      { name: 'invalid URL-encoding (%E0%A4%A)', headers: { [CERT]: `${good}%E0%A4%A`, [VERIFY]: 'SUCCESS' } },
      { name: 'invalid URL-encoding (%ZZ)', headers: { [CERT]: `%ZZ${good}`, [VERIFY]: 'SUCCESS' } },
      { name: 'a percent-encoded NUL', headers: { [CERT]: `${good}%00`, [VERIFY]: 'SUCCESS' } },
      { name: 'percent-encoded invalid UTF-8 (%FF)', headers: { [CERT]: `${head}%FF${tail}`, [VERIFY]: 'SUCCESS' } },
      { name: 'PEM armour around garbage', headers: { [CERT]: `${head}bm90IGEgY2VydA==${tail}`, [VERIFY]: 'SUCCESS' } },
      { name: 'a public key PEM', headers: { [CERT]: encodeURIComponent('-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n'), [VERIFY]: 'SUCCESS' } },
      { name: 'a truncated certificate', headers: { [CERT]: `${good.slice(0, Math.floor(good.length / 2))}${tail}`, [VERIFY]: 'SUCCESS' } },
      { name: 'the PEM not URL-encoded (newlines folded)', headers: { [CERT]: fx.tlsCertificate.replace(/\n/g, ' '), [VERIFY]: 'SUCCESS' } },
      { name: 'a 15 KiB header', headers: { [CERT]: `${head}${'A'.repeat(15 * 1024)}${tail}`, [VERIFY]: 'SUCCESS' } },
      { name: 'a 100 KiB header', headers: { [CERT]: 'A'.repeat(100 * 1024), [VERIFY]: 'SUCCESS' }, httpLevel: true },
      { name: 'a raw 0xFF byte', headers: { [CERT]: Buffer.concat([Buffer.from(good), Buffer.from([0xff])]), [VERIFY]: 'SUCCESS' } },
      { name: 'a raw NUL byte', headers: { [CERT]: Buffer.concat([Buffer.from(good), Buffer.from([0x00])]), [VERIFY]: 'SUCCESS' }, httpLevel: true },
      { name: 'the certificate, not verified by the terminator', headers: { [CERT]: good, [VERIFY]: 'FAILED:self-signed certificate' } },
      { name: 'the certificate, no verify header', headers: { [CERT]: good } },
      { name: 'the certificate, verify header garbage', headers: { [CERT]: good, [VERIFY]: Buffer.from([0x53, 0xff, 0x00 + 0x20]) } },
      { name: 'the certificate, verify header "success"', headers: { [CERT]: good, [VERIFY]: 'success' } },
    ];
  };

  it.each(AUTH_ENDPOINTS.map((e) => [e.path, e] as const))('%s', async (_path, endpoint) => {
    const url = `${fx.stack.issuer}${endpoint.path}`;
    const send = async (headers: Record<string, string | Buffer>) =>
      rawRequest(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', 'x-forwarded-for': nextAddress(), ...headers }, body: new URLSearchParams({ ...(await endpoint.fields()), client_id: fx.tlsClient.client_id }).toString() });
    const control = await send({ [CERT]: encodeURIComponent(fx.tlsCertificate), [VERIFY]: 'SUCCESS' });
    expect(control.status, control.text).toBe(200);
    const failures: string[] = [];
    for (const hostile of hostileHeaders()) {
      const answer = await send(hostile.headers);
      const problems = judgeAuthentication(answer, hostile.httpLevel);
      if (problems.length) failures.push(`${hostile.name}: ${problems.join('; ')} [${answer.status} ${answer.text.slice(0, 160)}]`);
    }
    expect(failures).toEqual([]);
  });
});

describe('JSON bodies as a whole: not an object, not JSON, nested too deep, another content type -> 4xx with an OAuth error code and a description', () => {
  const BODIES: [string, string, string?][] = [
    ['an array', '[]'],
    ['a string', '"metadata"'],
    ['a number', '1'],
    ['null', 'null'],
    ['an empty object', '{}'],
    ['an empty body', ''],
    ['not JSON', 'client_name=x'],
    ['cut short', '{"client_name":'],
    ['a duplicate member', '{"client_name":"a","client_name":"b","redirect_uris":["http://127.0.0.1:8080/callback"]}'],
    ['nested 40 deep', `{"client_name":"x","redirect_uris":["http://127.0.0.1:8080/callback"],"deep":${'['.repeat(40)}${']'.repeat(40)}}`],
    ['nested 20,000 deep', `{"deep":${'['.repeat(20_000)}${']'.repeat(20_000)}}`],
    ['__proto__ member', '{"__proto__":{"client_name":"polluted"},"redirect_uris":["http://127.0.0.1:8080/callback"]}'],
    ['a JSON body sent as text/plain', JSON.stringify(REGISTRATION), 'text/plain'],
    ['a JSON body sent as a form', JSON.stringify(REGISTRATION), 'application/x-www-form-urlencoded'],
    ['a JSON body in latin1', JSON.stringify(REGISTRATION), 'application/json; charset=latin1'],
  ];
  it.each(JSON_SURFACE.map((row) => [row.route, row] as const))('%s', async (_route, row) => {
    const failures: string[] = [];
    for (const [what, body, contentType] of BODIES) {
      const prepared = await row.prepare();
      const answer = await answerOf(
        await fetch(prepared.url, {
          method: row.method,
          headers: { 'content-type': contentType ?? 'application/json', accept: 'application/json', authorization: prepared.authorization, 'x-forwarded-for': nextAddress() },
          body,
        }),
      );
      const json = jsonOf(answer.text);
      // A duplicate member is read as JSON.parse reads it (the last one); the gate then hands the provider
      // its own serialisation of the checked metadata, so no two readers can see different values.
      const okLatin1 = (what === 'a JSON body in latin1' || what === 'a duplicate member') && row.ok.includes(answer.status);
      const problems: string[] = [];
      if (!okLatin1 && (answer.status < 400 || answer.status >= 500)) problems.push(`status ${answer.status}`);
      if (!okLatin1 && (typeof json?.error !== 'string' || typeof json.error_description !== 'string')) problems.push('no OAuth error and description');
      if (/NUL or invalid UTF-8/.test(answer.text)) problems.push('the reason names bytes the body does not hold');
      if (what.startsWith('nested') && !/deeper than 32 levels/.test(answer.text)) problems.push('the reason does not say the body nests too deep');
      if (LEAK.test(answer.text)) problems.push('stack trace or file path');
      if (problems.length) failures.push(`${what}: ${problems.join('; ')} [${answer.status} ${answer.text.slice(0, 160)}]`);
    }
    expect(failures).toEqual([]);
  });
});
