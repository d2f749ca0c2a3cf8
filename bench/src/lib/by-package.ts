// Self time of a V8 .cpuprofile grouped by package/file area: `npx tsx bench/src/lib/by-package.ts FILE`.
import { readFileSync } from 'node:fs';
interface Node { id: number; callFrame: { functionName: string; url: string } }
const profile = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as { nodes: Node[]; samples: number[] };
const hits = new Map<number, number>();
for (const s of profile.samples) hits.set(s, (hits.get(s) ?? 0) + 1);
const groups = new Map<string, number>();
for (const n of profile.nodes) {
  const url = n.callFrame.url;
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url) ?? /\/main\/(packages\/[^/]+)/.exec(url);
  const key = m ? m[1]! : url.startsWith('node:') ? url.split('/')[0]!.replace(/:.*/, ':') + url.split('/').slice(1, 2).join('') : n.callFrame.functionName || '(native)';
  groups.set(key, (groups.get(key) ?? 0) + (hits.get(n.id) ?? 0));
}
const total = profile.samples.length;
for (const [k, v] of [...groups].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`${((100 * v) / total).toFixed(1).padStart(5)}%  ${k}`);
