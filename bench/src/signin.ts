// The sign-in benchmark: complete browser-less sign-ins (authorize -> login form post -> consent ->
// code -> token), and its baseline, raw argon2id hashing on the same number of threads.
import { createHash, randomBytes } from 'node:crypto';
import argon2 from 'argon2';
import { argon2ParamsFrom, createAccountLibrary, createClientLibrary, PasswordHasher } from '@clouddocs/auth-server';
import type { BenchStores } from './lib/stores';

export const SIGN_IN_REDIRECT_URI = 'http://127.0.0.1:9/cb';

/** A web client and `count` accounts with their passwords, for the sign-in scripts that run alone. */
export async function seedSignIn(stores: BenchStores, name: string, count: number) {
  const { config, admin, box } = stores;
  const web = await createClientLibrary({ knex: admin, box, issuer: config.AUTH_ISSUER }).create({ name, redirectUris: [SIGN_IN_REDIRECT_URI] });
  const accounts = createAccountLibrary({ knex: admin, hasher: new PasswordHasher(argon2ParamsFrom(config)) });
  const users = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const password = `${name}-password-${i}`;
      return { email: (await accounts.create({ email: `${name}${i}@clouddocs.test`, password })).email, password };
    }),
  );
  /** What signIn and signInBench take besides the users and the issuer. */
  const client = { clientId: web.client_id, clientSecret: web.client_secret!, redirectUri: SIGN_IN_REDIRECT_URI };
  return { client, users };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!);
}

export async function argon2Baseline(params: { memoryCost: number; timeCost: number; parallelism: number }, seconds: number, threads: number) {
  const deadline = Date.now() + seconds * 1000;
  let done = 0;
  const worker = async () => {
    while (Date.now() < deadline) {
      await argon2.hash(randomBytes(12).toString('hex'), { type: argon2.argon2id, ...params });
      done += 1;
    }
  };
  const started = Date.now();
  await Promise.all(Array.from({ length: threads }, worker));
  return { perSecond: done / ((Date.now() - started) / 1000) };
}

class Jar {
  private cookies = new Map<string, string>();
  take(response: Response) {
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (/max-age=0|expires=thu, 01 jan 1970/i.test(line) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
  header() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

/** One complete sign-in through the pages, as a browser without JavaScript would; the token response. */
export async function signIn(o: { issuer: string; clientId: string; clientSecret: string; redirectUri: string; email: string; password: string; scope?: string }): Promise<Record<string, unknown>> {
  const jar = new Jar();
  const verifier = randomBytes(32).toString('base64url');
  const authorize = new URL('/auth', o.issuer);
  authorize.search = new URLSearchParams({
    client_id: o.clientId,
    response_type: 'code',
    scope: o.scope ?? 'openid docs:read',
    redirect_uri: o.redirectUri,
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    state: randomBytes(8).toString('hex'),
  }).toString();
  let url = authorize.toString();
  for (let step = 0; step < 12; step += 1) {
    const response = await fetch(url, { redirect: 'manual', headers: { cookie: jar.header() } });
    jar.take(response);
    const location = response.headers.get('location');
    if (location) {
      const next = new URL(location, url);
      if (next.href.startsWith(o.redirectUri)) {
        const code = next.searchParams.get('code');
        if (!code) throw new Error(`no code: ${next.search}`);
        const token = await fetch(new URL('/token', o.issuer), {
          method: 'POST',
          headers: {
            authorization: `Basic ${Buffer.from(`${o.clientId}:${o.clientSecret}`).toString('base64')}`,
            'content-type': 'application/x-www-form-urlencoded',
          },
          body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: o.redirectUri, code_verifier: verifier }),
        });
        if (token.status !== 200) throw new Error(`token ${token.status}`);
        return (await token.json()) as Record<string, unknown>;
      }
      await response.arrayBuffer();
      url = next.href;
      continue;
    }
    const html = await response.text();
    const csrf = /name="csrf" value="([^"]+)"/.exec(html)?.[1];
    const action = /<form method="post" action="([^"]+\/(login|confirm))"/.exec(html)?.[1];
    if (!csrf || !action) throw new Error(`unexpected page ${response.status}`);
    const body = action.endsWith('/login') ? new URLSearchParams({ email: o.email, password: o.password, csrf }) : new URLSearchParams({ csrf });
    const posted = await fetch(new URL(action, url), {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' },
      body,
    });
    jar.take(posted);
    await posted.arrayBuffer();
    const next = posted.headers.get('location');
    if (!next) throw new Error(`form post answered ${posted.status}`);
    url = new URL(next, url).href;
  }
  throw new Error('too many steps');
}

export async function signInBench(o: {
  issuer: string;
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  users: { email: string; password: string }[];
  seconds: number;
  concurrency: number;
}) {
  const deadline = Date.now() + o.seconds * 1000;
  const latencies: number[] = [];
  let failures = 0;
  const started = Date.now();
  await Promise.all(
    Array.from({ length: o.concurrency }, async (_, i) => {
      const user = o.users[i % o.users.length]!;
      while (Date.now() < deadline) {
        const t = performance.now();
        try {
          await signIn({ ...o, ...user });
          latencies.push(performance.now() - t);
        } catch {
          failures += 1;
        }
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  return { completed: latencies.length, perSecond: latencies.length / ((Date.now() - started) / 1000), p50: percentile(latencies, 50), p99: percentile(latencies, 99), failures };
}
