// Consent is remembered per user and client: a returning user signing in again (new browser, new
// session) is not asked again for what they already allowed; new scopes, prompt=consent, or a
// revoked grant bring the consent page back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, formsOf } from '../support/browser';
import { discover, oidc, startAuthorization } from '../support/rp';
import { REDIRECT_URI, startAuthStack, type AuthStack } from '../support/stack';

const isCallback = (url: string) => url.startsWith(`${REDIRECT_URI}?`);

/** Signs in; returns the pages shown on the way (login, consent) and the callback URL. */
async function signIn(config: oidc.Configuration, user: { email: string; password: string }, params: Record<string, string>) {
  const browser = new Browser();
  const start = await startAuthorization(config, params);
  const shown: string[] = [];
  let step = await browser.navigate(start.url, isCallback);
  for (let i = 0; i < 4 && !isCallback(step.url); i += 1) {
    const forms = formsOf(await step.response.text());
    const login = forms.find((f) => f.action.endsWith('/login'));
    const allow = forms.find((f) => f.action.endsWith('/confirm'));
    const form = login ?? allow;
    if (!form) throw new Error(`no form at ${step.url}`);
    shown.push(login ? 'login' : 'consent');
    const action = new URL(form.action, step.url);
    const response = await browser.postForm(action, login ? { ...form.fields, email: user.email, password: user.password } : form.fields);
    expect(response.status).toBe(303);
    step = await browser.follow(response, action, isCallback);
  }
  expect(isCallback(step.url)).toBe(true);
  return { shown, callback: new URL(step.url), start };
}

describe('remembered consent', () => {
  let stack: AuthStack;
  beforeAll(async () => {
    stack = await startAuthStack();
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('a returning user is not asked again for scopes already allowed; new scopes and prompt=consent ask again', async () => {
    const user = await stack.createUser();
    const client = await stack.createClient();
    const config = await discover(stack, client);

    expect((await signIn(config, user, { scope: 'openid email' })).shown).toEqual(['login', 'consent']);
    expect((await signIn(config, user, { scope: 'openid email' })).shown).toEqual(['login']);
    expect((await signIn(config, user, { scope: 'openid email profile' })).shown).toEqual(['login', 'consent']);
    expect((await signIn(config, user, { scope: 'openid email', prompt: 'login consent' })).shown).toEqual(['login', 'consent']);
  });

  it("one user's consent is never another user's", async () => {
    const client = await stack.createClient();
    const config = await discover(stack, client);
    const alice = await stack.createUser();
    const bob = await stack.createUser();
    expect((await signIn(config, alice, { scope: 'openid email' })).shown).toEqual(['login', 'consent']);
    expect((await signIn(config, bob, { scope: 'openid email' })).shown).toEqual(['login', 'consent']);
  });

  it('revoking the grant (refresh token revocation) forgets the consent', async () => {
    const user = await stack.createUser();
    const client = await stack.createClient();
    const config = await discover(stack, client);
    const first = await signIn(config, user, { scope: 'openid offline_access', prompt: 'consent' });
    expect(first.shown).toEqual(['login', 'consent']);
    const tokens = await oidc.authorizationCodeGrant(config, first.callback, { pkceCodeVerifier: first.start.verifier, expectedState: first.start.state, expectedNonce: first.start.nonce });
    expect(tokens.refresh_token).toBeTruthy();
    await oidc.tokenRevocation(config, tokens.refresh_token!);
    expect((await signIn(config, user, { scope: 'openid' })).shown).toEqual(['login', 'consent']);
  });
});
