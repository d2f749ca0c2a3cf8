// Server-rendered pages: one layout, escaped values, a per-response CSP nonce for the stylesheet.
// Only the passkey pages run a script (views/passkey.ts, by nonce); every other form works without JavaScript.

export function escapeHtml(value: unknown): string {
  return String(value ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** Tagged template: interpolations are escaped unless wrapped in `raw()`. */
export class Raw {
  constructor(readonly html: string) {}
}
export const raw = (html: string) => new Raw(html);
export function html(strings: TemplateStringsArray, ...values: unknown[]): Raw {
  let out = strings[0] ?? '';
  values.forEach((v, i) => {
    const piece = Array.isArray(v) ? v.map((x) => (x instanceof Raw ? x.html : escapeHtml(x))).join('') : v instanceof Raw ? v.html : escapeHtml(v);
    out += piece + (strings[i + 1] ?? '');
  });
  return new Raw(out);
}

const STYLE = `
  :root { color-scheme: light dark; font-family: system-ui, -apple-system, "Segoe UI", sans-serif; }
  body { margin: 0; min-height: 100vh; display: grid; place-items: center; background: Canvas; }
  main { width: min(26rem, 92vw); padding: 2rem; border: 1px solid color-mix(in srgb, CanvasText 15%, transparent); border-radius: 12px; }
  h1 { font-size: 1.35rem; margin: 0 0 1rem; }
  label { display: block; margin: .9rem 0 .3rem; font-weight: 600; }
  input[type=email], input[type=password], input[type=text] { width: 100%; box-sizing: border-box; padding: .6rem; font-size: 1rem; border-radius: 6px; border: 1px solid GrayText; }
  button { margin-top: 1.2rem; padding: .6rem 1.2rem; font-size: 1rem; border-radius: 6px; border: 0; cursor: pointer; }
  button.primary { background: #2457d6; color: #fff; }
  button.secondary { background: transparent; color: inherit; border: 1px solid GrayText; }
  .row { display: flex; gap: .6rem; flex-wrap: wrap; }
  .error { padding: .7rem; border-radius: 6px; background: color-mix(in srgb, #d33 18%, Canvas); }
  .notice { padding: .7rem; border-radius: 6px; background: color-mix(in srgb, #2a2 15%, Canvas); }
  ul.scopes { padding-left: 1.2rem; } small, .muted { color: GrayText; }
  a { color: #2457d6; }
`;

export function page(options: { title: string; nonce: string; body: Raw; script?: string }): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(options.title)} · CloudDocs</title>
<style nonce="${escapeHtml(options.nonce)}">${STYLE}</style>
</head>
<body>
<main>
${options.body.html}
</main>${options.script ? `\n<script nonce="${escapeHtml(options.nonce)}">${options.script}</script>` : ''}
</body>
</html>`;
}
