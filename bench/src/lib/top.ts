// Prints the functions with the most self time in a V8 .cpuprofile: `npx tsx bench/src/lib/top.ts FILE [N]`.
import { readFileSync } from 'node:fs';

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }
const [file, n = '25'] = process.argv.slice(2);
const profile = JSON.parse(readFileSync(file!, 'utf8')) as { nodes: Node[]; samples: number[] };
const hits = new Map<number, number>();
for (const s of profile.samples) hits.set(s, (hits.get(s) ?? 0) + 1);
const byFrame = new Map<string, number>();
for (const node of profile.nodes) {
  const { functionName, url, lineNumber } = node.callFrame;
  const key = `${functionName || '(anonymous)'} ${url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/main\//, '')}:${lineNumber + 1}`;
  byFrame.set(key, (byFrame.get(key) ?? 0) + (hits.get(node.id) ?? 0));
}
const total = profile.samples.length;
for (const [key, count] of [...byFrame].sort((a, b) => b[1] - a[1]).slice(0, Number(n))) {
  console.log(`${((100 * count) / total).toFixed(1).padStart(5)}%  ${key}`);
}
