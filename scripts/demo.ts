// npm run demo: prints the demo that the first `npm start` seeded, again (with a new password for the
// demo user; see packages/cli/src/seed.ts). Works while `npm start` runs (it shares the embedded
// database through DATA_DIR) and when it does not, and against DATABASE_URL too.
import { printDemoAgain } from '@clouddocs/cli';
import { loadAuthConfig } from '@clouddocs/config';
import { createKnex, locateDatabase } from '@clouddocs/db';

const config = loadAuthConfig();
const location = await locateDatabase(config);
const knex = await createKnex({ url: location.url, poolMax: 2 });
try {
  const demo = await printDemoAgain(knex, config);
  if (demo) process.stdout.write(demo);
  else {
    console.error('demo: no demo in this database; the first `npm start` on the embedded store seeds one');
    process.exitCode = 1;
  }
} finally {
  await knex.destroy();
  await location.release();
}
