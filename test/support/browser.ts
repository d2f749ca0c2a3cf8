// A minimal browser for the server-rendered interaction pages: plain fetch, redirects followed by
// hand, and a cookie jar that honours each cookie's Path (oidc-provider scopes its interaction and
// resume cookies to `/interaction/<uid>` and `/auth/<uid>`).

export interface StoredCookie {
  name: string;
  value: string;
  path: string;
}

export interface ParsedSetCookie extends StoredCookie {
  attributes: Record<string, string | true>;
  raw: string;
}

export function parseSetCookie(raw: string, requestUrl: URL): ParsedSetCookie {
  const [pair = '', ...attrs] = raw.split(';');
  const eq = pair.indexOf('=');
  const name = pair.slice(0, eq).trim();
  const value = pair.slice(eq + 1).trim();
  const attributes: Record<string, string | true> = {};
  for (const a of attrs) {
    const i = a.indexOf('=');
    if (i === -1) attributes[a.trim().toLowerCase()] = true;
    else attributes[a.slice(0, i).trim().toLowerCase()] = a.slice(i + 1).trim();
  }
  const defaultPath = requestUrl.pathname.replace(/\/[^/]*$/, '') || '/';
  const path = typeof attributes.path === 'string' ? attributes.path : defaultPath;
  return { name, value, path, attributes, raw };
}

function pathMatches(cookiePath: string, requestPath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/';
}

function expired(c: ParsedSetCookie): boolean {
  if (typeof c.attributes['max-age'] === 'string' && Number(c.attributes['max-age']) <= 0) return true;
  if (typeof c.attributes.expires === 'string' && Date.parse(c.attributes.expires) <= Date.now()) return true;
  return false;
}

export interface Hop {
  url: string;
  status: number;
  location: string | null;
}

export class Browser {
  private readonly jar = new Map<string, StoredCookie>();
  /** Every Set-Cookie this browser has received, for attribute checks. */
  readonly received: ParsedSetCookie[] = [];

  cookieHeader(url: URL): string {
    return [...this.jar.values()]
      .filter((c) => pathMatches(c.path, url.pathname))
      .sort((a, b) => b.path.length - a.path.length)
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }

  cookies(): StoredCookie[] {
    return [...this.jar.values()];
  }

  /** One request, no redirect following; cookies sent and stored. */
  async request(url: string | URL, init: { method?: string; body?: string; headers?: Record<string, string> } = {}): Promise<Response> {
    const target = new URL(url);
    const headers: Record<string, string> = { accept: 'text/html', ...init.headers };
    const cookie = this.cookieHeader(target);
    if (cookie) headers.cookie = cookie;
    const res = await fetch(target, { method: init.method ?? 'GET', headers, body: init.body, redirect: 'manual' });
    for (const raw of res.headers.getSetCookie()) {
      const parsed = parseSetCookie(raw, target);
      this.received.push(parsed);
      const key = `${parsed.name}|${parsed.path}`;
      if (expired(parsed)) this.jar.delete(key);
      else this.jar.set(key, { name: parsed.name, value: parsed.value, path: parsed.path });
    }
    return res;
  }

  /** A urlencoded form POST, as a browser submits it. */
  postForm(url: string | URL, fields: Record<string, string>): Promise<Response> {
    return this.request(url, {
      method: 'POST',
      body: new URLSearchParams(fields).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
  }

  /**
   * Follows redirects with GET until a page is reached or `stopAt(url)` says the next hop leaves the
   * authorization server (the client's redirect_uri is never fetched).
   */
  async follow(start: Response, from: string | URL, stopAt: (url: string) => boolean): Promise<{ response: Response; url: string; hops: Hop[] }> {
    let response = start;
    let url = new URL(from).toString();
    const hops: Hop[] = [{ url, status: response.status, location: response.headers.get('location') }];
    for (let i = 0; i < 20; i++) {
      const location = response.headers.get('location');
      if (response.status < 300 || response.status >= 400 || !location) return { response, url, hops };
      const next = new URL(location, url).toString();
      if (stopAt(next)) return { response, url: next, hops };
      await response.body?.cancel();
      response = await this.request(next);
      url = next;
      hops.push({ url, status: response.status, location: response.headers.get('location') });
    }
    throw new Error('too many redirects');
  }

  async navigate(url: string | URL, stopAt: (url: string) => boolean = () => false) {
    return this.follow(await this.request(url), url, stopAt);
  }
}

export interface PageForm {
  action: string;
  fields: Record<string, string>;
  button: string;
}

function unescapeHtml(s: string): string {
  return s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

/** The POST forms of a server-rendered page, with their hidden/prefilled fields and submit button text. */
export function formsOf(html: string): PageForm[] {
  const forms: PageForm[] = [];
  for (const m of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const attrs = m[1] ?? '';
    const inner = m[2] ?? '';
    const action = unescapeHtml(/action="([^"]*)"/i.exec(attrs)?.[1] ?? '');
    const fields: Record<string, string> = {};
    for (const input of inner.matchAll(/<input\b([^>]*)>/gi)) {
      const a = input[1] ?? '';
      const name = /name="([^"]*)"/i.exec(a)?.[1];
      if (name) fields[unescapeHtml(name)] = unescapeHtml(/value="([^"]*)"/i.exec(a)?.[1] ?? '');
    }
    const button = /<button\b[^>]*type="submit"[^>]*>([\s\S]*?)<\/button>/i.exec(inner)?.[1]?.trim() ?? '';
    forms.push({ action, fields, button });
  }
  return forms;
}

/** The visible text of a page (tags, style and script removed), for comparing what a person sees. */
export function visibleText(html: string): string {
  return unescapeHtml(
    html
      .replace(/<style[\s\S]*?<\/style>/gi, '')
      .replace(/<script[\s\S]*?<\/script>/gi, '')
      .replace(/<[^>]+>/g, ' '),
  )
    .replace(/\s+/g, ' ')
    .trim();
}
