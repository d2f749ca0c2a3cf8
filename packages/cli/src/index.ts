export { runAuthServer, type RunningAuth } from './run-auth';
export { runDocsApi, type RunningDocs } from './run-docs';
export { migrateAll, allMigrations, allGrants } from './stack';
export { seedDemoOnce, printDemoAgain, DEMO_EMAIL, DEMO_REDIRECT } from './seed';
export { main } from './main';
