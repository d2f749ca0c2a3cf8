// Driving the sign-in pages with the fetch browser of test/support: open a login page for a client,
// submit forms, follow redirects up to the client's redirect_uri.
import { expect } from 'vitest';
import { Browser, formsOf, visibleText, type PageForm } from '../support/browser';
import { discover, oidc, startAuthorization, type AuthorizationStart } from '../support/rp';
import type { SecurityStack } from './support';

export const CALLBACK = 'http://127.0.0.1:8080/callback';
export const atCallback = (url: string) => url.startsWith(`${CALLBACK}?`);

export interface Page {
  url: string;
  status: number;
  headers: Headers;
  html: string;
  text: string;
  forms: PageForm[];
}

export async function toPage(response: Response, url: string): Promise<Page> {
  const html = await response.text();
  return { url, status: response.status, headers: response.headers, html, text: visibleText(html), forms: formsOf(html) };
}

export function formFor(page: Page, suffix: string): PageForm {
  const form = page.forms.find((f) => f.action.endsWith(suffix));
  if (!form) throw new Error(`no form posting to *${suffix} at ${page.url}: ${page.text.slice(0, 300)}`);
  return form;
}

export class Visitor {
  readonly browser = new Browser();
  config!: oidc.Configuration;
  start!: AuthorizationStart;

  constructor(readonly stack: Pick<SecurityStack, 'issuer'>) {}

  /** An authorization request of the client, up to the first page (the login page). */
  async open(client: { client_id: string; client_secret?: string }, params: Record<string, string> = {}): Promise<Page> {
    this.config = await discover(this.stack, client);
    this.start = await startAuthorization(this.config, params);
    const step = await this.browser.navigate(this.start.url, atCallback);
    return toPage(step.response, step.url);
  }

  async get(url: string): Promise<Page> {
    const step = await this.browser.navigate(new URL(url, this.stack.issuer), atCallback);
    return toPage(step.response, step.url);
  }

  /** Submits a form of the page; returns the raw response (not followed). */
  async submit(page: Page, suffix: string, fields: Record<string, string> = {}): Promise<{ response: Response; action: URL }> {
    const form = formFor(page, suffix);
    const action = new URL(form.action, page.url);
    return { response: await this.browser.postForm(action, { ...form.fields, ...fields }), action };
  }

  /** Submits and follows the redirects (303 expected) to the next page or the client's callback. */
  async submitAndFollow(page: Page, suffix: string, fields: Record<string, string> = {}): Promise<Page> {
    const { response, action } = await this.submit(page, suffix, fields);
    if (response.status !== 303) return toPage(response, action.toString());
    const step = await this.browser.follow(response, action, atCallback);
    if (atCallback(step.url)) return { url: step.url, status: 303, headers: step.response.headers, html: '', text: '', forms: [] };
    return toPage(step.response, step.url);
  }

  /** Signs in (and allows, when asked) until the client's callback; returns the tokens. */
  async signIn(client: { client_id: string; client_secret?: string }, user: { email: string; password: string }, params: Record<string, string> = {}) {
    let page = await this.open(client, params);
    page = await this.submitAndFollow(page, '/login', { email: user.email, password: user.password });
    if (!atCallback(page.url)) page = await this.submitAndFollow(page, '/confirm');
    expect(atCallback(page.url), `expected the callback, got ${page.url}: ${page.text.slice(0, 200)}`).toBe(true);
    return this.redeem(page.url);
  }

  redeem(callbackUrl: string) {
    return oidc.authorizationCodeGrant(this.config, new URL(callbackUrl), {
      pkceCodeVerifier: this.start.verifier,
      expectedState: this.start.state,
      expectedNonce: this.start.nonce,
      idTokenExpected: true,
    });
  }

  sessionCookie(): string | undefined {
    return this.browser.cookies().find((c) => c.name === 'cd_session')?.value;
  }
}
