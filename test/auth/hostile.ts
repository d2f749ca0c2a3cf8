// Helpers of the hardening and fuzz suites (test/auth/hardening.test.ts, test/auth/fuzz.test.ts):
// requests with bytes that fetch refuses to put in a header, a browser that speaks from an address of
// its own (the server trusts X-Forwarded-For in these suites, so every case has its own rate-limit
// allowance), the cache behind a switch, the dev outbox, and the steps that put a browser on a page.
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { generate } from 'otplib';
import { Browser } from '../support/browser';
import { REDIRECT_URI } from '../support/stack';
import { oidc, startAuthorization, type AuthorizationStart } from '../support/rp';

/** A distinct client address for every call (198.18.0.0/15 is reserved for benchmarks: never a real client). */
let addresses = 0;
export function nextAddress(): string {
  addresses += 1;
  return `198.18.${(addresses >> 8) & 255}.${addresses & 255}`;
}

/** The test browser, sending every request from its own address (X-Forwarded-For, trusted by these suites). */
export class BrowserAt extends Browser {
  constructor(readonly address: string = nextAddress()) {
    super();
  }

  override request(url: string | URL, init: { method?: string; body?: string; headers?: Record<string, string> } = {}): Promise<Response> {
    return super.request(url, { ...init, headers: { 'x-forwarded-for': this.address, ...init.headers } });
  }
}

export interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

export async function answerOf(response: Response): Promise<Answer> {
  return { status: response.status, headers: response.headers, text: await response.text() };
}

/**
 * One HTTP/1.1 request over a plain socket, for header bytes that fetch will not send (a NUL, a raw
 * 0xFF). The answer is read to the end of the connection.
 */
export function rawRequest(url: string | URL, init: { method: string; headers: Record<string, string | Buffer>; body?: string }): Promise<Answer> {
  const target = new URL(url);
  const body = init.body === undefined ? undefined : Buffer.from(init.body, 'utf8');
  const lines: Buffer[] = [Buffer.from(`${init.method} ${target.pathname}${target.search} HTTP/1.1\r\nHost: ${target.host}\r\nConnection: close\r\n`, 'latin1')];
  for (const [name, value] of Object.entries(init.headers)) lines.push(Buffer.concat([Buffer.from(`${name}: `, 'latin1'), typeof value === 'string' ? Buffer.from(value, 'latin1') : value, Buffer.from('\r\n')]));
  if (body) lines.push(Buffer.from(`Content-Length: ${body.length}\r\n`, 'latin1'));
  lines.push(Buffer.from('\r\n'));
  if (body) lines.push(body);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    // write, not end: a half-closed connection may be closed by the server before it answers.
    const socket = connect(Number(target.port), target.hostname, () => socket.write(Buffer.concat(lines)));
    socket.on('data', (c: Buffer) => chunks.push(c));
    // A server that answers before reading the whole body may reset the connection: the answer counts.
    socket.on('error', (err) => {
      if (!chunks.length) reject(err);
    });
    socket.on('close', () => {
      const raw = Buffer.concat(chunks);
      const split = raw.indexOf('\r\n\r\n');
      const head = raw.subarray(0, split === -1 ? raw.length : split).toString('latin1').split('\r\n');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head[0] ?? '')?.[1] ?? 0);
      const headers = new Headers();
      for (const line of head.slice(1)) {
        const colon = line.indexOf(':');
        if (colon > 0) headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
      }
      let payload = split === -1 ? Buffer.alloc(0) : raw.subarray(split + 4);
      if (/chunked/i.test(headers.get('transfer-encoding') ?? '')) {
        const parts: Buffer[] = [];
        for (let at = 0; at < payload.length; ) {
          const eol = payload.indexOf('\r\n', at);
          const size = parseInt(payload.subarray(at, eol).toString('latin1'), 16);
          if (!size) break;
          parts.push(payload.subarray(eol + 2, eol + 2 + size));
          at = eol + 2 + size + 2;
        }
        payload = Buffer.concat(parts);
      }
      resolve({ status, headers, text: payload.toString('utf8') });
    });
  });
}

export function basic(client: { client_id: string; client_secret?: string }): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(client.client_id)}:${encodeURIComponent(client.client_secret ?? '')}`).toString('base64')}`;
}

export function jsonOf(text: string): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(text) as unknown;
    return value && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** A stack trace or a file path in an answer: never acceptable. */
export const LEAK = /node_modules|\n\s+at |\.ts:\d+/;

