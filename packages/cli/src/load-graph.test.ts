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

/** The modules a source file loads when it is evaluated: its value imports and re-exports. */
export function staticImports(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const found: string[] = [];
  for (const m of code.matchAll(/^\s*(?:import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]/gm)) {
    if (!m[1]) found.push(m[2]!);
  }
  return found;
}

function resolveWorkspace(specifier: string, from: string): string | undefined {
  if (specifier.startsWith('.')) {
    const base = resolve(dirname(from), specifier);
    return [`${base}.ts`, join(base, 'index.ts'), base].find((candidate) => existsSync(candidate) && candidate.endsWith('.ts'));
  }
  const m = /^@clouddocs\/([^/]+)(?:\/(.+))?$/.exec(specifier);
  if (!m) return undefined;
  const manifest = JSON.parse(readFileSync(join(PACKAGES, m[1]!, 'package.json'), 'utf8')) as { exports: Record<string, string> };
  const target = manifest.exports[m[2] ? `./${m[2]}` : '.'];
  return target ? join(PACKAGES, m[1]!, target) : undefined;
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

  const operatorCommands = readdirSync(COMMANDS).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && f !== 'start.ts' && f !== 'index.ts');
  it.each(operatorCommands)('%s loads no server and no library it does not use', (file) => {
    const loaded = packagesLoadedBy(join(COMMANDS, file));
    const heavy = HEAVY.filter((name) => loaded.has(name)).map((name) => `${name} via ${loaded.get(name)!.join(' -> ')}`);
    expect(heavy).toEqual([]);
  });

  it('the walk finds what the servers load (so an empty answer above means something)', () => {
    const auth = packagesLoadedBy(join(PACKAGES, 'auth-server/src/index.ts'));
    for (const name of HEAVY) expect(auth.has(name), name).toBe(true);
    expect(packagesLoadedBy(join(PACKAGES, 'docs-api/src/index.ts')).has('koa')).toBe(true);
  });
});
