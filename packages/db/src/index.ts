export { startEmbeddedPostgres, type EmbeddedPostgres } from './embedded';
export { embeddedStoreHolder, locateDatabase, type DatabaseLocation } from './locate';
export { createKnex, type Knex, type DatabaseOptions } from './knex';
export { SERVICE_ROLE, ServiceLoginError, serviceUrl, scramVerifier } from './roles';
export { migrate, pendingMigrations, type Migration, type MigrateOptions, type SchemaGrants } from './migrate';
export { createTestDatabase, freePort, type TestDatabase } from './testing';
export { runNode, type ProcessRun } from './processes';
export { isStoreFailure, watchStoreFailures } from './store-failures';