// --- Pages -------------------------------------------------------------------------------------

import { formFor as formOf, toPage, type Page } from '../account/flow';

export { formOf, toPage, type Page };

const atCallback = (url: string) => url.startsWith(`${REDIRECT_URI}?`);

/** Follows the browser to the next page, stopping before the client's redirect_uri or where `stop` says. */
export async function go(browser: Browser, url: string | URL, stop: (url: string) => boolean = atCallback): Promise<Page> {
  const step = await browser.navigate(url, stop);
  if (stop(step.url)) return { url: step.url, status: step.response.status, headers: step.response.headers, html: '', text: '', forms: [] };
  return toPage(step.response, step.url);
}

/** Submits a form of the page (its own fields, then `fields`) and follows a 303 to the next page. */
export async function submit(browser: Browser, page: Page, suffix: string, fields: Record<string, string> = {}, stop: (url: string) => boolean = atCallback): Promise<Page> {
  const form = formOf(page, suffix);
  const action = new URL(form.action, page.url);
  const response = await browser.postForm(action, { ...form.fields, ...fields });
  if (response.status !== 303) return toPage(response, action.toString());
  const step = await browser.follow(response, action, stop);
  if (stop(step.url)) return { url: step.url, status: 303, headers: step.response.headers, html: '', text: '', forms: [] };
  return toPage(step.response, step.url);
}

/** An authorization request of the client, as far as the first page (login or consent) or the callback. */
export async function openAuthorization(browser: Browser, config: oidc.Configuration, params: Record<string, string> = {}): Promise<{ start: AuthorizationStart; page: Page }> {
  const start = await startAuthorization(config, params);
  return { start, page: await go(browser, start.url) };
}

/** Signs the browser in to the account console (/account) through the ordinary login page. */
export async function signInToAccount(browser: Browser, issuer: string, user: { email: string; password: string }): Promise<Page> {
  const login = await go(browser, `${issuer}/account/login`);
  const page = await submit(browser, login, '/login', { email: user.email, password: user.password });
  if (page.url !== `${issuer}/account` || page.status !== 200) throw new Error(`account sign-in ended at ${page.url} (${page.status}): ${page.text.slice(0, 200)}`);
  return page;
}

/** Turns on TOTP for the signed-in account (console): returns the secret, for codes. */
export async function enrolTotp(browser: Browser, issuer: string, password: string): Promise<string> {
  const account = await go(browser, `${issuer}/account`);
  const enrol = await submit(browser, account, '/account/mfa/totp/start', { password });
  const secret = /data-secret="([A-Z2-7]+)"/.exec(enrol.html)?.[1];
  if (!secret) throw new Error(`no TOTP secret at ${enrol.url}: ${enrol.text.slice(0, 200)}`);
  const done = await submit(browser, enrol, '/account/mfa/totp/confirm', { code: await generate({ secret }) });
  if (!done.url.endsWith('/account/mfa/recovery-codes')) throw new Error(`TOTP enrolment ended at ${done.url}`);
  return secret;
}

export const totpCode = (secret: string) => generate({ secret });

export const uniqueEmail = (what = 'fuzz') => `${what}-${randomBytes(5).toString('hex')}@example.test`;

// --- Mail --------------------------------------------------------------------------------------

