// npm run reset-data: deletes the embedded stores' data under DATA_DIR (default ./.data): the PGlite
// database, the dev mail outbox. The next `npm start` migrates a new database and seeds a new demo.
// Refuses while a process (`npm start`, a CLI command) is using it.
import { existsSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { loadAuthConfig } from '@clouddocs/config';
import { embeddedStoreHolder } from '@clouddocs/db';

const dir = resolve(loadAuthConfig().DATA_DIR);
if ([resolve('/'), homedir(), process.cwd()].includes(dir)) {
  console.error(`reset-data: DATA_DIR is ${dir}; refusing to delete it`);
  process.exit(1);
}
if (!existsSync(dir)) {
  console.log(`reset-data: nothing to delete (${dir} does not exist)`);
  process.exit(0);
}
const holder = embeddedStoreHolder(dir);
if (holder !== undefined) {
  console.error(`reset-data: process ${holder} is using the embedded store under ${dir}; stop it first`);
  process.exit(1);
}
rmSync(dir, { recursive: true, force: true });
console.log(`reset-data: deleted ${dir}; the next npm start seeds a new demo`);
