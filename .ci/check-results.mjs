// Fails CI when an expected suite is missing, skipped, or ran no test, and prints the closing line.
import { readFileSync, existsSync } from 'node:fs';
import { relative } from 'node:path';

const file = process.argv[2];
if (!file || !existsSync(file)) {
  console.error(`check-results: no test report at ${file}`);
  process.exit(1);
}
const report = JSON.parse(readFileSync(file, 'utf8'));
const expected = {
  config: 'packages/config/',
  db: 'packages/db/',
  kv: 'packages/kv/',
  audit: 'packages/audit/',
  'auth-server': 'packages/auth-server/',
  'docs-api': 'packages/docs-api/',
  cli: 'packages/cli/',
  e2e: 'test/',
};
const counts = Object.fromEntries(Object.keys(expected).map((k) => [k, { passed: 0, failed: 0, skipped: 0 }]));
for (const suite of report.testResults ?? []) {
  const path = relative(process.cwd(), suite.name);
  const project = Object.keys(expected).find((k) => path.startsWith(expected[k]));
  if (!project) continue;
  for (const t of suite.assertionResults ?? []) {
    if (t.status === 'passed') counts[project].passed += 1;
    else if (t.status === 'failed') counts[project].failed += 1;
    else counts[project].skipped += 1;
  }
}
let ok = report.success === true;
for (const [project, c] of Object.entries(counts)) {
  const line = `${project.padEnd(12)} passed ${c.passed}  failed ${c.failed}  skipped ${c.skipped}`;
  console.log(line);
  if (c.passed === 0) {
    console.error(`check-results: suite ${project} ran no test`);
    ok = false;
  }
  if (c.skipped > 0) {
    console.error(`check-results: suite ${project} skipped ${c.skipped} test(s)`);
    ok = false;
  }
}
const passed = report.numPassedTests ?? 0;
const failed = report.numFailedTests ?? 0;
const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(ok && failed === 0 ? 0 : 1);