/** The link in the newest mail to this address in the dev outbox (mail leaves in the background: waits for it). */
export async function mailedLink(dataDir: string, to: string, subject: RegExp): Promise<string> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const dir = join(dataDir, 'outbox');
    const files = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.json')).sort();
    const mails = await Promise.all(files.map(async (f) => JSON.parse(await readFile(join(dir, f), 'utf8')) as { to: string; subject: string; text: string }));
    const mail = mails.filter((m) => m.to === to && subject.test(m.subject)).at(-1);
    const link = mail && /https?:\/\/\S+/.exec(mail.text)?.[0];
    if (link) return link;
    if (Date.now() > deadline) throw new Error(`no mail to ${to} matching ${subject} in ${dir}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}


// --- JSON bodies -------------------------------------------------------------------------------

/** A 100 KiB string: longer than any field and than every body limit (the answer is a 413 with its reason). */
export const HUGE_STRING = 'x'.repeat(100 * 1024);
/** A long string under the body limits (56 KiB), so that the field's own rules answer. */
export const LONG_STRING = 'x'.repeat(40 * 1024);
const MARK = 'FUZZ\u2603MARK';

/** A copy of `value` with the member at `path` (dotted, numbers index arrays) set to `to`. */
export function withPath(value: unknown, path: string, to: unknown): unknown {
  const copy = structuredClone(value) as Record<string, unknown>;
  const keys = path.split('.');
  let at: Record<string, unknown> = copy;
  for (const key of keys.slice(0, -1)) at = at[key] as Record<string, unknown>;
  at[keys.at(-1)!] = to;
  return copy;
}

/** The member at `path`, if any. */
export function atPath(value: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((at, key) => (at && typeof at === 'object' ? (at as Record<string, unknown>)[key] : undefined), value);
}

/** The raw bytes of `value` as JSON with the member at `path` replaced by a string holding `bytes` as they are (not escaped). */
function withRawBytes(value: unknown, path: string, bytes: Buffer): Buffer {
  const [before, after] = JSON.stringify(withPath(value, path, MARK)).split(MARK) as [string, string];
  return Buffer.concat([Buffer.from(before, 'utf8'), Buffer.from('ok'), bytes, Buffer.from(after, 'utf8')]);
}

export interface JsonCase {
  name: string;
  /** The request body exactly as sent. */
  body: Buffer;
  /** null stands for an absent field: an answer of the untouched request is acceptable too. */
  absentIsFine: boolean;
}

/**
 * Hostile values for one member of a JSON body: a NUL (escaped, and as a raw byte), invalid UTF-8 bytes
 * sent raw (0xFF, 0xC3 0x28), a 100 KiB string, a 40 KiB string, and every JSON type the member does
 * not have (number, string, array, object, null, boolean).
 */
export function jsonCasesOf(base: unknown, path: string): JsonCase[] {
  const current = atPath(base, path);
  const typeOf = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
  const raw = (body: unknown) => Buffer.from(JSON.stringify(body), 'utf8');
  const cases: JsonCase[] = [
    { name: `${path}: escaped NUL (\\u0000)`, body: raw(withPath(base, path, `ok\u0000`)), absentIsFine: false },
    { name: `${path}: raw NUL byte`, body: withRawBytes(base, path, Buffer.from([0x00])), absentIsFine: false },
    { name: `${path}: raw 0xFF`, body: withRawBytes(base, path, Buffer.from([0xff])), absentIsFine: false },
    { name: `${path}: raw 0xC3 0x28`, body: withRawBytes(base, path, Buffer.from([0xc3, 0x28])), absentIsFine: false },
    { name: `${path}: 100 KiB string`, body: raw(withPath(base, path, HUGE_STRING)), absentIsFine: false },
    { name: `${path}: 40 KiB string`, body: raw(withPath(base, path, LONG_STRING)), absentIsFine: false },
  ];
  const others: [string, unknown][] = [
    ['number', 12345],
    ['string', 'not-the-right-type'],
    ['array', [1, { a: 1 }]],
    ['object', { a: 1 }],
    ['null', null],
    ['boolean', true],
  ];
  for (const [type, value] of others) {
    if (type === typeOf(current)) continue;
    cases.push({ name: `${path}: ${type}`, body: raw(withPath(base, path, value)), absentIsFine: type === 'null' });
  }
  return cases;
}

/**
 * What every hostile JSON case must get: a 4xx (or, for a field set to null, the untouched request's
 * answer), with its reason: an OAuth error code (`oauth`) or problem+json with a detail (`problem`);
 * never a 5xx, a stack trace or a file path.
 */
export function judgeJson(format: 'oauth' | 'problem', c: JsonCase, a: Answer, ok: number[]): string[] {
  const problems: string[] = [];
  const json = jsonOf(a.text);
  if (a.status >= 500) problems.push(`status ${a.status}`);
  if (LEAK.test(a.text)) problems.push('stack trace or file path in the body');
  if (c.absentIsFine && ok.includes(a.status)) return problems;
  if (a.status < 400 || a.status >= 500) problems.push(`status ${a.status}, expected 4xx`);
  if (format === 'oauth') {
    if (typeof json?.error !== 'string') problems.push('no OAuth error code');
    else if (typeof json.error_description !== 'string' || !json.error_description) problems.push('no error_description');
    if (!/^application\/json/.test(a.headers.get('content-type') ?? '')) problems.push(`content-type ${a.headers.get('content-type')}`);
  } else {
    if (!/^application\/problem\+json/.test(a.headers.get('content-type') ?? '')) problems.push(`content-type ${a.headers.get('content-type')}`);
    if (json?.status !== a.status || typeof json?.detail !== 'string' || !json.detail) problems.push('no problem detail');
  }
  return problems;
}
