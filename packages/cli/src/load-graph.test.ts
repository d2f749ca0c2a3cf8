// Every `clouddocs` command is a new process, so what a command loads is what it costs: the operator
// commands reach the auth server and the docs API through their toolkits and must not load either
// server (oidc-provider, koa) nor the passkey, TOTP and mail libraries or the common-password dictionary,
// which load at their first use.
// This walks the static imports of the sources (`import type` and `import()` are not loads).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const PACKAGES = fileURLToPath(new URL('../..', import.meta.url));
const COMMANDS = fileURLToPath(new URL('./commands', import.meta.url));
const HEAVY = ['oidc-provider', 'koa', '@koa/router', '@simplewebauthn/server', 'nodemailer', 'otplib', 'qrcode', '@zxcvbn-ts/language-common'];
/** Every package an operator command may load: the stores' drivers, the libraries' own needs, logging. A new one
 * must be added here on purpose (and be cheap to load), so nothing reaches a command unnoticed. */
const ALLOWED = new Set(['argon2', 'ioredis', 'jose', 'knex', 'pg', 'pino', 'rate-limiter-flexible', 'zod']);

/** The modules a source file loads when it is evaluated: its value imports and re-exports. */
export function staticImports(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const found: string[] = [];
  for (const m of code.matchAll(/^\s*(?:import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]/gm)) {
    if (!m[1]) found.push(m[2]!);
  }
  return found;
}

/** The source file a relative or `@clouddocs/…` specifier names; undefined for any other package. */
function resolveWorkspace(specifier: string, from: string): string | undefined {
  if (specifier.startsWith('.')) {
    const base = resolve(dirname(from), specifier);
    const found = [`${base}.ts`, join(base, 'index.ts'), base].find((candidate) => /\.(ts|js)$/.test(candidate) && existsSync(candidate));
    if (!found) throw new Error(`${from}: cannot follow '${specifier}'`);
    return found;
  }
  const m = /^@clouddocs\/([^/]+)(?:\/(.+))?$/.exec(specifier);
  if (!m) return undefined;
  const manifest = JSON.parse(readFileSync(join(PACKAGES, m[1]!, 'package.json'), 'utf8')) as { exports: Record<string, string> };
  const target = manifest.exports[m[2] ? `./${m[2]}` : '.'];
  if (!target) throw new Error(`${from}: '${specifier}' is not an entry point of @clouddocs/${m[1]}`);
  return join(PACKAGES, m[1]!, target);
}

/** Every package (outside the workspace) that loading `entry` loads, with the chain of files that leads to it. */
function packagesLoadedBy(entry: string): Map<string, string[]> {
  const packages = new Map<string, string[]>();
  const seen = new Set<string>([entry]);
  const queue: Array<{ file: string; chain: string[] }> = [{ file: entry, chain: [entry] }];
  while (queue.length > 0) {
    const { file, chain } = queue.shift()!;
    for (const specifier of staticImports(readFileSync(file, 'utf8'))) {
      if (specifier.startsWith('node:')) continue;
      const local = resolveWorkspace(specifier, file);
      if (local) {
        if (!seen.has(local)) {
          seen.add(local);
          queue.push({ file: local, chain: [...chain, local] });
        }
        continue;
      }
      const name = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!;
      if (!packages.has(name)) packages.set(name, chain.map((f) => f.slice(PACKAGES.length)));
    }
  }
  return packages;
}

describe('what a command loads', () => {
  it('reads value imports and re-exports, not type imports', () => {
    expect(staticImports(`import a from 'x';\nimport type { B } from 'y';\nexport { c } from './z';\nexport type { D } from './w';\nimport 'side';\nconst m = await import('lazy');\n// import gone from 'comment';`)).toEqual(['x', './z', 'side']);
  });

  // Every command runs through bin/clouddocs.js and main.ts first; `start` loads the services on purpose.
  const entries = [
    '../bin/clouddocs.js',
    'main.ts',
    ...readdirSync(COMMANDS)
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && f !== 'start.ts')
      .map((f) => `commands/${f}`),
  ];
  it.each(entries)('%s loads no server and no library it does not use', (entry) => {
    const loaded = packagesLoadedBy(fileURLToPath(new URL(entry, import.meta.url)));
    const unexpected = [...loaded.keys()].filter((name) => !ALLOWED.has(name)).map((name) => `${name} via ${loaded.get(name)!.join(' -> ')}`);
    expect(unexpected).toEqual([]);
  });

  it('the walk finds what the servers load (so an empty answer above means something), and refuses what it cannot follow', () => {
    const auth = packagesLoadedBy(join(PACKAGES, 'auth-server/src/index.ts'));
    for (const name of HEAVY) expect(auth.has(name), name).toBe(true);
    expect(packagesLoadedBy(join(PACKAGES, 'docs-api/src/index.ts')).has('koa')).toBe(true);
    for (const name of HEAVY) expect(ALLOWED.has(name), name).toBe(false);
    expect(() => resolveWorkspace('./no-such-module', join(COMMANDS, 'x.ts'))).toThrow(/cannot follow/);
    expect(() => resolveWorkspace('@clouddocs/auth-server/no-such-door', join(COMMANDS, 'x.ts'))).toThrow(/not an entry point/);
  });
});
