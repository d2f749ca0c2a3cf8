// "Notes", a third-party web app on a loopback port: a "Login with CloudDocs" button, the
// authorization code flow with PKCE through openid-client v6, and pages that show what it holds
// (the ID token claims, whether a refresh works). Plain node:http; one visitor at a time is enough.
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import * as oidc from 'openid-client';

export interface NotesApp {
  url: string;
  redirectUri: string;
  /** What the app holds after the last callback. */
  tokens(): oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers | undefined;
  close(): Promise<void>;
}

const esc = (s: unknown) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const page = (title: string, body: string) =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)} · Notes</title></head><body><main>${body}</main></body></html>`;

export async function startNotesApp(options: { issuer: string; port: number; clientId: string; clientSecret: string; scope: string }): Promise<NotesApp> {
  const base = `http://127.0.0.1:${options.port}`;
  const redirectUri = `${base}/callback`;
  const config = await oidc.discovery(new URL(options.issuer), options.clientId, undefined, oidc.ClientSecretBasic(options.clientSecret), {
    execute: [oidc.allowInsecureRequests],
  });
  const pending = new Map<string, { verifier: string; state: string; nonce: string }>();
  let held: (oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers) | undefined;

  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', base);
      const send = (status: number, html: string, headers: Record<string, string> = {}) => {
        res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', ...headers });
        res.end(html);
      };
      if (url.pathname === '/') {
        return send(200, page('Home', `<h1>Notes</h1><form method="get" action="/login"><input type="hidden" name="prompt" value="${esc(url.searchParams.get('prompt') ?? 'consent')}"><button type="submit">Login with CloudDocs</button></form>`));
      }
      if (url.pathname === '/login') {
        const verifier = oidc.randomPKCECodeVerifier();
        const state = oidc.randomState();
        const nonce = oidc.randomNonce();
        const id = randomBytes(16).toString('hex');
        pending.set(id, { verifier, state, nonce });
        const target = oidc.buildAuthorizationUrl(config, {
          redirect_uri: redirectUri,
          scope: options.scope,
          code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
          code_challenge_method: 'S256',
          state,
          nonce,
          prompt: url.searchParams.get('prompt') ?? 'consent',
          // A step-up request (/login?acr_values=…) passes through.
          ...(url.searchParams.get('acr_values') ? { acr_values: url.searchParams.get('acr_values')! } : {}),
        });
        return send(302, '', { location: target.href, 'set-cookie': `notes_login=${id}; HttpOnly; SameSite=Lax; Path=/` });
      }
      if (url.pathname === '/callback') {
        const id = /notes_login=([0-9a-f]+)/.exec(req.headers.cookie ?? '')?.[1];
        const started = id ? pending.get(id) : undefined;
        if (!started) return send(400, page('Error', '<h1>No sign-in in progress</h1>'));
        pending.delete(id!);
        try {
          held = await oidc.authorizationCodeGrant(config, url, { pkceCodeVerifier: started.verifier, expectedState: started.state, expectedNonce: started.nonce, idTokenExpected: true });
        } catch (err) {
          return send(400, page('Error', `<h1>Sign-in failed</h1><p id="error">${esc((err as { error?: string }).error ?? (err as Error).message)}</p>`));
        }
        const claims = held.claims()!;
        return send(
          200,
          page(
            'Signed in',
            `<h1>Signed in as <span id="email">${esc(claims.email)}</span></h1>
<p>Verified email: <span id="email-verified">${esc(claims.email_verified)}</span></p>
<p>Methods: <span id="amr">${esc(((claims.amr as string[] | undefined) ?? []).join(' '))}</span></p>
<p>Level: <span id="acr">${esc(claims.acr ?? '')}</span></p>
<p>Refresh token: <span id="has-refresh">${held.refresh_token ? 'yes' : 'no'}</span></p>
<p><a href="/refresh">Refresh now</a></p>`,
          ),
        );
      }
      if (url.pathname === '/refresh') {
        if (!held?.refresh_token) return send(400, page('Refresh', '<p id="refresh">no refresh token</p>'));
        try {
          const next = await oidc.refreshTokenGrant(config, held.refresh_token);
          held = next;
          return send(200, page('Refresh', '<p id="refresh">refreshed</p>'));
        } catch (err) {
          return send(200, page('Refresh', `<p id="refresh">refresh failed: ${esc((err as { error?: string }).error ?? (err as Error).message)}</p>`));
        }
      }
      send(404, page('Not found', '<h1>Not found</h1>'));
    })().catch((err) => {
      res.writeHead(500);
      res.end(String(err));
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port, '127.0.0.1', resolve));
  return {
    url: base,
    redirectUri,
    tokens: () => held,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
